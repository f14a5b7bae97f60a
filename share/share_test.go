package share

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"medzoo/zoo/store"
)

// fakeModule is a zip shaped like a TorchScript archive (a code/ folder):
// enough for the layout checks, which never run the module.
func fakeModule(t *testing.T, withCode bool) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	names := []string{"m/data.pkl", "m/version"}
	if withCode {
		names = append(names, "m/code/__torch__.py")
	}
	for _, n := range names {
		w, _ := zw.Create(n)
		w.Write([]byte(n))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// entryTOML is a model.toml for a module of the given digest and size.
// Its lines matter to the tests: sha256 is on line 12, size on 13.
func entryTOML(sum string, size int) string {
	return fmt.Sprintf(`schema = 1

[[model]]
id = "90001_SHARE_TEST"
version = "1.0.0"
title = "Share test"
license = "CC-BY-4.0"

[model.artifact]
url = "model.pt"
format = "torchscript"
sha256 = %q
size = %d

[model.signature]
latent = [8]

[[model.signature.outputs]]
name = "image"
kind = "image"
channels = 1
height = 4
width = 4
range = [-1.0, 1.0]
`, sum, size)
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func pngBytes(t *testing.T, v uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range img.Pix {
		img.Pix[i] = v + uint8(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// modelDir writes a valid model directory around module.
func modelDir(t *testing.T, module []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mymodel")
	write(t, filepath.Join(dir, ModuleFile), module)
	write(t, filepath.Join(dir, EntryFile), []byte(entryTOML(hexSum(module), len(module))))
	write(t, filepath.Join(dir, LicenseFile), []byte("CC-BY-4.0: the licence text.\n"))
	write(t, filepath.Join(dir, CardFile), []byte("# Share test\n\nIntended use: tests. Its images are synthetic.\n"))
	write(t, filepath.Join(dir, SamplesDir, "a.png"), pngBytes(t, 0))
	write(t, filepath.Join(dir, SamplesDir, "b.png"), pngBytes(t, 100))
	return dir
}

func problemsOf(t *testing.T, dir string) []string {
	t.Helper()
	_, err := Open(dir)
	var pe *ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("Open: %v, want a *ProblemsError", err)
	}
	var out []string
	for _, p := range pe.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestOpenValid(t *testing.T) {
	module := fakeModule(t, true)
	dir := modelDir(t, module)
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Entry == nil || m.Entry.ID != "90001_SHARE_TEST" || m.Entry.Signature == nil {
		t.Fatalf("entry %+v", m.Entry)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "LICENSE README.md model.pt model.toml samples/a.png samples/b.png" {
		t.Errorf("files %s", got)
	}
	if m.Files[2].SHA256 != hexSum(module) || m.Files[2].Size != int64(len(module)) {
		t.Errorf("model.pt %+v", m.Files[2])
	}
	// samples/ is optional.
	os.RemoveAll(filepath.Join(dir, SamplesDir))
	if _, err := Open(dir); err != nil {
		t.Errorf("without samples/: %v", err)
	}
}

// Every problem of a directory is reported at once, by file and line,
// each with its fix.
func TestOpenProblems(t *testing.T) {
	module := fakeModule(t, true)
	sum, size := hexSum(module), len(module)
	setEntry := func(text string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { write(t, filepath.Join(dir, EntryFile), []byte(text)) }
	}
	entry := entryTOML(sum, size)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
		want   []string
	}{
		{"missing licence and card", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, LicenseFile))
			os.Remove(filepath.Join(dir, CardFile))
		}, []string{
			"LICENSE: missing: put the licence text of the weights here",
			"README.md: missing: write the model card here (intended use, training data, limitations, and that its images are synthetic)",
		}},
		{"missing module and entry", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ModuleFile))
			os.Remove(filepath.Join(dir, EntryFile))
		}, []string{
			`model.pt: missing: save the TorchScript module here (torch.jit.save(torch.jit.script(generator), "model.pt"))`,
			`model.toml: missing: write the model's catalog entry here (one [[model]] table, with [model.artifact] url = "model.pt" and [model.signature])`,
		}},
		{"empty licence", func(t *testing.T, dir string) { write(t, filepath.Join(dir, LicenseFile), nil) },
			[]string{"LICENSE: is empty: put the licence text of the weights here"}},
		{"wrong digest and size", setEntry(entryTOML(strings.Repeat("0", 64), 7)), []string{
			fmt.Sprintf(`model.toml:12: artifact.sha256 is "%s", but model.pt's sha256 is %s: set sha256 = "%s"`, strings.Repeat("0", 64), sum, sum),
			fmt.Sprintf("model.toml:13: artifact.size is 7, but model.pt is %d bytes: set size = %d", size, size),
		}},
		{"missing digest: Parse's problem and the value", setEntry(strings.Replace(entry, "sha256 = \""+sum+"\"\n", "", 1)), []string{
			"model.toml:9: model 90001_SHARE_TEST: missing artifact.sha256 (zoo runs only TorchScript it can verify)",
			fmt.Sprintf(`model.toml:9: artifact.sha256 is missing, but model.pt's sha256 is %s: set sha256 = "%s"`, sum, sum),
		}},
		{"artifact elsewhere", setEntry(strings.NewReplacer(`url = "model.pt"`, "url = \"https://example.org/g.zip\"\npath = \"g.pt\"",
			`license = "CC-BY-4.0"`, `license = ""`).Replace(entry)), []string{
			`model.toml:7: missing license: name the licence of the weights, whose text LICENSE holds (an SPDX id such as CC-BY-4.0)`,
			`model.toml:10: artifact.url must be "model.pt", the module beside model.toml, not "https://example.org/g.zip"`,
			`model.toml:11: artifact.path must be empty: model.pt is the module itself, not an archive (a packed model's catalog entry names path = "model.pt")`,
		}},
		{"two entries", setEntry(entry + "\n[[model]]\nid = \"90002_OTHER\"\ntitle = \"Other\"\nartifact = { url = \"x\", format = \"python-package\" }\n"),
			[]string{"model.toml:26: a second [[model]] entry: a model directory holds exactly one model; give this one its own directory"}},
		{"no entry", setEntry("schema = 1\n"),
			[]string{"model.toml:1: no [[model]] entry: model.toml holds the model's one catalog entry ([[model]] with id, title, license, [model.artifact] and [model.signature])"}},
		{"overlay and unknown key", setEntry(strings.Replace(entry, `title = "Share test"`, "title = \"Share test\"\noverlay = true\ncolour = \"red\"", 1)), []string{
			"model.toml:7: overlay = true: an overlay adds to an entry of another catalog, but a model directory holds a whole entry; remove the line",
			"model.toml:8: model 90001_SHARE_TEST: unknown key colour",
		}},
		{"TOML syntax", setEntry("schema = 1\n[[model]\n"),
			[]string{"model.toml:2: expected end of table array name delimiter ']', but got '\\n' instead"}},
		{"a state_dict, not TorchScript", func(t *testing.T, dir string) {
			sd := fakeModule(t, false)
			write(t, filepath.Join(dir, ModuleFile), sd)
			write(t, filepath.Join(dir, EntryFile), []byte(entryTOML(hexSum(sd), len(sd))))
		}, []string{`model.pt: holds no TorchScript code (a state_dict saved with torch.save?); save the module with torch.jit.save(torch.jit.script(generator), "model.pt")`}},
		{"links and special files", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, LicenseFile))
			os.Symlink("/etc/passwd", filepath.Join(dir, LicenseFile))
			os.Symlink("a.png", filepath.Join(dir, SamplesDir, "c.png"))
			if err := syscall.Mkfifo(filepath.Join(dir, SamplesDir, "d.png"), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Symlink("/", filepath.Join(dir, "data"))
		}, []string{
			"LICENSE: is a symbolic link to /etc/passwd (zoo packs no links): it must be a regular file; put the file itself here",
			"data: is a symbolic link to / (zoo packs no links), which a model directory does not hold (only model.pt, model.toml, LICENSE, README.md and samples/): remove it or move it out",
			"samples/c.png: is a symbolic link to a.png (zoo packs no links): samples/ holds PNG files only; remove it",
			"samples/d.png: is a FIFO (named pipe): samples/ holds PNG files only; remove it",
		}},
		{"extra files", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "notes.txt"), []byte("x"))
			write(t, filepath.Join(dir, ".git", "HEAD"), []byte("x"))
			write(t, filepath.Join(dir, SamplesDir, "grid.jpg"), []byte("x"))
			write(t, filepath.Join(dir, SamplesDir, "fake.png"), []byte("not a png"))
			write(t, filepath.Join(dir, SamplesDir, "more", "e.png"), pngBytes(t, 1))
		}, []string{
			".git/: is a directory, which a model directory does not hold (only model.pt, model.toml, LICENSE, README.md and samples/): remove it or move it out",
			"notes.txt: is here, which a model directory does not hold (only model.pt, model.toml, LICENSE, README.md and samples/): remove it or move it out",
			"samples/fake.png: is not a PNG image (no PNG signature): remove it, or save it as PNG",
			"samples/grid.jpg: is not a .png file: samples/ holds PNG images the model made; remove it or convert it",
			"samples/more/: is a directory: samples/ holds PNG files only; remove it",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := modelDir(t, module)
			tc.change(t, dir)
			got := problemsOf(t, dir)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestOversizedSamplesRefused(t *testing.T) {
	module := fakeModule(t, true)
	dir := modelDir(t, module)
	for i := 0; i < MaxSamples; i++ { // with a.png and b.png, two too many
		write(t, filepath.Join(dir, SamplesDir, fmt.Sprintf("s%03d.png", i)), pngBytes(t, 0))
	}
	// A sparse file: its size counts, and it is never read.
	big, err := os.Create(filepath.Join(dir, SamplesDir, "big.png"))
	if err != nil {
		t.Fatal(err)
	}
	big.Truncate(MaxSamplesBytes)
	big.Close()
	got := strings.Join(problemsOf(t, dir), "\n")
	for _, want := range []string{
		"samples/: holds 259 PNG files, more than the limit of 256: keep a few representative ones",
		"samples/: holds 64.0 MiB of PNG files, more than the limit of 64.0 MiB",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant %q", got, want)
		}
	}
}

func pack(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := Pack(dir, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// copyDir copies a model directory to a new place, with other times and
// modes on every file.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "elsewhere", "copy")
	when := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		write(t, out, data)
		os.Chmod(out, 0o600)
		return os.Chtimes(out, when, when)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestPackIsReproducible(t *testing.T) {
	module, err := os.ReadFile("../bundled/00101_DCGAN_MRI_COLIN27_DEMO.pt")
	if err != nil {
		t.Fatal(err)
	}
	dir := modelDir(t, module)
	first := pack(t, dir)
	if !bytes.Equal(first, pack(t, dir)) {
		t.Fatal("two packs of one directory differ")
	}
	if !bytes.Equal(first, pack(t, copyDir(t, dir))) {
		t.Fatal("a copy of the directory, elsewhere with other times and modes, packs differently")
	}

	// The entries: manifest first, then by name; fixed fields, no extras.
	zr, err := zip.NewReader(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store || len(f.Extra) != 0 || f.Mode() != 0o644 || f.Flags&0x8 != 0 ||
			!f.Modified.Equal(time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)) || f.Comment != "" {
			t.Errorf("%s: method %d, extra %x, mode %v, flags %#x, time %v", f.Name, f.Method, f.Extra, f.Mode(), f.Flags, f.Modified)
		}
	}
	if got := strings.Join(names, " "); got != "MANIFEST.sha256 LICENSE README.md model.pt model.toml samples/a.png samples/b.png" {
		t.Errorf("entries: %s", got)
	}

	// It unpacks with the store's checks, and the manifest matches the
	// unpacked files, which are the directory's.
	archive := filepath.Join(t.TempDir(), "m.zip")
	write(t, archive, first)
	out := t.TempDir()
	if err := store.UnpackZip(context.Background(), archive, out, "m.zip"); err != nil {
		t.Fatal(err)
	}
	mf, err := os.Open(filepath.Join(out, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	listed := 0
	sc := bufio.NewScanner(mf)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name)))
		orig, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if !ok || err != nil || hexSum(got) != sum || !bytes.Equal(got, orig) {
			t.Errorf("manifest line %q: %v", sc.Text(), err)
		}
		listed++
	}
	if listed != len(names)-1 {
		t.Errorf("the manifest lists %d files, the archive holds %d besides it", listed, len(names)-1)
	}
}

// The same bytes on every machine: a fixed directory packs to a fixed
// digest. A change in the format (or in archive/zip's output) shows here.
func TestPackGolden(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "golden")
	module := fixedModule(t)
	write(t, filepath.Join(dir, ModuleFile), module)
	write(t, filepath.Join(dir, EntryFile), []byte(entryTOML(hexSum(module), len(module))))
	write(t, filepath.Join(dir, LicenseFile), []byte("licence\n"))
	write(t, filepath.Join(dir, CardFile), []byte("card\n"))
	const want = "37183db300331501b7f5e5a2124f78ca17497873ff8640ebff36e694e6ff476b"
	archive := pack(t, dir)
	if got := hexSum(archive); got != want {
		t.Errorf("archive sha256 %s, want %s", got, want)
	}
	// PackSummed says the digest and size of the bytes it wrote.
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	a, err := m.PackSummed(&b)
	if err != nil || a.SHA256 != want || a.Size != int64(len(archive)) || !bytes.Equal(b.Bytes(), archive) || len(a.Entries) != 5 {
		t.Errorf("PackSummed: %+v, %v (%d bytes written, want %d)", a, err, b.Len(), len(archive))
	}
}

// fixedModule is a TorchScript-shaped zip with fixed bytes (fakeModule's
// depend on archive/zip's writer; these do not).
func fixedModule(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	if _, err := zw.CreateRaw(&zip.FileHeader{Name: "m/code/x.py", Method: zip.Store, ModifiedDate: zipEpochDate, ReaderVersion: zipVersion}); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPackRefusesAChangedFile(t *testing.T) {
	dir := modelDir(t, fakeModule(t, true))
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, CardFile), []byte("# Changed meanwhile\n"))
	var b bytes.Buffer
	if _, err := m.Pack(&b); err == nil || !strings.Contains(err.Error(), "README.md changed while zoo packed it: pack again") {
		t.Errorf("packing a changed file: %v", err)
	}
	// And Pack refuses a directory with problems, with all of them.
	os.Remove(filepath.Join(dir, LicenseFile))
	_, err = Pack(dir, &b)
	var pe *ProblemsError
	if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), dir+" is not a shareable model directory; 1 problem:\n  LICENSE: missing") {
		t.Errorf("packing a directory without LICENSE: %v", err)
	}
}
