package imagein

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/output"
	"medzoo/zoo"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeNPY writes a little-endian C-order array with raw element bytes.
func writeNPY(t *testing.T, path, descr string, shape []int, raw []byte) {
	t.Helper()
	var dims []string
	for _, d := range shape {
		dims = append(dims, fmt.Sprint(d))
	}
	sh := strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh)
	header += strings.Repeat(" ", 64-(10+len(header)+1)%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	b.Write(raw)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func near(a, b float32, tol float64) bool { return math.Abs(float64(a-b)) <= tol }

func TestPNG(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(g.Pix, []uint8{0, 51, 255, 128, 1, 254})
	writePNG(t, filepath.Join(dir, "g8.png"), g)
	img, err := Read(filepath.Join(dir, "g8.png"), [2]float64{-1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if img.Channels != 1 || img.Height != 2 || img.Width != 3 || img.Data[0] != -1 || img.Data[2] != 1 || !near(img.Data[1], -0.6, 1e-6) {
		t.Fatalf("8-bit gray: %+v", img)
	}
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 65535})
	g16.SetGray16(1, 0, color.Gray16{Y: 13107})
	writePNG(t, filepath.Join(dir, "g16.png"), g16)
	img, err = Read(filepath.Join(dir, "g16.png"), [2]float64{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if img.Kind != "16-bit gray PNG" || img.Data[0] != 1 || !near(img.Data[1], 0.2, 1e-6) {
		t.Fatalf("16-bit gray: %+v", img)
	}
	rgb := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	rgb.SetNRGBA(0, 0, color.NRGBA{255, 0, 51, 255})
	rgb.SetNRGBA(1, 0, color.NRGBA{0, 255, 0, 255})
	writePNG(t, filepath.Join(dir, "rgb.png"), rgb)
	img, err = Read(filepath.Join(dir, "rgb.png"), [2]float64{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Channel-major: R plane, G plane, B plane.
	want := []float32{1, 0, 0, 1, 0.2, 0}
	for i, w := range want {
		if !near(img.Data[i], w, 1e-6) {
			t.Fatalf("RGB: %v, want %v", img.Data, want)
		}
	}
	// Alpha is dropped and the stored colour kept, also where a pixel is
	// semi-transparent or transparent (PIL's convert("RGB") keeps it too;
	// premultiplying would round the first and blacken the second).
	rgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	rgba.SetNRGBA(0, 0, color.NRGBA{201, 7, 99, 3})
	rgba.SetNRGBA(1, 0, color.NRGBA{17, 250, 128, 0})
	writePNG(t, filepath.Join(dir, "rgba.png"), rgba)
	if img, _, err := ReadUnits(filepath.Join(dir, "rgba.png")); err != nil || img.Bits != 8 || fmt.Sprint(img.Data) != "[201 17 7 250 99 128]" {
		t.Fatalf("RGBA: %v %+v", err, img)
	}
	rgba16 := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	rgba16.SetNRGBA64(0, 0, color.NRGBA64{60001, 2, 513, 1})
	writePNG(t, filepath.Join(dir, "rgba16.png"), rgba16)
	if img, _, err := ReadUnits(filepath.Join(dir, "rgba16.png")); err != nil || img.Bits != 16 || fmt.Sprint(img.Data) != "[60001 2 513]" {
		t.Fatalf("16-bit RGBA: %v %+v", err, img)
	}
	err = Check(img, "rgb.png", zoo.TensorSpec{Channels: 1, Height: 4, Width: 4}, "00104_X")
	for _, frag := range []string{"rgb.png", "2x1 with 3 channels", "model 00104_X expects 4x4 with 1 channel", "does not resize", "grayscale"} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Fatalf("check error %v lacks %q", err, frag)
		}
	}
	os.WriteFile(filepath.Join(dir, "bad.png"), []byte("not a png"), 0o644)
	if _, err := Read(filepath.Join(dir, "bad.png"), [2]float64{0, 1}); err == nil || !strings.Contains(err.Error(), "bad.png") {
		t.Fatalf("bad PNG: %v", err)
	}
}

func TestNPY(t *testing.T) {
	dir := t.TempDir()
	f32 := make([]byte, 0, 24)
	for _, v := range []float32{-1.5, 0, 2, 3, 4, 1e3} {
		f32 = binary.LittleEndian.AppendUint32(f32, math.Float32bits(v))
	}
	writeNPY(t, filepath.Join(dir, "a.npy"), "<f4", []int{2, 3}, f32)
	img, err := Read(filepath.Join(dir, "a.npy"), [2]float64{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if img.Channels != 1 || img.Height != 2 || img.Width != 3 || img.Data[0] != -1.5 || img.Data[5] != 1e3 {
		t.Fatalf("float32 (H, W): %+v", img)
	}
	i16 := binary.LittleEndian.AppendUint16(nil, uint16(0xffff)) // -1
	i16 = binary.LittleEndian.AppendUint16(i16, 300)
	writeNPY(t, filepath.Join(dir, "b.npy"), "<i2", []int{2, 1, 1}, i16)
	img, err = Read(filepath.Join(dir, "b.npy"), [2]float64{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if img.Channels != 2 || img.Height != 1 || img.Data[0] != -1 || img.Data[1] != 300 {
		t.Fatalf("int16 (C, H, W): %+v", img)
	}
	f64 := binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.25))
	writeNPY(t, filepath.Join(dir, "c.npy"), "<f8", []int{1, 1}, f64)
	if img, err := Read(filepath.Join(dir, "c.npy"), [2]float64{0, 1}); err != nil || img.Data[0] != 0.25 {
		t.Fatalf("float64: %+v %v", img, err)
	}
	writeNPY(t, filepath.Join(dir, "d.npy"), "|u1", []int{1, 2}, []byte{7, 255})
	if img, err := Read(filepath.Join(dir, "d.npy"), [2]float64{0, 1}); err != nil || img.Data[1] != 255 {
		t.Fatalf("uint8: %+v %v", img, err)
	}
	writeNPY(t, filepath.Join(dir, "e.npy"), "<u2", []int{1, 1}, []byte{0x10, 0x27})
	if img, err := Read(filepath.Join(dir, "e.npy"), [2]float64{0, 1}); err != nil || img.Data[0] != 10000 {
		t.Fatalf("uint16: %+v %v", img, err)
	}
	for name, tc := range map[string]struct {
		descr string
		shape []int
		raw   []byte
		want  string
	}{
		"1d.npy":      {"<f4", []int{4}, make([]byte, 16), "(H, W) or (C, H, W)"},
		"4d.npy":      {"<f4", []int{1, 1, 1, 1}, make([]byte, 4), "(H, W) or (C, H, W)"},
		"complex.npy": {"<c8", []int{1, 1}, make([]byte, 8), "dtype <c8"},
		"short.npy":   {"<f4", []int{2, 2}, make([]byte, 8), "truncated"},
		"nan.npy":     {"<f4", []int{1, 1}, binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.NaN()))), "finite"},
	} {
		writeNPY(t, filepath.Join(dir, name), tc.descr, tc.shape, tc.raw)
		if _, err := Read(filepath.Join(dir, name), [2]float64{0, 1}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestDICOMRoundTrip: images written by zoo's own DICOM encoder read back as
// the values written, to within the 16-bit quantisation step.
func TestDICOMRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rng := [2]float64{-1, 1}
	for _, ch := range []int{1, 3} {
		src := output.Image{Channels: ch, Height: 3, Width: 4, Range: rng, Data: make([]float32, ch*12)}
		for i := range src.Data {
			src.Data[i] = float32(i)/float32(len(src.Data)-1)*2 - 1
		}
		var b bytes.Buffer
		if err := output.Formats["dicom"].Encode(&b, src, output.Provenance{Synthetic: true, Model: "m", Generator: "test"}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("c%d.dcm", ch))
		os.WriteFile(path, b.Bytes(), 0o644)
		img, err := Read(path, rng)
		if err != nil {
			t.Fatal(err)
		}
		if img.Channels != ch || img.Height != 3 || img.Width != 4 {
			t.Fatalf("%d channels: read %dx%dx%d", ch, img.Channels, img.Height, img.Width)
		}
		// Gray is written as 16-bit with a rescale and window, RGB as 8-bit.
		tol := 2.0 / 65535
		if ch == 3 {
			tol = 2.0 / 255
		}
		for i, v := range src.Data {
			if !near(img.Data[i], v, tol) {
				t.Fatalf("%d channels: value %d read %v, wrote %v", ch, i, img.Data[i], v)
			}
		}
	}
}

// TestDICOMFiles reads Debian's pydicom sample files: CT_small (signed, rescale
// intercept -1024, no window) and MR_small (window 600/1600).
func TestDICOMFiles(t *testing.T) {
	base := "/usr/lib/python3/dist-packages/pydicom/data/test_files"
	if _, err := os.Stat(filepath.Join(base, "CT_small.dcm")); err != nil {
		t.Skip("pydicom test files not installed (python3-pydicom)")
	}
	ct, err := Read(filepath.Join(base, "CT_small.dcm"), [2]float64{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Stored 175 -> -849 HU; the signed 16-bit range rescaled is [-33792, 31743].
	if ct.Channels != 1 || ct.Height != 128 || ct.Width != 128 || !near(ct.Data[0], (175-1024+33792)/65535.0, 1e-6) {
		t.Fatalf("CT_small: %dx%dx%d, first value %v", ct.Channels, ct.Height, ct.Width, ct.Data[0])
	}
	mr, err := Read(filepath.Join(base, "MR_small.dcm"), [2]float64{-1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Window [-200, 1399]: 905 -> (905+200)/1599 of the way; the maximum,
	// 2145, is clipped to the top.
	top := float32(-1)
	for _, v := range mr.Data {
		top = max(top, v)
	}
	if mr.Height != 64 || mr.Width != 64 || !near(mr.Data[0], float32(-1+2*1105.0/1599), 1e-6) || !near(mr.Data[2], float32(-1+2*1427.0/1599), 1e-6) || top != 1 {
		t.Fatalf("MR_small: %dx%d, values %v", mr.Height, mr.Width, mr.Data[:4])
	}
	if _, err := Read(filepath.Join(base, "MR_small_RLE.dcm"), [2]float64{0, 1}); err == nil || !strings.Contains(err.Error(), "compressed") {
		t.Fatalf("compressed DICOM: %v", err)
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.png", "a.NPY", "c.dcm", ".hidden.png", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub.png"), 0o755)
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, filepath.Base(p))
	}
	if strings.Join(names, ",") != "a.NPY,b.png,c.dcm" {
		t.Fatalf("List: %v", names)
	}
	if one, err := List(filepath.Join(dir, "b.png")); err != nil || len(one) != 1 {
		t.Fatalf("single file: %v %v", one, err)
	}
	if _, err := List(filepath.Join(dir, "notes.txt")); err == nil {
		t.Fatal("a .txt input was accepted")
	}
	empty := t.TempDir()
	if _, err := List(empty); err == nil || !strings.Contains(err.Error(), "no input images") {
		t.Fatalf("empty dir: %v", err)
	}
}
