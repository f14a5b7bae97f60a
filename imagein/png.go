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
		out := Image{Channels: 1, Height: h, Width: w, Data: make([]float32, plane), Kind: "8-bit gray PNG", Bits: 8}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out.Data[y*w+x] = float32(im.Pix[y*im.Stride+x])
			}
		}
		return out, Units{Lo: 0, Hi: 255, Known: true}, nil
	case *image.Gray16:
		out := Image{Channels: 1, Height: h, Width: w, Data: make([]float32, plane), Kind: "16-bit gray PNG", Bits: 16}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := im.Pix[y*im.Stride+2*x:]
				out.Data[y*w+x] = float32(uint16(p[0])<<8 | uint16(p[1]))
			}
		}
		return out, Units{Lo: 0, Hi: 65535, Known: true}, nil
	}
	// Colour: RGB (alpha dropped), 8 or 16 bits, the stored colour values
	// themselves: going through color.Color's premultiplied RGBA() would
	// round semi-transparent colours and turn transparent ones black, while
	// the stored colour is what PIL's convert("RGB") keeps (a reference
	// protocol of zoo evaluate reads it).
	sixteen := false
	switch src.(type) {
	case *image.RGBA64, *image.NRGBA64:
		sixteen = true
	}
	out := Image{Channels: 3, Height: h, Width: w, Data: make([]float32, 3*plane), Kind: "8-bit RGB PNG", Bits: 8}
	top := 255.0
	if sixteen {
		out.Kind, out.Bits, top = "16-bit RGB PNG", 16, 65535
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			rgb := straightRGB(src, b.Min.X+x, b.Min.Y+y, sixteen)
			for ch, v := range rgb {
				out.Data[ch*plane+y*w+x] = float32(v)
			}
		}
	}
	return out, Units{Lo: 0, Hi: top, Known: true}, nil
}

// straightRGB is the stored (not premultiplied) colour of pixel (x, y):
// 8-bit values, or 16-bit ones when sixteen. The PNG decoder gives NRGBA
// and NRGBA64 for colour with alpha, RGBA and RGBA64 for opaque colour
// (premultiplied by 1: the stored values) and Paletted, whose palette
// holds straight colours.
func straightRGB(src image.Image, x, y int, sixteen bool) [3]uint16 {
	switch im := src.(type) {
	case *image.NRGBA:
		p := im.Pix[im.PixOffset(x, y):]
		return [3]uint16{uint16(p[0]), uint16(p[1]), uint16(p[2])}
	case *image.RGBA:
		p := im.Pix[im.PixOffset(x, y):]
		return [3]uint16{uint16(p[0]), uint16(p[1]), uint16(p[2])}
	case *image.NRGBA64:
		p := im.Pix[im.PixOffset(x, y):]
		return [3]uint16{uint16(p[0])<<8 | uint16(p[1]), uint16(p[2])<<8 | uint16(p[3]), uint16(p[4])<<8 | uint16(p[5])}
	case *image.RGBA64:
		p := im.Pix[im.PixOffset(x, y):]
		return [3]uint16{uint16(p[0])<<8 | uint16(p[1]), uint16(p[2])<<8 | uint16(p[3]), uint16(p[4])<<8 | uint16(p[5])}
	case *image.Paletted:
		switch c := im.Palette[im.ColorIndexAt(x, y)].(type) {
		case color.NRGBA:
			return [3]uint16{uint16(c.R), uint16(c.G), uint16(c.B)}
		case color.RGBA:
			return [3]uint16{uint16(c.R), uint16(c.G), uint16(c.B)}
		}
	}
	c := color.NRGBA64Model.Convert(src.At(x, y)).(color.NRGBA64)
	if sixteen {
		return [3]uint16{c.R, c.G, c.B}
	}
	return [3]uint16{c.R >> 8, c.G >> 8, c.B >> 8}
}
