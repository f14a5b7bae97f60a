package imagein

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"medzoo/output"
)

// lyingPNG is a 57-byte PNG whose IHDR declares w×h 8-bit gray pixels and
// which holds none.
func lyingPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		body := append([]byte(typ), data...)
		b.Write(body)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(body))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8] = 8
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b.Bytes()
}

func TestHeaderDimensionsCheckedBeforeDecoding(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.png")
	os.WriteFile(p, lyingPNG(1000000, 1000000), 0o644)
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
		writeDICOM(func(d []byte) []byte { return replaceDS(t, d, 0x28, 0x1053, tc.value) })
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

// replaceDS sets a top-level decimal-string element (explicit VR little
// endian) to v.
func replaceDS(t *testing.T, data []byte, group, elem uint16, v string) []byte {
	t.Helper()
	key := []byte{byte(group), byte(group >> 8), byte(elem), byte(elem >> 8), 'D', 'S'}
	i := bytes.Index(data, key)
	if i < 0 {
		t.Fatalf("no (%04x,%04x) element", group, elem)
	}
	n := int(binary.LittleEndian.Uint16(data[i+6:]))
	if len(v)%2 == 1 {
		v += " "
	}
	out := append([]byte(nil), data[:i+6]...)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(v)))
	out = append(out, v...)
	return append(out, data[i+8+n:]...)
}
