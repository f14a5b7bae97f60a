package imagein

import (
	"image"
	"image/jpeg"
)

// readJPEG returns 8-bit sample values, gray (1 channel) or RGB.
func readJPEG(path string) (Image, Units, error) {
	src, err := decodeChecked(path, "JPEG", jpeg.DecodeConfig, jpeg.Decode)
	if err != nil {
		return Image{}, Units{}, err
	}
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	if g, ok := src.(*image.Gray); ok {
		out := Image{Channels: 1, Height: h, Width: w, Data: make([]float32, h*w), Kind: "8-bit gray JPEG", Bits: 8}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out.Data[y*w+x] = float32(g.Pix[y*g.Stride+x])
			}
		}
		return out, Units{Lo: 0, Hi: 255, Known: true}, nil
	}
	plane := h * w
	out := Image{Channels: 3, Height: h, Width: w, Data: make([]float32, 3*plane), Kind: "8-bit RGB JPEG", Bits: 8}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := src.At(b.Min.X+x, b.Min.Y+y).RGBA()
			out.Data[y*w+x] = float32(r >> 8)
			out.Data[plane+y*w+x] = float32(g >> 8)
			out.Data[2*plane+y*w+x] = float32(bl >> 8)
		}
	}
	return out, Units{Lo: 0, Hi: 255, Known: true}, nil
}
