package metrics

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	lapackgo "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/mat"
)

// FrechetResult is the Fréchet distance between two Gaussians and how it was
// obtained.
type FrechetResult struct {
	FID       float64 // ||μ1−μ2||² + tr Σ1 + tr Σ2 − 2 tr √(√Σ1 Σ2 √Σ1)
	MeanTerm  float64 // ||μ1−μ2||²
	TraceA    float64 // tr Σ1
	TraceB    float64 // tr Σ2
	TraceSqrt float64 // tr √(√Σ1 Σ2 √Σ1)

	// Eigenvalues below zero are clipped to zero before square roots are
	// taken, in both steps: the eigenvalues of Σ1, and those of
	// √Σ1 Σ2 √Σ1. Count and most negative value (0 when none) per step.
	ClippedA, ClippedM int
	MinEigA, MinEigM   float64
	RankA              int // eigenvalues of Σ1 kept (> 0); Dim on the Cholesky route

	// On the pivoted-Cholesky route: dimensions of Σ1 left out (d − rank)
	// and the largest remaining pivot (an upper bound on what was dropped).
	DroppedA     int
	DroppedPivot float64

	// Route is "cholesky" when Σ1 is positive definite (fast: Σ1 = L Lᵀ,
	// eigenvalues of Lᵀ Σ2 L, nothing to clip in step 1) or "eigen" (full
	// symmetric eigendecomposition of Σ1 with clipping; slow at large d,
	// only used by FrechetEigen or when pivoted Cholesky finds rank 0) or
	// "pivoted-cholesky" (Σ1 singular or indefinite: the factor stops at the
	// numerical rank).
	Route string

	Warnings []string
}

// Frechet returns the Fréchet distance between the Gaussians N(a.Mean, a.Cov)
// and N(b.Mean, b.Cov), finalizing both statistics first.
//
// Only symmetric factorizations are used, never complex arithmetic. When Σ1
// is positive definite (N > d and no degenerate features) the fast route
// factors Σ1 = L Lᵀ (Cholesky); Lᵀ Σ2 L is similar to √Σ1 Σ2 √Σ1, so its
// symmetric eigenvalues (no vectors) give the trace. When Σ1 is singular
// (fewer samples than dimensions) a pivoted Cholesky factor Σ1 ≈ F Fᵀ of
// numerical rank r plays the same role (F d×r, Fᵀ Σ2 F r×r); pivots below
// d·eps·max diag are dropped rather than clipped as eigenvalues. The eigen
// route (FrechetEigen) is:
// Σ1 = V diag(λ) Vᵀ, λ clipped at 0, B = V diag(√λ) restricted to the
// columns with λ > 0 (r of them); then √Σ1 Σ2 √Σ1 = V (Bᵀ Σ2 B) Vᵀ is
// orthogonally similar to the r×r matrix Bᵀ Σ2 B, whose eigenvalues μ
// (symmetrised, no vectors) give tr √(√Σ1 Σ2 √Σ1) = Σ √max(μ,0). A
// rank-deficient Σ1 (fewer samples than dimensions) makes the second step
// cheaper.
//
// The result can be slightly negative (rounding) for identical inputs; it is
// returned as computed.
func Frechet(a, b *Stats) (FrechetResult, error) { return frechet(a, b, Gonum{}, false) }

// FrechetWith is Frechet with the dense linear algebra done by la (e.g.
// torch.Linalg, LibTorch's multi-threaded LAPACK). Without a pivoted Cholesky
// (only Gonum has one), a singular Σ1 takes the eigen route.
func FrechetWith(a, b *Stats, la Linalg) (FrechetResult, error) { return frechet(a, b, la, false) }

// FrechetEigen is Frechet forced onto the eigen route even when Σ1 is
// positive definite (for checks; O(d³) with eigenvectors, ~90 s at d=2048
// with Gonum).
func FrechetEigen(a, b *Stats, la Linalg) (FrechetResult, error) { return frechet(a, b, la, true) }

// Linalg is the dense float64 linear algebra the Fréchet distance needs, on
// row-major matrices. Gonum is the pure-Go default.
type Linalg interface {
	// Cholesky returns L with a = L Lᵀ, or ok = false when a is not
	// positive definite.
	Cholesky(n int, a []float64) (l []float64, ok bool, err error)
	// EigSym returns the ascending eigenvalues of the symmetric a and, when
	// vectors is set, the eigenvectors as columns.
	EigSym(n int, a []float64, vectors bool) (vals, vecs []float64, err error)
	// FtCF returns the symmetrised r×r product Fᵀ C F (C d×d, F d×r).
	FtCF(d, r int, c, f []float64) ([]float64, error)
}

// Gonum is Linalg in pure Go (gonum): single-threaded factorizations.
type Gonum struct{}

// Cholesky implements Linalg.
func (Gonum) Cholesky(n int, a []float64) ([]float64, bool, error) {
	var ch mat.Cholesky
	cp := make([]float64, n*n)
	copy(cp, a)
	if !ch.Factorize(mat.NewSymDense(n, cp)) {
		return nil, false, nil
	}
	var l mat.TriDense
	ch.LTo(&l)
	lr := l.RawTriangular()
	lf := make([]float64, n*n)
	for i := 0; i < n; i++ {
		copy(lf[i*n:i*n+i+1], lr.Data[i*lr.Stride:i*lr.Stride+i+1])
	}
	return lf, true, nil
}

// EigSym implements Linalg.
func (Gonum) EigSym(n int, a []float64, vectors bool) ([]float64, []float64, error) {
	return eigSym(n, a, vectors)
}

// FtCF implements Linalg.
func (Gonum) FtCF(d, r int, c, f []float64) ([]float64, error) {
	tmp := make([]float64, d*r)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas64.General{Rows: d, Cols: d, Stride: d, Data: c},
		blas64.General{Rows: d, Cols: r, Stride: r, Data: f},
		0, blas64.General{Rows: d, Cols: r, Stride: r, Data: tmp})
	m := make([]float64, r*r)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1,
		blas64.General{Rows: d, Cols: r, Stride: r, Data: f},
		blas64.General{Rows: d, Cols: r, Stride: r, Data: tmp},
		0, blas64.General{Rows: r, Cols: r, Stride: r, Data: m})
	for i := 0; i < r; i++ {
		for j := i + 1; j < r; j++ {
			v := 0.5 * (m[i*r+j] + m[j*r+i])
			m[i*r+j], m[j*r+i] = v, v
		}
	}
	return m, nil
}

// pivotedCholesky is Σ1 ≈ F Fᵀ at Σ1's numerical rank r (F d×r), with
// the d − r pivots left out and the largest of them.
func (Gonum) pivotedCholesky(d int, a []float64) (f []float64, r int, rest float64) {
	cp := make([]float64, d*d)
	copy(cp, a)
	piv := make([]int, d)
	r, _ = lapackgo.Implementation{}.Dpstrf(blas.Lower, d, cp, d, piv, -1, make([]float64, 2*d))
	if r == 0 {
		return nil, 0, 0
	}
	f = make([]float64, d*r)
	for k := 0; k < d; k++ {
		row := cp[k*d : k*d+min(k+1, r)]
		copy(f[piv[k]*r:], row)
	}
	for k := r; k < d; k++ {
		rest = math.Max(rest, math.Abs(cp[k*d+k]))
	}
	return f, r, rest
}

func frechet(a, b *Stats, la Linalg, forceEigen bool) (FrechetResult, error) {
	var res FrechetResult
	if a == nil || b == nil {
		return res, errors.New("metrics: nil statistics")
	}
	if a.Dim != b.Dim {
		return res, fmt.Errorf("metrics: feature dimensions differ (%d vs %d)", a.Dim, b.Dim)
	}
	if err := a.Finalize(); err != nil {
		return res, fmt.Errorf("first set: %w", err)
	}
	if err := b.Finalize(); err != nil {
		return res, fmt.Errorf("second set: %w", err)
	}
	d := a.Dim
	for _, s := range []*Stats{a, b} {
		for _, v := range s.Mean {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return res, errors.New("metrics: non-finite mean")
			}
		}
		if s.N < d {
			res.Warnings = append(res.Warnings, fmt.Sprintf(
				"%d samples for %d feature dimensions: the covariance is rank-deficient and FID is biased; use at least %d samples", s.N, d, d))
		}
	}
	for i := 0; i < d; i++ {
		df := a.Mean[i] - b.Mean[i]
		res.MeanTerm += df * df
		res.TraceA += a.Cov[i*d+i]
		res.TraceB += b.Cov[i*d+i]
	}

	// Fast route: Σ1 positive definite, Σ1 = L Lᵀ (Cholesky), and
	// √Σ1 Σ2 √Σ1 is similar to Lᵀ Σ2 L (both to Σ1 Σ2): no eigenvectors.
	if !forceEigen {
		l, ok, err := la.Cholesky(d, a.Cov)
		if err != nil {
			return res, fmt.Errorf("metrics: Cholesky factorization of the first covariance: %w", err)
		}
		if ok {
			res.Route = "cholesky"
			res.RankA = d
			if tri, ok := la.(triangularProduct); ok {
				m, err := tri.LtCL(d, b.Cov, l)
				if err != nil {
					return res, fmt.Errorf("metrics: Lᵀ Σ2 L: %w", err)
				}
				return res, res.traceSqrt(la, d, m)
			}
			return res, res.crossTerm(la, d, d, b.Cov, l)
		}
	}
	if g, isGonum := la.(Gonum); isGonum && !forceEigen {
		// Σ1 singular (N ≤ d) or slightly indefinite: Cholesky with complete
		// pivoting, P Σ1 Pᵀ = L Lᵀ, stopped at rank r when the largest
		// remaining pivot is ≤ d·eps·max Σ1[k,k]; F = Pᵀ L[:, :r] is d×r.
		if f, r, rest := g.pivotedCholesky(d, a.Cov); r > 0 {
			res.Route = "pivoted-cholesky"
			res.RankA = r
			res.DroppedA = d - r
			res.DroppedPivot = rest
			return res, res.crossTerm(la, d, r, b.Cov, f)
		}
	}
	res.Route = "eigen"

	// Step 1: Σ1 = V diag(λ) Vᵀ.
	vals, vecs, err := la.EigSym(d, a.Cov, true)
	if err != nil {
		return res, fmt.Errorf("metrics: eigendecomposition of the first covariance: %w", err)
	}
	keep := make([]int, 0, d)
	for i, l := range vals {
		switch {
		case l > 0:
			keep = append(keep, i)
		case l < 0:
			res.ClippedA++
			res.MinEigA = math.Min(res.MinEigA, l)
		}
	}
	r := len(keep)
	res.RankA = r
	if r == 0 {
		// √Σ1 = 0: the cross term vanishes.
		res.FID = res.MeanTerm + res.TraceA + res.TraceB
		return res, nil
	}
	// B = V[:, keep] diag(√λ), d×r.
	bm := make([]float64, d*r)
	for i := 0; i < d; i++ {
		row := vecs[i*d : (i+1)*d]
		out := bm[i*r : (i+1)*r]
		for c, k := range keep {
			out[c] = row[k] * math.Sqrt(vals[k])
		}
	}
	if err := res.crossTerm(la, d, r, b.Cov, bm); err != nil {
		return res, err
	}
	maxA := vals[len(vals)-1]
	if res.MinEigA < -1e-8*math.Abs(maxA) {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"first covariance has %d negative eigenvalues (most negative %.3g, largest %.3g), clipped to 0", res.ClippedA, res.MinEigA, maxA))
	}
	return res, nil
}

// crossTerm sets TraceSqrt (and FID, clipping fields, warnings) from a d×r
// factor F of Σ1 (Σ1 = F Fᵀ): the eigenvalues of the symmetrised r×r matrix
// Fᵀ Σ2 F are the nonzero eigenvalues of √Σ1 Σ2 √Σ1.
func (res *FrechetResult) crossTerm(la Linalg, d, r int, cov2, f []float64) error {
	m, err := la.FtCF(d, r, cov2, f)
	if err != nil {
		return fmt.Errorf("metrics: Fᵀ Σ2 F: %w", err)
	}
	return res.traceSqrt(la, r, m)
}

// triangularProduct is implemented by a Linalg that computes Lᵀ C L for a
// lower-triangular L faster than the general FᵀCF.
type triangularProduct interface {
	LtCL(d int, c, l []float64) ([]float64, error)
}

// traceSqrt sets TraceSqrt (and FID, clipping fields, warnings) from the
// symmetric r×r matrix m, whose eigenvalues are those of √Σ1 Σ2 √Σ1.
func (res *FrechetResult) traceSqrt(la Linalg, r int, m []float64) error {
	mu, _, err := la.EigSym(r, m, false)
	if err != nil {
		return fmt.Errorf("metrics: eigendecomposition of √Σ1 Σ2 √Σ1: %w", err)
	}
	res.TraceSqrt = 0
	for _, l := range mu {
		if l > 0 {
			res.TraceSqrt += math.Sqrt(l)
		} else if l < 0 {
			res.ClippedM++
			res.MinEigM = math.Min(res.MinEigM, l)
		}
	}
	res.FID = res.MeanTerm + res.TraceA + res.TraceB - 2*res.TraceSqrt
	// Clipping is expected (rounding) at the level of ~1e-10 of the largest
	// eigenvalue; say so when it is larger than that.
	if len(mu) > 0 {
		maxM := mu[len(mu)-1]
		if res.MinEigM < -1e-8*math.Abs(maxM) {
			res.Warnings = append(res.Warnings, fmt.Sprintf(
				"√Σ1 Σ2 √Σ1 has %d negative eigenvalues (most negative %.3g, largest %.3g), clipped to 0", res.ClippedM, res.MinEigM, maxM))
		}
	}
	return nil
}

// FrechetRows computes the statistics of two sets of feature rows and their
// Fréchet distance.
func FrechetRows(x, y [][]float32) (FrechetResult, error) {
	a, err := FromRows(x)
	if err != nil {
		return FrechetResult{}, fmt.Errorf("first set: %w", err)
	}
	b, err := FromRows(y)
	if err != nil {
		return FrechetResult{}, fmt.Errorf("second set: %w", err)
	}
	return Frechet(a, b)
}

// eigSym returns the ascending eigenvalues of the n×n symmetric row-major
// matrix a (only its upper triangle is read; a is not modified) and, when
// vectors is set, the eigenvectors as columns of an n×n row-major matrix.
func eigSym(n int, a []float64, vectors bool) ([]float64, []float64, error) {
	cp := make([]float64, len(a))
	copy(cp, a)
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(n, cp), vectors) {
		return nil, nil, errors.New("did not converge")
	}
	vals := es.Values(nil)
	if !vectors {
		return vals, nil, nil
	}
	var v mat.Dense
	es.VectorsTo(&v)
	raw := v.RawMatrix()
	if raw.Stride == n {
		return vals, raw.Data[:n*n], nil
	}
	out := make([]float64, n*n)
	for i := 0; i < n; i++ {
		copy(out[i*n:(i+1)*n], raw.Data[i*raw.Stride:i*raw.Stride+n])
	}
	return vals, out, nil
}
