// Package figure composes generated samples into figures: sample grids (an
// image beside its mask, one row per condition value, labelled with it)
// and latent walks, written as PNG with provenance.
package figure

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"medzoo/loader"
	"medzoo/zoo"
)

// Gap is the border and the space between cells; panels of one cell
// (image, mask) are separated by a thinner line.
const (
	Gap      = 4
	innerGap = 1
)

// Cell is one grid position: a sample's outputs side by side. A nil cell
// leaves its place empty.
type Cell []loader.Output

// Compose lays rows of cells out on a dark canvas. Every panel is mapped
// from its declared range onto 0..255 (masks: 0 or 255; label maps: their
// values spread over 0..255); gray panels are drawn gray, RGB in colour.
// labels, when not nil, holds one text per row (RowLabels), written in a
// column at the left; nil or all-empty labels give no column, and the
// figure is pixel for pixel what it was before labels existed.
func Compose(rows [][]Cell, labels []string) (*image.NRGBA, error) {
	cellW, cellH := 0, 0
	for _, r := range rows {
		for _, c := range r {
			w, h := cellSize(c)
			cellW, cellH = max(cellW, w), max(cellH, h)
		}
	}
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	if cellW == 0 || cols == 0 {
		return nil, fmt.Errorf("figure: nothing to draw")
	}
	if labels != nil && len(labels) != len(rows) {
		return nil, fmt.Errorf("figure: %d row labels for %d rows", len(labels), len(rows))
	}
	labelW, rowH := LabelColumn(labels), cellH
	if labelW > 0 {
		// Panels smaller than the text still get whole letters.
		rowH = max(rowH, labelFace.Metrics().Height.Ceil())
	}
	W := Gap + labelW + cols*(cellW+Gap)
	H := Gap + len(rows)*(rowH+Gap)
	canvas := image.NewNRGBA(image.Rect(0, 0, W, H))
	bg := color.NRGBA{R: 24, G: 24, B: 28, A: 255}
	for i := 0; i < len(canvas.Pix); i += 4 {
		canvas.Pix[i], canvas.Pix[i+1], canvas.Pix[i+2], canvas.Pix[i+3] = bg.R, bg.G, bg.B, bg.A
	}
	for ri, r := range rows {
		y := Gap + ri*(rowH+Gap)
		if labelW > 0 {
			drawLabel(canvas, Gap, y, rowH, labels[ri])
		}
		for ci, c := range r {
			x := Gap + labelW + ci*(cellW+Gap)
			for _, o := range c {
				if err := drawPanel(canvas, x, y, o); err != nil {
					return nil, err
				}
				x += o.Spec.Width + innerGap
			}
		}
	}
	return canvas, nil
}

func cellSize(c Cell) (w, h int) {
	for i, o := range c {
		if i > 0 {
			w += innerGap
		}
		w += o.Spec.Width
		h = max(h, o.Spec.Height)
	}
	return w, h
}

func drawPanel(dst *image.NRGBA, x0, y0 int, o loader.Output) error {
	s := o.Spec
	plane := s.Height * s.Width
	if len(o.Data) != s.Channels*plane || (s.Channels != 1 && s.Channels != 3) {
		return fmt.Errorf("figure: output %s has %d channels of %dx%d (%d values); figures draw gray or RGB outputs", s.Name, s.Channels, s.Width, s.Height, len(o.Data))
	}
	lo, hi := s.Range[0], s.Range[1]
	if s.Kind == zoo.KindLabel {
		lo = 0
		for _, v := range o.Data {
			hi = math.Max(hi, float64(v))
		}
	}
	level := func(v float32) uint8 {
		if hi == lo {
			return 0
		}
		t := (float64(v) - lo) / (hi - lo)
		return uint8(math.Round(255 * math.Min(1, math.Max(0, t))))
	}
	for y := 0; y < s.Height; y++ {
		for x := 0; x < s.Width; x++ {
			i := y*s.Width + x
			var c [3]uint8
			for ch := range c {
				src := ch
				if s.Channels == 1 {
					src = 0
				}
				c[ch] = level(o.Data[src*plane+i])
			}
			dst.SetNRGBA(x0+x, y0+y, color.NRGBA{R: c[0], G: c[1], B: c[2], A: 255})
		}
	}
	return nil
}

// Slerp is the spherical interpolation between latents a and b at t in
// [0, 1] (Shoemake; the usual way to walk a Gaussian latent space, since
// it keeps the norm a Gaussian sample has). Nearly parallel latents fall
// back to linear interpolation.
func Slerp(a, b []float32, t float64, dst []float32) {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	cos := dot / math.Sqrt(na*nb)
	if na == 0 || nb == 0 || math.Abs(cos) > 0.9995 {
		for i := range dst {
			dst[i] = float32((1-t)*float64(a[i]) + t*float64(b[i]))
		}
		return
	}
	omega := math.Acos(math.Max(-1, math.Min(1, cos)))
	sa, sb := math.Sin((1-t)*omega)/math.Sin(omega), math.Sin(t*omega)/math.Sin(omega)
	for i := range dst {
		dst[i] = float32(sa*float64(a[i]) + sb*float64(b[i]))
	}
}
