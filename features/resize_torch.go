package features

// torchBilinear resizes one h×w plane to oh×ow as
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
// without antialiasing does on the CPU in float32, which is what
// pytorch-fid's InceptionV3 does to its input: each output sample takes
// the two nearest input samples around (dst + 0.5)·in/out − 0.5 (clamped
// at 0), so when shrinking most input samples are skipped (it aliases).
func torchBilinear(src []float32, h, w, oh, ow int) []float32 {
	if h == oh && w == ow {
		return append([]float32(nil), src...)
	}
	xs := torchLinearIndices(w, ow)
	ys := torchLinearIndices(h, oh)
	out := make([]float32, oh*ow)
	for y, ty := range ys {
		r0, r1 := src[ty.i0*w:(ty.i0+1)*w], src[ty.i1*w:(ty.i1+1)*w]
		for x, tx := range xs {
			top := tx.l0*r0[tx.i0] + tx.l1*r0[tx.i1]
			bottom := tx.l0*r1[tx.i0] + tx.l1*r1[tx.i1]
			out[y*ow+x] = ty.l0*top + ty.l1*bottom
		}
	}
	return out
}

// linearTap is one output sample's two input samples and their weights.
type linearTap struct {
	i0, i1 int
	l0, l1 float32
}

// torchLinearIndices is PyTorch's compute_indices_weights_linear with
// align_corners=False, in float32 as its CPU kernel computes for float32
// tensors.
func torchLinearIndices(in, out int) []linearTap {
	scale := float32(in) / float32(out)
	res := make([]linearTap, out)
	for i := range res {
		src := scale*(float32(i)+0.5) - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := src - float32(i0)
		res[i] = linearTap{i0: i0, i1: i1, l0: 1 - l1, l1: l1}
	}
	return res
}
