package figure

import (
	"image"
	"image/color"
	"sort"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"medzoo/loader"
)

// labelFace draws row labels: X11's 7x13 fixed font, a bitmap (so every
// pixel is background or text, and figures stay byte-reproducible) that
// is legible beside 64-pixel panels without scaling.
var labelFace = basicfont.Face7x13

// labelColor is the text on the dark canvas.
var labelColor = color.NRGBA{R: 230, G: 230, B: 230, A: 255}

// maxLabelRunes bounds a label's width: a condition value is the catalog's
// text, and one long value must not make the figure mostly margin.
const maxLabelRunes = 24

// RowLabels labels each row with the condition value its samples share,
// when a condition is what tells the rows apart: the same value within
// every row, and not the same in all rows (zoo grid's one row per plane).
// Otherwise (a condition mixed within rows or fixed for all, a model
// without conditions) it returns nil, and the grid has no label column.
// Should several conditions tell the rows apart, a label holds their
// values in the order of their names.
func RowLabels(rows [][]loader.Sample) []string {
	var names []string
	for _, r := range rows {
		if len(r) > 0 {
			for name := range r[0].Conditions {
				names = append(names, name)
			}
			break
		}
	}
	sort.Strings(names)
	var labels []string
	for _, name := range names {
		values, ok := rowValues(rows, name)
		if !ok {
			continue
		}
		if labels == nil {
			labels = make([]string, len(rows))
		}
		for i, v := range values {
			if labels[i] != "" {
				v = labels[i] + ", " + v
			}
			labels[i] = v
		}
	}
	return labels
}

// rowValues returns each row's value of condition name, ok only when the
// value is the same within every row and differs between some rows. An
// empty row has the value "".
func rowValues(rows [][]loader.Sample, name string) ([]string, bool) {
	values := make([]string, len(rows))
	seen := map[string]bool{}
	for i, r := range rows {
		for k, s := range r {
			v, has := s.Conditions[name]
			if !has || (k > 0 && v != values[i]) {
				return nil, false
			}
			values[i] = v
		}
		if len(r) > 0 {
			seen[values[i]] = true
		}
	}
	return values, len(seen) > 1
}

// Rows lays samples out in rows of cols (the last may be shorter).
func Rows(samples []loader.Sample, cols int) [][]loader.Sample {
	cols = max(cols, 1)
	var rows [][]loader.Sample
	for i := 0; i < len(samples); i += cols {
		rows = append(rows, samples[i:min(i+cols, len(samples))])
	}
	return rows
}

// Grid is rows of samples as Compose takes them: each sample one cell of
// its outputs side by side, and the rows' labels (RowLabels).
func Grid(rows [][]loader.Sample) ([][]Cell, []string) {
	cells := make([][]Cell, len(rows))
	for i, r := range rows {
		cells[i] = make([]Cell, len(r))
		for k, s := range r {
			cells[i][k] = Cell(s.Outputs)
		}
	}
	return cells, RowLabels(rows)
}

// shorten keeps a label within maxLabelRunes runes.
func shorten(s string) string {
	r := []rune(s)
	if len(r) <= maxLabelRunes {
		return s
	}
	return string(r[:maxLabelRunes-3]) + "..."
}

// LabelColumn is the width in pixels that labels add at the left of a
// figure: the widest label and a gap before the first cell; 0 when no row
// has a label.
func LabelColumn(labels []string) int {
	w := 0
	for _, l := range labels {
		w = max(w, font.MeasureString(labelFace, shorten(l)).Ceil())
	}
	if w == 0 {
		return 0
	}
	return w + Gap
}

// drawLabel writes s left-aligned at x, centred on the row from y0 that
// is h pixels high.
func drawLabel(dst *image.NRGBA, x, y0, h int, s string) {
	m := labelFace.Metrics()
	top := y0 + (h-m.Height.Ceil())/2
	d := font.Drawer{Dst: dst, Src: image.NewUniform(labelColor), Face: labelFace,
		Dot: fixed.P(x, top+m.Ascent.Ceil())}
	d.DrawString(shorten(s))
}
