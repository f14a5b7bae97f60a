package main_test

// zoo import end to end: the medigan-style reference packages in
// ../shared/data/medigan_packages (read in place, never copied into the
// project) and the misbehaving tinygan fixture, imported in a real
// bubblewrap sandbox, their images checked pixel for pixel by zoo itself.

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"medzoo/output"
)

const referencePackages = "../../../shared/data/medigan_packages"

const python = "/usr/bin/python3"

// referencePackage returns the folder of a reference package, skipping the
// test when shared/ is not beside the checkout.
func referencePackage(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(referencePackages, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "__init__.py")); err != nil {
		t.Skipf("reference package %s is not here (%v): shared/ must be beside the checkout", name, err)
	}
	return dir
}

// checkpoint writes a package's seeded stand-in weights with its own
// make_checkpoint.py into a temp dir (never into shared/).
func checkpoint(t *testing.T, pkg, file string, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), file)
	args := append([]string{"-B", filepath.Join(pkg, "make_checkpoint.py"), "--out", out, "--seed", "0"}, extra...)
	cmd := exec.Command(python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_checkpoint.py: %v\n%s", err, b)
	}
	return out
}

// importEnv is a private config dir (where imported.toml lands) and temp
// dir (to see that nothing is left behind).
type importEnv struct {
	config, tmp string
}

func newImportEnv(t *testing.T) importEnv {
	t.Helper()
	d := t.TempDir()
	e := importEnv{config: filepath.Join(d, "config"), tmp: filepath.Join(d, "tmp")}
	os.MkdirAll(e.tmp, 0o755)
	return e
}

func (e importEnv) vars(more ...string) []string {
	return append([]string{"ZOO_CONFIG_DIR=" + e.config, "TMPDIR=" + e.tmp}, more...)
}

func (e importEnv) importedCatalog() string {
	return filepath.Join(e.config, "catalogs", "imported.toml")
}

// leftovers lists what an import left in its temp dir.
func (e importEnv) leftovers(t *testing.T) []string {
	t.Helper()
	entries, _ := os.ReadDir(e.tmp)
	var names []string
	for _, x := range entries {
		names = append(names, x.Name())
	}
	return names
}

type importJSON struct {
	Model   string `json:"model"`
	Overlay bool   `json:"overlay"`
	Written bool   `json:"written"`
	SHA256  string `json:"sha256"`
	Report  struct {
		Export         string   `json:"Export"`
		MaxAbsDiff     float64  `json:"MaxAbsDiff"`
		Images         int      `json:"Images"`
		Pixels         int64    `json:"Pixels"`
		PixelsEqual    int64    `json:"PixelsEqual"`
		PixelIdentical bool     `json:"PixelIdentical"`
		Unexpressed    []string `json:"Unexpressed"`
		Warnings       []string `json:"Warnings"`
		Sandbox        string   `json:"Sandbox"`
	} `json:"report"`
}

func runImport(t *testing.T, e importEnv, args ...string) importJSON {
	t.Helper()
	r := mustOK(t, zoo(t, e.vars(), append([]string{"import", "--json"}, args...)...))
	var out importJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("import --json: %v\n%s", err, r.stdout)
	}
	if !out.Written || !out.Report.PixelIdentical || out.Report.Images == 0 || out.Report.Pixels != out.Report.PixelsEqual {
		t.Fatalf("import not verified: %+v\nstderr: %s", out, r.stderr)
	}
	if !strings.Contains(r.stderr, "sandbox") || !strings.Contains(r.stderr, "running the package's own Python code once") {
		t.Errorf("the import did not say beforehand that package code runs in a sandbox:\n%s", r.stderr)
	}
	if left := e.leftovers(t); len(left) > 0 {
		t.Errorf("the import left %v in its temp dir", left)
	}
	return out
}

func info(t *testing.T, e importEnv, id string) string {
	t.Helper()
	return mustOK(t, zoo(t, e.vars(), "info", id)).stdout
}

func readPNG(t *testing.T, p string) image.Image {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	im, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				return false
			}
		}
	}
	return true
}

// TestImport00005 imports medigan's own 00005 package code: its [-1, 0]
// mapping wraps values above 0 around in the uint8 cast, and zoo must
// reproduce that pixel for pixel. The entry is an overlay: metrics stay,
// and search ranks the model, now runnable.
func TestImport00005(t *testing.T) {
	pkg := referencePackage(t, "00005_DCGAN_MMG_MASS_ROI")
	ck := checkpoint(t, pkg, "500.pt")
	e := newImportEnv(t)
	keep := filepath.Join(t.TempDir(), "keep")
	out := runImport(t, e, "--package", pkg, "--checkpoint", ck, "--keep", keep)
	if out.Model != "00005_DCGAN_MMG_MASS_ROI" || !out.Overlay {
		t.Fatalf("imported as %s (overlay %v), want an overlay on 00005_DCGAN_MMG_MASS_ROI", out.Model, out.Overlay)
	}
	mustOK(t, zoo(t, e.vars(), "catalog", "validate", "--load", e.importedCatalog()))
	// From the command line too: the recorded latents give the package's images.
	again := filepath.Join(t.TempDir(), "again")
	mustOK(t, zoo(t, e.vars(), "generate", "5", "--latents", filepath.Join(keep, "out", "inputs", "z.npy"), "-n", "16", "-o", again))
	for i := 0; i < 16; i++ {
		if !samePixels(readPNG(t, filepath.Join(keep, "out", "package_out", fmt.Sprintf("%d.png", i))), readPNG(t, filepath.Join(again, fmt.Sprintf("%05d.png", i)))) {
			t.Fatalf("zoo generate --latents: sample %d differs from the package's %d.png", i, i)
		}
	}
	inf := info(t, e, "5")
	for _, want := range []string{"pixel-identical", "wrapping around", "FID", "180.04", "torch.jit.", "overlay"} {
		if !strings.Contains(inf, want) {
			t.Errorf("zoo info 5 lacks %q:\n%s", want, inf)
		}
	}
	// Still ranked by its self-reported FID, and now runnable.
	r := mustOK(t, zoo(t, e.vars(), "search", "mammography", "mass", "--rank-by", "FID", "--json"))
	if !strings.Contains(r.stdout, "00005_DCGAN_MMG_MASS_ROI") || !strings.Contains(r.stdout, `"runnable": true`) {
		t.Errorf("search --rank-by FID after import:\n%s", r.stdout)
	}
	dir := t.TempDir()
	mustOK(t, zoo(t, e.vars(), "generate", "5", "-n", "20", "-o", dir, "--seed", "3"))
	recs, err := output.ReadManifest(filepath.Join(dir, output.ManifestFile))
	if err != nil || len(recs) != 20 {
		t.Fatalf("manifest: %v, %d records", err, len(recs))
	}
	if !strings.HasPrefix(recs[0].Reproducible, "bitwise") {
		t.Errorf("manifest reproducible = %q", recs[0].Reproducible)
	}
	batched := t.TempDir()
	mustOK(t, zoo(t, e.vars(), "generate", "5", "-n", "20", "-o", batched, "--seed", "3", "--batch-size", "48"))
	sameDirs(t, dir, batched)
}

// TestImportConditional: the 00008-like package's label input becomes a
// condition named as its metadata says (0 = malignant, 1 = benign); the
// balanced default (i % 2) is zoo's too, so the pixel check covers both.
func TestImportConditional(t *testing.T) {
	pkg := referencePackage(t, "00008_C-DCGAN_MMG_MASSES-like")
	ck := checkpoint(t, pkg, "1400_ckpt_train_cbis_ddsm.pt")
	e := newImportEnv(t)
	out := runImport(t, e, "--package", pkg, "--checkpoint", ck)
	if out.Overlay {
		t.Errorf("%s is not in the catalog, so its entry should be new, not an overlay", out.Model)
	}
	inf := info(t, e, out.Model)
	if !strings.Contains(inf, "malignant, benign") {
		t.Fatalf("condition values not taken from the package's documentation:\n%s", inf)
	}
	var imgs [2]image.Image
	for i, v := range []string{"malignant", "benign"} {
		dir := t.TempDir()
		mustOK(t, zoo(t, e.vars(), "generate", out.Model, "-n", "1", "-o", dir, "--condition", "condition="+v))
		imgs[i] = readPNG(t, filepath.Join(dir, "00000.png"))
	}
	if samePixels(imgs[0], imgs[1]) {
		t.Error("malignant and benign give the same image for the same latent")
	}
}

// TestImportImageAndMask: one 4-channel ProGAN output split into an RGB
// image and a mask written through matplotlib's gray colormap table.
func TestImportImageAndMask(t *testing.T) {
	pkg := referencePackage(t, "00009_PGGAN_POLYP_PATCHES_W_MASKS-like")
	ck := checkpoint(t, pkg, "ProGAN_300000_g.model")
	e := newImportEnv(t)
	out := runImport(t, e, "--package", pkg, "--checkpoint", ck, "--samples", "8")
	inf := info(t, e, out.Model)
	for _, want := range []string{"channels 0..2", "channels 3..3", "lookup table", "step"} {
		if !strings.Contains(inf, want) {
			t.Errorf("zoo info lacks %q:\n%s", want, inf)
		}
	}
	dir := t.TempDir()
	mustOK(t, zoo(t, e.vars(), "generate", out.Model, "-n", "2", "-o", dir))
	switch im := readPNG(t, filepath.Join(dir, "00000_image.png")).(type) {
	case *image.RGBA, *image.NRGBA:
	default:
		t.Errorf("image output is a %T, not RGB", im)
	}
	if _, ok := readPNG(t, filepath.Join(dir, "00000_mask.png")).(*image.Gray); !ok {
		t.Error("mask output is not gray")
	}
}

// TestImportImageToImage: the CycleGAN (00003-like) with the package's own
// input images, and the pix2pix (00004-like) whose random masks are drawn
// inside generate(): the recorded model inputs drive zoo's check, and the
// mask the package merely passes through is reported, not reproduced.
func TestImportImageToImage(t *testing.T) {
	cyc := referencePackage(t, "00003_CYCLEGAN_MMG_DENSITY_FULL-like")
	inputs := t.TempDir()
	ck := checkpoint(t, cyc, "CycleGAN_high_density.pth", "--inputs", inputs, "--n", "3")
	e := newImportEnv(t)
	out := runImport(t, e, "--package", cyc, "--checkpoint", ck, "--samples", "3",
		"--arg", "image_size=[256,256]", "--arg", fmt.Sprintf("input_path=%q", inputs))
	if !strings.Contains(info(t, e, out.Model), "image-to-image") {
		t.Errorf("%s is not image-to-image", out.Model)
	}
	// zoo runs it on images of the model's size.
	in := t.TempDir()
	for i := 0; i < 2; i++ {
		writeGray(t, filepath.Join(in, fmt.Sprintf("in_%d.png", i)), 256, 256, i)
	}
	dir := t.TempDir()
	mustOK(t, zoo(t, e.vars(), "generate", out.Model, "--input", in, "-o", dir))
	if _, err := os.Stat(filepath.Join(dir, "in_1.png")); err != nil {
		t.Errorf("no output for the second input: %v", err)
	}

	p2p := referencePackage(t, "00004_PIX2PIX_MMG_MASSES_W_MASKS-like")
	ck = checkpoint(t, p2p, "pix2pix_mask_to_mass_model.pth")
	out = runImport(t, e, "--package", p2p, "--checkpoint", ck, "--samples", "4")
	if len(out.Report.Unexpressed) == 0 || !strings.Contains(strings.Join(out.Report.Unexpressed, " "), "input") {
		t.Errorf("the pass-through mask is not reported as an input: %v", out.Report.Unexpressed)
	}
}

// tinygan is the misbehaving fixture package; its checkpoint is made at
// test time.
func tinygan(t *testing.T) (pkg, ck string) {
	t.Helper()
	pkg, err := filepath.Abs("testdata/packages/tinygan")
	if err != nil {
		t.Fatal(err)
	}
	return pkg, checkpoint(t, pkg, "tiny.pt")
}

// TestImportOffline: a local package needs no network at all.
func TestImportOffline(t *testing.T) {
	pkg, ck := tinygan(t)
	e := newImportEnv(t)
	r := mustOK(t, zoo(t, e.vars("ZOO_OFFLINE=1"), "--offline", "import", "--package", pkg, "--checkpoint", ck))
	if !strings.Contains(r.stdout, "pixel-identical") {
		t.Errorf("offline import:\n%s\n%s", r.stdout, r.stderr)
	}
	dir := t.TempDir()
	mustOK(t, zoo(t, e.vars("ZOO_OFFLINE=1"), "generate", "99901", "-n", "3", "-o", dir))
}

// TestImportSandbox: package code gets no network and cannot write outside
// its scratch directory; failures say why, and nothing is left behind.
func TestImportSandbox(t *testing.T) {
	pkg, ck := tinygan(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	target := filepath.Join(t.TempDir(), "escaped.txt")
	skimage := exec.Command(python, "-c", "import skimage").Run() == nil
	cases := []struct {
		name      string
		args      []string
		fragments []string
	}{
		{"network", []string{"behaviour=\"network\"", fmt.Sprintf("port=%d", port)}, []string{"network"}},
		{"write", []string{"behaviour=\"write\"", fmt.Sprintf("target=%q", target)}, []string{"escaped.txt"}},
		{"raise", []string{"behaviour=\"raise\""}, []string{"raised ValueError", "does not match this generator"}},
		{"missing_dep", []string{"behaviour=\"missing_dep\""}, []string{"skimage", "python3-skimage"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "missing_dep" && skimage {
				t.Skip("skimage is installed here, so the package does not miss it")
			}
			e := newImportEnv(t)
			args := []string{"import", "--package", pkg, "--checkpoint", ck}
			for _, a := range c.args {
				args = append(args, "--arg", a)
			}
			wantFail(t, zoo(t, e.vars(), args...), 1, append(c.fragments, "nothing was imported")...)
			if _, err := os.Stat(e.importedCatalog()); err == nil {
				t.Error("a failed import wrote the catalog")
			}
			if left := e.leftovers(t); len(left) > 0 {
				t.Errorf("a failed import left %v", left)
			}
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the sandboxed package reached 127.0.0.1:%d %d time(s)", port, n)
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("the sandboxed package wrote %s", target)
	}
}

// TestImportStochastic: a module that draws torch.randn inside forward is
// detected, imported as stochastic, seeded per compute block (same bytes
// whatever the batch size), and its provenance says what repeats.
func TestImportStochastic(t *testing.T) {
	pkg, ck := tinygan(t)
	e := newImportEnv(t)
	r := mustOK(t, zoo(t, e.vars(), "import", "--json", "--package", pkg, "--checkpoint", ck, "--arg", `behaviour="randn"`))
	var out importJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if !out.Written || !strings.Contains(strings.Join(out.Report.Warnings, " "), "random numbers inside forward") {
		t.Fatalf("randomness in forward not reported: %+v", out)
	}
	if !strings.Contains(info(t, e, "99901"), "per compute block") {
		t.Error("zoo info does not say the model is reproducible per block only")
	}
	a, b := t.TempDir(), t.TempDir()
	mustOK(t, zoo(t, e.vars(), "generate", "99901", "-n", "40", "-o", a, "--seed", "7"))
	mustOK(t, zoo(t, e.vars(), "generate", "99901", "-n", "40", "-o", b, "--seed", "7", "--batch-size", "64"))
	sameDirs(t, a, b)
	recs, _ := output.ReadManifest(filepath.Join(a, output.ManifestFile))
	if len(recs) == 0 || !strings.HasPrefix(recs[0].Reproducible, "per compute block") {
		t.Errorf("manifest does not mark the run reproducible per block: %+v", recs)
	}
	c := t.TempDir()
	mustOK(t, zoo(t, e.vars(), "generate", "99901", "-n", "40", "-o", c, "--seed", "8"))
	if sha256File(t, filepath.Join(a, "00005.png")) == sha256File(t, filepath.Join(c, "00005.png")) {
		t.Error("seeds 7 and 8 give the same image: the noise is not seeded by the run's seed")
	}
}

// TestImportFromCatalog: zoo import ID fetches the catalog's package zip
// (here served on 127.0.0.1 through a catalog overlay) through the store,
// pinning it on first use; a zip with ".." entries is refused.
func TestImportFromCatalog(t *testing.T) {
	pkg, ck := tinygan(t)
	zipPath := filepath.Join(t.TempDir(), "tinygan.zip")
	writeZip(t, zipPath, map[string]string{
		"tinygan/__init__.py":   filepath.Join(pkg, "__init__.py"),
		"tinygan/metadata.json": filepath.Join(pkg, "metadata.json"),
		"tinygan/tiny.pt":       ck,
	})
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(zipPath))))
	defer srv.Close()
	e := newImportEnv(t)
	os.MkdirAll(filepath.Join(e.config, "catalogs"), 0o755)
	cat := fmt.Sprintf(`schema = 1
[[model]]
id = "99901_TINYGAN_TEST"
title = "Tiny test generator, as a catalog entry"
modality = ["test"]
function = "noise-to-image"
[model.artifact]
url = "%s/tinygan.zip"
format = "python-package"
path = "tinygan/tiny.pt"
[model.upstream]
package = "tinygan"
model_file = "tiny.pt"
[model.metrics.FID]
value = 99.5
direction = "lower"
extractor = "inception-v3 (ImageNet)"
`, srv.URL)
	// "00-" sorts before imported.toml, so the import's overlay applies on top.
	os.WriteFile(filepath.Join(e.config, "catalogs", "00-test.toml"), []byte(cat), 0o644)
	wantFail(t, zoo(t, e.vars(), "import", "99901"), 1, "--allow-unpinned")
	out := runImport(t, e, "99901", "--allow-unpinned")
	if !out.Overlay {
		t.Error("a catalog import is not an overlay")
	}
	inf := info(t, e, "99901")
	if !strings.Contains(inf, "99.5") || !strings.Contains(inf, "pixel-identical") {
		t.Errorf("after import, zoo info:\n%s", inf)
	}

	evil := filepath.Join(t.TempDir(), "evil.zip")
	writeZip(t, evil, map[string]string{"../evil/__init__.py": filepath.Join(pkg, "__init__.py")})
	e2 := newImportEnv(t)
	wantFail(t, zoo(t, e2.vars(), "import", "--package", evil), 1, "..", "nothing was imported")
	if left := e2.leftovers(t); len(left) > 0 {
		t.Errorf("the refused zip left %v", left)
	}
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestValidateLoad: a signature whose latent shape the module does not
// take passes parsing, and --load says so in one sentence.
func TestValidateLoad(t *testing.T) {
	pkg, ck := tinygan(t)
	e := newImportEnv(t)
	runImport(t, e, "--package", pkg, "--checkpoint", ck)
	data, err := os.ReadFile(e.importedCatalog())
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte(strings.Replace(string(data), "latent = [8]", "latent = [8, 1, 1]", 1)), 0o644)
	mustOK(t, zoo(t, e.vars(), "catalog", "validate", bad))
	r := zoo(t, e.vars(), "catalog", "validate", "--load", bad)
	wantFailOut(t, r, "rejected the inputs", "latent [16 8 1 1]")
	if strings.Count(strings.TrimSpace(r.stdout), "\n") > 1 {
		t.Errorf("the error is not one clear line:\n%s", r.stdout)
	}
}

func wantFailOut(t *testing.T, r result, fragments ...string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, f := range fragments {
		if !strings.Contains(r.stdout, f) {
			t.Fatalf("output does not mention %q:\n%s", f, r.stdout)
		}
	}
}
