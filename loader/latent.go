package loader

import "math"

// Latent noise is drawn from Philox4x32-10, a counter-based generator
// (Salmon et al., SC'11, the one cuRAND and JAX use): the numbers for sample i
// are a pure function of (seed, i, position), so sample i gets the same latent
// whatever the batch size, the worker count, or where a resumed run starts.
// A global sequential RNG stream could not give that.

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// philox4x32 runs the 10-round Philox4x32 bijection on counter ctr with key k.
func philox4x32(ctr [4]uint32, k [2]uint32) [4]uint32 {
	for r := 0; r < 10; r++ {
		p0 := uint64(philoxM0) * uint64(ctr[0])
		p1 := uint64(philoxM1) * uint64(ctr[2])
		ctr = [4]uint32{
			uint32(p1>>32) ^ ctr[1] ^ k[0],
			uint32(p1),
			uint32(p0>>32) ^ ctr[3] ^ k[1],
			uint32(p0),
		}
		k[0] += philoxW0
		k[1] += philoxW1
	}
	return ctr
}

// uniform maps a 32-bit integer to the open interval (0, 1), never 0 so the
// logarithm in Box-Muller stays finite.
func uniform(u uint32) float64 {
	return (float64(u) + 0.5) / (1 << 32)
}

// FillLatent writes the latent values of sample index for seed into dst.
// dist "uniform" gives values in [-1, 1); anything else gives standard
// normal values (Box-Muller on pairs of uniforms).
func FillLatent(dst []float32, seed uint64, index uint64, dist string) {
	key := [2]uint32{uint32(seed), uint32(seed >> 32)}
	for block := uint64(0); int(block*4) < len(dst); block++ {
		r := philox4x32([4]uint32{uint32(index), uint32(index >> 32), uint32(block), uint32(block >> 32)}, key)
		var v [4]float64
		if dist == "uniform" {
			for j := range v {
				v[j] = 2*uniform(r[j]) - 1
			}
		} else {
			for j := 0; j < 4; j += 2 {
				radius := math.Sqrt(-2 * math.Log(uniform(r[j])))
				s, c := math.Sincos(2 * math.Pi * uniform(r[j+1]))
				v[j], v[j+1] = radius*c, radius*s
			}
		}
		for j := 0; j < 4 && int(block*4)+j < len(dst); j++ {
			dst[int(block*4)+j] = float32(v[j])
		}
	}
}
