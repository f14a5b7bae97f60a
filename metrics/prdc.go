package metrics

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
)

// PRDCResult holds precision, recall, density and coverage.
type PRDCResult struct {
	Precision, Recall, Density, Coverage float64
	K                                    int
}

// PRDC computes precision, recall, density and coverage (Naeem et al. 2020,
// the reference `prdc` package) with exact Euclidean k-NN in float64 (brute
// force, parallel over goroutines). Radii are the distance to the k-th
// nearest other point of the same set; comparisons are strict, as in the
// reference:
//
//	precision = mean over fakes of [∃ real i: |f−r_i| < R_k(r_i)]
//	recall    = mean over reals of [∃ fake j: |r−f_j| < R_k(f_j)]
//	density   = 1/k · mean over fakes of #{real i: |f−r_i| < R_k(r_i)}
//	coverage  = mean over reals i of [min_j |r_i−f_j| < R_k(r_i)]
//
// Cost is O((n_r²+n_f²+n_r·n_f)·d); memory is O(n_r+n_f) beyond the inputs.
func PRDC(real, fake [][]float32, k int) (PRDCResult, error) {
	res := PRDCResult{K: k}
	if _, err := checkSets(real, fake); err != nil {
		return res, err
	}
	if k < 1 {
		return res, errors.New("metrics: PRDC needs k ≥ 1")
	}
	if k >= len(real) || k >= len(fake) {
		return res, fmt.Errorf("metrics: PRDC k=%d needs more than k rows per set (%d real, %d fake)", k, len(real), len(fake))
	}
	rr := kthNNSq(real, k)
	rf := kthNNSq(fake, k)

	nr, nf := len(real), len(fake)
	workers := runtime.GOMAXPROCS(0)
	type part struct {
		prec, dens int
		recall     []bool
		minD       []float64
	}
	parts := make([]part, workers)
	for w := range parts {
		parts[w] = part{recall: make([]bool, nr), minD: make([]float64, nr)}
		for i := range parts[w].minD {
			parts[w].minD[i] = math.Inf(1)
		}
	}
	parallelFor(nf, workers, func(w, j int) {
		p := &parts[w]
		in := 0
		for i := 0; i < nr; i++ {
			dd := sqDist(fake[j], real[i])
			if dd < rr[i] {
				in++
			}
			if dd < rf[j] {
				p.recall[i] = true
			}
			if dd < p.minD[i] {
				p.minD[i] = dd
			}
		}
		if in > 0 {
			p.prec++
		}
		p.dens += in
	})
	var prec, dens, rec, cov int
	for i := 0; i < nr; i++ {
		hit, md := false, math.Inf(1)
		for _, p := range parts {
			hit = hit || p.recall[i]
			md = math.Min(md, p.minD[i])
		}
		if hit {
			rec++
		}
		if md < rr[i] {
			cov++
		}
	}
	for _, p := range parts {
		prec += p.prec
		dens += p.dens
	}
	res.Precision = float64(prec) / float64(nf)
	res.Recall = float64(rec) / float64(nr)
	res.Density = float64(dens) / float64(k) / float64(nf)
	res.Coverage = float64(cov) / float64(nr)
	return res, nil
}

func sqDist(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

// kthNNSq returns, for each row, the squared distance to its k-th nearest
// other row (k ≥ 1, k < len(rows)).
func kthNNSq(rows [][]float32, k int) []float64 {
	n := len(rows)
	out := make([]float64, n)
	workers := runtime.GOMAXPROCS(0)
	bufs := make([][]float64, workers)
	parallelFor(n, workers, func(w, i int) {
		buf := bufs[w][:0]
		for j := 0; j < n; j++ {
			if j != i {
				buf = append(buf, sqDist(rows[i], rows[j]))
			}
		}
		slices.Sort(buf)
		out[i] = buf[k-1]
		bufs[w] = buf
	})
	return out
}
