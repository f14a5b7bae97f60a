package torch

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The blocked Lᵀ C L equals the general FᵀCF, for odd and tiny sizes too;
// Cholesky and eigh agree with each other (L Lᵀ = A, eigenvalues of A).
func TestLinalgAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, d := range []int{1, 2, 7, 64} {
		x := make([]float64, 3*d*d)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		spd := func(off int) []float64 { // Gᵀ G + I
			a := make([]float64, d*d)
			for i := 0; i < d; i++ {
				for j := 0; j < d; j++ {
					for k := 0; k < d; k++ {
						a[i*d+j] += x[off+k*d+i] * x[off+k*d+j]
					}
				}
				a[i*d+i]++
			}
			return a
		}
		a, c := spd(0), spd(d*d)
		l, ok, err := Linalg{}.Cholesky(d, a)
		if err != nil || !ok {
			t.Fatalf("d=%d: cholesky %v %v", d, ok, err)
		}
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				var s float64
				for k := 0; k < d; k++ {
					s += l[i*d+k] * l[j*d+k]
				}
				if math.Abs(s-a[i*d+j]) > 1e-9*math.Max(1, math.Abs(a[i*d+j])) {
					t.Fatalf("d=%d: L Lᵀ != A at %d,%d", d, i, j)
				}
			}
		}
		want, err := Linalg{}.FtCF(d, d, c, l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Linalg{}.LtCL(d, c, l)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-9*math.Max(1, math.Abs(want[i])) {
				t.Fatalf("d=%d: LᵀCL[%d] = %g, FᵀCF %g", d, i, got[i], want[i])
			}
		}
		vals, vecs, err := Linalg{}.EigSym(d, a, true)
		if err != nil || len(vals) != d || len(vecs) != d*d {
			t.Fatalf("d=%d: eigh %v", d, err)
		}
		var tr, sum float64
		for i := 0; i < d; i++ {
			tr += a[i*d+i]
			sum += vals[i]
		}
		if math.Abs(tr-sum) > 1e-9*tr {
			t.Errorf("d=%d: trace %g, eigenvalue sum %g", d, tr, sum)
		}
	}
	// Not positive definite: ok is false, no error.
	if _, ok, err := (Linalg{}).Cholesky(2, []float64{1, 2, 2, 1}); ok || err != nil {
		t.Errorf("indefinite: ok %v err %v", ok, err)
	}
	if _, _, err := (Linalg{}).Cov([]float32{1, 2}, 1, 2); err == nil {
		t.Error("covariance of one row accepted")
	}
}
