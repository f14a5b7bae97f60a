package torch

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Linalg is dense float64 linear algebra on row-major matrices run by
// LibTorch's LAPACK/BLAS (multi-threaded). It satisfies metrics.Linalg, so
// the Fréchet distance at d = 2048 takes a fraction of a second instead of
// the seconds pure-Go LAPACK needs.
type Linalg struct{}

func checkSquare(what string, a []float64, n int) error {
	if n <= 0 || len(a) != n*n {
		return fmt.Errorf("%s: %d values for a %d×%d matrix", what, len(a), n, n)
	}
	return nil
}

// Cholesky returns the lower factor L of a = L Lᵀ, or ok = false when a is
// not positive definite.
func (Linalg) Cholesky(n int, a []float64) (l []float64, ok bool, err error) {
	if err := checkSquare("cholesky", a, n); err != nil {
		return nil, false, err
	}
	l = make([]float64, n*n)
	var okC C.int
	err = shimError("cholesky", C.zt_linalg_cholesky((*C.double)(unsafe.Pointer(&a[0])), C.int64_t(n),
		(*C.double)(unsafe.Pointer(&l[0])), &okC))
	if err != nil || okC == 0 {
		return nil, false, err
	}
	return l, true, nil
}

// EigSym returns the ascending eigenvalues of the symmetric n×n matrix a and,
// when vectors is set, its eigenvectors as the columns of an n×n matrix.
func (Linalg) EigSym(n int, a []float64, vectors bool) (vals, vecs []float64, err error) {
	if err := checkSquare("eigh", a, n); err != nil {
		return nil, nil, err
	}
	vals = make([]float64, n)
	var vp *C.double
	if vectors {
		vecs = make([]float64, n*n)
		vp = (*C.double)(unsafe.Pointer(&vecs[0]))
	}
	err = shimError("eigh", C.zt_linalg_eigh((*C.double)(unsafe.Pointer(&a[0])), C.int64_t(n),
		(*C.double)(unsafe.Pointer(&vals[0])), vp))
	if err != nil {
		return nil, nil, err
	}
	return vals, vecs, nil
}

// FtCF returns the symmetrised r×r product Fᵀ C F of a d×d C and a d×r F.
func (Linalg) FtCF(d, r int, c, f []float64) ([]float64, error) {
	if err := checkSquare("FᵀCF", c, d); err != nil {
		return nil, err
	}
	if r <= 0 || len(f) != d*r {
		return nil, fmt.Errorf("FᵀCF: %d values for a %d×%d factor", len(f), d, r)
	}
	out := make([]float64, r*r)
	err := shimError("FᵀCF", C.zt_linalg_ftcf((*C.double)(unsafe.Pointer(&c[0])), (*C.double)(unsafe.Pointer(&f[0])),
		C.int64_t(d), C.int64_t(r), (*C.double)(unsafe.Pointer(&out[0]))))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Cov returns the float64 mean and unbiased covariance (÷ n−1) of n rows of
// d float32 features (row-major), computed by LibTorch's BLAS.
func (Linalg) Cov(rows []float32, n, d int) (mean, cov []float64, err error) {
	if n < 2 || d <= 0 || len(rows) != n*d {
		return nil, nil, fmt.Errorf("covariance: %d values for %d rows of %d (need at least 2 rows)", len(rows), n, d)
	}
	mean = make([]float64, d)
	cov = make([]float64, d*d)
	err = shimError("covariance", C.zt_linalg_cov((*C.float)(unsafe.Pointer(&rows[0])), C.int64_t(n), C.int64_t(d),
		(*C.double)(unsafe.Pointer(&mean[0])), (*C.double)(unsafe.Pointer(&cov[0]))))
	if err != nil {
		return nil, nil, err
	}
	return mean, cov, nil
}

// LtCL returns Lᵀ C L for a d×d C and a lower-triangular d×d L (a Cholesky
// factor), skipping the products with L's zero block.
func (Linalg) LtCL(d int, c, l []float64) ([]float64, error) {
	if err := checkSquare("LᵀCL", c, d); err != nil {
		return nil, err
	}
	if err := checkSquare("LᵀCL", l, d); err != nil {
		return nil, err
	}
	out := make([]float64, d*d)
	err := shimError("LᵀCL", C.zt_linalg_ltcl((*C.double)(unsafe.Pointer(&c[0])), (*C.double)(unsafe.Pointer(&l[0])),
		C.int64_t(d), (*C.double)(unsafe.Pointer(&out[0]))))
	if err != nil {
		return nil, err
	}
	return out, nil
}
