package main_test

// End-to-end tests of generation from given inputs: image-to-image
// generation (--input, output names that follow the inputs, multi-output
// files, manifest inputs, resume and usage errors) and --latents files.

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

	"medzoo/internal/testfiles"
	"medzoo/internal/testmodules"
	catalog "medzoo/zoo"
)

// i2iCatalog writes a user catalog with two image-to-image fixture models:
// 90011 (translate.pt: 1 - x) and 90012 (image_mask.pt: image, mask, label).
func i2iCatalog(t *testing.T) string {
	t.Helper()
	out := func(name, kind string, hi float64) string { return sigOutput(name, kind, 1, 8, 8, 0, hi) }
	model := func(id, file string, outputs ...string) catalogEntry {
		p := testmodules.Path(t, file)
		return catalogEntry{id: id, title: "test", function: "image-to-image", url: p, sha256: sha256File(t, p),
			signature: "batch = 4\n" + sigInput("image", "image", 1, 8, 8, 0, 1) + strings.Join(outputs, "")}
	}
	return writeCatalog(t, model("90011_TRANSLATE_TEST", "translate.pt", out("image", "image", 1)),
		model("90012_IMAGE_MASK_TEST", "image_mask.pt", out("image", "image", 1), out("mask", "mask", 1), out("label", "label", 2)))
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
	var b bytes.Buffer
	for i := 0; i < 64; i++ {
		binary.Write(&b, binary.LittleEndian, float32(i)/63)
	}
	os.WriteFile(filepath.Join(dir, "c.npy"), testfiles.NPY("8, 8", b.Bytes()), 0o644)
	return dir
}

// readGray reads an 8-bit gray PNG's pixels.
func readGray(t *testing.T, path string) []uint8 {
	t.Helper()
	im := readPNG(t, path)
	g, ok := im.(*image.Gray)
	if !ok {
		t.Fatalf("%s decodes as %T, want 8-bit gray", path, im)
	}
	return g.Pix
}

func TestImageToImage(t *testing.T) {
	env := []string{"ZOO_CATALOG=" + i2iCatalog(t)}
	in := inputs(t)
	out := filepath.Join(t.TempDir(), "out")
	mustOK(t, zoo(t, env, "generate", "90011", "--input", in, "-o", out, "-q"))
	recs := readManifest(t, out)
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
	recs := readManifest(t, out)
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

// A --latents file holds exactly the samples asked for, even when that is
// less than a compute block: the rows the block pads with are computed and
// thrown away, never read from the file (this used to panic).
func TestLatentsShorterThanBlock(t *testing.T) {
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := cat.Resolve("101")
	if err != nil {
		t.Fatal(err)
	}
	per := int64(1)
	for _, d := range m.Signature.Latent {
		per *= d
	}
	dir := t.TempDir()
	latents := func(name string, rows int) string {
		var b bytes.Buffer
		for i := range rows * int(per) {
			binary.Write(&b, binary.LittleEndian, float32(math.Sin(float64(i))))
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, testfiles.NPY(fmt.Sprintf("%d, %d", rows, per), b.Bytes()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short, long := filepath.Join(dir, "short"), filepath.Join(dir, "long")
	mustOK(t, zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "101", "-n", "4", "--latents", latents("4.npy", 4), "-o", short))
	mustOK(t, zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "101", "-n", "20", "--latents", latents("20.npy", 20), "-o", long))
	for i := range 4 {
		name := fmt.Sprintf("%05d.png", i)
		// The provenance names the latents file, whose digest differs: compare the pixels.
		if !bytes.Equal(readGray(t, filepath.Join(short, name)), readGray(t, filepath.Join(long, name))) {
			t.Errorf("sample %d differs between a 4-row and a 20-row latents file with the same row", i)
		}
	}
	// More samples than rows is refused, not padded.
	r := zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "101", "-n", "5", "--latents", filepath.Join(dir, "4.npy"), "-o", filepath.Join(dir, "x"))
	if r.code == 0 {
		t.Errorf("-n 5 with a 4-row latents file: exit 0\n%s", r.stderr)
	}
}
