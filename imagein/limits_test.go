package imagein

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"medzoo/internal/testfiles"
	"medzoo/output"
)

func TestHeaderDimensionsCheckedBeforeDecoding(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.png")
	os.WriteFile(p, testfiles.PNGHeader(1000000, 1000000), 0o644)
	// Decoded, this asks image/png for 10^12 bytes.
	if _, _, err := ReadUnits(p); err == nil || !strings.Contains(err.Error(), "PNG header declares 1000000×1000000 pixels with 1 channel") {
		t.Fatalf("err = %v", err)
	}
	// The limit is on values: a gray image of 8192×8192 is within it.
	ok := filepath.Join(dir, "ok.png")
	writePNG(t, ok, image.NewGray(image.Rect(0, 0, 8192, 8192)))
	if img, _, err := ReadUnits(ok); err != nil || img.Height != 8192 {
		t.Fatalf("8192×8192 gray: %v", err)
	}
}

func TestNPYShapeProductIsChecked(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		shape []int
		want  string
	}{
		{[]int{1 << 31, 1 << 31}, "NPY data is truncated"},
		{[]int{4, 1 << 62}, "NPY data is truncated"}, // 4 × 4 bytes × 2^62 wraps to 0
		{[]int{0, 8}, "empty image"},
	} {
		p := filepath.Join(dir, "a.npy")
		writeNPY(t, p, "<f4", tc.shape, make([]byte, 16))
		if _, _, err := ReadUnits(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("shape %v: err = %v, want %q", tc.shape, err, tc.want)
		}
	}
}

func TestNonRegularFilesRefused(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "a.png"), image.NewGray(image.Rect(0, 0, 2, 2)))
	fifo := filepath.Join(dir, "f.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs:", err)
	}
	if _, err := List(dir); err == nil || !strings.Contains(err.Error(), "f.png is a FIFO (named pipe), not a regular file") {
		t.Fatalf("List: %v", err)
	}
	// Read directly (evaluate's folders), the FIFO is refused, not waited on.
	if _, _, err := ReadUnits(fifo); err == nil || !strings.Contains(err.Error(), "input f.png: is a FIFO") {
		t.Fatalf("ReadUnits: %v", err)
	}
	if _, err := List(fifo); err == nil || !strings.Contains(err.Error(), "is a FIFO") {
		t.Fatalf("List(FIFO): %v", err)
	}
}

func TestDICOMAttributesBlamed(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.dcm")
	writeDICOM := func(patch func([]byte) []byte) {
		data := dicomBytes(t)
		os.WriteFile(p, patch(data), 0o644)
	}
	for _, tc := range []struct {
		value, want string
	}{
		{"NaN", "RescaleSlope (0028,1053) is NaN"},
		{"-Inf", "RescaleSlope (0028,1053) is -Inf"},
		{"0", "RescaleSlope (0028,1053) is 0"},
	} {
		writeDICOM(func(d []byte) []byte { return testfiles.SetDS(t, d, 0x28, 0x1053, tc.value) })
		if _, _, err := ReadUnits(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("slope %s: err = %v", tc.value, err)
		}
	}
}

// dicomBytes is a 4×3 gray image as zoo's DICOM writer encodes it (with a
// RescaleSlope).
func dicomBytes(t *testing.T) []byte {
	t.Helper()
	src := output.Image{Channels: 1, Height: 3, Width: 4, Range: [2]float64{-1, 1}, Data: make([]float32, 12)}
	var b bytes.Buffer
	if err := output.Formats["dicom"].Encode(&b, src, output.Provenance{Synthetic: true, Model: "m", Generator: "test"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
