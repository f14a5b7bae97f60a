package metrics

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// KIDResult is the kernel inception distance over random subsets.
type KIDResult struct {
	Mean, Std  float64   // over subsets; Std is the population std (ddof 0, like torch-fidelity / clean-fid)
	Subsets    []float64 // unbiased MMD² of each subset
	SubsetSize int       // used (capped at the smaller set)
	Warnings   []string
}

// KID estimates the squared maximum mean discrepancy between real and fake
// feature rows with the polynomial kernel k(x,y) = (xᵀy/d + 1)³ (Bińkowski
// et al. 2018). For each of subsets rounds it draws subsetSize rows from each
// set without replacement (deterministic from seed: PCG seeded with
// (seed, round)) and computes the unbiased estimator
//
//	MMD² = Σ_{i≠j} k(x_i,x_j)/(m(m−1)) + Σ_{i≠j} k(y_i,y_j)/(m(m−1)) − 2 Σ_{i,j} k(x_i,y_j)/m²
//
// as torch-fidelity and clean-fid do. subsetSize is capped at the smaller
// set's size (with a warning). Rounds run in parallel.
func KID(real, fake [][]float32, subsets, subsetSize int, seed uint64) (KIDResult, error) {
	var res KIDResult
	d, m, err := kidSetup(&res, real, fake, subsets, subsetSize, "the smaller set")
	if err != nil {
		return res, err
	}
	kidSubsets(&res, subsets, d, func(s int) (x, y [][]float32) {
		rng := rand.New(rand.NewPCG(seed, uint64(s)))
		return pick(real, m, rng), pick(fake, m, rng)
	})
	return res, nil
}

// KIDNumpySubsets is KID with the subsets torch-fidelity draws: one
// np.random.RandomState(seed) and, for each subset in turn,
// features_1[rng.choice(n1, m, replace=False)] then features_2[...] with
// features_1 the fake set (torch-fidelity's input1, the generated images)
// and features_2 the real one. With the same features, seed and sizes its
// subsets, and so its value, are torch-fidelity's. torch-fidelity refuses
// a subset larger than a set; here it is capped like KID's, with a warning.
func KIDNumpySubsets(real, fake [][]float32, subsets, subsetSize int, seed uint64) (KIDResult, error) {
	var res KIDResult
	d, m, err := kidSetup(&res, real, fake, subsets, subsetSize, "the smaller set; torch-fidelity would refuse it")
	if err != nil {
		return res, err
	}
	if seed > math.MaxUint32 {
		return res, fmt.Errorf("metrics: seed %d: numpy's RandomState, which torch-fidelity draws KID subsets with, takes 0..%d", seed, uint64(math.MaxUint32))
	}
	// The draws are one sequence: made in order before the rounds run.
	rng := newNumpyRandomState(uint32(seed))
	draws := make([][2][]int, subsets)
	for s := range draws {
		draws[s][0] = rng.choice(len(fake), m)
		draws[s][1] = rng.choice(len(real), m)
	}
	rows := func(set [][]float32, idx []int) [][]float32 {
		out := make([][]float32, len(idx))
		for i, k := range idx {
			out[i] = set[k]
		}
		return out
	}
	kidSubsets(&res, subsets, d, func(s int) (x, y [][]float32) {
		return rows(real, draws[s][1]), rows(fake, draws[s][0])
	})
	return res, nil
}

// kidSetup checks KID's sets and subset count, and caps the subset size
// at the smaller set with a warning (why, in parentheses). It returns the
// feature dimension and the subset size used, which it records in res.
func kidSetup(res *KIDResult, real, fake [][]float32, subsets, subsetSize int, why string) (d, m int, err error) {
	d, err = checkSets(real, fake)
	if err != nil {
		return 0, 0, err
	}
	if subsets < 1 {
		return 0, 0, errors.New("metrics: KID needs at least 1 subset")
	}
	m = subsetSize
	if n := min(len(real), len(fake)); m > n {
		res.Warnings = append(res.Warnings, fmt.Sprintf("KID subset size %d capped at %d (%s)", subsetSize, n, why))
		m = n
	}
	if m < 2 {
		return 0, 0, fmt.Errorf("metrics: KID subset size %d; need at least 2", m)
	}
	res.SubsetSize = m
	return d, m, nil
}

// kidSubsets computes the unbiased MMD² of each subset (rounds in
// parallel) and their mean and population std into res.
func kidSubsets(res *KIDResult, subsets, d int, draw func(s int) (x, y [][]float32)) {
	res.Subsets = make([]float64, subsets)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for s := 0; s < subsets; s++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(s int) {
			defer wg.Done()
			defer func() { <-sem }()
			x, y := draw(s)
			res.Subsets[s] = mmd2Unbiased(x, y, d)
		}(s)
	}
	wg.Wait()
	for _, v := range res.Subsets {
		res.Mean += v
	}
	res.Mean /= float64(subsets)
	for _, v := range res.Subsets {
		res.Std += (v - res.Mean) * (v - res.Mean)
	}
	res.Std = math.Sqrt(res.Std / float64(subsets))
}

// pick returns m distinct rows chosen by a partial Fisher–Yates shuffle.
func pick(rows [][]float32, m int, rng *rand.Rand) [][]float32 {
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	out := make([][]float32, m)
	for i := 0; i < m; i++ {
		j := i + rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
		out[i] = rows[idx[i]]
	}
	return out
}

func polyKernel(x, y []float32, d int) float64 {
	var s float64
	for i := range x {
		s += float64(x[i]) * float64(y[i])
	}
	v := s/float64(d) + 1
	return v * v * v
}

func mmd2Unbiased(x, y [][]float32, d int) float64 {
	m := float64(len(x))
	var kxx, kyy, kxy float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			kxx += polyKernel(x[i], x[j], d)
			kyy += polyKernel(y[i], y[j], d)
		}
		for j := range y {
			kxy += polyKernel(x[i], y[j], d)
		}
	}
	return 2*kxx/(m*(m-1)) + 2*kyy/(m*(m-1)) - 2*kxy/(m*m)
}

// checkSets validates two sets of feature rows: at least 2 rows each, one
// dimension, finite values. It returns the dimension.
func checkSets(sets ...[][]float32) (int, error) {
	d := -1
	for k, set := range sets {
		if len(set) < 2 {
			return 0, fmt.Errorf("metrics: set %d has %d feature rows; need at least 2", k+1, len(set))
		}
		for i, r := range set {
			if d < 0 {
				d = len(r)
				if d == 0 {
					return 0, errors.New("metrics: empty feature rows")
				}
			}
			if len(r) != d {
				return 0, fmt.Errorf("metrics: set %d row %d has %d features, want %d", k+1, i, len(r), d)
			}
			for j, v := range r {
				if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
					return 0, fmt.Errorf("metrics: set %d row %d: feature %d is %v", k+1, i, j, v)
				}
			}
		}
	}
	return d, nil
}

func permutation(n int, seed uint64) []int {
	return rand.New(rand.NewPCG(seed, 0x5eed)).Perm(n)
}
