package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	catalog "medzoo/zoo"
)

// demoModelDir builds a model directory from the bundled demo model 101:
// its module, and its embedded catalog entry with the artifact pointed at
// the model.pt beside it.
func demoModelDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo101")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(filepath.Join("..", "..", "bundled", "00101_DCGAN_MRI_COLIN27_DEMO.pt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(module)
	entry := demoEntry(t, catalog.Artifact{URL: "model.pt", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(module))})
	for name, data := range map[string][]byte{
		"model.pt":   module,
		"model.toml": []byte(entry),
		"LICENSE":    []byte("BSD-3-Clause: the licence text of the weights.\n"),
		"README.md":  []byte(demoCard),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// demoCard is a model card with the sections zoo validate (which pack
// runs first) requires.
const demoCard = "# DEMO DCGAN\n\nA demonstration model; every image it makes is synthetic.\n\n" +
	"## Intended use\n\nTrying zoo.\n\n## Training data\n\nSlices of the Colin27 template.\n\n## Limitations\n\nBlurry; one head.\n"

// demoEntry is a catalog of the embedded entry of model 101 with another
// artifact (a TorchScript one).
func demoEntry(t *testing.T, a catalog.Artifact) string {
	t.Helper()
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m := *cat.Get("00101_DCGAN_MRI_COLIN27_DEMO")
	a.Format = catalog.FormatTorchScript
	m.Artifact = a
	var b bytes.Buffer
	err = toml.NewEncoder(&b).Encode(struct {
		Schema int             `toml:"schema"`
		Model  []catalog.Model `toml:"model"`
	}{1, []catalog.Model{m}})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestPack: zoo pack of a model directory gives the same archive twice;
// that archive, as a catalog artifact, generates the same images as the
// directory's own model.pt; and bad calls are refused with their fix.
func TestPack(t *testing.T) {
	dir := demoModelDir(t)
	outDir := t.TempDir()
	archive := filepath.Join(outDir, "demo101.zip")
	r := mustOK(t, zoo(t, nil, "pack", dir, "-o", archive, "--json"))
	var got struct {
		File    string `json:"file"`
		SHA256  string `json:"sha256"`
		Size    int64  `json:"size"`
		Entries []struct {
			Name   string `json:"name"`
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	if got.File != archive || got.SHA256 != sha256File(t, archive) || got.Size != fi.Size() ||
		len(got.Entries) != 5 || got.Entries[0].Name != "MANIFEST.sha256" || got.Entries[3].Name != "model.pt" {
		t.Fatalf("pack --json: %+v", got)
	}

	// Refusals: an existing file without --force, then with it the same
	// bytes; a missing argument; a directory with problems, all listed.
	wantFail(t, zoo(t, nil, "pack", dir, "-o", archive), 1, "exists: pass --force")
	r = mustOK(t, zoo(t, nil, "pack", dir, "-o", archive, "--force"))
	if !strings.Contains(r.stdout, "sha256 "+got.SHA256) || sha256File(t, archive) != got.SHA256 {
		t.Fatalf("a second pack gives other bytes, or does not say its sha256:\n%s", r.stdout)
	}
	wantFail(t, zoo(t, nil, "pack", "-o", archive), 2, "pack takes one model directory")
	wantFail(t, zoo(t, nil, "pack", dir), 2, "needs -o FILE.zip")
	wantFail(t, zoo(t, nil, "pack", dir, "-o", filepath.Join(dir, "x.zip")), 2, "inside the model directory")
	broken := demoModelDir(t)
	os.Remove(filepath.Join(broken, "LICENSE"))
	os.WriteFile(filepath.Join(broken, "notes.txt"), []byte("x"), 0o644)
	brokenZip := filepath.Join(outDir, "broken.zip")
	wantFail(t, zoo(t, nil, "pack", broken, "-o", brokenZip), 1, "2 problems", "LICENSE: missing", "notes.txt: is here")
	if _, err := os.Stat(brokenZip); !os.IsNotExist(err) {
		t.Errorf("a refused pack left %s: %v", brokenZip, err)
	}

	// The archive as a catalog artifact generates what the directory does.
	packedCat := catalogFile(t, demoEntry(t, catalog.Artifact{URL: archive, Path: "model.pt", SHA256: got.SHA256, Size: got.Size}))
	fromDir, fromZip := t.TempDir(), t.TempDir()
	mustOK(t, zoo(t, nil, "--catalog", filepath.Join(dir, "model.toml"), "generate", "101", "-n", "3", "--seed", "5", "-o", fromDir, "-q"))
	mustOK(t, zoo(t, nil, "--catalog", packedCat, "generate", "101", "-n", "3", "--seed", "5", "-o", fromZip, "-q"))
	pngs, _ := filepath.Glob(filepath.Join(fromDir, "*.png"))
	if len(pngs) != 3 {
		t.Fatalf("generate wrote %v", pngs)
	}
	for _, p := range pngs {
		if !samePixels(readPNG(t, p), readPNG(t, filepath.Join(fromZip, filepath.Base(p)))) {
			t.Errorf("%s: the packed model's pixels differ from the directory's", filepath.Base(p))
		}
	}
	// Each run's provenance names its artifact: the two are not the same file.
	if m := readManifest(t, fromZip); len(m) != 3 {
		t.Errorf("manifest of the packed run: %+v", m)
	}
}
