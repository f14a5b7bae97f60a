package main_test

// The sizes-and-limits part of the hostile-input corpus (docs/reliability.md):
// catalogs, flags, input images and model files that declare or return
// more than zoo can hold, or are not what they claim to be. Each case
// asserts the exit code, a message naming the problem and what to do, and
// that nothing outside the output directory changed.

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"medzoo/internal/testfiles"
	"medzoo/internal/testmodules"
	"medzoo/output"
)

// imageOutput is an output named "image" of the given kind and size,
// values in [-1, 1].
func imageOutput(kind string, c, h, w int) string {
	return sigOutput("image", kind, c, h, w, -1, 1)
}

// mkfifoOrSkip makes a named pipe at path; where the file system has none,
// the test is skipped rather than failed.
func mkfifoOrSkip(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
}

func TestHostileCatalog(t *testing.T) {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, sig string
		raw       string // a whole catalog instead of moduleCatalog(sig)
		want      []string
	}{
		{name: "output-100000x100000", sig: "latent = [8]\n" + imageOutput("image", 1, 100000, 100000),
			want: []string{"signature.outputs[0] is 1×100000×100000", "more than the limit of 64 Mi values"}},
		{name: "output-3x65536x65536", sig: "latent = [8]\n" + imageOutput("image", 3, 65536, 65536),
			want: []string{"3×65536×65536", "limit"}},
		{name: "latent-10000000000", sig: "latent = [10000000000]\n" + imageOutput("image", 1, 4, 4),
			want: []string{"signature.latent [10000000000] holds more than 1 Mi values"}},
		{name: "latent-2pow32-squared", sig: "latent = [4294967296, 4294967296]\n" + imageOutput("image", 1, 4, 4),
			want: []string{"signature.latent [4294967296 4294967296] holds more than"}},
		{name: "latent-nine-dims", sig: "latent = [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + imageOutput("image", 1, 4, 4),
			want: []string{"signature.latent has 9 dimensions, more than the limit of 8"}},
		{name: "latent-negative", sig: "latent = [-8]\n" + imageOutput("image", 1, 4, 4),
			want: []string{"signature.latent sizes must be positive, got -8"}},
		{name: "batch-1000000000", sig: "latent = [8]\nbatch = 1000000000\n" + imageOutput("image", 1, 4, 4),
			want: []string{"signature.batch must be between 1 and 4096", "not 1000000000"}},
		{name: "batch-negative", sig: "latent = [8]\nbatch = -5\n" + imageOutput("image", 1, 4, 4),
			want: []string{"signature.batch must be between 1 and 4096", "not -5"}},
		{name: "block-too-large", sig: "latent = [8]\nbatch = 4096\n" + imageOutput("image", 1, 512, 512),
			want: []string{"compute block of 4096 samples", "lower signature.batch"}},
		{name: "latent-block-too-large", sig: "latent = [1048576]\nbatch = 4096\n" + imageOutput("image", 1, 4, 4),
			want: []string{"the latent of a compute block of 4096 samples", "lower signature.batch"}},
		{name: "input-100000x100000", sig: "[model.signature.input]\nname = \"x\"\nkind = \"image\"\nchannels = 1\nheight = 100000\nwidth = 100000\n" + imageOutput("image", 1, 4, 4),
			want: []string{"signature.input is 1×100000×100000", "limit"}},
		{name: "channel-offset-huge", sig: "latent = [8]\n" + imageOutput("image", 1, 4, 4) + "source = \"0\"\nchannel_offset = 9223372036854775807",
			want: []string{"channel_offset is larger than any image"}},
		{name: "height-not-integer", sig: "latent = [8]\n" + strings.Replace(imageOutput("image", 1, 4, 4), "height = 4", "height = 1e99", 1),
			want: []string{"height must be an integer"}},
		{name: "nested-arrays-50000", raw: "schema = 1\nx = " + deep("[", "]", 50000) + "\n",
			want: []string{":2: values are nested more than 32 deep"}},
		{name: "nested-inline-tables-50000", raw: "schema = 1\nx = " + deep("{a = ", "}", 50000) + "\n",
			want: []string{"values are nested more than 32 deep"}},
		{name: "dotted-key-1000-parts", raw: "schema = 1\n" + strings.Repeat("a.", 1000) + "b = 1\n",
			want: []string{"a dotted key has more than 32 parts"}},
		{name: "table-header-1000-parts", raw: "schema = 1\n[" + strings.Repeat("a.", 1000) + "b]\n",
			want: []string{"a table header has more than 32 parts"}},
		{name: "array-70000-elements", raw: "schema = 1\nx = [" + strings.Repeat("1,", 70000) + "1]\n",
			want: []string{"an array has more than 65536 elements"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cat string
			if tc.raw != "" {
				cat = catalogFile(t, tc.raw)
			} else {
				cat = moduleCatalog(t, "tiny_generator.pt", tc.sig)
			}
			dir := filepath.Dir(cat)
			before := treeState(t, dir)
			r := zoo(t, nil, "catalog", "validate", cat)
			wantFail(t, r, 1)
			for _, w := range tc.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Fatalf("output does not say %q:\nstdout: %s\nstderr: %s", w, r.stdout, r.stderr)
				}
			}
			unchanged(t, before, dir)
		})
	}

	// The same limits hold wherever a catalog is read, not only in
	// `catalog validate`: $ZOO_CATALOG, the config dir (where
	// measured.toml and imported entries live) and catalogs.toml.
	deepText := "schema = 1\nx = " + deep("[", "]", 50000) + "\n"
	t.Run("nested-in-zoo-catalog", func(t *testing.T) {
		cat := catalogFile(t, deepText)
		before := treeState(t, filepath.Dir(cat))
		wantFail(t, zoo(t, []string{"ZOO_CATALOG=" + cat}, "info", "101"), 1, cat+":2:", "nested more than 32 deep")
		unchanged(t, before, filepath.Dir(cat))
	})
	t.Run("nested-in-config-dir-measured", func(t *testing.T) {
		cfg := t.TempDir()
		os.MkdirAll(filepath.Join(cfg, "catalogs"), 0o755)
		p := filepath.Join(cfg, "catalogs", "measured.toml")
		os.WriteFile(p, []byte(deepText), 0o644)
		before := treeState(t, cfg)
		wantFail(t, zoo(t, []string{"ZOO_CONFIG_DIR=" + cfg}, "info", "101"), 1, "measured.toml:2:", "nested more than 32 deep")
		unchanged(t, before, cfg)
	})
	t.Run("nested-in-catalogs-list", func(t *testing.T) {
		cfg := t.TempDir()
		p := filepath.Join(cfg, "catalogs.toml")
		os.WriteFile(p, []byte("[[catalog]]\nurl = "+deep("[", "]", 50000)+"\n"), 0o644)
		before := treeState(t, cfg)
		wantFail(t, zoo(t, []string{"ZOO_CONFIG_DIR=" + cfg}, "info", "101"), 1, "catalogs.toml", "nested more than 32 deep")
		unchanged(t, before, cfg)
	})
	t.Run("overlay-with-huge-output", func(t *testing.T) {
		cat := catalogFile(t, "schema = 1\n[[model]]\nid = \"00101_DEMO_DCGAN_CHEST_XRAY_64\"\noverlay = true\n[model.signature]\nlatent = [8]\n"+imageOutput("image", 1, 100000, 100000))
		before := treeState(t, filepath.Dir(cat))
		wantFail(t, zoo(t, []string{"ZOO_CATALOG=" + cat}, "info", "101"), 1, "1×100000×100000", "limit")
		unchanged(t, before, filepath.Dir(cat))
	})
	t.Run("catalog-is-fifo", func(t *testing.T) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, "c.toml")
		mkfifoOrSkip(t, fifo)
		before := treeState(t, dir)
		wantFail(t, zoo(t, []string{"ZOO_CATALOG=" + fifo}, "info", "101"), 1, "c.toml", "FIFO")
		r := zoo(t, nil, "catalog", "validate", fifo)
		wantFail(t, r, 1)
		if !strings.Contains(r.stdout+r.stderr, "FIFO") {
			t.Fatalf("validate does not name the FIFO:\n%s%s", r.stdout, r.stderr)
		}
		unchanged(t, before, dir)
	})
	t.Run("catalog-is-directory", func(t *testing.T) {
		dir := t.TempDir()
		sub := filepath.Join(dir, "d.toml")
		os.Mkdir(sub, 0o755)
		before := treeState(t, dir)
		wantFail(t, zoo(t, []string{"ZOO_CATALOG=" + sub}, "info", "101"), 1, "d.toml", "directory")
		unchanged(t, before, dir)
	})
	// The pre-scan follows strings and comments: brackets inside them are
	// not nesting, and a catalog holding them is valid.
	t.Run("brackets-in-strings-accepted", func(t *testing.T) {
		cat := moduleCatalog(t, "tiny_generator.pt", tinySignature)
		text, _ := os.ReadFile(cat)
		extra := strings.Replace(string(text), "version = ", "description = \""+strings.Repeat("[{", 100)+"\"\n# "+strings.Repeat("[", 100)+"\nauthors = ['''"+strings.Repeat("[", 100)+"\n''']\nversion = ", 1)
		os.WriteFile(cat, []byte(extra), 0o644)
		mustOK(t, zoo(t, nil, "catalog", "validate", cat))
	})
}

func TestHostileFlags(t *testing.T) {
	cat := moduleCatalog(t, "tiny_generator.pt", tinySignature)
	env := []string{"ZOO_CATALOG=" + cat}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"generate-batch-size-maxint", []string{"generate", "90009", "-n", "2", "--batch-size", "9223372036854775807"}, []string{"--batch-size 9223372036854775807 is out of range", "0 to 65536"}},
		{"generate-batch-size-negative", []string{"generate", "90009", "-n", "2", "--batch-size", "-1"}, []string{"--batch-size -1 is out of range"}},
		{"generate-threads-negative", []string{"generate", "90009", "-n", "2", "--threads", "-3"}, []string{"--threads -3 is out of range", "0 (one per CPU core)"}},
		{"generate-threads-100000", []string{"generate", "90009", "-n", "2", "--threads", "100000"}, []string{"--threads 100000 is out of range"}},
		{"grid-cols-negative", []string{"grid", "90009", "-n", "4", "--cols", "-4"}, []string{"--cols -4 is out of range", "0 to 1024"}},
		{"grid-cols-huge", []string{"grid", "90009", "-n", "4", "--cols", "1000000"}, []string{"--cols 1000000 is out of range"}},
		{"grid-n-zero", []string{"grid", "90009", "-n", "0"}, []string{"-n 0 is out of range", "1 to 1024"}},
		{"grid-threads-negative", []string{"grid", "90009", "--threads", "-1"}, []string{"--threads -1 is out of range"}},
		{"interpolate-steps-1", []string{"interpolate", "90009", "--steps", "1"}, []string{"--steps 1 is out of range", "2 to 256"}},
		{"interpolate-steps-huge", []string{"interpolate", "90009", "--steps", "1000000000"}, []string{"--steps 1000000000 is out of range"}},
		{"evaluate-threads-negative", []string{"evaluate", "a", "b", "--threads", "-3"}, []string{"--threads -3 is out of range"}},
		{"evaluate-batch-size-zero", []string{"evaluate", "a", "b", "--batch-size", "0"}, []string{"--batch-size 0 is out of range", "1 to 4096"}},
		{"bench-threads-100000", []string{"bench", "90009", "--threads", "100000"}, []string{"--threads 100000 is out of range"}},
		{"bench-batch-size-maxint", []string{"bench", "90009", "--batch-size", "9223372036854775807"}, []string{"--batch-size 9223372036854775807 is out of range"}},
		{"import-threads-negative", []string{"import", "00001", "--threads", "-2"}, []string{"--threads -2 is out of range"}},
		{"import-timeout-negative", []string{"import", "00001", "--timeout", "-5s"}, []string{"--timeout -5s must be positive"}},
		{"import-memory-zero", []string{"import", "00001", "--memory-mb", "0"}, []string{"--memory-mb 0 is out of range"}},
		{"search-generate-threads", []string{"search", "chest", "--generate", "1", "--threads", "100000"}, []string{"--threads 100000 is out of range"}},
		{"search-batch-size-maxint", []string{"search", "chest", "--generate", "1", "--batch-size", "9223372036854775807"}, []string{"--batch-size 9223372036854775807 is out of range"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			args := append(append([]string(nil), tc.args...), "-o", filepath.Join(work, "out"))
			if tc.args[0] == "grid" || tc.args[0] == "interpolate" {
				args[len(args)-1] = filepath.Join(work, "out.png")
			}
			if tc.args[0] == "evaluate" || tc.args[0] == "import" || tc.args[0] == "bench" || tc.args[0] == "search" {
				args = tc.args // no -o
			}
			before := treeState(t, work)
			wantFail(t, zoo(t, env, args...), 2, tc.want...)
			unchanged(t, before, work)
		})
	}
}

// dicomFile encodes an 8×8 gray image as zoo's own DICOM writer does, then
// applies patch to the bytes.
func dicomFile(t *testing.T, patch func([]byte) []byte) []byte {
	t.Helper()
	img := output.Image{Channels: 1, Height: 8, Width: 8, Range: [2]float64{0, 1}, Data: make([]float32, 64)}
	var b bytes.Buffer
	if err := output.Formats["dicom"].Encode(&b, img, output.Provenance{Synthetic: true, Model: "m", Generator: "test"}); err != nil {
		t.Fatal(err)
	}
	return patch(b.Bytes())
}

// i2iHostileCatalog is a catalog with one image-to-image model
// (translate.pt, 1×8×8 in [0, 1]): what hostile input files are fed to.
func i2iHostileCatalog(t *testing.T) string {
	return moduleCatalog(t, "translate.pt", sigInput("image", "image", 1, 8, 8, 0, 1)+sigOutput("image", "image", 1, 8, 8, 0, 1))
}

func TestHostileInput(t *testing.T) {
	cat := i2iHostileCatalog(t)
	// translate.pt is image-to-image: the catalog says so.
	text, _ := os.ReadFile(cat)
	os.WriteFile(cat, bytes.Replace(text, []byte(`function = "noise-to-image"`), []byte(`function = "image-to-image"`), 1), 0o644)
	env := []string{"ZOO_CATALOG=" + cat}

	good := func(t *testing.T, dir, name string) {
		var b bytes.Buffer
		png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)))
		os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
	}
	for _, tc := range []struct {
		name, file string
		data       func(t *testing.T) []byte
		want       []string
	}{
		{"png-header-1e6x1e6", "big.png", func(*testing.T) []byte { return testfiles.PNGHeader(1000000, 1000000) },
			[]string{"big.png", "PNG header declares 1000000×1000000 pixels", "64 Mi values"}},
		{"png-header-1x100000000", "long.png", func(*testing.T) []byte { return testfiles.PNGHeader(1, 100000000) },
			[]string{"long.png", "PNG header declares 1×100000000"}},
		{"png-header-zero", "zero.png", func(*testing.T) []byte { return testfiles.PNGHeader(0, 0) },
			[]string{"zero.png", "not a readable PNG"}},
		{"png-empty-file", "empty.png", func(*testing.T) []byte { return nil },
			[]string{"empty.png", "not a readable PNG"}},
		{"png-truncated-data", "cut.png", func(*testing.T) []byte { return testfiles.PNGHeader(8, 8) },
			[]string{"cut.png", "not a readable PNG"}},
		{"jpeg-header-65535x65535", "big.jpg", func(t *testing.T) []byte { return testfiles.JPEGHeader(t, 65535, 65535) },
			[]string{"big.jpg", "JPEG header declares 65535×65535 pixels"}},
		{"npy-shape-2pow31-squared", "big.npy", func(*testing.T) []byte { return testfiles.NPY("2147483648, 2147483648", make([]byte, 16)) },
			[]string{"big.npy", "NPY data is truncated", "header lies"}},
		{"npy-shape-overflows-int64", "wrap.npy", func(*testing.T) []byte { return testfiles.NPY("4, 4611686018427387904", make([]byte, 16)) },
			[]string{"wrap.npy", "NPY data is truncated"}},
		{"npy-shape-negative", "neg.npy", func(*testing.T) []byte { return testfiles.NPY("-8, 8", make([]byte, 16)) },
			[]string{"neg.npy", "bad NPY shape"}},
		{"dicom-rows-columns-65535", "big.dcm", func(t *testing.T) []byte {
			return dicomFile(t, func(d []byte) []byte {
				return testfiles.SetUS(t, testfiles.SetUS(t, d, 0x28, 0x10, 65535), 0x28, 0x11, 65535)
			})
		}, []string{"big.dcm", "DICOM header declares 65535×65535 pixels"}},
		{"dicom-rows-beyond-file", "long.dcm", func(t *testing.T) []byte {
			return dicomFile(t, func(d []byte) []byte { return testfiles.SetUS(t, d, 0x28, 0x10, 4096) })
		}, []string{"long.dcm", "more bytes than the", "header lies"}},
		{"dicom-rescale-slope-nan", "nan.dcm", func(t *testing.T) []byte {
			return dicomFile(t, func(d []byte) []byte { return testfiles.SetDS(t, d, 0x28, 0x1053, "NaN") })
		}, []string{"nan.dcm", "RescaleSlope (0028,1053) is NaN", "fix or remove it"}},
		{"dicom-rescale-slope-inf", "inf.dcm", func(t *testing.T) []byte {
			return dicomFile(t, func(d []byte) []byte { return testfiles.SetDS(t, d, 0x28, 0x1053, "Inf") })
		}, []string{"inf.dcm", "RescaleSlope (0028,1053) is +Inf"}},
		{"dicom-rescale-slope-zero", "zero.dcm", func(t *testing.T) []byte {
			return dicomFile(t, func(d []byte) []byte { return testfiles.SetDS(t, d, 0x28, 0x1053, "0") })
		}, []string{"zero.dcm", "RescaleSlope (0028,1053) is 0", "non-zero"}},
		{"dicom-rescale-intercept-nan", "icpt.dcm", func(t *testing.T) []byte {
			return dicomFile(t, func(d []byte) []byte { return testfiles.SetDS(t, d, 0x28, 0x1052, "NaN") })
		}, []string{"icpt.dcm", "RescaleIntercept (0028,1052) is NaN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			in := filepath.Join(work, "in")
			os.Mkdir(in, 0o755)
			good(t, in, "a.png")
			os.WriteFile(filepath.Join(in, tc.file), tc.data(t), 0o644)
			before := treeState(t, in)
			// Bad input files are usage errors, like a wrong-sized one.
			wantFail(t, zoo(t, env, "generate", "90009", "--input", in, "-o", filepath.Join(work, "out")), 2, tc.want...)
			unchanged(t, before, in)
		})
	}

	t.Run("fifo-named-png-in-input-dir", func(t *testing.T) {
		work := t.TempDir()
		in := filepath.Join(work, "in")
		os.Mkdir(in, 0o755)
		good(t, in, "a.png")
		mkfifoOrSkip(t, filepath.Join(in, "f.png"))
		before := treeState(t, in)
		wantFail(t, zoo(t, env, "generate", "90009", "--input", in, "-o", filepath.Join(work, "out")), 2, "f.png is a FIFO (named pipe), not a regular file", "remove it")
		unchanged(t, before, in)
	})
	t.Run("fifo-as-input-file", func(t *testing.T) {
		work := t.TempDir()
		fifo := filepath.Join(work, "f.png")
		mkfifoOrSkip(t, fifo)
		before := treeState(t, work)
		wantFail(t, zoo(t, env, "generate", "90009", "--input", fifo, "-o", filepath.Join(work, "out")), 2, "f.png is a FIFO")
		unchanged(t, before, work)
	})
	// Decided: a symbolic link to a regular file is read like the file,
	// wherever it points (reading follows links; only writes must not).
	t.Run("symlink-to-image-accepted", func(t *testing.T) {
		work := t.TempDir()
		elsewhere := filepath.Join(work, "elsewhere")
		in := filepath.Join(work, "in")
		os.Mkdir(elsewhere, 0o755)
		os.Mkdir(in, 0o755)
		good(t, elsewhere, "real.png")
		os.Symlink(filepath.Join(elsewhere, "real.png"), filepath.Join(in, "link.png"))
		before := treeState(t, in, elsewhere)
		mustOK(t, zoo(t, env, "generate", "90009", "--input", in, "-o", filepath.Join(work, "out")))
		unchanged(t, before, in, elsewhere)
		if _, err := os.Stat(filepath.Join(work, "out", "link.png")); err != nil {
			t.Fatalf("no output for the linked input: %v", err)
		}
	})
	t.Run("symlink-to-fifo-refused", func(t *testing.T) {
		work := t.TempDir()
		in := filepath.Join(work, "in")
		os.Mkdir(in, 0o755)
		good(t, in, "a.png")
		mkfifoOrSkip(t, filepath.Join(work, "pipe"))
		os.Symlink(filepath.Join(work, "pipe"), filepath.Join(in, "b.png"))
		before := treeState(t, work)
		wantFail(t, zoo(t, env, "generate", "90009", "--input", in, "-o", filepath.Join(work, "out")), 2, "b.png is a FIFO")
		unchanged(t, before, work)
	})
}

// TestHostileEvaluateInput feeds the same lying headers to zoo evaluate's
// folder reader, with and without --skip-unreadable.
func TestHostileEvaluateInput(t *testing.T) {
	ex := resnetExtractor(t)
	work := t.TempDir()
	env := []string{"ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real := filepath.Join(work, "real")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "3", "-o", real, "-q"))
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"evaluate-png-header-1e6x1e6", "big.png", testfiles.PNGHeader(1000000, 1000000), "PNG header declares 1000000×1000000"},
		{"evaluate-npy-shape-2pow31-squared", "big.npy", testfiles.NPY("2147483648, 2147483648", make([]byte, 16)), "NPY data is truncated"},
		{"evaluate-fifo-named-png", "f.png", nil, "FIFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(real, tc.file)
			if tc.data == nil {
				mkfifoOrSkip(t, p)
			} else {
				os.WriteFile(p, tc.data, 0o644)
			}
			defer os.Remove(p)
			before := treeState(t, real)
			wantFail(t, zoo(t, env, "evaluate", real, "101", "-n", "3", "--features", ex, "--metrics", "kid"), 1, tc.file, tc.want)
			r := mustOK(t, zoo(t, env, "evaluate", real, "101", "-n", "3", "--features", ex, "--skip-unreadable", "--metrics", "kid"))
			if !strings.Contains(r.stdout, "skipped "+tc.file) {
				t.Errorf("skip not reported:\n%s", r.stdout)
			}
			unchanged(t, before, real)
		})
	}
}

// TestHostileExtractorSpec: a user's feature-extractor spec (FILE.toml
// beside FILE.pt) goes through the same TOML limits as catalogs.
func TestHostileExtractorSpec(t *testing.T) {
	work := t.TempDir()
	env := []string{"ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real := filepath.Join(work, "real")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "2", "-o", real, "-q"))
	specs := filepath.Join(work, "specs")
	os.Mkdir(specs, 0o755)
	ex := filepath.Join(specs, "ex.pt")
	mod, _ := os.ReadFile(testmodules.Path(t, "tiny_generator.pt"))
	os.WriteFile(ex, mod, 0o644)
	os.WriteFile(filepath.Join(specs, "ex.toml"), []byte("name = "+strings.Repeat("[", 50000)+strings.Repeat("]", 50000)+"\n"), 0o644)
	before := treeState(t, real, specs)
	wantFail(t, zoo(t, env, "evaluate", real, real, "--features", ex), 2, "ex.toml", "line 1: values are nested more than 32 deep")
	unchanged(t, before, real, specs)
}

// TestHostileModel runs model files that are not TorchScript, and modules
// whose outputs have the wrong type or size.
func TestHostileModel(t *testing.T) {
	for _, tc := range []struct {
		name, module, sig string
		code              int
		want              []string
	}{
		{"state-dict", "state_dict.pt", tinySignature, 1, []string{"state_dict.pt", "is a PyTorch state dict", "not a TorchScript module", "zoo import", "scripts/export_generator.py"}},
		{"pickled-module", "pickled_module.pt", tinySignature, 1, []string{"pickled_module.pt", "is a pickled Python object (torch.save(model))", "scripts/export_generator.py"}},
		{"truncated", "truncated.pt", tinySignature, 1, []string{"truncated.pt", "is truncated or corrupt", "again"}},
		{"garbage", "garbage.pt", tinySignature, 1, []string{"garbage.pt", "is not a TorchScript module (not a zip archive"}},
		{"empty", "empty.pt", tinySignature, 1, []string{"empty.pt", "is empty (0 bytes)"}},
		{"int64-output-as-image", "int64_out.pt", tinySignature, 1, []string{`output "image"`, "integer (int64) values", `kind = "mask" or "label"`}},
		{"bool-output-as-image", "bool_out.pt", tinySignature, 1, []string{`output "image"`, "bool values", `kind = "mask" or "label"`}},
		{"complex-output", "complex_out.pt", tinySignature, 1, []string{`output "image"`, "complex values (ComplexFloat)", "x.abs() or x.real"}},
		{"complex-output-as-mask", "complex_out.pt", strings.Replace(tinySignature, `kind = "image"`, `kind = "mask"`, 1), 1, []string{"complex values"}},
		// One sample per block: the module itself allocates 64 MiB per sample.
		{"huge-output-shape", "huge_out.pt", "batch = 1\n" + tinySignature, 1, []string{`output "image" has shape [1 1 4096 4096]`, "declares [1 1 4 4]"}},
		{"int64-output-as-label", "int64_out.pt", strings.Replace(tinySignature, `kind = "image"`, `kind = "label"`, 1), 0, nil},
		{"bool-output-as-mask", "bool_out.pt", strings.Replace(tinySignature, `kind = "image"`, `kind = "mask"`, 1), 0, nil},
		{"half-output-converted", "half_out.pt", tinySignature, 0, nil},
		{"double-output-converted", "double_out.pt", tinySignature, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat := moduleCatalog(t, tc.module, tc.sig)
			mod := testmodules.Path(t, tc.module)
			before := treeState(t, filepath.Dir(cat), mod)
			out := filepath.Join(t.TempDir(), "out")
			r := zoo(t, []string{"ZOO_CATALOG=" + cat}, "generate", "90009", "-n", "2", "-o", out)
			if tc.code == 0 {
				mustOK(t, r)
				if _, err := os.Stat(filepath.Join(out, "00001.png")); err != nil {
					t.Fatalf("no second sample: %v", err)
				}
			} else {
				wantFail(t, r, tc.code, tc.want...)
			}
			unchanged(t, before, filepath.Dir(cat), mod)
		})
	}
}
