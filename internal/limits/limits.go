// Package limits holds the size limits every reader of untrusted sizes
// (catalog signatures, image headers, tensor shapes, flags) checks before it
// allocates, and the one overflow-checked product of dimensions they all
// use, so that no header or catalog can make zoo ask for more memory than a
// machine has, or wrap an int64 into a small or negative size.
package limits

import (
	"fmt"
	"runtime"
)

const (
	// SampleValues bounds the values of one image of one sample (channels ×
	// height × width): 64 Mi values, 256 MiB as float32, room for a 3 ×
	// 4096 × 4096 colour image, far below a 100000 × 100000 one.
	SampleValues = 1 << 26
	// LatentValues bounds one sample's latent vector (the product of
	// signature.latent); real generators take a few hundred.
	LatentValues = 1 << 20
	// LatentDims bounds the number of latent dimensions.
	LatentDims = 8
	// BlockValues bounds one tensor of one forward block (block × values
	// per sample): 256 Mi values, 1 GiB as float32.
	BlockValues = 1 << 28
	// ThreadsPerCPU and MaxThreads bound --threads: LibTorch gains nothing
	// from more threads than cores, and a mistyped 100000 would start that
	// many.
	ThreadsPerCPU = 4
	MaxThreads    = 1024
	// BatchSize bounds --batch-size: more samples per forward step than
	// this only costs memory.
	BatchSize = 1 << 16
)

// Product multiplies dims and reports whether every dim is positive and the
// product stays at or below max. It checks before each multiplication, so
// it never overflows, whatever the dims: [2^32, 2^32] is refused, not
// wrapped to 0.
func Product(max int64, dims ...int64) (int64, bool) {
	n := int64(1)
	for _, d := range dims {
		if d <= 0 || d > max/n {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// ProductInts is Product for int dimensions.
func ProductInts(max int64, dims ...int) (int64, bool) {
	n := int64(1)
	for _, d := range dims {
		if d <= 0 || int64(d) > max/n {
			return 0, false
		}
		n *= int64(d)
	}
	return n, true
}

// Human prints a value count for messages: 67108864 is "64 Mi".
func Human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d Gi", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d Mi", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d Ki", n>>10)
	}
	return fmt.Sprint(n)
}

// MaxThreadsHere is the most threads --threads may ask for on this machine:
// ThreadsPerCPU per core, at most MaxThreads.
func MaxThreadsHere() int { return min(MaxThreads, ThreadsPerCPU*runtime.NumCPU()) }
