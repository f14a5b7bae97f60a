package imagein

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
)

// decodeChecked decodes the image at path with a standard-library codec,
// reading its header first: its dimensions are checked before the decoder
// allocates for them.
func decodeChecked(path, format string, config func(io.Reader) (image.Config, error), decode func(io.Reader) (image.Image, error)) (image.Image, error) {
	f, _, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := config(f)
	if err != nil {
		return nil, fmt.Errorf("not a readable %s: %w", format, err)
	}
	if err := checkDims(format, modelChannels(cfg.ColorModel), cfg.Height, cfg.Width); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	src, err := decode(f)
	if err != nil {
		return nil, fmt.Errorf("not a readable %s: %w", format, err)
	}
	return src, nil
}

// readPNG returns stored values (0..255 or 0..65535) and that range.
func readPNG(path string) (Image, Units, error) {
	src, err := decodeChecked(path, "PNG", png.DecodeConfig, png.Decode)
	if err != nil {
		return Image{}, Units{}, err
	}
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	plane := h * w
	switch im := src.(type) {
	case *image.Gray:
		out := Image{Channels: 1, Height: h, Width: w, Data: make([]float32, plane), Kind: "8-bit gray PNG"}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out.Data[y*w+x] = float32(im.Pix[y*im.Stride+x])
			}
		}
		return out, Units{Lo: 0, Hi: 255, Known: true}, nil
	case *image.Gray16:
		out := Image{Channels: 1, Height: h, Width: w, Data: make([]float32, plane), Kind: "16-bit gray PNG"}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := im.Pix[y*im.Stride+2*x:]
				out.Data[y*w+x] = float32(uint16(p[0])<<8 | uint16(p[1]))
			}
		}
		return out, Units{Lo: 0, Hi: 65535, Known: true}, nil
	}
	// Colour: RGB (alpha dropped, colours not premultiplied), 8 or 16 bits.
	sixteen := false
	switch src.(type) {
	case *image.RGBA64, *image.NRGBA64:
		sixteen = true
	}
	out := Image{Channels: 3, Height: h, Width: w, Data: make([]float32, 3*plane), Kind: "8-bit RGB PNG"}
	top := 255.0
	if sixteen {
		out.Kind, top = "16-bit RGB PNG", 65535
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA64Model.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			for ch, v := range [3]uint16{c.R, c.G, c.B} {
				s := float64(v)
				if !sixteen {
					s = float64(v >> 8)
				}
				out.Data[ch*plane+y*w+x] = float32(s)
			}
		}
	}
	return out, Units{Lo: 0, Hi: top, Known: true}, nil
}
