package metrics

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// MemorizationEntry is one synthetic image and its nearest real image.
type MemorizationEntry struct {
	Fake     int     `json:"fake"` // row indices
	Real     int     `json:"real"`
	FakeName string  `json:"fake_name"` // from the name lists ("" when none were given)
	RealName string  `json:"real_name"`
	Distance float64 `json:"distance"`  // cosine distance 1 − cos(f, r), in [0, 2]
	Relative float64 `json:"relative"`  // Distance / median real-to-real nearest-neighbour distance
	NearCopy bool    `json:"near_copy"` // Distance ≤ Threshold
}

// MemorizationReport lists every synthetic image with its nearest real
// neighbour, closest first.
type MemorizationReport struct {
	Entries    []MemorizationEntry
	Quantile   float64 // requested quantile of the real-to-real NN distances
	Threshold  float64 // that quantile's distance: the near-copy cut-off
	RealNNMed  float64 // median real-to-real NN distance
	NearCopies int
	Warnings   []string
}

// Memorization finds, for each fake row, its nearest real row by cosine
// distance (1 − cosine similarity, computed in float64; scale-free, so
// brightness-like shifts of feature norm do not matter) and flags near-copies.
//
// The cut-off is relative to the data: for every real row the distance to
// its nearest other real row is computed, and a fake is flagged when its
// nearest-real distance is ≤ the given quantile of that real-to-real
// distribution (quantile 0.01: closer to a real image than 99% of real
// images are to their own nearest neighbour). Quantiles use linear
// interpolation (numpy's default). Names may be nil; otherwise they must
// match the row counts. Rows with zero norm are refused.
func Memorization(real, fake [][]float32, realNames, fakeNames []string, quantile float64) (MemorizationReport, error) {
	rep := MemorizationReport{Quantile: quantile}
	if _, err := checkSets(real, fake); err != nil {
		return rep, err
	}
	if !(quantile >= 0 && quantile <= 1) {
		return rep, errors.New("metrics: memorization quantile must be in [0, 1]")
	}
	if realNames != nil && len(realNames) != len(real) {
		return rep, fmt.Errorf("metrics: %d real names for %d real rows", len(realNames), len(real))
	}
	if fakeNames != nil && len(fakeNames) != len(fake) {
		return rep, fmt.Errorf("metrics: %d fake names for %d fake rows", len(fakeNames), len(fake))
	}
	rn, err := unitRows(real, "real")
	if err != nil {
		return rep, err
	}
	fn, err := unitRows(fake, "fake")
	if err != nil {
		return rep, err
	}
	// Real-to-real nearest neighbour distances.
	rr := make([]float64, len(rn))
	parallelFor(len(rn), runtime.GOMAXPROCS(0), func(_, i int) {
		best := math.Inf(1)
		for j := range rn {
			if j != i {
				best = math.Min(best, cosDist(rn[i], rn[j]))
			}
		}
		rr[i] = best
	})
	sorted := slices.Clone(rr)
	slices.Sort(sorted)
	rep.Threshold = quantileSorted(sorted, quantile)
	rep.RealNNMed = quantileSorted(sorted, 0.5)

	rep.Entries = make([]MemorizationEntry, len(fn))
	parallelFor(len(fn), runtime.GOMAXPROCS(0), func(_, j int) {
		best, bi := math.Inf(1), -1
		for i := range rn {
			if d := cosDist(fn[j], rn[i]); d < best {
				best, bi = d, i
			}
		}
		e := MemorizationEntry{Fake: j, Real: bi, Distance: best, NearCopy: best <= rep.Threshold}
		if rep.RealNNMed > 0 {
			e.Relative = best / rep.RealNNMed
		}
		if fakeNames != nil {
			e.FakeName = fakeNames[j]
		}
		if realNames != nil {
			e.RealName = realNames[bi]
		}
		rep.Entries[j] = e
	})
	sort.SliceStable(rep.Entries, func(a, b int) bool {
		if rep.Entries[a].Distance != rep.Entries[b].Distance {
			return rep.Entries[a].Distance < rep.Entries[b].Distance
		}
		return rep.Entries[a].Fake < rep.Entries[b].Fake
	})
	for _, e := range rep.Entries {
		if e.NearCopy {
			rep.NearCopies++
		}
	}
	if rep.Threshold == 0 {
		rep.Warnings = append(rep.Warnings, "the real set contains duplicates (real-to-real distance quantile is 0): only exact copies are flagged")
	}
	// The quantile of fewer than 1/quantile distances is an interpolation
	// between the smallest ones (with 2 real images both distances are the
	// same, and any synthetic image as close is flagged): say so rather
	// than report flags that mean little.
	if need := int(math.Ceil(1 / max(quantile, 1e-9))); quantile > 0 && len(rn) < need {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"the near-copy threshold is the %g%% quantile of only %d real nearest-neighbour distances: it rests on too few of them, so the near-copy flags are not reliable; use at least %d real images",
			100*quantile, len(rn), need))
	}
	return rep, nil
}

func unitRows(rows [][]float32, what string) ([][]float64, error) {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		u := make([]float64, len(r))
		var n float64
		for j, v := range r {
			u[j] = float64(v)
			n += u[j] * u[j]
		}
		if n == 0 {
			return nil, fmt.Errorf("metrics: %s row %d is all zeros (no cosine distance)", what, i)
		}
		n = math.Sqrt(n)
		for j := range u {
			u[j] /= n
		}
		out[i] = u
	}
	return out, nil
}

func cosDist(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return math.Max(0, 1-s)
}

// quantileSorted is numpy.quantile's default (linear) on sorted data.
func quantileSorted(s []float64, q float64) float64 {
	if len(s) == 1 {
		return s[0]
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	f := pos - float64(lo)
	return s[lo] + f*(s[lo+1]-s[lo])
}

// parallelFor calls f(w, i) for every i in [0, n) on `workers` goroutines;
// worker w takes the i ≡ w (mod workers), so state indexed by w needs no
// lock.
func parallelFor(n, workers int, f func(w, i int)) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(w, i)
			}
		}(w)
	}
	wg.Wait()
}
