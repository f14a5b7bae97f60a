package features

import (
	"math/rand/v2"
	"testing"

	"medzoo/imagein"
)

// BenchmarkPrepProtocols times each protocol's preparation of one decoded
// image for a 299x299 network (Inception-v3's input), side by side in one
// run: a 128x128 8-bit gray PNG (enlarged, as in scripts/bench_evaluate.py)
// and a 512x384 RGB one (shrunk). scripts/bench_protocols.py writes the
// figures into docs/benchmarks.md.
func BenchmarkPrepProtocols(b *testing.B) {
	spec := Spec{Name: "inception-v3", InputSize: [2]int{299, 299}, Resize: "bilinear", Range: [2]float64{0, 255}, Dim: 2048}
	if err := spec.Validate(); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	image := func(c, h, w int, kind string) imagein.Image {
		img := imagein.Image{Channels: c, Height: h, Width: w, Data: make([]float32, c*h*w), Kind: kind, Bits: 8}
		for i := range img.Data {
			img.Data[i] = float32(rng.IntN(256))
		}
		return img
	}
	cases := []struct {
		name string
		img  imagein.Image
	}{{"gray128", image(1, 128, 128, "8-bit gray PNG")}, {"rgb512x384", image(3, 384, 512, "8-bit RGB PNG")}}
	u := imagein.Units{Lo: 0, Hi: 255, Known: true}
	for _, proto := range Protocols {
		for _, c := range cases {
			b.Run(string(proto)+"/"+c.name, func(b *testing.B) {
				p := Prep{Spec: spec, Normalize: Normalization{Mode: "none"}, Protocol: proto}
				dst := make([]float32, p.InputLen())
				for i := 0; i < b.N; i++ {
					if err := p.Apply(c.img, u, dst); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
