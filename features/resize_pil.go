package features

import "math"

// pilBicubic resizes one h×w plane to oh×ow as Pillow (9.4, Resample.c)
// resizes a mode "F" (float32) image with Image.BICUBIC, which is what
// clean-fid's "clean" mode does to each channel: the cubic convolution
// kernel with a = −0.5, its support (2) widened by the scale factor when
// shrinking (so it antialiases), weights computed in float64 and
// normalized to sum 1, the horizontal pass first into a float32
// intermediate image, then the vertical pass. Pillow returns a copy when
// the size does not change; so does this.
func pilBicubic(src []float32, h, w, oh, ow int) []float32 {
	if h == oh && w == ow {
		return append([]float32(nil), src...)
	}
	tmp := src
	if ow != w {
		wx := pilCoeffs(w, ow)
		tmp = make([]float32, h*ow)
		for y := 0; y < h; y++ {
			row := src[y*w : (y+1)*w]
			for x, t := range wx {
				var ss float64
				for k, c := range t.w {
					ss += float64(row[t.first+k]) * c
				}
				tmp[y*ow+x] = float32(ss)
			}
		}
	}
	if oh == h {
		return tmp
	}
	wy := pilCoeffs(h, oh)
	out := make([]float32, oh*ow)
	for y, t := range wy {
		for x := 0; x < ow; x++ {
			var ss float64
			for k, c := range t.w {
				ss += float64(tmp[(t.first+k)*ow+x]) * c
			}
			out[y*ow+x] = float32(ss)
		}
	}
	return out
}

// pilCubic is Pillow's bicubic_filter: Keys' cubic convolution, a = −0.5.
func pilCubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// pilCoeffs is Pillow's precompute_coeffs for the bicubic filter over the
// whole input: for each output sample, the first input sample and the
// normalized weights.
func pilCoeffs(in, out int) []taps {
	scale := float64(in) / float64(out)
	filterScale := max(scale, 1)
	support := 2 * filterScale
	ss := 1 / filterScale
	res := make([]taps, out)
	for i := range res {
		center := (float64(i) + 0.5) * scale
		lo := max(int(center-support+0.5), 0) // C's (int) truncation, as Pillow rounds
		hi := min(int(center+support+0.5), in)
		t := taps{first: lo, w: make([]float64, hi-lo)}
		var ww float64
		for j := range t.w {
			t.w[j] = pilCubic((float64(j+lo) - center + 0.5) * ss)
			ww += t.w[j]
		}
		if ww != 0 {
			for j := range t.w {
				t.w[j] /= ww
			}
		}
		res[i] = t
	}
	return res
}
