package features

// tf1Bilinear resizes one h×w plane to oh×ow as TensorFlow 1.x's
// resize_bilinear(align_corners=False) does, which is what torch-fidelity's
// interpolate_bilinear_2d_like_tensorflow1x (method "slow", the default)
// reproduces for its InceptionV3: the source coordinate of output sample
// d is d·in/out, with no half-pixel offset and no antialiasing, so the
// image shifts by half a pixel and, when shrinking, most input samples are
// skipped. Arithmetic is float32 in the order torch-fidelity's tensors
// compute it: horizontal lerps first, then the vertical one.
func tf1Bilinear(src []float32, h, w, oh, ow int) []float32 {
	xs := tf1Indices(w, ow)
	ys := tf1Indices(h, oh)
	out := make([]float32, oh*ow)
	for y, ty := range ys {
		r0, r1 := src[ty.lo*w:(ty.lo+1)*w], src[ty.hi*w:(ty.hi+1)*w]
		for x, tx := range xs {
			in0 := r0[tx.lo] + (r0[tx.hi]-r0[tx.lo])*tx.d
			in1 := r1[tx.lo] + (r1[tx.hi]-r1[tx.lo])*tx.d
			out[y*ow+x] = in0 + (in1-in0)*ty.d
		}
	}
	return out
}

// tf1Tap is one output sample's lower and upper input sample and the
// fraction between them.
type tf1Tap struct {
	lo, hi int
	d      float32
}

func tf1Indices(in, out int) []tf1Tap {
	// torch.tensor(in / out, dtype=float32): the scale rounded once.
	scale := float32(float64(in) / float64(out))
	res := make([]tf1Tap, out)
	for i := range res {
		g := float32(i) * scale
		lo := int(g) // .long() truncates; g >= 0
		hi := min(lo+1, in-1)
		res[i] = tf1Tap{lo: lo, hi: hi, d: g - float32(lo)}
	}
	return res
}
