package loader

import (
	"math"

	"medzoo/zoo"
)

// postSpec is the spec of an output after its post-processing: values are
// the package's 8-bit pixels, so writers store them as they are.
func postSpec(spec zoo.TensorSpec) zoo.TensorSpec {
	if spec.Post != nil {
		spec.Range = [2]float64{0, 255}
	}
	return spec
}

// cut takes spec's channels out of one sample's raw (C, h, w) values,
// reversing their order for BGR and swapping height and width for
// Transpose, and applies the post-processing.
func cut(src []float32, h, w int, spec zoo.TensorSpec) []float32 {
	p := spec.Post
	pixel := func(v float32) float32 { return v }
	transpose, bgr := false, false
	if p != nil {
		pixel = PixelFunc(p)
		transpose, bgr = p.Transpose, p.BGR
	}
	oh, ow := spec.Height, spec.Width
	dst := make([]float32, spec.Channels*oh*ow)
	for ch := 0; ch < spec.Channels; ch++ {
		sc := spec.ChannelOffset + ch
		if bgr {
			sc = spec.ChannelOffset + spec.Channels - 1 - ch
		}
		plane := src[sc*h*w : (sc+1)*h*w]
		out := dst[ch*oh*ow : (ch+1)*oh*ow]
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				i := y*w + x
				if transpose {
					i = x*w + y // output (y, x) is source (x, y)
				}
				out[y*ow+x] = pixel(plane[i])
			}
		}
	}
	return dst
}

// PixelFunc returns the function that maps one raw value to the package's
// pixel value, exactly as zoo.Post documents. Every intermediate is
// converted explicitly to its precision: Go may otherwise fuse a multiply
// and an add into one FMA, which rounds once instead of twice and would
// differ from numpy and PyTorch in the last bit, and so in the pixel.
func PixelFunc(p *zoo.Post) func(float32) float32 {
	a, b, c, d := p.Map[0], p.Map[1], p.Map[2], p.Map[3]
	if p.Threshold != nil {
		thr := *p.Threshold
		lo, hi := float32(c), float32(d)
		return func(x float32) float32 {
			if float64(x) > thr {
				return hi
			}
			return lo
		}
	}
	clamp := p.Clamp
	var linear func(float32) float64
	switch p.Arithmetic {
	case "float64":
		linear = func(x float32) float64 {
			t := float64(float64(x)-a) / (b - a)
			if clamp {
				t = min(max(t, 0), 1)
			}
			return float64(t*(d-c)) + c
		}
	case "float32,float64":
		a32, r32 := float32(a), float32(b-a)
		linear = func(x float32) float64 {
			t := float32(x-a32) / r32
			if clamp {
				t = min(max(t, 0), 1)
			}
			return float64(float64(t)*(d-c)) + c
		}
	default: // float32
		a32, r32, s32, c32 := float32(a), float32(b-a), float32(d-c), float32(c)
		linear = func(x float32) float64 {
			t := float32(x-a32) / r32
			if clamp {
				t = min(max(t, 0), 1)
			}
			return float64(float32(t*s32) + c32)
		}
	}
	var cast func(float64) float64
	switch p.Cast {
	case "round":
		cast = math.RoundToEven
	case "floor":
		cast = math.Floor
	default:
		cast = math.Trunc
	}
	wrap := p.Overflow == "wrap"
	lut := p.LUT
	return func(x float32) float32 {
		y := cast(linear(x))
		if wrap {
			// C's (uint8_t)(int32_t)y, what numpy's astype(uint8) does
			// with out-of-range floats on x86: modulo 256.
			y = float64(uint8(int32(min(max(y, math.MinInt32), math.MaxInt32))))
		} else {
			y = min(max(y, 0), 255)
		}
		if lut != nil {
			y = float64(lut[int(y)])
		}
		return float32(y)
	}
}
