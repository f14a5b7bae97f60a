package limits

import (
	"math"
	"testing"
)

func TestProduct(t *testing.T) {
	for _, tc := range []struct {
		max  int64
		dims []int64
		want int64
		ok   bool
	}{
		{100, nil, 1, true},
		{100, []int64{4, 25}, 100, true},
		{100, []int64{4, 26}, 0, false},
		{math.MaxInt64, []int64{1 << 32, 1 << 32}, 0, false}, // wraps to 0 unchecked
		{math.MaxInt64, []int64{1 << 31, 1 << 31}, 1 << 62, true},
		{math.MaxInt64, []int64{2, 1 << 62}, 0, false}, // wraps negative unchecked
		{100, []int64{0, 5}, 0, false},
		{100, []int64{-2, -5}, 0, false}, // 10 unchecked
	} {
		got, ok := Product(tc.max, tc.dims...)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Product(%d, %v) = %d, %v; want %d, %v", tc.max, tc.dims, got, ok, tc.want, tc.ok)
		}
		ints := make([]int, len(tc.dims))
		for i, d := range tc.dims {
			ints[i] = int(d)
		}
		if got, ok := ProductInts(tc.max, ints...); got != tc.want || ok != tc.ok {
			t.Errorf("ProductInts(%d, %v) = %d, %v", tc.max, ints, got, ok)
		}
	}
}

func TestMaxThreadsHere(t *testing.T) {
	if n := MaxThreadsHere(); n < 1 || n > MaxThreads {
		t.Fatalf("MaxThreadsHere() = %d", n)
	}
}
