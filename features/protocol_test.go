package features

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"medzoo/imagein"
	"medzoo/internal/testmodules"
)

// protocolScript is scripts/protocol_reference.py, the Python pipelines
// that reproduce each reference's preprocessing.
func protocolScript(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "scripts", "protocol_reference.py")
}

func runScript(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(testmodules.Python, append([]string{protocolScript(t)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protocol_reference.py %v: %v\n%s", args, err, out)
	}
}

func readNPY(t *testing.T, path string) []float64 {
	t.Helper()
	a, err := imagein.ReadNPYArray(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, a.Len())
	for i := range out {
		out[i] = a.Value(i)
	}
	return out
}

func maxDiff(t *testing.T, got []float32, want []float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	var worst float64
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
	}
	return worst
}

// Each resizer equals the library call it reproduces, shrinking (also by
// non-integer factors) and enlarging: Pillow's mode-F bicubic, torch's
// bilinear without antialiasing. TF1's bilinear is checked by hand: it
// exists in no library here.
func TestReferenceResizers(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	h, w := 37, 53
	src := make([]float32, h*w)
	for i := range src {
		src[i] = 255 * rng.Float32()
	}
	writeNPY(t, filepath.Join(dir, "src.npy"), []int{h, w}, src)
	for _, size := range [][2]int{{299, 299}, {16, 21}, {37, 20}, {100, 7}, {37, 53}} {
		oh, ow := size[0], size[1]
		out := filepath.Join(dir, "ref.npy")
		python(t, `
import sys, numpy as np, torch, torch.nn.functional as F
from PIL import Image
x = np.load(sys.argv[1]); h, w = int(sys.argv[3]), int(sys.argv[4])
pil = np.asarray(Image.fromarray(x, mode="F").resize((w, h), Image.BICUBIC))
tb = F.interpolate(torch.from_numpy(x / np.float32(255))[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
np.save(sys.argv[2], np.stack([pil, tb]).astype(np.float32))
`, filepath.Join(dir, "src.npy"), out, fmt.Sprint(oh), fmt.Sprint(ow))
		ref := readNPY(t, out)
		n := oh * ow
		// float32 results of float64 sums: equal to a float32 ulp at 255.
		if d := maxDiff(t, pilBicubic(src, h, w, oh, ow), ref[:n]); d > 1e-4 {
			t.Errorf("PIL bicubic %dx%d: max |diff| %g", oh, ow, d)
		}
		// On pytorch-fid's 0..1 scale; LibTorch's vectorized float32
		// kernel rounds the source coordinate in its own order, a few
		// 1e-6 apart.
		unit := make([]float32, len(src))
		for i, v := range src {
			unit[i] = v / 255
		}
		if d := maxDiff(t, torchBilinear(unit, h, w, oh, ow), ref[n:]); d > 1e-5 {
			t.Errorf("torch bilinear %dx%d: max |diff| %g", oh, ow, d)
		}
	}
	// TF1: output d samples input d·in/out, lerped, the last clamped.
	row := []float32{0, 10, 20, 40}
	if got := fmt.Sprint(tf1Bilinear(row, 1, 4, 1, 2)); got != "[0 20]" {
		t.Errorf("TF1 shrink 4→2: %s, want [0 20] (samples 0 and 2, no half-pixel offset)", got)
	}
	if got := fmt.Sprint(tf1Bilinear(row, 1, 4, 1, 8)); got != "[0 5 10 15 20 30 40 40]" {
		t.Errorf("TF1 enlarge 4→8: %s", got)
	}
	if got := fmt.Sprint(tf1Bilinear([]float32{0, 10, 20, 40}, 4, 1, 2, 1)); got != "[0 20]" {
		t.Errorf("TF1 vertical shrink: %s", got)
	}
}

// testPNGs writes, at w×h, each kind of PNG a reference reads differently
// through PIL: 8-bit gray, RGB, RGBA (transparent pixels included), 16-bit
// gray (values on both sides of 255), 16-bit RGB and a palette with
// transparent entries.
func testPNGs(t *testing.T, dir string, w, h int, seed uint64) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	r := image.Rect(0, 0, w, h)
	g8, rgb, rgba, g16, rgb16 := image.NewGray(r), image.NewRGBA(r), image.NewNRGBA(r), image.NewGray16(r), image.NewRGBA64(r)
	u8 := func() uint8 { return uint8(rng.IntN(256)) }
	// A palette with transparent entries (PNG tRNS): PIL's convert keeps
	// each entry's colour.
	palette := color.Palette{}
	for i := 0; i < 16; i++ {
		palette = append(palette, color.NRGBA{u8(), u8(), u8(), uint8(i * 17 % 256)})
	}
	pal := image.NewPaletted(r, palette)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g8.SetGray(x, y, color.Gray{Y: u8()})
			rgb.SetRGBA(x, y, color.RGBA{u8(), u8(), u8(), 255})
			rgba.SetNRGBA(x, y, color.NRGBA{u8(), u8(), u8(), uint8(rng.IntN(3) * 127)})
			g16.SetGray16(x, y, color.Gray16{Y: uint16(rng.IntN(1024))})
			rgb16.SetRGBA64(x, y, color.RGBA64{uint16(rng.IntN(65536)), uint16(rng.IntN(65536)), uint16(rng.IntN(65536)), 65535})
			pal.SetColorIndex(x, y, uint8(rng.IntN(16)))
		}
	}
	var paths []string
	for _, f := range []struct {
		name string
		img  image.Image
	}{{"a_gray8", g8}, {"b_rgb8", rgb}, {"c_rgba8", rgba}, {"d_gray16", g16}, {"e_rgb16", rgb16}, {"f_palette", pal}} {
		p := filepath.Join(dir, fmt.Sprintf("%s_%dx%d.png", f.name, w, h))
		fh, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(fh, f.img); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		paths = append(paths, p)
	}
	return paths
}

// Each reference protocol's prepared network input and features equal,
// within 1e-4, those of scripts/protocol_reference.py, which prepares the
// same files with Debian's PIL, numpy and torch as that reference's code
// does and runs the same TorchScript file; on files smaller than the
// network input (enlarged) and larger and non-square (shrunk). The 16-bit
// loss is counted and worded.
func TestReferenceProtocolsMatchPython(t *testing.T) {
	dir := t.TempDir()
	runScript(t, "--make-test-extractor", dir)
	pt := filepath.Join(dir, "tiny.pt")
	spec, err := LoadSpec(filepath.Join(dir, "tiny.toml"))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Open(spec, pt, "", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	groups := [][]string{testPNGs(t, dir, 23, 19, 1), testPNGs(t, dir, 71, 45, 2)}
	for _, proto := range Protocols[1:] {
		t.Run(string(proto), func(t *testing.T) {
			for _, files := range groups {
				loss := &Loss{}
				prep := Prep{Spec: spec, Normalize: Normalization{Mode: "none"}, Protocol: proto, Loss: loss}
				pix := make([]float32, len(files)*prep.InputLen())
				for i, f := range files {
					img, u, err := imagein.ReadUnits(f)
					if err != nil {
						t.Fatal(err)
					}
					if err := prep.Apply(img, u, pix[i*prep.InputLen():(i+1)*prep.InputLen()]); err != nil {
						t.Fatal(err)
					}
				}
				var feats []float32
				if _, err := ex.Extract(context.Background(), fileSource(files), prep, Options{Batch: 2}, func(_ []int, r []float32) error {
					feats = append(feats, r...)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				args := []string{"--protocol", string(proto), "--extractor", pt,
					"--pix", filepath.Join(dir, "pix.npy"), "--features", filepath.Join(dir, "feat.npy")}
				runScript(t, append(args, files...)...)
				wantPix, wantFeat := readNPY(t, filepath.Join(dir, "pix.npy")), readNPY(t, filepath.Join(dir, "feat.npy"))
				per := prep.InputLen()
				for i, f := range files {
					if d := maxDiff(t, pix[i*per:(i+1)*per], wantPix[i*per:(i+1)*per]); d > 1e-4 {
						t.Errorf("%s: prepared input differs from Python's by up to %g", filepath.Base(f), d)
					}
				}
				d := maxDiff(t, feats, wantFeat)
				t.Logf("%s %s: max |Go − Python| features %.3g", proto, filepath.Base(files[0]), d)
				if d > 1e-4 {
					t.Errorf("features differ from Python's by up to %g", d)
				}
				// Twice over the files: Apply above, Extract here.
				if loss.Gray16 != 2 || loss.RGB16 != 2 || loss.Saturated == 0 || loss.Saturated == loss.Pixels {
					t.Errorf("loss %+v: want 2 16-bit gray and 2 16-bit RGB images, some pixels saturated", loss)
				}
				w := strings.Join(loss.Warnings(proto), "\n")
				share := fmt.Sprintf("%.1f%%", 100*float64(loss.Saturated)/float64(loss.Pixels))
				for _, frag := range []string{"16-bit gray", "saturated " + share, "high byte", string(proto)} {
					if !strings.Contains(w, frag) {
						t.Errorf("warnings lack %q:\n%s", frag, w)
					}
				}
			}
		})
	}
}

// Images no reference reads (here an NPY array, as DICOM and generated
// images) are quantized as zoo's PNG encoder writes them: the same input
// as the 8-bit PNG of the same values; and zoo's own protocol keeps the
// cache line it had before protocols existed.
func TestReferenceQuantizesOtherInputs(t *testing.T) {
	spec := testSpec()
	spec.InputSize = [2]int{2, 2}
	vals := []float32{0, 0.2, 0.50196, 1.7}
	unit := imagein.Image{Channels: 1, Height: 2, Width: 2, Data: vals, Kind: "NPY <f4"}
	asPNG := imagein.Image{Channels: 1, Height: 2, Width: 2, Data: []float32{0, 51, 128, 255}, Kind: "8-bit gray PNG", Bits: 8}
	for _, proto := range Protocols[1:] {
		loss := &Loss{}
		p := Prep{Spec: spec, Normalize: Normalization{Mode: "window", Center: 0.5, Width: 1}, Protocol: proto, Loss: loss}
		a, b := make([]float32, 12), make([]float32, 12)
		if err := p.Apply(unit, imagein.Units{}, a); err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(asPNG, imagein.Units{Lo: 0, Hi: 255, Known: true}, b); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: NPY gives %v, its PNG %v", proto, a, b)
		}
		if w := loss.Warnings(proto); len(w) != 1 || !strings.Contains(w[0], "quantized to 8 bits") {
			t.Errorf("%s: warnings %q", proto, w)
		}
		jpeg := asPNG
		jpeg.Kind = "8-bit gray JPEG"
		jl := &Loss{}
		p.Loss = jl
		if err := p.Apply(jpeg, imagein.Units{Lo: 0, Hi: 255, Known: true}, b); err != nil {
			t.Fatal(err)
		}
		if w := jl.Warnings(proto); len(w) != 1 || !strings.Contains(w[0], "libjpeg") {
			t.Errorf("%s: JPEG warnings %q", proto, w)
		}
		if !strings.HasPrefix(p.Describe(), "protocol "+string(proto)+": ") {
			t.Errorf("describe: %s", p.Describe())
		}
	}
	zoo := Prep{Spec: spec, Normalize: Normalization{Mode: "none"}}
	if zoo.Describe() != (Prep{Spec: spec, Normalize: Normalization{Mode: "none"}, Protocol: ProtocolZoo}).Describe() ||
		zoo.Describe() != "normalize none; "+spec.Preprocessing() {
		t.Errorf("zoo's describe changed: %s", zoo.Describe())
	}
	if _, err := ParseProtocol("clean"); err == nil || !strings.Contains(err.Error(), "zoo, clean-fid, pytorch-fid, torch-fidelity") {
		t.Errorf("unknown protocol: %v", err)
	}
}
