package main_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/internal/testregistry"
)

// tinyGenerator is a lab's own generator class, as the README's "Share your
// model" walk-through starts from: a DCGAN for 16x16 grey images.
const tinyGenerator = `import torch.nn as nn


class Generator(nn.Module):
    def __init__(self, nz=16, ngf=8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z)
`

// TestShareRoundTrip is the README's walk-through, end to end: a trained
// PyTorch generator (a class and a checkpoint) is exported with
// scripts/export_generator.py, zoo init makes its model directory, the
// author fills it in, zoo validate passes, zoo pack packs it, zoo push
// sends it to a real registry (with a login); on a clean cache zoo pull
// brings it back and the pinned url serves as a catalog entry; zoo
// generate then makes the same pixels from the registry as from the
// author's directory.
func TestShareRoundTrip(t *testing.T) {
	work := t.TempDir()
	src := filepath.Join(work, "mygan.py")
	ckpt := filepath.Join(work, "ckpt.pt")
	if err := os.WriteFile(src, []byte(tinyGenerator), 0o644); err != nil {
		t.Fatal(err)
	}
	train := exec.Command("/usr/bin/python3", "-B", "-c",
		"import sys, torch; sys.path.insert(0, sys.argv[1]); import mygan; torch.manual_seed(7); "+
			"torch.save({'generator': mygan.Generator().state_dict()}, sys.argv[2])", work, ckpt)
	if out, err := train.CombinedOutput(); err != nil {
		t.Fatalf("making the checkpoint: %v\n%s", err, out)
	}
	exported := filepath.Join(work, "exported")
	export := exec.Command("/usr/bin/python3", "-B", filepath.Join("..", "..", "scripts", "export_generator.py"),
		"--module", src, "--class", "Generator", "--kwargs", `{"nz": 16}`, "--checkpoint", ckpt,
		"--state-key", "generator", "--latent", "16,1,1", "--out", exported, "--id", "00901_TINY_DCGAN")
	if out, err := export.CombinedOutput(); err != nil {
		t.Fatalf("export_generator: %v\n%s", err, out)
	}

	author := filepath.Join(t.TempDir(), "cache")
	dir := filepath.Join(work, "tiny-dcgan")
	r := mustOK(t, zoo(t, nil, "init", dir, "--from", filepath.Join(exported, "generator.pt"), "--id", "00901_TINY_DCGAN"))
	if !strings.Contains(r.stdout, "latent [16 1 1]") {
		t.Fatalf("init did not probe the latent:\n%s", r.stdout)
	}
	fillTODOs(t, dir)
	mustOK(t, zoo(t, []string{"ZOO_CACHE=" + author}, "validate", dir))
	mustOK(t, zoo(t, []string{"ZOO_CACHE=" + author}, "pack", dir, "-o", filepath.Join(work, "tiny.zip")))

	reg := testregistry.Start(t, testregistry.Options{})
	ref := "oci://" + reg.Host + "/lab/tiny-dcgan:1.0.0"
	p := pushDemo(t, ociEnv(t, reg, author), dir, ref, "--plain-http")

	// Another machine: a clean cache, the registry login, nothing else.
	other := filepath.Join(t.TempDir(), "cache")
	pulled := filepath.Join(t.TempDir(), "pulled")
	r = mustOK(t, zoo(t, ociEnv(t, reg, other), "pull", ref, "--plain-http", "-o", pulled, "--json"))
	var got struct{ URL, SHA256 string }
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.URL != p.Pushed.URL || got.SHA256 != sha256File(t, filepath.Join(dir, "model.pt")) {
		t.Fatalf("pull: %+v, pushed %+v", got, p)
	}
	if a, b := treeDigest(t, dir), treeDigest(t, pulled); len(a) != 5 || !maps.Equal(a, b) {
		t.Errorf("the pulled directory %v differs from the author's %v", b, a)
	}
	// The entry with the pinned url, as zoo pull printed it: a catalog of
	// the other machine's, fetched through its (clean) store.
	entry, err := os.ReadFile(filepath.Join(pulled, "model.toml"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := strings.Replace(string(entry), `url = "model.pt"`, `url = "`+got.URL+`"`, 1)
	if pinned == string(entry) {
		t.Fatal(`model.toml has no url = "model.pt" to pin`)
	}
	cat := catalogFile(t, pinned)
	fresh := filepath.Join(t.TempDir(), "cache")

	fromAuthor, fromRegistry, fromPulledDir := t.TempDir(), t.TempDir(), t.TempDir()
	gen := []string{"generate", "00901_TINY_DCGAN", "-n", "4", "--seed", "11", "-q", "-o"}
	mustOK(t, zoo(t, nil, append([]string{"--catalog", filepath.Join(dir, "model.toml")}, append(gen, fromAuthor)...)...))
	mustOK(t, zoo(t, append(ociEnv(t, reg, fresh), "ZOO_REGISTRY_PLAIN_HTTP=1"), append([]string{"--catalog", cat}, append(gen, fromRegistry)...)...))
	mustOK(t, zoo(t, nil, append([]string{"--catalog", filepath.Join(pulled, "model.toml")}, append(gen, fromPulledDir)...)...))
	pngs, _ := filepath.Glob(filepath.Join(fromAuthor, "*.png"))
	if len(pngs) != 4 {
		t.Fatalf("generate wrote %v", pngs)
	}
	for _, png := range pngs {
		want := readPNG(t, png)
		for _, other := range []string{fromRegistry, fromPulledDir} {
			if !samePixels(want, readPNG(t, filepath.Join(other, filepath.Base(png)))) {
				t.Errorf("%s from %s: other pixels than from the author's directory", filepath.Base(png), other)
			}
		}
	}
	if n := blobCount(t, fresh); n != 1 {
		t.Errorf("the clean cache holds %d blobs after generate, want the module's 1", n)
	}
}

// treeDigest is the sha256 of every file under dir, by slash path.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = sha256File(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
