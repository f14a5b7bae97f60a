package output

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var prov = Provenance{Synthetic: true, Model: "00101_TEST", Version: "1.0.0", SHA256: strings.Repeat("ab", 32),
	Seed: 7, Index: 3, Output: "image", Generator: "zoo test", Demo: true}

func gray(values ...float32) Image {
	return Image{Channels: 1, Height: 1, Width: len(values), Data: values, Range: [2]float64{-1, 1}}
}

func TestPNG8GrayQuantisationAndText(t *testing.T) {
	var buf bytes.Buffer
	if err := Formats["png"].Encode(&buf, gray(-1, 0, 1, -5, 5), prov); err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := im.(*image.Gray)
	if !ok {
		t.Fatalf("decoded %T, want *image.Gray", im)
	}
	// -1 -> 0, 0 -> 127.5 rounds to 128, 1 -> 255, outside values clip.
	if want := []uint8{0, 128, 255, 0, 255}; !bytes.Equal(g.Pix, want) {
		t.Fatalf("pixels %v, want %v", g.Pix, want)
	}
	text, err := ReadText(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text["Description"], "SYNTHETIC") || !strings.Contains(text["Description"], "demonstration") {
		t.Fatalf("Description %q", text["Description"])
	}
	var got Provenance
	if err := json.Unmarshal([]byte(text["medzoo.provenance"]), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Synthetic || got.Model != prov.Model || got.SHA256 != prov.SHA256 || got.Seed != 7 || got.Index != 3 {
		t.Fatalf("provenance %+v", got)
	}
}

func TestPNG16AndRGB(t *testing.T) {
	var buf bytes.Buffer
	if err := Formats["png16"].Encode(&buf, gray(-1, 0.5, 1), prov); err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	g16 := im.(*image.Gray16)
	if v := g16.Gray16At(1, 0).Y; v != 49151 { // 0.75 * 65535 = 49151.25
		t.Fatalf("16-bit value %d, want 49151", v)
	}
	rgb := Image{Channels: 3, Height: 1, Width: 2, Data: []float32{0, 1, 0.5, 0, 1, 0.25}, Range: [2]float64{0, 1}}
	buf.Reset()
	if err := Formats["png"].Encode(&buf, rgb, prov); err != nil {
		t.Fatal(err)
	}
	im, err = png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if c := color.NRGBAModel.Convert(im.At(1, 0)).(color.NRGBA); c != (color.NRGBA{255, 0, 64, 255}) {
		t.Fatalf("RGB pixel %v", c)
	}
	bad := Image{Channels: 2, Height: 1, Width: 1, Data: []float32{0, 0}, Range: [2]float64{0, 1}}
	if err := Formats["png"].Encode(&buf, bad, prov); err == nil || !strings.Contains(err.Error(), "npy") {
		t.Fatalf("2-channel PNG: %v", err)
	}
	if _, err := Lookup("jpeg"); err == nil || !strings.Contains(err.Error(), "png16") {
		t.Fatalf("unknown format: %v", err)
	}
}

// TestReadableByPython checks the files with the readers users have:
// NumPy for .npy and Pillow for PNG text chunks.
func TestReadableByPython(t *testing.T) {
	dir := t.TempDir()
	img := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{0.1, -0.2, 0.3, 1e-8, 2, -3}, Range: [2]float64{-1, 1}}
	for _, f := range []string{"npy", "png"} {
		var buf bytes.Buffer
		if err := Formats[f].Encode(&buf, img, prov); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "x."+f), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `
import json, sys, numpy
from PIL import Image
a = numpy.load(sys.argv[1] + "/x.npy")
assert a.dtype == numpy.float32 and a.shape == (1, 2, 3), (a.dtype, a.shape)
assert a[0, 1, 2] == numpy.float32(-3) and a[0, 0, 0] == numpy.float32(0.1)
im = Image.open(sys.argv[1] + "/x.png")
assert im.size == (3, 2) and im.mode == "L", (im.size, im.mode)
p = json.loads(im.text["medzoo.provenance"])
assert p["synthetic"] is True and p["index"] == 3
print("ok")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python check: %v\n%s", err, out)
	}
}

func info(n int) RunInfo {
	return RunInfo{Model: "m", SHA256: "s", Seed: 1, N: n, Format: "png", Outputs: []string{"image"}, Generator: "zoo test"}
}

func rec(i int) Record {
	return Record{Index: i, Files: map[string]string{"image": "x"}, Model: "m", SHA256: "s", Seed: 1, Synthetic: true}
}

func TestRunOrderingAndResume(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(dir, info(10), Fresh)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.FileName(3, "image", ".png"); got != "00003.png" {
		t.Fatalf("file name %q", got)
	}
	os.WriteFile(filepath.Join(dir, "x"), []byte("file"), 0o644)
	for _, i := range []int{1, 0, 3, 2, 5} { // 4 never finishes
		if err := r.Commit(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if r.Committed() != 4 {
		t.Fatalf("committed %d, want 4 (0..3; 5 waits for 4)", r.Committed())
	}
	r.Close()
	// A kill mid-write leaves a partial line.
	f, _ := os.OpenFile(filepath.Join(dir, ManifestFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"index":4,"fil`)
	f.Close()

	if _, err := Open(dir, info(10), Fresh); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("non-empty dir without --resume: %v", err)
	}
	other := info(10)
	other.Seed = 2
	if _, err := Open(dir, other, Resume); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Fatalf("resume with another seed: %v", err)
	}
	r2, err := Open(dir, info(10), Resume)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Done != 4 {
		t.Fatalf("resume found %d done, want 4", r2.Done)
	}
	for i := 4; i < 10; i++ {
		r2.Commit(rec(i))
	}
	r2.Close()
	recs, err := ReadManifest(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 10 {
		t.Fatalf("%d records after resume, want 10", len(recs))
	}
	for i, rc := range recs {
		if rc.Index != i {
			t.Fatalf("record %d has index %d", i, rc.Index)
		}
	}
	r3, err := Open(dir, info(10), Force)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Done != 0 {
		t.Fatalf("--force kept %d samples", r3.Done)
	}
	r3.Close()
	plain := t.TempDir()
	os.WriteFile(filepath.Join(plain, "notes.txt"), nil, 0o644)
	if _, err := Open(plain, info(1), Resume); err == nil || !strings.Contains(err.Error(), RunFile) {
		t.Fatalf("resume in a non-run dir: %v", err)
	}
}
