package figure

import (
	"crypto/sha256"
	"encoding/hex"
	"image"
	"reflect"
	"strings"
	"testing"

	"medzoo/loader"
	"medzoo/zoo"
)

func testPanels() (img, mask loader.Output) {
	img = loader.Output{Spec: zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 3, Width: 2, Range: [2]float64{-1, 1}},
		Data: []float32{-1, 1, 0, 0, 1, -1}}
	mask = loader.Output{Spec: zoo.TensorSpec{Name: "mask", Kind: zoo.KindMask, Channels: 1, Height: 3, Width: 2, Range: [2]float64{0, 1}},
		Data: []float32{0, 1, 1, 0, 0, 1}}
	return img, mask
}

// A grid without labels is the grid as zoo drew it before labels existed:
// the digest is that of the previous Compose's canvas for these rows.
func TestComposeWithoutLabelsUnchanged(t *testing.T) {
	img, mask := testPanels()
	rows := [][]Cell{{{img, mask}, {img, mask}}, {{img, mask}}}
	const want = "2ec65fe7a531f98ee81970de9423c4d941d3fb03f0256d86a0924c411d3ce1a9"
	for _, labels := range [][]string{nil, {"", ""}} {
		c, err := Compose(rows, labels)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(c.Pix)
		if got := hex.EncodeToString(sum[:]); got != want || c.Bounds() != image.Rect(0, 0, 22, 18) {
			t.Errorf("labels %q: canvas %v sha256 %s, want 22x18 %s", labels, c.Bounds(), got, want)
		}
	}
}

// 64-pixel panels as the demo models make them, one per row.
func bigPanel(v float32) loader.Output {
	o := loader.Output{Spec: zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 64, Width: 64, Range: [2]float64{-1, 1}},
		Data: make([]float32, 64*64)}
	for i := range o.Data {
		o.Data[i] = v
	}
	return o
}

// isText says whether a pixel is the labels' colour.
func isText(c *image.NRGBA, x, y int) bool { return c.NRGBAAt(x, y) == labelColor }

// Labelled rows get a label column at the left that holds each row's text
// (and nothing outside the rows), the panels move right by its width and
// are drawn as without labels.
func TestComposeDrawsRowLabels(t *testing.T) {
	labels := []string{"axial", "coronal", "sagittal"}
	rows := [][]Cell{{{bigPanel(-1)}, {bigPanel(1)}}, {{bigPanel(-1)}, {bigPanel(1)}}, {{bigPanel(-1)}, {bigPanel(1)}}}
	plain, err := Compose(rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compose(rows, labels)
	if err != nil {
		t.Fatal(err)
	}
	lw := LabelColumn(labels)
	// "sagittal" is the widest: 8 letters of 7 pixels, and a gap.
	if lw != 8*7+Gap {
		t.Errorf("label column %d pixels, want %d", lw, 8*7+Gap)
	}
	if c.Bounds().Dx() != plain.Bounds().Dx()+lw || c.Bounds().Dy() != plain.Bounds().Dy() {
		t.Fatalf("labelled %v, unlabelled %v, label column %d", c.Bounds(), plain.Bounds(), lw)
	}
	var texts []string
	for r, label := range labels {
		y0 := Gap + r*(64+Gap)
		var shape strings.Builder
		n := 0
		for y := y0; y < y0+64; y++ {
			for x := Gap; x < Gap+lw; x++ {
				if isText(c, x, y) {
					n++
					if x >= Gap+len(label)*7 {
						t.Errorf("row %d: text pixel at x=%d, past the %d letters of %q", r, x, len(label), label)
					}
					shape.WriteString(string(rune('0'+(x-Gap)%10)) + string(rune('0'+(y-y0)%10)))
				}
			}
		}
		// A letter of 7x13 has some dozen pixels set.
		if n < 6*len(label) {
			t.Errorf("row %d (%q): %d text pixels in the label column", r, label, n)
		}
		texts = append(texts, shape.String())
	}
	if texts[0] == texts[1] || texts[1] == texts[2] {
		t.Error("different labels drew the same pixels")
	}
	// Outside the rows (the gaps between them) no text.
	for x := 0; x < Gap+lw; x++ {
		for _, y := range []int{0, Gap + 64 + 1, c.Bounds().Dy() - 1} {
			if isText(c, x, y) {
				t.Errorf("text pixel in a gap at (%d, %d)", x, y)
			}
		}
	}
	// The panels are those of the unlabelled figure, moved right by lw.
	for y := 0; y < plain.Bounds().Dy(); y++ {
		for x := 0; x < plain.Bounds().Dx(); x++ {
			if plain.NRGBAAt(x, y) != c.NRGBAAt(x+lw, y) {
				t.Fatalf("pixel (%d, %d) of the unlabelled figure is not at (%d, %d) of the labelled one", x, y, x+lw, y)
			}
		}
	}

	if _, err := Compose(rows, labels[:2]); err == nil || !strings.Contains(err.Error(), "2 row labels for 3 rows") {
		t.Errorf("too few labels: %v", err)
	}
}

// Panels lower than the font get rows as high as a line of text, and a
// long label is cut, not widening the figure without bound.
func TestComposeSmallPanelsAndLongLabels(t *testing.T) {
	img, _ := testPanels() // 3 pixels high
	long := strings.Repeat("x", 100)
	c, err := Compose([][]Cell{{{img}}, {{img}}}, []string{"a", long})
	if err != nil {
		t.Fatal(err)
	}
	h := labelFace.Metrics().Height.Ceil()
	if want := Gap + 2*(h+Gap); c.Bounds().Dy() != want {
		t.Errorf("height %d, want %d (rows of %d)", c.Bounds().Dy(), want, h)
	}
	if lw := LabelColumn([]string{long}); lw != maxLabelRunes*7+Gap {
		t.Errorf("a 100-letter label takes %d pixels, want %d", lw, maxLabelRunes*7+Gap)
	}
}

func samplesWith(conds ...map[string]string) []loader.Sample {
	out := make([]loader.Sample, len(conds))
	for i, c := range conds {
		out[i] = loader.Sample{Index: i, Conditions: c}
	}
	return out
}

func TestRowLabels(t *testing.T) {
	ax, co, sa := map[string]string{"plane": "axial"}, map[string]string{"plane": "coronal"}, map[string]string{"plane": "sagittal"}
	for _, c := range []struct {
		name string
		rows [][]loader.Sample
		want []string
	}{
		{"one row per plane", [][]loader.Sample{samplesWith(ax, ax), samplesWith(co, co), samplesWith(sa, sa)}, []string{"axial", "coronal", "sagittal"}},
		{"planes mixed within rows", Rows(samplesWith(ax, co, sa, ax, co, sa, ax, co), 4), nil},
		{"one sample a row", Rows(samplesWith(ax, co), 1), []string{"axial", "coronal"}},
		{"the plane fixed for all", [][]loader.Sample{samplesWith(sa, sa), samplesWith(sa, sa)}, nil},
		{"one row", [][]loader.Sample{samplesWith(ax, ax)}, nil},
		{"no conditions", Rows(samplesWith(nil, nil, nil, nil), 2), nil},
		{"a short last row", [][]loader.Sample{samplesWith(ax, ax), samplesWith(co)}, []string{"axial", "coronal"}},
		{"rows by plane, sex mixed within", [][]loader.Sample{
			samplesWith(map[string]string{"plane": "axial", "sex": "f"}, map[string]string{"plane": "axial", "sex": "m"}),
			samplesWith(map[string]string{"plane": "coronal", "sex": "f"}, map[string]string{"plane": "coronal", "sex": "m"})},
			[]string{"axial", "coronal"}},
		{"two conditions per row", [][]loader.Sample{
			samplesWith(map[string]string{"plane": "axial", "sex": "f"}),
			samplesWith(map[string]string{"plane": "coronal", "sex": "m"})},
			[]string{"axial, f", "coronal, m"}},
	} {
		if got := RowLabels(c.rows); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: labels %q, want %q", c.name, got, c.want)
		}
	}
}

// Grid and Rows: samples become cells of their outputs, in order.
func TestGridCells(t *testing.T) {
	img, mask := testPanels()
	samples := samplesWith(nil, nil, nil)
	for i := range samples {
		samples[i].Outputs = []loader.Output{img, mask}
	}
	rows := Rows(samples, 2)
	if len(rows) != 2 || len(rows[0]) != 2 || len(rows[1]) != 1 {
		t.Fatalf("rows of 2 from 3 samples: %d rows", len(rows))
	}
	cells, labels := Grid(rows)
	if labels != nil || len(cells) != 2 || len(cells[1]) != 1 || len(cells[1][0]) != 2 || cells[1][0][1].Spec.Name != "mask" {
		t.Errorf("grid %v, labels %q", cells, labels)
	}
}
