package output

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNIfTILayout(t *testing.T) {
	img := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{1, 2, 3, 4, 5, 6}, Range: [2]float64{0, 10}}
	var a, b bytes.Buffer
	if err := Formats["nifti"].Encode(&a, img, prov); err != nil {
		t.Fatal(err)
	}
	if err := Formats["nifti"].Encode(&b, img, prov); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("NIfTI output is not reproducible")
	}
	d := a.Bytes()
	le := binary.LittleEndian
	if le.Uint32(d) != 348 || string(d[344:348]) != "n+1\x00" || !bytes.Equal(d[348:352], []byte{1, 0, 0, 0}) {
		t.Fatalf("header start/magic/extension flag wrong")
	}
	off := int(math.Float32frombits(le.Uint32(d[108:])))
	esize := int(le.Uint32(d[352:]))
	if off%16 != 0 || esize%16 != 0 || off != 352+esize || len(d) != off+4*6 {
		t.Fatalf("vox_offset %d, esize %d, file %d bytes", off, esize, len(d))
	}
	// Bottom row first: 4 5 6 then 1 2 3.
	for k, want := range []float32{4, 5, 6, 1, 2, 3} {
		if got := math.Float32frombits(le.Uint32(d[off+4*k:])); got != want {
			t.Fatalf("voxel %d = %v, want %v", k, got, want)
		}
	}
	if e := Formats["nifti"].Ext(); e != ".nii" {
		t.Fatalf("extension %q", e)
	}
	long := prov
	long.Model = strings.Repeat("m", 100)
	a.Reset()
	if err := Formats["nifti"].Encode(&a, img, long); err != nil {
		t.Fatal(err)
	}
	if d := a.Bytes(); d[148+79] != 0 || !bytes.HasPrefix(d[148:], []byte("SYNTHETIC medzoo mmm")) {
		t.Fatalf("descrip %q", d[148:228])
	}
}

// TestNIfTIReadableByNibabel reads the files with Debian's nibabel and checks
// shape, dtype, exact values, the orientation relation to the PNG, the
// header fields and the provenance extension.
func TestNIfTIReadableByNibabel(t *testing.T) {
	dir := t.TempDir()
	g := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{0.1, -0.2, 0.3, 1e-8, 2, -3}, Range: [2]float64{-1, 1}}
	rgb := Image{Channels: 3, Height: 2, Width: 2, Data: []float32{0, 0.1, 0.2, 0.3, 1, 1.1, 1.2, 1.3, 2, 2.1, 2.2, 2.3}, Range: [2]float64{0, 1}}
	two := Image{Channels: 2, Height: 1, Width: 2, Data: []float32{1, 2, 3, 4}, Range: [2]float64{0, 5}}
	for name, img := range map[string]Image{"g.nii": g, "rgb.nii": rgb, "two.nii": two} {
		var buf bytes.Buffer
		if err := Formats["nifti"].Encode(&buf, img, prov); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `
import json, sys, numpy as np, nibabel as nib
d = sys.argv[1]
img = nib.load(d + "/g.nii")
h = img.header
assert isinstance(img, nib.Nifti1Image) and img.shape == (3, 2, 1), img.shape
assert h.get_data_dtype() == np.float32
a = np.asanyarray(img.dataobj)
assert a.dtype == np.float32, a.dtype
# The image as PNG/NPY hold it, (H, W), top row first:
png = np.array([[0.1, -0.2, 0.3], [1e-8, 2, -3]], dtype=np.float32)
assert (a[:, ::-1, 0].T == png).all(), a[:, :, 0]
assert (img.get_fdata()[:, ::-1, 0].T == png.astype(np.float64)).all()
assert (img.affine == np.eye(4)).all(), img.affine
assert int(h["qform_code"]) == 1 and int(h["sform_code"]) == 1
assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
assert h.get_zooms() == (1.0, 1.0, 1.0) and h.get_xyzt_units() == ("mm", "unknown")
assert float(h["cal_min"]) == -1 and float(h["cal_max"]) == 1
assert h["descrip"].item() == b"SYNTHETIC medzoo 00101_TEST seed 7 idx 3", h["descrip"]
assert h["magic"].item() == b"n+1"
ext = h.extensions
assert len(ext) == 1 and ext[0].get_code() == 6, ext
p = json.loads(ext[0].get_content().rstrip(b"\0"))
assert p["synthetic"] is True and p["model"] == "00101_TEST" and p["seed"] == 7 and p["index"] == 3, p
img = nib.load(d + "/rgb.nii")
a = np.asanyarray(img.dataobj)
assert img.shape == (2, 2, 1, 1, 3) and a.dtype == np.float32, (img.shape, a.dtype)
assert img.header.get_intent()[0] == "vector"
chw = np.array([[[0, 0.1], [0.2, 0.3]], [[1, 1.1], [1.2, 1.3]], [[2, 2.1], [2.2, 2.3]]], dtype=np.float32)
for c in range(3):
    assert (a[:, ::-1, 0, 0, c].T == chw[c]).all(), (c, a[..., c])
img = nib.load(d + "/two.nii")
a = np.asanyarray(img.dataobj)
assert img.shape == (2, 1, 1, 1, 2) and a[:, 0, 0, 0, 1].tolist() == [3, 4], (img.shape, a)
print("ok")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("nibabel check: %v\n%s", err, out)
	}
}
