package main_test

// End-to-end tests of image-to-image generation: --input, output names that
// follow the inputs, multi-output files, manifest inputs, resume and usage
// errors.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/internal/testmodules"
	"medzoo/output"
)

// i2iCatalog writes a user catalog with two image-to-image fixture models:
// 90011 (translate.pt: 1 - x) and 90012 (image_mask.pt: image, mask, label).
func i2iCatalog(t *testing.T) string {
	t.Helper()
	input := `[model.signature.input]
name = "image"
kind = "image"
channels = 1
height = 8
width = 8
range = [0.0, 1.0]
`
	out := func(name, kind string, hi float64) string {
		return fmt.Sprintf("[[model.signature.outputs]]\nname = %q\nkind = %q\nchannels = 1\nheight = 8\nwidth = 8\nrange = [0.0, %.1f]\n", name, kind, hi)
	}
	model := func(id, file string, outputs ...string) string {
		p := testmodules.Path(t, file)
		return fmt.Sprintf(`[[model]]
id = %q
title = "test"
version = "0.0.1"
function = "image-to-image"
[model.artifact]
url = %q
sha256 = %q
format = "torchscript"
[model.signature]
batch = 4
%s%s`, id, p, sha256File(t, p), input, strings.Join(outputs, ""))
	}
	cat := "schema = 1\n" + model("90011_TRANSLATE_TEST", "translate.pt", out("image", "image", 1)) +
		model("90012_IMAGE_MASK_TEST", "image_mask.pt", out("image", "image", 1), out("mask", "mask", 1), out("label", "label", 2))
	p := filepath.Join(t.TempDir(), "i2i.toml")
	if err := os.WriteFile(p, []byte(cat), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeGray(t *testing.T, path string, w, h, seed int) {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = uint8((seed*53 + i*13) % 256)
	}
	var b bytes.Buffer
	png.Encode(&b, g)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// inputs writes a.png, b.png and c.npy (8x8, one channel) into a new directory.
func inputs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeGray(t, filepath.Join(dir, "a.png"), 8, 8, 1)
	writeGray(t, filepath.Join(dir, "b.png"), 8, 8, 2)
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 8), }"
	header += strings.Repeat(" ", 64-(10+len(header)+1)%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	for i := 0; i < 64; i++ {
		binary.Write(&b, binary.LittleEndian, math.Float32bits(float32(i)/63))
	}
	os.WriteFile(filepath.Join(dir, "c.npy"), b.Bytes(), 0o644)
	return dir
}

func readGray(t *testing.T, path string) []uint8 {
	t.Helper()
	return readPNG(t, path).(*image.Gray).Pix
}

func TestImageToImage(t *testing.T) {
	env := []string{"ZOO_CATALOG=" + i2iCatalog(t)}
	in := inputs(t)
	out := filepath.Join(t.TempDir(), "out")
	mustOK(t, zoo(t, env, "generate", "90011", "--input", in, "-o", out, "-q"))
	recs, err := output.ReadManifest(filepath.Join(out, output.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d samples, want one per input (3)", len(recs))
	}
	for i, want := range []string{"a", "b", "c"} {
		if recs[i].Input != want+map[bool]string{true: ".npy", false: ".png"}[want == "c"] || recs[i].Files["image"] != want+".png" {
			t.Fatalf("record %d: %+v", i, recs[i])
		}
	}
	// 1 - x on [0, 1]: 8-bit pixels come back as 255 - p.
	src, got := readGray(t, filepath.Join(in, "a.png")), readGray(t, filepath.Join(out, "a.png"))
	for i := range src {
		if int(got[i]) != 255-int(src[i]) {
			t.Fatalf("pixel %d: %d from input %d", i, got[i], src[i])
		}
	}
	// Same inputs, same bytes; a resumed run ends the same too.
	again := filepath.Join(t.TempDir(), "again")
	mustOK(t, zoo(t, env, "generate", "90011", "--input", in, "-o", again, "--batch-size", "8", "-q"))
	sameDirs(t, out, again)
	part := filepath.Join(t.TempDir(), "part")
	mustOK(t, zoo(t, env, "generate", "90011", "--input", in, "-o", part, "-n", "2", "-q"))
	if _, err := os.Stat(filepath.Join(part, "c.png")); err == nil {
		t.Fatal("-n 2 wrote the third input's output")
	}
	r := mustOK(t, zoo(t, env, "generate", "90011", "--input", in, "-o", part, "--resume", "--json"))
	if !strings.Contains(r.stdout, `"resumed_from": 2`) {
		t.Fatalf("resume: %s", r.stdout)
	}
	sameDirs(t, out, part)
	// Other input files: resume refused.
	writeGray(t, filepath.Join(in, "d.png"), 8, 8, 4)
	wantFail(t, zoo(t, env, "generate", "90011", "--input", in, "-o", part, "--resume"), 1, "input files changed")

	// One file as --input.
	single := filepath.Join(t.TempDir(), "single")
	mustOK(t, zoo(t, env, "generate", "90011", "--input", filepath.Join(in, "b.png"), "-o", single, "-q"))
	// (The provenance text differs: the sample index is 0 here.)
	if !bytes.Equal(readGray(t, filepath.Join(single, "b.png")), readGray(t, filepath.Join(out, "b.png"))) {
		t.Fatal("a single-file input gave other pixels")
	}
}

func TestImageAndMask(t *testing.T) {
	env := []string{"ZOO_CATALOG=" + i2iCatalog(t)}
	in := inputs(t)
	out := filepath.Join(t.TempDir(), "out")
	mustOK(t, zoo(t, env, "generate", "90012", "--input", in, "-o", out, "-q"))
	recs, err := output.ReadManifest(filepath.Join(out, output.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[1].Input != "b.png" || recs[1].Files["mask"] != "b_mask.png" || recs[1].Files["label"] != "b_label.png" || recs[1].Files["image"] != "b_image.png" {
		t.Fatalf("records %+v", recs)
	}
	src := readGray(t, filepath.Join(in, "b.png"))
	mask, label := readGray(t, filepath.Join(out, "b_mask.png")), readGray(t, filepath.Join(out, "b_label.png"))
	for i, p := range src {
		x := float64(p) / 255
		wantMask, wantLabel := uint8(0), uint8(min(math.Floor(x*3), 2))
		if x > 0.5 {
			wantMask = 255
		}
		if mask[i] != wantMask || label[i] != wantLabel {
			t.Fatalf("pixel %d (input %d): mask %d label %d, want %d and %d", i, p, mask[i], label[i], wantMask, wantLabel)
		}
	}
}

func TestImageToImageUsageErrors(t *testing.T) {
	env := []string{"ZOO_CATALOG=" + i2iCatalog(t)}
	in := inputs(t)
	wantFail(t, zoo(t, env, "generate", "90011", "-o", t.TempDir()), 2, "image-to-image", "--input")
	wantFail(t, zoo(t, env, "generate", "90011", "--input", in, "-n", "5", "-o", t.TempDir()), 2, "-n 5", "(3)")
	wantFail(t, zoo(t, env, "generate", "101", "--input", in, "-o", t.TempDir()), 2, "takes no --input")
	wantFail(t, zoo(t, env, "generate", "90011", "--input", t.TempDir(), "-o", t.TempDir()), 2, "no input images")
	writeGray(t, filepath.Join(in, "big.png"), 16, 16, 3)
	wantFail(t, zoo(t, env, "generate", "90011", "--input", in, "-o", t.TempDir()), 2, "big.png", "16x16 with 1 channel", "expects 8x8", "resize")
	os.Remove(filepath.Join(in, "big.png"))
	writeGray(t, filepath.Join(in, "a.npy"), 1, 1, 0) // same stem as a.png
	wantFail(t, zoo(t, env, "generate", "90011", "--input", in, "-o", t.TempDir()), 2, "a.npy", "a.png", "same name")
}
