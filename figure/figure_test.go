package figure

import (
	"math"
	"testing"

	"medzoo/loader"
	"medzoo/zoo"
)

func TestSlerpKeepsEndpointsAndNorm(t *testing.T) {
	a := make([]float32, 100)
	b := make([]float32, 100)
	loader.FillLatent(a, 1, 0, "normal")
	loader.FillLatent(b, 2, 0, "normal")
	norm := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	dst := make([]float32, 100)
	for _, tc := range []struct {
		t    float64
		want []float32
	}{{0, a}, {1, b}} {
		Slerp(a, b, tc.t, dst)
		for i := range dst {
			if math.Abs(float64(dst[i]-tc.want[i])) > 1e-5 {
				t.Fatalf("t=%g: value %d = %g, want %g", tc.t, i, dst[i], tc.want[i])
			}
		}
	}
	// Midway the norm stays between the endpoints' (a linear mix would
	// shrink it by about 1/√2 for independent Gaussians).
	Slerp(a, b, 0.5, dst)
	if n := norm(dst); n < 0.95*math.Min(norm(a), norm(b)) {
		t.Errorf("slerp midpoint norm %g, endpoints %g and %g", n, norm(a), norm(b))
	}
}

func TestComposeLayout(t *testing.T) {
	img := loader.Output{Spec: zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 3, Width: 2, Range: [2]float64{-1, 1}},
		Data: []float32{-1, 1, 0, 0, 1, -1}}
	mask := loader.Output{Spec: zoo.TensorSpec{Name: "mask", Kind: zoo.KindMask, Channels: 1, Height: 3, Width: 2, Range: [2]float64{0, 1}},
		Data: []float32{0, 1, 1, 0, 0, 1}}
	c, err := Compose([][]Cell{{{img, mask}, {img, mask}}, {{img, mask}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Two columns of cells 2+1+2 wide, two rows 3 high, gaps of 4.
	if b := c.Bounds(); b.Dx() != Gap+2*(5+Gap) || b.Dy() != Gap+2*(3+Gap) {
		t.Fatalf("size %v", b)
	}
	px := func(x, y int) uint8 { return c.NRGBAAt(x, y).R }
	if px(Gap, Gap) != 0 || px(Gap+1, Gap) != 255 || px(Gap+2+innerGap+1, Gap) != 255 || px(Gap+2+innerGap, Gap) != 0 {
		t.Errorf("pixel values: %d %d %d %d", px(Gap, Gap), px(Gap+1, Gap), px(Gap+3, Gap), px(Gap+2+innerGap+1, Gap))
	}
	bad := img
	bad.Data = bad.Data[:3]
	if _, err := Compose([][]Cell{{{bad}}}, nil); err == nil {
		t.Error("short data accepted")
	}
	if _, err := Compose(nil, nil); err == nil {
		t.Error("empty figure accepted")
	}
}
