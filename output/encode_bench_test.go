package output

import (
	"bytes"
	"math/rand"
	"testing"
)

// BenchmarkEncodePNG128 is the cost of one 128×128 8-bit gray PNG with its
// provenance on one core: the CPU side of a GPU worker, which docs/scale.md
// uses to size the CPU cores a GPU needs to keep up.
//
//	go test -run '^$' -bench EncodePNG128 ./output
func BenchmarkEncodePNG128(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	img := Image{Channels: 1, Height: 128, Width: 128, Data: make([]float32, 128*128), Range: [2]float64{-1, 1}}
	for i := range img.Data {
		// A smooth image with noise, as generated ones are; pure noise
		// would make zlib slower than any sample.
		img.Data[i] = float32(i%128)/64 - 1 + float32(rng.NormFloat64()*0.05)
	}
	p := prov
	var buf bytes.Buffer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := Formats["png"].Encode(&buf, img, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
}
