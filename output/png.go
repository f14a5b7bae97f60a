package output

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"math"
	"sync"
)

// png8 writes 8-bit grayscale (1 channel) or RGB (3 channels) PNGs.
type png8 struct{}

// png16 writes 16-bit grayscale or RGB PNGs, keeping the precision that
// 8 bits would throw away (useful for CT and MRI value ranges).
type png16 struct{}

func (png8) Ext() string  { return ".png" }
func (png16) Ext() string { return ".png" }

func (png8) Encode(w io.Writer, img Image, p Provenance) error {
	return encodePNG(w, img, p, false)
}

func (png16) Encode(w io.Writer, img Image, p Provenance) error {
	return encodePNG(w, img, p, true)
}

// Reusing encoder buffers keeps the per-image garbage small when thousands
// of images are written.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() *png.EncoderBuffer  { e, _ := b.pool.Get().(*png.EncoderBuffer); return e }
func (b *bufferPool) Put(e *png.EncoderBuffer) { b.pool.Put(e) }

var encoder = &png.Encoder{CompressionLevel: png.DefaultCompression, BufferPool: &bufferPool{}}

var pngBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func toImage(img Image, sixteen bool) (image.Image, error) {
	if err := img.check(); err != nil {
		return nil, err
	}
	lo, hi := img.Range[0], img.Range[1]
	if img.Label {
		// Quantize(v, 0, max, max) is round(v), clipped to the format.
		lo, hi = 0, 255
		if sixteen {
			hi = 65535
		}
	}
	plane := img.Height * img.Width
	rect := image.Rect(0, 0, img.Width, img.Height)
	switch {
	case img.Channels == 1 && !sixteen:
		g := image.NewGray(rect)
		for i, v := range img.Data {
			g.Pix[i] = uint8(Quantize(v, lo, hi, 255))
		}
		return g, nil
	case img.Channels == 1 && sixteen:
		g := image.NewGray16(rect)
		for i, v := range img.Data {
			binary.BigEndian.PutUint16(g.Pix[2*i:], uint16(Quantize(v, lo, hi, 65535)))
		}
		return g, nil
	case img.Channels == 3 && !sixteen:
		c := image.NewNRGBA(rect)
		for i := 0; i < plane; i++ {
			for ch := 0; ch < 3; ch++ {
				c.Pix[4*i+ch] = uint8(Quantize(img.Data[ch*plane+i], lo, hi, 255))
			}
			c.Pix[4*i+3] = 255
		}
		return c, nil
	case img.Channels == 3 && sixteen:
		c := image.NewNRGBA64(rect)
		for i := 0; i < plane; i++ {
			for ch := 0; ch < 3; ch++ {
				binary.BigEndian.PutUint16(c.Pix[8*i+2*ch:], uint16(Quantize(img.Data[ch*plane+i], lo, hi, 65535)))
			}
			binary.BigEndian.PutUint16(c.Pix[8*i+6:], 0xffff)
		}
		return c, nil
	}
	return nil, fmt.Errorf("PNG holds 1 (gray) or 3 (RGB) channels, the output has %d; use --format npy", img.Channels)
}

func encodePNG(w io.Writer, img Image, p Provenance, sixteen bool) error {
	im, err := toImage(img, sixteen)
	if err != nil {
		return err
	}
	chunks := textChunks(p)
	if row, col, ok := img.Physical.Spacing(); ok {
		phys, err := physChunk(row, col)
		if err != nil {
			return err
		}
		chunks = append(chunks, phys)
	}
	return writePNG(w, im, chunks)
}

// WritePNG encodes im (a sample, or a composed figure) with the provenance
// text chunks every zoo PNG carries. It writes no pHYs: a figure is a
// layout of panels, gaps and labels, not one image with one spacing.
func WritePNG(w io.Writer, im image.Image, p Provenance) error {
	return writePNG(w, im, textChunks(p))
}

func writePNG(w io.Writer, im image.Image, chunks []chunk) error {
	buf := pngBuffers.Get().(*bytes.Buffer)
	defer pngBuffers.Put(buf)
	buf.Reset()
	if err := encoder.Encode(buf, im); err != nil {
		return err
	}
	return insertChunks(w, buf.Bytes(), chunks)
}

// chunk is one PNG chunk that zoo adds to what image/png writes.
type chunk struct {
	typ     string
	payload []byte
}

// textChunks is the provenance as PNG tEXt entries: the standard keywords
// Description/Software that viewers show, and one machine-readable entry.
func textChunks(p Provenance) []chunk {
	var out []chunk
	for _, kv := range [][2]string{
		{"Description", p.Notice()},
		{"Software", p.Generator},
		{"medzoo.provenance", p.JSON()},
	} {
		out = append(out, chunk{"tEXt", append(append([]byte(kv[0]), 0), latin1(kv[1])...)})
	}
	return out
}

// physChunk is the pHYs chunk for a pixel spacing of row × col mm: pixels
// per metre along x (columns) and y (rows), unit 1 (metre), so that viewers
// and PIL (info["dpi"]) know the image's physical size.
func physChunk(rowMM, colMM float64) (chunk, error) {
	x, okX := pixelsPerMetre(colMM)
	y, okY := pixelsPerMetre(rowMM)
	if !okX || !okY {
		return chunk{}, fmt.Errorf("pixel spacing %g x %g mm has no PNG pHYs (1 to 2^31-1 pixels per metre); declare spacing_mm between 0.001 and 1000 mm in the catalog",
			rowMM, colMM)
	}
	payload := make([]byte, 9)
	binary.BigEndian.PutUint32(payload[0:], x)
	binary.BigEndian.PutUint32(payload[4:], y)
	payload[8] = 1 // unit: metre
	return chunk{"pHYs", payload}, nil
}

// pixelsPerMetre is round(1000/mm), ok false when that is no PNG value
// (1 to 2^31-1) or mm is not a positive number.
func pixelsPerMetre(mm float64) (uint32, bool) {
	if !(mm > 0) || math.IsInf(mm, 0) {
		return 0, false
	}
	ppm := math.Round(1000 / mm)
	if ppm < 1 || ppm > math.MaxInt32 {
		return 0, false
	}
	return uint32(ppm), true
}

// insertChunks writes the PNG in data to w with chunks placed right after
// IHDR, before any IDAT as pHYs must be (Go's image/png cannot write text
// or pHYs chunks itself).
func insertChunks(w io.Writer, data []byte, chunks []chunk) error {
	const ihdrEnd = 8 + 8 + 13 + 4 // signature, IHDR length+type, IHDR data, CRC
	if len(data) < ihdrEnd || string(data[12:16]) != "IHDR" {
		return fmt.Errorf("internal error: encoder output is not a PNG")
	}
	if _, err := w.Write(data[:ihdrEnd]); err != nil {
		return err
	}
	for _, c := range chunks {
		if err := writeChunk(w, c.typ, c.payload); err != nil {
			return err
		}
	}
	_, err := w.Write(data[ihdrEnd:])
	return err
}

// latin1 keeps tEXt valid: it must be ISO 8859-1, so other runes become '?'.
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff || r == 0 {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}

func writeChunk(w io.Writer, typ string, payload []byte) error {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(payload)))
	copy(hdr[4:], typ)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(payload)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	for _, part := range [][]byte{hdr[:], payload, sum[:]} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return nil
}

// ReadText returns the tEXt entries of a PNG file's bytes.
func ReadText(data []byte) (map[string]string, error) {
	if len(data) < 8 || string(data[1:4]) != "PNG" {
		return nil, fmt.Errorf("not a PNG file")
	}
	out := map[string]string{}
	for pos := 8; pos+8 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		if pos+12+n > len(data) {
			return nil, fmt.Errorf("truncated %s chunk", typ)
		}
		if typ == "tEXt" {
			payload := data[pos+8 : pos+8+n]
			if k := bytes.IndexByte(payload, 0); k > 0 {
				out[string(payload[:k])] = string(payload[k+1:])
			}
		}
		if typ == "IEND" {
			break
		}
		pos += 12 + n
	}
	return out, nil
}
