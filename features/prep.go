package features

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"medzoo/imagein"
)

// Normalization maps an image's values onto [0, 1] before the extractor's
// own preprocessing. medigan's FID study showed that this choice moves FID,
// so it is explicit and recorded with every result.
type Normalization struct {
	// Mode is "none" (each format's natural range: 0..255 or 0..65535 for
	// PNG/JPEG, the file's window for DICOM, the model's declared output
	// range for generated images), "minmax" (each image's own min..max) or
	// "window" (Center ± Width/2 in the stored units, e.g. HU, clipped).
	Mode          string
	Center, Width float64
}

// ParseNormalization reads none, minmax or window:CENTER,WIDTH.
func ParseNormalization(s string) (Normalization, error) {
	switch {
	case s == "" || s == "none":
		return Normalization{Mode: "none"}, nil
	case s == "minmax":
		return Normalization{Mode: "minmax"}, nil
	case strings.HasPrefix(s, "window:"):
		parts := strings.Split(strings.TrimPrefix(s, "window:"), ",")
		if len(parts) == 2 {
			c, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
			w, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
			if err1 == nil && err2 == nil && w > 0 {
				return Normalization{Mode: "window", Center: c, Width: w}, nil
			}
		}
		return Normalization{}, fmt.Errorf("--normalize %q: want window:CENTER,WIDTH with WIDTH > 0, e.g. window:40,400 for a CT soft-tissue window in HU", s)
	}
	return Normalization{}, fmt.Errorf("--normalize %q: want none, minmax or window:CENTER,WIDTH", s)
}

func (n Normalization) String() string {
	if n.Mode == "window" {
		return fmt.Sprintf("window:%g,%g", n.Center, n.Width)
	}
	return n.Mode
}

// Prep prepares decoded images for one extractor.
type Prep struct {
	Spec      Spec
	Normalize Normalization
	// Protocol is whose preprocessing is reproduced ("" is zoo's).
	Protocol Protocol
	// Loss, when set, counts what a reference protocol's reading lost.
	Loss *Loss
}

// Describe is the full preprocessing in one line (cards, cache keys).
// zoo's own protocol keeps the line it always had, so that features cached
// before protocols existed stay valid.
func (p Prep) Describe() string {
	if !p.Protocol.Reference() {
		return "normalize " + p.Normalize.String() + "; " + p.Spec.Preprocessing()
	}
	return fmt.Sprintf("protocol %s: %s to %dx%d; NPY, DICOM and generated images: normalize %s, quantized to uint8; 0..255 -> [0,1] -> [%g,%g], mean %v, std %v, %s",
		p.Protocol, p.Protocol.Steps(), p.Spec.InputSize[1], p.Spec.InputSize[0], p.Normalize,
		p.Spec.Range[0], p.Spec.Range[1], p.Spec.Mean, p.Spec.Std, p.Spec.Channels)
}

// InputLen is the number of values one prepared image has (3×H×W).
func (p Prep) InputLen() int { return 3 * p.Spec.InputSize[0] * p.Spec.InputSize[1] }

// Apply writes img, prepared, into dst (3×H×W, channel-major, the spec's
// channel order). Gray images are repeated onto 3 channels.
func (p Prep) Apply(img imagein.Image, u imagein.Units, dst []float32) error {
	if len(dst) != p.InputLen() {
		return fmt.Errorf("prepared buffer holds %d values, want %d", len(dst), p.InputLen())
	}
	if img.Channels != 1 && img.Channels != 3 {
		return fmt.Errorf("%s has %d channels; zoo evaluates gray (1) or RGB (3) images", img.Kind, img.Channels)
	}
	plane := img.Height * img.Width
	if plane == 0 || len(img.Data) != img.Channels*plane {
		return errors.New("empty image")
	}
	if p.Protocol.Reference() {
		return p.applyReference(img, u, dst)
	}
	lo, hi, clip, err := p.unitRange(img, u)
	if err != nil {
		return err
	}
	scale := 1 / (hi - lo)
	if hi == lo {
		scale = 0
	}
	unit := make([]float32, len(img.Data))
	for i, v := range img.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s holds a non-finite value at %d", img.Kind, i)
		}
		x := (float64(v) - lo) * scale
		if clip {
			x = min(max(x, 0), 1)
		}
		unit[i] = float32(x)
	}
	oh, ow := p.Spec.InputSize[0], p.Spec.InputSize[1]
	if p.Spec.Resize == "none" && (img.Height != oh || img.Width != ow) {
		return fmt.Errorf("%s is %dx%d; extractor %s takes %dx%d and resize is none: use --resize bilinear", img.Kind, img.Width, img.Height, p.Spec.Name, ow, oh)
	}
	// Each image channel is resized once (a gray image once, not three
	// times), then mapped onto every network channel that takes it.
	resized := make([][]float32, img.Channels)
	for ch := range resized {
		resized[ch] = resize(unit[ch*plane:(ch+1)*plane], img.Height, img.Width, oh, ow, p.Spec.Resize)
	}
	p.toNetwork(resized, 1, dst)
	return nil
}

// toNetwork writes the resized planes (one for gray, three for RGB, on a
// scale where top is white: 1 or 255) into dst as the spec's channels,
// range, mean and std ask.
func (p Prep) toNetwork(resized [][]float32, top float64, dst []float32) {
	out := dst[:0]
	a, b := p.Spec.Range[0], (p.Spec.Range[1]-p.Spec.Range[0])/top
	for c := 0; c < 3; c++ {
		src := c // network channel c takes image channel src
		if p.Spec.Channels == "BGR" {
			src = 2 - c
		}
		if len(resized) == 1 {
			src = 0
		}
		// (a + b·v − mean)/std as one multiply-add per value.
		scale, shift := float32(b/p.Spec.Std[c]), float32((a-p.Spec.Mean[c])/p.Spec.Std[c])
		for _, v := range resized[src] {
			out = append(out, scale*v+shift)
		}
	}
}

// unitRange returns the values that map onto 0 and 1, and whether values
// outside them are clipped.
func (p Prep) unitRange(img imagein.Image, u imagein.Units) (lo, hi float64, clip bool, err error) {
	switch p.Normalize.Mode {
	case "minmax":
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range img.Data {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
		return lo, hi, false, nil
	case "window":
		return p.Normalize.Center - p.Normalize.Width/2, p.Normalize.Center + p.Normalize.Width/2, true, nil
	}
	if !u.Known {
		return 0, 0, false, fmt.Errorf("%s has no natural value range (NPY): use --normalize minmax or --normalize window:CENTER,WIDTH", img.Kind)
	}
	return u.Lo, u.Hi, u.Clip, nil
}

// resize scales one h×w plane to oh×ow. Bilinear is separable and
// antialiased when shrinking: the triangle filter widens by the scale
// factor, as in torch.nn.functional.interpolate(mode="bilinear",
// antialias=True, align_corners=False), which it matches; when enlarging
// it is plain bilinear interpolation.
func resize(src []float32, h, w, oh, ow int, mode string) []float32 {
	if h == oh && w == ow {
		return src
	}
	if mode == "nearest" {
		out := make([]float32, oh*ow)
		for y := 0; y < oh; y++ {
			sy := min(int(float64(y)*float64(h)/float64(oh)), h-1)
			for x := 0; x < ow; x++ {
				sx := min(int(float64(x)*float64(w)/float64(ow)), w-1)
				out[y*ow+x] = src[sy*w+sx]
			}
		}
		return out
	}
	wx := filterWeights(w, ow)
	wy := filterWeights(h, oh)
	tmp := make([]float32, h*ow) // rows resized horizontally
	for y := 0; y < h; y++ {
		row := src[y*w : (y+1)*w]
		for x, t := range wx {
			var acc float64
			for k, wt := range t.w {
				acc += wt * float64(row[t.first+k])
			}
			tmp[y*ow+x] = float32(acc)
		}
	}
	out := make([]float32, oh*ow)
	for y, t := range wy {
		for x := 0; x < ow; x++ {
			var acc float64
			for k, wt := range t.w {
				acc += wt * float64(tmp[(t.first+k)*ow+x])
			}
			out[y*ow+x] = float32(acc)
		}
	}
	return out
}

// taps are the input samples and weights of one output sample.
type taps struct {
	first int
	w     []float64
}

var weightCache sync.Map // [2]int{in, out} -> []taps

// filterWeights returns, for each of out output samples, the triangle-filter
// weights over the in input samples (PyTorch's antialiased interpolation
// weights for the bilinear filter).
func filterWeights(in, out int) []taps {
	key := [2]int{in, out}
	if v, ok := weightCache.Load(key); ok {
		return v.([]taps)
	}
	scale := float64(in) / float64(out)
	support, inv := 1.0, 1.0
	if scale >= 1 {
		support, inv = scale, 1/scale
	}
	res := make([]taps, out)
	for i := range res {
		center := scale * (float64(i) + 0.5)
		lo := max(int(center-support+0.5), 0) // int() truncates toward zero, as in C
		hi := min(int(center+support+0.5), in)
		t := taps{first: lo, w: make([]float64, hi-lo)}
		var total float64
		for j := range t.w {
			v := max(0, 1-math.Abs((float64(j+lo)-center+0.5)*inv))
			t.w[j] = v
			total += v
		}
		if total > 0 {
			for j := range t.w {
				t.w[j] /= total
			}
		}
		res[i] = t
	}
	weightCache.Store(key, res)
	return res
}
