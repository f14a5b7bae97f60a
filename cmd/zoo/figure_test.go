package main_test

// End-to-end tests of zoo grid and zoo interpolate.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/figure"
	"medzoo/output"
)

// planes are model 00102's condition values, its grid's row labels.
var planes = []string{"axial", "coronal", "sagittal"}

func decodeFigure(t *testing.T, path string) (image.Image, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	text, err := output.ReadText(data)
	if err != nil {
		t.Fatal(err)
	}
	return im, text
}

// cellGray returns the gray level of pixel (x, y) of panel k in a one-row
// figure of 64x64 panels.
func cellGray(im image.Image, k, x, y int) uint8 {
	r, _, _, _ := im.At(4+k*(64+4)+x, 4+y).RGBA()
	return uint8(r >> 8)
}

func TestGridAndInterpolate(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		w, h int
		what string
	}{
		{[]string{"grid", "101", "-n", "4"}, 4 + 2*68, 4 + 2*68, "grid of samples 0-3"},
		{[]string{"grid", "102", "-n", "2"}, 4 + figure.LabelColumn(planes) + 2*68, 4 + 3*68, "one row per plane"}, // a labelled row per plane
		{[]string{"grid", "102", "-n", "2", "-c", "plane=sagittal"}, 4 + 2*68, 4 + 68, "grid"},                     // fixed: plain grid
		{[]string{"grid", "103", "-n", "2"}, 4 + 2*(129+4), 4 + 68, "grid"},                                        // image | mask
		{[]string{"grid", "104", "--input", filepath.Join("..", "..", "docs", "models", "00104_inputs"), "-n", "3"}, 4 + 2*68, 4 + 3*68, "inputs"},
		{[]string{"interpolate", "101", "--from", "1", "--to", "2", "--steps", "5"}, 4 + 5*68, 4 + 68, "latent walk"},
	}
	for i, c := range cases {
		out := filepath.Join(dir, strings.Join(c.args[:2], "_")+string(rune('a'+i))+".png")
		mustOK(t, zoo(t, nil, append(c.args, "-o", out)...))
		im, text := decodeFigure(t, out)
		if b := im.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("%v: %dx%d, want %dx%d", c.args, b.Dx(), b.Dy(), c.w, c.h)
		}
		if !strings.Contains(text["Description"], "SYNTHETIC figure") || !strings.Contains(text["medzoo.provenance"], c.what) {
			t.Errorf("%v: provenance %v", c.args, text)
		}
	}

	// The walk's endpoints are sample 0 of each seed, as zoo generate makes it.
	walk, _ := decodeFigure(t, filepath.Join(dir, "interpolate_101f.png"))
	for k, seed := range map[int]string{0: "1", 4: "2"} {
		gen := filepath.Join(dir, "gen"+seed)
		mustOK(t, zoo(t, nil, "generate", "101", "-n", "1", "--seed", seed, "-o", gen, "-q"))
		ref, _ := decodeFigure(t, filepath.Join(gen, "00000.png"))
		diffs := 0
		for y := 0; y < 64; y++ {
			for x := 0; x < 64; x++ {
				r, _, _, _ := ref.At(x, y).RGBA()
				if d := int(uint8(r>>8)) - int(cellGray(walk, k, x, y)); d > 1 || d < -1 {
					diffs++
				}
			}
		}
		if diffs > 0 {
			t.Errorf("walk panel %d differs from generate --seed %s in %d pixels", k, seed, diffs)
		}
	}
	// A sample's PNG says its declared spacing (00101: 3.390625 mm, 295
	// pixels per metre); a figure, a layout with gaps, says none.
	sample, _ := os.ReadFile(filepath.Join(dir, "gen1", "00000.png"))
	if got, want := pngChunk(t, sample, "pHYs"), []byte{0, 0, 1, 39, 0, 0, 1, 39, 1}; !bytes.Equal(got, want) {
		t.Errorf("generate 101's PNG: pHYs % x, want % x", got, want)
	}
	walkBytes, _ := os.ReadFile(filepath.Join(dir, "interpolate_101f.png"))
	if got := pngChunk(t, walkBytes, "pHYs"); got != nil {
		t.Errorf("a figure has a pHYs: % x", got)
	}
	// Between the endpoints the images change.
	if cellGray(walk, 1, 32, 32) == cellGray(walk, 3, 32, 32) && cellGray(walk, 1, 20, 40) == cellGray(walk, 3, 20, 40) {
		t.Error("walk does not move")
	}

	existing := filepath.Join(dir, "grid_101a.png")
	wantFail(t, zoo(t, nil, "grid", "101", "-o", existing), 2, "--force")
	mustOK(t, zoo(t, nil, "grid", "101", "-n", "1", "-o", existing, "--force"))
	wantFail(t, zoo(t, nil, "grid", "101", "-o", filepath.Join(dir, "x.jpg")), 2, ".png")
	wantFail(t, zoo(t, nil, "grid", "104", "-o", filepath.Join(dir, "y.png")), 2, "--input")
	wantFail(t, zoo(t, nil, "interpolate", "104", "-o", filepath.Join(dir, "z.png")), 2, "no latent space")
	wantFail(t, zoo(t, nil, "grid", "102", "-c", "plane=oblique", "-o", filepath.Join(dir, "w.png")), 2, "axial")
	wantFail(t, zoo(t, nil, "grid", "101", "-n", "0", "-o", filepath.Join(dir, "v.png")), 2, "1 to 1024")
	if _, err := os.Stat(filepath.Join(dir, "w.png")); err == nil {
		t.Error("a failed run left a file")
	}

	// interpolate's seeds are --from and --to: --seed is refused, not ignored.
	noSeed := filepath.Join(dir, "seeded.png")
	wantFail(t, zoo(t, nil, "interpolate", "101", "--seed", "3", "-o", noSeed), 2, "--seed", "--from")
	if _, err := os.Stat(noSeed); err == nil {
		t.Error("a refused interpolate left a file")
	}
}

// zoo grid --json and zoo interpolate --json print a summary of the figure
// on stdout, as zoo generate --json does for a run.
func TestFigureJSON(t *testing.T) {
	dir := t.TempDir()
	type summary struct {
		Model, SHA256, Device, File, Figure string
		Width, Height, N, Rows              int
		Seed, From, To                      *uint64
		Conditions                          map[string]string
		Seconds                             float64
	}
	for _, c := range []struct {
		args                []string
		n, rows             int
		seed, from, to      bool
		cond, what, modelID string
	}{
		{[]string{"grid", "101", "-n", "4", "--seed", "7"}, 4, 2, true, false, false, "", "grid of samples 0-3", "00101_DCGAN_MRI_COLIN27_DEMO"},
		{[]string{"grid", "102", "-n", "2", "-c", "plane=sagittal"}, 2, 1, true, false, false, "sagittal", "grid", "00102_CDCGAN_MRI_COLIN27_PLANE_DEMO"},
		{[]string{"interpolate", "101", "--from", "3", "--to", "5", "--steps", "4"}, 4, 1, false, true, true, "", "latent walk", "00101_DCGAN_MRI_COLIN27_DEMO"},
	} {
		out := filepath.Join(dir, c.args[0]+c.args[1]+".png")
		r := mustOK(t, zoo(t, nil, append(c.args, "-o", out, "--device", "cpu", "--json")...))
		var s summary
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
			t.Fatalf("%v --json: %v\n%s", c.args, err, r.stdout)
		}
		im, _ := decodeFigure(t, out)
		if s.Model != c.modelID || len(s.SHA256) != 64 || s.Device != "cpu" || s.File != out || s.N != c.n || s.Rows != c.rows ||
			s.Width != im.Bounds().Dx() || s.Height != im.Bounds().Dy() || !strings.Contains(s.Figure, c.what) || s.Seconds <= 0 {
			t.Errorf("%v --json: %+v", c.args, s)
		}
		if (s.Seed != nil) != c.seed || (s.From != nil) != c.from || (s.To != nil) != c.to {
			t.Errorf("%v --json: seed %v from %v to %v", c.args, s.Seed, s.From, s.To)
		}
		if c.cond != "" && s.Conditions["plane"] != c.cond {
			t.Errorf("%v --json: conditions %v", c.args, s.Conditions)
		}
		if c.args[0] == "grid" && c.args[1] == "101" && *s.Seed != 7 {
			t.Errorf("grid --seed 7 --json: seed %d", *s.Seed)
		}
		if c.from && (*s.From != 3 || *s.To != 5) {
			t.Errorf("interpolate --json: from %d to %d", *s.From, *s.To)
		}
		if !strings.Contains(r.stderr, "wrote "+out) {
			t.Errorf("%v: stderr %q", c.args, r.stderr)
		}
	}
}

// pngChunk returns the payload of the first chunk of type typ in a PNG
// file, nil when there is none.
func pngChunk(t *testing.T, data []byte, typ string) []byte {
	t.Helper()
	for pos := 8; pos+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		if pos+12+n > len(data) {
			t.Fatalf("truncated %s chunk", data[pos+4:pos+8])
		}
		if string(data[pos+4:pos+8]) == typ {
			return data[pos+8 : pos+8+n]
		}
		pos += 12 + n
	}
	return nil
}

// zoo grid of a conditional model labels its rows, one per condition
// value, in a column at the left; the panels are those of the grid with
// the condition fixed, moved right by the column. A grid whose rows are
// not per condition has no column.
func TestGridRowLabels(t *testing.T) {
	dir := t.TempDir()
	labelled := filepath.Join(dir, "planes.png")
	axial := filepath.Join(dir, "axial.png")
	mustOK(t, zoo(t, nil, "grid", "102", "-n", "3", "-o", labelled))
	mustOK(t, zoo(t, nil, "grid", "102", "-n", "3", "-c", "plane=axial", "--cols", "3", "-o", axial))
	im, _ := decodeFigure(t, labelled)
	plain, _ := decodeFigure(t, axial)
	lw := figure.LabelColumn(planes)
	if lw <= figure.Gap {
		t.Fatalf("label column %d pixels", lw)
	}
	if b := im.Bounds(); b.Dx() != 4+lw+3*68 || b.Dy() != 4+3*68 {
		t.Fatalf("labelled grid %dx%d, want %dx%d", b.Dx(), b.Dy(), 4+lw+3*68, 4+3*68)
	}
	if b := plain.Bounds(); b.Dx() != 4+3*68 || b.Dy() != 4+68 {
		t.Fatalf("grid with the plane fixed %dx%d, want %dx%d: no label column", b.Dx(), b.Dy(), 4+3*68, 4+68)
	}
	background := color.NRGBAModel.Convert(im.At(0, 0))
	for r, plane := range planes {
		text := 0
		for y := 4 + r*68; y < 4+r*68+64; y++ {
			for x := 4; x < 4+lw-4; x++ {
				if color.NRGBAModel.Convert(im.At(x, y)) != background {
					text++
				}
			}
		}
		if text < 6*len(plane) {
			t.Errorf("row %d (%s): %d pixels of the label column are not background", r, plane, text)
		}
	}
	diffs := 0
	for y := 0; y < plain.Bounds().Dy(); y++ {
		for x := 0; x < plain.Bounds().Dx(); x++ {
			if plain.At(x, y) != im.At(x+lw, y) {
				diffs++
			}
		}
	}
	if diffs > 0 {
		t.Errorf("the axial row differs from zoo grid -c plane=axial in %d pixels", diffs)
	}
}
