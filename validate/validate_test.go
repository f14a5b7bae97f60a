package validate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/internal/testmodules"
	"medzoo/share"
)

// goodCard has every section validate wants.
const goodCard = `# Tiny

Every image this model makes is synthetic.

## Intended use

Tests.

## Training data

None: fixed random weights.

## Limitations

Four by four pixels.
`

// tinySignature fits tiny_generator.pt: z [N, 8] -> [N, 1, 4, 4] in [-1, 1].
const tinySignature = `[model.signature]
latent = [8]
%s
[[model.signature.outputs]]
name = "image"
kind = "image"
channels = 1
height = 4
width = 4
range = %s
`

// modelDir writes a model directory of the fixture module with the
// signature sig, the card and the licence.
func modelDir(t *testing.T, module, sig, card, license string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(testmodules.Path(t, module))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	entry := fmt.Sprintf(`schema = 1

[[model]]
id = "90001_TINY"
title = "tiny test generator"
license = "CC0-1.0"

[model.artifact]
url = "model.pt"
format = "torchscript"
sha256 = %q
size = %d

%s`, hex.EncodeToString(sum[:]), len(data), sig)
	for name, text := range map[string][]byte{"model.pt": data, "model.toml": []byte(entry), "README.md": []byte(card), "LICENSE": []byte(license)} {
		if err := os.WriteFile(filepath.Join(dir, name), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tinySig(extra, rng string) string { return fmt.Sprintf(tinySignature, extra, rng) }

func runDir(t *testing.T, dir string, opts Options) *Report {
	t.Helper()
	r, err := Run(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantProblem fails unless r has a problem at file:line (line 0: any)
// whose message holds every fragment.
func wantProblem(t *testing.T, r *Report, file string, line int, fragments ...string) Problem {
	t.Helper()
	for _, p := range r.Problems {
		if p.File != file || (line > 0 && p.Line != line) {
			continue
		}
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(p.Message, f)
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no problem %s:%d with %q in:\n%s", file, line, fragments, problems(r))
	return Problem{}
}

func problems(r *Report) string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func lineOfText(t *testing.T, path, sub string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := lineOf(data, []byte(sub))
	if n == 0 {
		t.Fatalf("%s has no %q", path, sub)
	}
	return n
}

// TestGoodModulePasses: a deterministic module with a true signature, a
// licence and a whole card is valid, with figures and a grid that is the
// same bytes on a second run (so packing twice gives one archive).
func TestGoodModulePasses(t *testing.T) {
	dir := modelDir(t, "tiny_generator.pt", tinySig("", "[-1.0, 1.0]"), goodCard, "CC0-1.0\n")
	r := runDir(t, dir, Options{Seed: 3})
	if !r.Valid || len(r.Problems) != 0 {
		t.Fatalf("not valid:\n%s", problems(r))
	}
	if r.Figures == nil || r.Figures.Images != DefaultBlocks*16 || r.Figures.ImagesPerSec <= 0 || r.Figures.PeakRSS <= 0 {
		t.Errorf("figures: %+v", r.Figures)
	}
	grid := filepath.Join(dir, "samples", "grid.png")
	first, err := os.ReadFile(grid)
	if err != nil || r.Grid != grid || !bytes.HasPrefix(first, []byte("\x89PNG")) {
		t.Fatalf("grid %q: %v", r.Grid, err)
	}
	r2 := runDir(t, dir, Options{Seed: 3})
	again, _ := os.ReadFile(grid)
	if !r2.Valid || !bytes.Equal(first, again) {
		t.Fatalf("a second validate is not valid or drew another grid:\n%s", problems(r2))
	}
	// The grid is now one of the directory's samples, and ForPack packs it.
	var zip1, zip2 bytes.Buffer
	for _, z := range []*bytes.Buffer{&zip1, &zip2} {
		m, _, err := ForPack(context.Background(), dir, Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Pack(z); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(zip1.Bytes(), zip2.Bytes()) {
		t.Error("two packs after validate differ")
	}
	// --no-grid writes nothing; --grid writes elsewhere.
	other := filepath.Join(t.TempDir(), "g.png")
	if r := runDir(t, dir, Options{Seed: 3, Grid: other}); r.Grid != other {
		t.Errorf("grid at %q", r.Grid)
	}
	if b, _ := os.ReadFile(other); !bytes.Equal(b, first) {
		t.Error("--grid wrote another image")
	}
	if r := runDir(t, dir, Options{NoGrid: true}); r.Grid != "" {
		t.Errorf("NoGrid wrote %q", r.Grid)
	}
	// The JSON form holds the checks and figures.
	b, err := json.Marshal(r)
	if err != nil || !bytes.Contains(b, []byte(`"images_per_sec"`)) || !bytes.Contains(b, []byte(`"deterministic"`)) {
		t.Errorf("JSON: %v %s", err, b)
	}
}

// TestNotDeterministic: a module that counts its calls differs on the
// second run, declared stochastic or not; one that draws torch.randn is
// refused until declared stochastic, then passes.
func TestNotDeterministic(t *testing.T) {
	for _, extra := range []string{"", "stochastic = true"} {
		r := runDir(t, modelDir(t, "counter_gen.pt", tinySig(extra, "[-1.0, 1.0]"), goodCard, "CC0-1.0\n"), Options{NoGrid: true})
		p := wantProblem(t, r, "model.pt", 0, "not deterministic", "keeps state")
		if extra != "" && !strings.Contains(p.Message, "declared stochastic") {
			t.Errorf("stochastic: %s", p)
		}
	}
	r := runDir(t, modelDir(t, "noisy_gen.pt", tinySig("", "[-2.0, 2.0]"), goodCard, "CC0-1.0\n"), Options{NoGrid: true})
	wantProblem(t, r, "model.pt", 0, "not deterministic", "stochastic = true")
	r = runDir(t, modelDir(t, "noisy_gen.pt", tinySig("stochastic = true", "[-2.0, 2.0]"), goodCard, "CC0-1.0\n"), Options{NoGrid: true})
	if !r.Valid {
		t.Errorf("declared stochastic, still refused:\n%s", problems(r))
	}
}

// TestNaNFails: a NaN in an output is a problem at the outputs' line.
func TestNaNFails(t *testing.T) {
	dir := modelDir(t, "nan_generator.pt", tinySig("", "[-1.0, 1.0]"), goodCard, "CC0-1.0\n")
	r := runDir(t, dir, Options{NoGrid: true})
	wantProblem(t, r, "model.toml", lineOfText(t, filepath.Join(dir, "model.toml"), "[[model.signature.outputs]]"), "non-finite", "finite values")
	if r.Valid {
		t.Error("valid")
	}
}

// TestOutOfRange: tanh's values declared [0, 1]: about half fall outside,
// which the report says, at the line of range.
func TestOutOfRange(t *testing.T) {
	dir := modelDir(t, "tiny_generator.pt", tinySig("", "[0.0, 1.0]"), goodCard, "CC0-1.0\n")
	r := runDir(t, dir, Options{NoGrid: true})
	wantProblem(t, r, "model.toml", lineOfText(t, filepath.Join(dir, "model.toml"), "range ="), "outside its declared range [0, 1]", "fix range")
	if len(r.Ranges) != 1 || r.Ranges[0].Fraction <= 0.1 || r.Ranges[0].Fraction >= 0.9 || r.Ranges[0].Values != 16*16 {
		t.Errorf("ranges: %+v", r.Ranges)
	}
}

// TestLicenceAndCard: zoo init's licence placeholder, a card without its
// sections or the word synthetic: each a problem at its line.
func TestLicenceAndCard(t *testing.T) {
	card := "# Tiny\n\nA model.\n\n## Intended use\n\nTests.\n"
	dir := modelDir(t, "tiny_generator.pt", tinySig("", "[-1.0, 1.0]"), card, LicensePlaceholder+".\n")
	r := runDir(t, dir, Options{NoGrid: true})
	wantProblem(t, r, "LICENSE", 1, "placeholder")
	wantProblem(t, r, "README.md", 7, `"Training data"`, "## Training data")
	wantProblem(t, r, "README.md", 7, `"Limitations"`)
	wantProblem(t, r, "README.md", 1, "synthetic")
	if len(r.Problems) != 4 {
		t.Errorf("want 4 problems:\n%s", problems(r))
	}
	blank := modelDir(t, "tiny_generator.pt", tinySig("", "[-1.0, 1.0]"), goodCard, " \n\n")
	wantProblem(t, runDir(t, blank, Options{NoGrid: true}), "LICENSE", 1, "blank")
}

// TestWrongSignature: a latent the module does not take is a problem at
// signature.latent's line, and ForPack refuses the directory.
func TestWrongSignature(t *testing.T) {
	sig := strings.Replace(tinySig("", "[-1.0, 1.0]"), "latent = [8]", "latent = [7]", 1)
	dir := modelDir(t, "tiny_generator.pt", sig, goodCard, "CC0-1.0\n")
	r := runDir(t, dir, Options{NoGrid: true})
	wantProblem(t, r, "model.toml", lineOfText(t, filepath.Join(dir, "model.toml"), "latent = [7]"), "running block 0 fails", "[model.signature]")
	_, _, err := ForPack(context.Background(), dir, Options{})
	var pe *share.ProblemsError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "model.toml:") {
		t.Errorf("ForPack: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "samples")); !os.IsNotExist(err) {
		t.Error("ForPack wrote into the directory")
	}
}

// TestInit: a skeleton from a module is probed (a [D] latent, and a
// DCGAN-like [D, 1, 1] one found from the module's error), refuses to
// overwrite, and fails validate on its TODOs until they are filled; a
// module with two inputs is reported with what was tried.
func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "skel")
	res, err := Init(dir, InitOptions{From: testmodules.Path(t, "tiny_generator.pt"), ID: "90002_TINY"})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Probe; p == nil || fmt.Sprint(p.Latent) != "[8]" || len(p.Outputs) != 1 || fmt.Sprint(p.Outputs[0].Shape) != "[2 1 4 4]" {
		t.Fatalf("probe: %+v", res.Probe)
	}
	if _, err := Init(dir, InitOptions{From: testmodules.Path(t, "tiny_generator.pt")}); !errors.As(err, new(*ExistsError)) {
		t.Fatalf("second init: %v", err)
	}
	r := runDir(t, dir, Options{NoGrid: true})
	wantProblem(t, r, "model.toml", lineOfText(t, filepath.Join(dir, "model.toml"), "title ="), "title is still TODO")
	wantProblem(t, r, "LICENSE", 1, "placeholder")
	wantProblem(t, r, "README.md", 3, "TODO")
	for _, ck := range r.Checks {
		if (ck.Name == "run" || ck.Name == "deterministic" || ck.Name == "ranges") && !ck.OK {
			t.Errorf("the probed signature does not run: %+v\n%s", ck, problems(r))
		}
	}

	res, err = Init(filepath.Join(t.TempDir(), "dcgan"), InitOptions{From: testmodules.Path(t, "wants_dcgan_latent.pt")})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Probe; fmt.Sprint(p.Latent) != "[8 1 1]" || len(p.Tried) == 0 {
		t.Errorf("DCGAN latent: %+v", p)
	}
	res, err = Init(filepath.Join(t.TempDir(), "cond"), InitOptions{From: testmodules.Path(t, "cond_generator.pt")})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Probe; p.Latent != nil || len(p.Tried) == 0 {
		t.Errorf("two-input module: %+v", p)
	}
	text, _ := os.ReadFile(filepath.Join(res.Dir, "model.toml"))
	if !bytes.Contains(text, []byte("could not find the module's input")) || !bytes.Contains(text, []byte("# It tried:")) {
		t.Errorf("model.toml does not say what was tried:\n%s", text)
	}
	if err := CheckID("a/b"); err == nil {
		t.Error("CheckID accepts a slash")
	}
}
