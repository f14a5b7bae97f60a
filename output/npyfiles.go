package output

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"medzoo/internal/files"
)

// WriteNPYs writes n (C, H, W) float32 NPY files DIR/000000.npy... with
// the values data(i), which zoo reads back as they are: model inputs that
// need no range mapping (zoo import's recorded inputs, zoo validate's
// made-up ones). It returns their paths, in order.
func WriteNPYs(dir string, n, c, h, w int, data func(i int) []float32) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	enc, err := Lookup("npy")
	if err != nil {
		return nil, err
	}
	var paths []string
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%06d.npy", i))
		// NPY stores values as they are; the range only satisfies the check.
		img := Image{Channels: c, Height: h, Width: w, Data: data(i), Range: [2]float64{-math.MaxFloat32, math.MaxFloat32}}
		if err := files.WriteAtomic(p, func(f io.Writer) error { return enc.Encode(f, img, Provenance{}) }); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
