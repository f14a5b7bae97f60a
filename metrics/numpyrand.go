package metrics

// numpyRandomState reproduces the draws of numpy's legacy
// np.random.RandomState(seed) that torch-fidelity's KID uses:
// rng.choice(n, m, replace=False), which is rng.permutation(n)[:m]. The
// generator is MT19937 seeded by init_genrand (a seed of 0..2³²−1); the
// permutation shuffles arange(n) from the end, each swap partner drawn in
// [0, i] by masked rejection of 32-bit outputs (numpy's random_interval).
// Checked against numpy in TestNumpyRandomStateChoice.
type numpyRandomState struct {
	mt  [624]uint32
	idx int
}

func newNumpyRandomState(seed uint32) *numpyRandomState {
	r := &numpyRandomState{idx: 624}
	r.mt[0] = seed
	for i := 1; i < 624; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	return r
}

// uint32 is MT19937's genrand_int32.
func (r *numpyRandomState) uint32() uint32 {
	if r.idx >= 624 {
		for i := 0; i < 624; i++ {
			y := r.mt[i]&0x80000000 | r.mt[(i+1)%624]&0x7fffffff
			v := r.mt[(i+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			r.mt[i] = v
		}
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	return y ^ y>>18
}

// interval is numpy's random_interval(max) for max < 2³²: uniform in
// [0, max], by rejecting masked draws above max.
func (r *numpyRandomState) interval(max uint32) uint32 {
	if max == 0 {
		return 0
	}
	mask := max
	for s := uint(1); s <= 16; s <<= 1 {
		mask |= mask >> s
	}
	for {
		if v := r.uint32() & mask; v <= max {
			return v
		}
	}
}

// choice is rng.choice(n, m, replace=False): the first m of a permutation
// of 0..n−1.
func (r *numpyRandomState) choice(n, m int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(r.interval(uint32(i)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm[:m]
}
