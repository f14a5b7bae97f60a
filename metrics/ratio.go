package metrics

import (
	"errors"
	"math"
)

// FIDRatio is medigan's FID ratio (the FID_ratio / FID_RADIMAGENET_ratio
// fields of medigan's model metadata, Osuala et al. 2023):
//
//	ratio = FID(real split A, real split B) / FID(real, synthetic)
//
// where the numerator is the FID between two disjoint random halves of the
// real data set (the real-vs-real baseline: how far real images are from
// each other at this sample size) and the denominator the FID between the
// real images and the synthetic ones, both on the same feature extractor.
// It is 1 when synthetic images are as close to the real ones as real
// images are to each other, lower is worse; values above 1 happen with
// noise. As we understand medigan, both FIDs are computed with the same
// number of images per side, which matters because FID is biased by the
// sample count: compute fidRealFake with as many images per side as each
// half of the real split has.
//
// It fails on non-finite or negative inputs and on a zero denominator.
func FIDRatio(fidRealReal, fidRealFake float64) (float64, error) {
	for _, v := range []float64{fidRealReal, fidRealFake} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return 0, errors.New("metrics: FID ratio needs finite, non-negative FIDs")
		}
	}
	if fidRealFake == 0 {
		return 0, errors.New("metrics: FID ratio undefined: real-vs-synthetic FID is 0")
	}
	return fidRealReal / fidRealFake, nil
}

// SplitHalves deterministically shuffles rows (PCG from seed) and returns
// two disjoint halves of equal size (one row is left out when the count is
// odd), for the real-vs-real FID of FIDRatio.
func SplitHalves(rows [][]float32, seed uint64) (a, b [][]float32) {
	perm := permutation(len(rows), seed)
	h := len(rows) / 2
	a = make([][]float32, h)
	b = make([][]float32, h)
	for i := 0; i < h; i++ {
		a[i] = rows[perm[i]]
		b[i] = rows[perm[h+i]]
	}
	return a, b
}
