package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fillTODOs does what an author does after zoo init: every TODO value of
// model.toml, line of README.md and the LICENSE placeholder replaced.
func fillTODOs(t *testing.T, dir string) {
	t.Helper()
	entry, err := os.ReadFile(filepath.Join(dir, "model.toml"))
	if err != nil {
		t.Fatal(err)
	}
	filled := regexp.MustCompile(`"TODO[^"]*"`).ReplaceAll(entry, []byte(`"filled in"`))
	card, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	var lines []string
	for _, l := range strings.Split(string(card), "\n") {
		if !strings.Contains(l, "TODO") {
			lines = append(lines, l)
		}
	}
	for name, data := range map[string][]byte{
		"model.toml": filled,
		"README.md":  []byte(strings.Join(lines, "\n")),
		"LICENSE":    []byte("BSD-3-Clause: the licence text of the weights.\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestValidate: zoo init from the bundled demo module probes its shapes;
// the skeleton fails zoo validate (exit 1, every TODO at its line) until
// its TODOs are filled; then validate exits 0 with its figures and grid,
// --json parses, pack packs it; bad usage exits 2.
func TestValidate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mymodel")
	module := filepath.Join("..", "..", "bundled", "00101_DCGAN_MRI_COLIN27_DEMO.pt")
	r := mustOK(t, zoo(t, nil, "init", dir, "--from", module, "--id", "00901_MY_DCGAN"))
	if !strings.Contains(r.stdout, "latent [100]") || !strings.Contains(r.stdout, "image [1 64 64]") {
		t.Fatalf("init did not report the probed shapes:\n%s", r.stdout)
	}
	wantFail(t, zoo(t, nil, "init", dir, "--from", module), 1, "already exist", "--force")
	mustOK(t, zoo(t, nil, "init", dir, "--from", module, "--id", "00901_MY_DCGAN", "--force"))

	r = zoo(t, nil, "validate", dir, "--no-grid")
	if r.code != 1 || !strings.Contains(r.stdout, "model.toml:9: title is still TODO") || !strings.Contains(r.stdout, "LICENSE:1: is zoo init's placeholder") ||
		!strings.Contains(r.stdout, "ok      deterministic") {
		t.Fatalf("validate of the skeleton: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	wantFail(t, zoo(t, nil, "pack", dir, "-o", filepath.Join(t.TempDir(), "x.zip")), 1, "title is still TODO")

	fillTODOs(t, dir)
	r = mustOK(t, zoo(t, nil, "validate", dir, "--seed", "2"))
	grid := filepath.Join(dir, "samples", "grid.png")
	if !strings.Contains(r.stdout, "images/s") || !strings.Contains(r.stdout, "peak RSS") || !strings.Contains(r.stdout, "is valid") {
		t.Fatalf("validate:\n%s", r.stdout)
	}
	first := sha256File(t, grid)
	r = mustOK(t, zoo(t, nil, "validate", dir, "--seed", "2", "--json"))
	var rep struct {
		Valid   bool `json:"valid"`
		Figures struct {
			ImagesPerSec float64 `json:"images_per_sec"`
			PeakRSS      int64   `json:"peak_rss_bytes"`
		} `json:"figures"`
		Grid   string `json:"grid"`
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if !rep.Valid || rep.Figures.ImagesPerSec <= 0 || rep.Figures.PeakRSS <= 0 || rep.Grid != grid || len(rep.Checks) < 8 {
		t.Fatalf("validate --json: %+v", rep)
	}
	if sha256File(t, grid) != first {
		t.Error("a second validate drew another grid")
	}
	out := t.TempDir()
	a := mustOK(t, zoo(t, nil, "pack", dir, "-o", filepath.Join(out, "a.zip")))
	b := mustOK(t, zoo(t, nil, "pack", dir, "-o", filepath.Join(out, "b.zip")))
	if sha256File(t, filepath.Join(out, "a.zip")) != sha256File(t, filepath.Join(out, "b.zip")) || !strings.Contains(a.stdout, "6 files") {
		t.Fatalf("two packs differ, or miss the grid:\n%s\n%s", a.stdout, b.stdout)
	}

	// A validate leaves a record of these exact bytes in the cache: pack
	// then needs no LibTorch (zoo-torch is made unreachable and pack still
	// packs the same bytes). One changed byte of the card misses the record,
	// so pack hands the run to zoo-torch again.
	cache := []string{"ZOO_CACHE=" + filepath.Join(t.TempDir(), "cache")}
	noTorch := append(cache, "ZOO_TORCH_BIN=/nonexistent/zoo-torch")
	wantFail(t, zoo(t, noTorch, "pack", dir, "-o", filepath.Join(out, "c.zip")), 1, "/nonexistent/zoo-torch")
	mustOK(t, zoo(t, cache, "validate", dir, "--seed", "2")) // the grid a.zip holds
	mustOK(t, zoo(t, noTorch, "pack", dir, "-o", filepath.Join(out, "c.zip")))
	if sha256File(t, filepath.Join(out, "c.zip")) != sha256File(t, filepath.Join(out, "a.zip")) {
		t.Error("pack after a recorded validate packed other bytes")
	}
	card, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	os.WriteFile(filepath.Join(dir, "README.md"), append(card, '\n'), 0o644)
	wantFail(t, zoo(t, noTorch, "pack", dir, "-o", filepath.Join(out, "d.zip")), 1, "/nonexistent/zoo-torch")

	// Broken: a licence emptied, a range that tanh's values overflow.
	os.WriteFile(filepath.Join(dir, "LICENSE"), []byte(" \n"), 0o644)
	entry, _ := os.ReadFile(filepath.Join(dir, "model.toml"))
	os.WriteFile(filepath.Join(dir, "model.toml"), []byte(strings.Replace(string(entry), "range = [-1.0, 1.0]", "range = [0.0, 1.0]", 1)), 0o644)
	r = zoo(t, nil, "validate", dir, "--no-grid", "--json")
	var broken struct {
		Valid    bool `json:"valid"`
		Problems []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Message string `json:"message"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &broken); err != nil || r.code != 1 || broken.Valid || len(broken.Problems) != 2 ||
		broken.Problems[0].File != "LICENSE" || !strings.Contains(broken.Problems[1].Message, "outside its declared range") {
		t.Fatalf("broken: exit %d, %v\n%s", r.code, err, r.stdout)
	}

	wantFail(t, zoo(t, nil, "validate"), 2, "validate takes one model directory")
	wantFail(t, zoo(t, nil, "validate", dir, dir), 2, "validate takes one model directory")
	wantFail(t, zoo(t, nil, "validate", dir, "--grid", "g.png", "--no-grid"), 2, "contradict")
	wantFail(t, zoo(t, nil, "validate", dir, "--grid", "g.jpg"), 2, "name it .png")
	wantFail(t, zoo(t, nil, "validate", dir, "--bogus"), 2)
	wantFail(t, zoo(t, nil, "init"), 2, "init takes one directory")
	wantFail(t, zoo(t, nil, "init", t.TempDir(), "--id", "a/b"), 2, "--id")
	wantFail(t, zoo(t, nil, "init", t.TempDir(), "--from", "nothere.pt"), 2, "--from")
}
