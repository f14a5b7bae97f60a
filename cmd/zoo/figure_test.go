package main_test

// End-to-end tests of zoo grid and zoo interpolate.

import (
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/output"
)

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
		{[]string{"grid", "102", "-n", "2"}, 4 + 2*68, 4 + 3*68, "one row per plane"},          // a row per plane
		{[]string{"grid", "102", "-n", "2", "-c", "plane=sagittal"}, 4 + 2*68, 4 + 68, "grid"}, // fixed: plain grid
		{[]string{"grid", "103", "-n", "2"}, 4 + 2*(129+4), 4 + 68, "grid"},                    // image | mask
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
