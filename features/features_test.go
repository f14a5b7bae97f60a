package features

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/imagein"
	"medzoo/internal/testfiles"
	"medzoo/internal/testmodules"
)

// writeNPY writes float32 values of the given shape (little-endian, C order).
func writeNPY(t *testing.T, path string, shape []int, data []float32) {
	t.Helper()
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = fmt.Sprint(s)
	}
	var values bytes.Buffer
	binary.Write(&values, binary.LittleEndian, data)
	if err := os.WriteFile(path, testfiles.NPY(strings.Join(dims, ", ")+",", values.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testmodules.Python, append([]string{"-c", script}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// The Go resize equals torch.nn.functional.interpolate(bilinear,
// antialias=True, align_corners=False), shrinking and enlarging.
func TestResizeMatchesTorch(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	h, w := 37, 53
	src := make([]float32, h*w)
	for i := range src {
		src[i] = rng.Float32()
	}
	writeNPY(t, filepath.Join(dir, "src.npy"), []int{h, w}, src)
	for _, size := range [][2]int{{299, 299}, {16, 21}, {37, 20}, {100, 7}} {
		got := resize(src, h, w, size[0], size[1], "bilinear")
		out := filepath.Join(dir, fmt.Sprintf("ref_%dx%d.npy", size[0], size[1]))
		python(t, `
import sys, numpy as np, torch, torch.nn.functional as F
x = torch.from_numpy(np.load(sys.argv[1]))[None, None]
y = F.interpolate(x, size=(int(sys.argv[3]), int(sys.argv[4])), mode="bilinear", align_corners=False, antialias=True)
np.save(sys.argv[2], y[0, 0].numpy().astype(np.float32))
`, filepath.Join(dir, "src.npy"), out, fmt.Sprint(size[0]), fmt.Sprint(size[1]))
		ref, _, err := imagein.ReadUnits(out)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-ref.Data[i])))
		}
		if len(got) != len(ref.Data) || worst > 1e-5 {
			t.Errorf("%dx%d: %d values vs %d, max |diff| %g", size[0], size[1], len(got), len(ref.Data), worst)
		}
	}
}

func testSpec() Spec {
	s := Spec{Name: "t", InputSize: [2]int{4, 4}, Resize: "none", Range: [2]float64{0, 255}, Std: [3]float64{1, 2, 4},
		Mean: [3]float64{10, 20, 30}, Channels: "BGR", Dim: 3}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return s
}

func TestPrepNormalizations(t *testing.T) {
	img := imagein.Image{Channels: 1, Height: 4, Width: 4, Data: make([]float32, 16), Kind: "test"}
	for i := range img.Data {
		img.Data[i] = float32(1000 * i) // e.g. 16-bit values
	}
	dst := make([]float32, 48)
	sixteen := imagein.Units{Lo: 0, Hi: 65535, Known: true}
	cases := []struct {
		norm string
		u    imagein.Units
		want func(v float64) float64 // [0,1] value of a stored value
	}{
		{"none", sixteen, func(v float64) float64 { return v / 65535 }}, // no 8-bit rounding
		{"minmax", sixteen, func(v float64) float64 { return v / 15000 }},
		{"window:5000,4000", sixteen, func(v float64) float64 { return min(max((v-3000)/4000, 0), 1) }},
	}
	for _, c := range cases {
		n, err := ParseNormalization(c.norm)
		if err != nil {
			t.Fatal(err)
		}
		p := Prep{Spec: testSpec(), Normalize: n}
		if err := p.Apply(img, c.u, dst); err != nil {
			t.Fatal(err)
		}
		for ch := 0; ch < 3; ch++ { // gray repeated onto every channel
			for i := 0; i < 16; i++ {
				want := (255*c.want(float64(img.Data[i])) - p.Spec.Mean[ch]) / p.Spec.Std[ch]
				if got := float64(dst[ch*16+i]); math.Abs(got-want) > 1e-3 {
					t.Fatalf("%s: channel %d pixel %d = %g, want %g", c.norm, ch, i, got, want)
				}
			}
		}
	}
	// RGB in, BGR out: network channel 0 takes the blue plane.
	rgb := imagein.Image{Channels: 3, Height: 4, Width: 4, Data: make([]float32, 48), Kind: "rgb"}
	for i := range rgb.Data {
		rgb.Data[i] = float32(i / 16 * 100) // plane c holds 100·c
	}
	p := Prep{Spec: testSpec(), Normalize: Normalization{Mode: "none"}}
	if err := p.Apply(rgb, imagein.Units{Lo: 0, Hi: 255, Known: true}, dst); err != nil {
		t.Fatal(err)
	}
	if dst[0] != (200-10)/1 || dst[16] != (100-20)/2 || dst[32] != (0-30)/4.0 {
		t.Errorf("BGR order: %v %v %v", dst[0], dst[16], dst[32])
	}
	// NPY has no natural range; a wrong size without resize is refused.
	err := p.Apply(img, imagein.Units{}, dst)
	if err == nil || !strings.Contains(err.Error(), "--normalize") {
		t.Errorf("NPY without --normalize: %v", err)
	}
	big := imagein.Image{Channels: 1, Height: 5, Width: 4, Data: make([]float32, 20), Kind: "x"}
	if err := p.Apply(big, sixteen, dst); err == nil || !strings.Contains(err.Error(), "--resize") {
		t.Errorf("wrong size with resize none: %v", err)
	}
	nan := imagein.Image{Channels: 1, Height: 4, Width: 4, Data: make([]float32, 16), Kind: "float32 NPY"}
	nan.Data[5] = float32(math.NaN())
	if err := p.Apply(nan, sixteen, dst); err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("NaN pixel: %v", err)
	}
	for _, bad := range []string{"window:1", "window:a,b", "window:0,-3", "zscore"} {
		if _, err := ParseNormalization(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBuiltinAndUserSpecs(t *testing.T) {
	specs, err := Builtin()
	if err != nil || len(specs) < 2 {
		t.Fatalf("%v %v", specs, err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "x.toml")
	os.WriteFile(p, []byte("name = \"x\"\ninput_size = [8, 8]\ndim = 4\nchanels = \"RGB\"\n"), 0o644)
	if _, err := LoadSpec(p); err == nil || !strings.Contains(err.Error(), "chanels") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := LoadSpec(filepath.Join(dir, "none.toml")); err == nil || !strings.Contains(err.Error(), "input_size") {
		t.Errorf("missing spec should show an example: %v", err)
	}
	os.WriteFile(p, []byte("name = \"x\"\ninput_size = [8, 0]\ndim = 0\nchannels = \"RGBA\"\n"), 0o644)
	_, err = LoadSpec(p)
	for _, want := range []string{"input_size", "dim", "channels"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad spec: %v lacks %s", err, want)
		}
	}
}

// pngSource is a folder-like Source over in-memory files.
type fileSource []string

func (f fileSource) Len() int          { return len(f) }
func (f fileSource) Name(i int) string { return filepath.Base(f[i]) }
func (f fileSource) Image(i int) (imagein.Image, imagein.Units, error) {
	return imagein.ReadUnits(f[i])
}

func writePNG(t *testing.T, path string, w, h int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 9))
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray16(x, y, color.Gray16{Y: uint16(rng.IntN(65536))})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// Features from Go equal those of Python running the same TorchScript file
// on the same prepared pixels; the pipeline's order and batching do not
// change them; bad folders fail or are skipped as asked.
func TestExtractMatchesPython(t *testing.T) {
	exDir := testmodules.Extractors(t)
	dir := t.TempDir()
	var files []string
	for i := 0; i < 5; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%02d.png", i))
		writePNG(t, p, 48, 40, uint64(i))
		files = append(files, p)
	}
	for _, name := range []string{"radimagenet-resnet50-random", "inception-v3-random"} {
		t.Run(name, func(t *testing.T) {
			pt := filepath.Join(exDir, name+".pt")
			spec, err := LoadSpec(filepath.Join(exDir, name+".toml"))
			if err != nil {
				t.Fatal(err)
			}
			ex, err := Open(spec, pt, spec.SHA256, "cpu")
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			prep := Prep{Spec: spec, Normalize: Normalization{Mode: "none"}}
			var rows []float32
			var order []int
			_, err = ex.Extract(context.Background(), fileSource(files), prep, Options{Batch: 2}, func(idx []int, r []float32) error {
				order = append(order, idx...)
				rows = append(rows, r...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(order) != "[0 1 2 3 4]" || len(rows) != 5*spec.Dim {
				t.Fatalf("order %v, %d values", order, len(rows))
			}
			// The prepared pixels and Go's features, for Python.
			pix := make([]float32, 5*prep.InputLen())
			for i, f := range files {
				img, u, _ := imagein.ReadUnits(f)
				if err := prep.Apply(img, u, pix[i*prep.InputLen():(i+1)*prep.InputLen()]); err != nil {
					t.Fatal(err)
				}
			}
			writeNPY(t, filepath.Join(dir, "pix.npy"), []int{5, 3, spec.InputSize[0], spec.InputSize[1]}, pix)
			writeNPY(t, filepath.Join(dir, "go.npy"), []int{5, spec.Dim}, rows)
			args := "[]"
			if len(spec.ForwardArgs) > 0 {
				args = "[True]"
			}
			out := python(t, `
import sys, numpy as np, torch
m = torch.jit.load(sys.argv[1]).eval()
x = torch.from_numpy(np.load(sys.argv[2]))
with torch.inference_mode():
    ref = m(x, *`+args+`).numpy()
go = np.load(sys.argv[3])
print(float(np.abs(ref - go).max()), float(np.abs(ref).max()))
`, pt, filepath.Join(dir, "pix.npy"), filepath.Join(dir, "go.npy"))
			var diff, scale float64
			fmt.Sscan(out, &diff, &scale)
			t.Logf("max |Go − Python| %.3g over features up to %.3g (optimized %v)", diff, scale, ex.Optimized)
			if diff > 1e-4*math.Max(1, scale) || scale == 0 {
				t.Errorf("features differ from Python's: max |diff| %g (scale %g)", diff, scale)
			}
		})
	}

	// Bad folders: a mixed size is an error even with Skip; an unreadable
	// file is an error, or skipped and reported with Skip.
	spec, _ := LoadSpec(filepath.Join(exDir, "radimagenet-resnet50-random.toml"))
	ex, err := Open(spec, filepath.Join(exDir, "radimagenet-resnet50-random.pt"), "", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	prep := Prep{Spec: spec, Normalize: Normalization{Mode: "none"}}
	sink := func([]int, []float32) error { return nil }
	broken := filepath.Join(dir, "zz_broken.png")
	os.WriteFile(broken, []byte("not a png"), 0o644)
	withBroken := append(fileSource{}, append(files, broken)...)
	if _, err := ex.Extract(context.Background(), withBroken, prep, Options{Batch: 4}, sink); err == nil || !strings.Contains(err.Error(), "zz_broken.png") {
		t.Errorf("unreadable file: %v", err)
	}
	skipped, err := ex.Extract(context.Background(), withBroken, prep, Options{Batch: 4, Skip: true}, sink)
	if err != nil || len(skipped) != 1 || skipped[0].Name != "zz_broken.png" {
		t.Errorf("skip: %v %+v", err, skipped)
	}
	odd := filepath.Join(dir, "zz_odd.png")
	writePNG(t, odd, 30, 30, 99)
	_, err = ex.Extract(context.Background(), append(fileSource{}, append(files, odd)...), prep, Options{Batch: 4, Skip: true}, sink)
	if err == nil || !strings.Contains(err.Error(), "share a size") {
		t.Errorf("mixed sizes: %v", err)
	}
	// A spec that says the wrong dimension is caught at the first batch.
	wrong := spec
	wrong.Dim = 512
	ex2 := &Extractor{Spec: wrong, mod: ex.mod}
	if _, err := ex2.Extract(context.Background(), fileSource(files), prep, Options{}, sink); err == nil || !strings.Contains(err.Error(), "dim") {
		t.Errorf("wrong dim: %v", err)
	}
}
