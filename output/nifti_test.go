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
# No plane and no spacing declared: no orientation claimed, 1 unit voxels.
assert int(h["qform_code"]) == 0 and int(h["sform_code"]) == 0
assert h.get_zooms() == (1.0, 1.0, 1.0) and h.get_xyzt_units() == ("unknown", "unknown")
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

// niftiFile encodes img with p (gzipped with gz) into dir/name.
func niftiFile(t *testing.T, dir, name string, img Image, p Provenance, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := (niftiEncoder{Gzip: gz}).Encode(&buf, img, p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestNIfTIGeometryFields checks the header fields that carry the declared
// spacing, plane, kind and units, at their offsets in the NIfTI-1 header.
func TestNIfTIGeometryFields(t *testing.T) {
	le := binary.LittleEndian
	f32 := func(d []byte, off int) float64 { return float64(math.Float32frombits(le.Uint32(d[off:]))) }
	i16 := func(d []byte, off int) int { return int(int16(le.Uint16(d[off:]))) }
	enc := func(img Image) []byte {
		var b bytes.Buffer
		if err := Formats["nifti"].Encode(&b, img, prov); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	gray := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{-1, 0, 1, 0.5, 0.25, 0.75}, Range: [2]float64{-1, 1},
		Physical: Physical{SpacingMM: []float64{2, 3}, Plane: "coronal"}}
	d := enc(gray)
	if i16(d, 70) != 16 || i16(d, 72) != 32 || i16(d, 68) != 0 {
		t.Fatalf("datatype %d bitpix %d intent %d", i16(d, 70), i16(d, 72), i16(d, 68))
	}
	if p := [4]float64{f32(d, 76), f32(d, 80), f32(d, 84), f32(d, 88)}; p != [4]float64{1, 3, 2, 2} {
		t.Fatalf("pixdim %v, want qfac 1, column 3, row 2, slice = row 2", p)
	}
	if d[123] != 2 || i16(d, 252) != 1 || i16(d, 254) != 1 {
		t.Fatalf("xyzt_units %d qform %d sform %d", d[123], i16(d, 252), i16(d, 254))
	}
	// Coronal: a rotation of +90 degrees about x, quaternion (cos 45, sin 45, 0, 0).
	if b, c, q := f32(d, 256), f32(d, 260), f32(d, 264); math.Abs(b-math.Sqrt2/2) > 1e-6 || c != 0 || q != 0 {
		t.Fatalf("quatern %v %v %v", b, c, q)
	}
	var srow [12]float64
	for k := range srow {
		srow[k] = f32(d, 280+4*k)
	}
	if srow != [12]float64{3, 0, 0, 0, 0, 0, -2, 0, 0, 2, 0, 0} {
		t.Fatalf("srow %v", srow)
	}

	// A mask: uint8, intent label, 1 at and above the middle of the range.
	mask := Image{Channels: 1, Height: 1, Width: 4, Data: []float32{0, 0.49, 0.5, 1}, Range: [2]float64{0, 1}, Mask: true}
	d = enc(mask)
	off := int(f32(d, 108))
	if i16(d, 70) != 2 || i16(d, 72) != 8 || i16(d, 68) != 1002 || len(d) != off+4 || !bytes.Equal(d[off:], []byte{0, 0, 1, 1}) {
		t.Fatalf("mask: datatype %d bitpix %d intent %d voxels %v", i16(d, 70), i16(d, 72), i16(d, 68), d[off:])
	}
	if i16(d, 252) != 0 || i16(d, 254) != 0 || f32(d, 124) != 1 || f32(d, 128) != 0 {
		t.Fatalf("mask: qform %d sform %d cal %v..%v", i16(d, 252), i16(d, 254), f32(d, 128), f32(d, 124))
	}
	// A label map: the rounded class, clipped to 0..255; above 255 refused.
	label := Image{Channels: 1, Height: 1, Width: 4, Data: []float32{-1, 1.4, 2.6, 300}, Range: [2]float64{0, 4}, Label: true}
	d = enc(label)
	if off := int(f32(d, 108)); i16(d, 68) != 1002 || !bytes.Equal(d[off:], []byte{0, 1, 3, 255}) || f32(d, 124) != 4 {
		t.Fatalf("label: intent %d voxels %v cal_max %v", i16(d, 68), d[off:], f32(d, 124))
	}
	label.Range[1] = 1000
	var b bytes.Buffer
	if err := Formats["nifti"].Encode(&b, label, prov); err == nil || !strings.Contains(err.Error(), "--format npy") {
		t.Fatalf("label map up to 1000: %v", err)
	}
	// CT in HU: raw values, slope and intercept the declared scale and offset.
	ct := Image{Channels: 1, Height: 1, Width: 2, Data: []float32{-1, 1}, Range: [2]float64{-1, 1},
		Physical: Physical{Units: UnitsHU, Scale: 200, Offset: 40, SpacingMM: []float64{3.828, 3.828}, Plane: "axial"}}
	d = enc(ct)
	if f32(d, 112) != 200 || f32(d, 116) != 40 || f32(d, 128) != -160 || f32(d, 124) != 240 {
		t.Fatalf("HU: slope %v inter %v cal %v..%v", f32(d, 112), f32(d, 116), f32(d, 128), f32(d, 124))
	}
}

// TestNIfTIQuaternion checks quaternion against the rotation it must
// encode, rebuilt as NIfTI readers rebuild it (nifti_quatern_to_mat44), for
// every proper rotation that permutes and flips the axes (all four of
// nifti_mat44_to_quatern's branches).
func TestNIfTIQuaternion(t *testing.T) {
	perms := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	n := 0
	for _, p := range perms {
		for signs := 0; signs < 8; signs++ {
			var r [3][3]float64
			for i := 0; i < 3; i++ {
				r[i][p[i]] = 1
				if signs&(1<<i) != 0 {
					r[i][p[i]] = -1
				}
			}
			det := r[0][0]*(r[1][1]*r[2][2]-r[1][2]*r[2][1]) - r[0][1]*(r[1][0]*r[2][2]-r[1][2]*r[2][0]) + r[0][2]*(r[1][0]*r[2][1]-r[1][1]*r[2][0])
			if det != 1 {
				continue
			}
			n++
			a, b, c, d := quaternion(r)
			if a < 0 || math.Abs(a*a+b*b+c*c+d*d-1) > 1e-12 {
				t.Fatalf("%v: quaternion (%v %v %v %v) is not a unit quaternion with a >= 0", r, a, b, c, d)
			}
			back := [3][3]float64{
				{a*a + b*b - c*c - d*d, 2 * (b*c - a*d), 2 * (b*d + a*c)},
				{2 * (b*c + a*d), a*a + c*c - b*b - d*d, 2 * (c*d - a*b)},
				{2 * (b*d - a*c), 2 * (c*d + a*b), a*a + d*d - c*c - b*b},
			}
			for i := range back {
				for j := range back[i] {
					if math.Abs(back[i][j]-r[i][j]) > 1e-12 {
						t.Fatalf("%v: quaternion (%v %v %v %v) gives %v", r, a, b, c, d, back)
					}
				}
			}
		}
	}
	if n != 24 {
		t.Fatalf("%d proper rotations, want 24", n)
	}
	for _, plane := range []string{"axial", "coronal", "sagittal"} {
		if _, ok := niftiRotation(plane); !ok {
			t.Fatalf("no rotation for %s", plane)
		}
	}
}

// TestNIfTIGeometryByNibabel: nibabel reads the spacing, the affine of each
// plane (from the quaternion, and the same from srow), the label intent and
// uint8 type of masks, HU values through scl_slope/scl_inter, and a .nii.gz
// that is byte-reproducible.
func TestNIfTIGeometryByNibabel(t *testing.T) {
	dir := t.TempDir()
	sp := []float64{2, 3}
	data := []float32{0.1, -0.2, 0.3, 1e-8, 2, -3}
	for _, plane := range []string{"axial", "coronal", "sagittal", ""} {
		img := Image{Channels: 1, Height: 2, Width: 3, Data: data, Range: [2]float64{-1, 1},
			Physical: Physical{Units: UnitsMR, SpacingMM: sp, Plane: plane}}
		niftiFile(t, dir, "plane_"+plane+".nii", img, prov, false)
	}
	third := Image{Channels: 1, Height: 2, Width: 3, Data: data, Range: [2]float64{-1, 1},
		Physical: Physical{SpacingMM: []float64{2, 3, 5}, Plane: "axial"}}
	niftiFile(t, dir, "slice5.nii", third, prov, false)
	mask := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{0, 1, 0.6, 0.4, 1, 0}, Range: [2]float64{0, 1}, Mask: true,
		Physical: Physical{SpacingMM: sp}}
	niftiFile(t, dir, "mask.nii", mask, prov, false)
	ct := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{-1, 0, 1, 0.5, -0.5, 0.25}, Range: [2]float64{-1, 1},
		Physical: Physical{Units: UnitsHU, Scale: 200, Offset: 40, SpacingMM: []float64{3.828, 3.828}, Plane: "axial"}}
	a := niftiFile(t, dir, "ct.nii.gz", ct, prov, true)
	if b := niftiFile(t, dir, "ct2.nii.gz", ct, prov, true); !bytes.Equal(a, b) {
		t.Fatal(".nii.gz output is not reproducible")
	}
	if a[3] != 0 || !bytes.Equal(a[4:8], []byte{0, 0, 0, 0}) {
		t.Fatalf("gzip header flags %#x mtime %v: want no name and a zero mtime", a[3], a[4:8])
	}
	script := `
import sys, numpy as np, nibabel as nib
d = sys.argv[1]
png = np.array([[0.1, -0.2, 0.3], [1e-8, 2, -3]], dtype=np.float32)
want = {
    "axial":    [[3, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]],
    "coronal":  [[3, 0, 0, 0], [0, 0, -2, 0], [0, 2, 0, 0]],
    "sagittal": [[0, 0, 2, 0], [3, 0, 0, 0], [0, 2, 0, 0]],
}
codes = {"axial": ("R", "A", "S"), "coronal": ("R", "S", "P"), "sagittal": ("A", "S", "R")}
for plane, rows in want.items():
    img = nib.load(d + "/plane_" + plane + ".nii")
    h = img.header
    aff = np.array(rows + [[0, 0, 0, 1]], dtype=float)
    assert np.allclose(h.get_qform(), aff, atol=1e-6), (plane, h.get_qform())
    assert np.allclose(h.get_sform(), aff, atol=1e-6), (plane, h.get_sform())
    assert np.allclose(img.affine, aff, atol=1e-6), (plane, img.affine)
    assert int(h["qform_code"]) == 1 and int(h["sform_code"]) == 1, plane
    assert float(h["pixdim"][0]) == 1, plane
    assert nib.aff2axcodes(img.affine) == codes[plane], (plane, nib.aff2axcodes(img.affine))
    assert h.get_zooms() == (3.0, 2.0, 2.0) and h.get_xyzt_units() == ("mm", "unknown"), h.get_zooms()
    assert (img.get_fdata()[:, ::-1, 0].T == png.astype(np.float64)).all(), plane
img = nib.load(d + "/plane_.nii")
h = img.header
assert int(h["qform_code"]) == 0 and int(h["sform_code"]) == 0
assert h.get_zooms() == (3.0, 2.0, 2.0), h.get_zooms()
assert nib.load(d + "/slice5.nii").header.get_zooms() == (3.0, 2.0, 5.0)
m = nib.load(d + "/mask.nii")
a = np.asanyarray(m.dataobj)
assert m.header.get_data_dtype() == np.uint8 and a.dtype == np.uint8, a.dtype
assert m.header.get_intent()[0] == "label", m.header.get_intent()
assert (a[:, ::-1, 0].T == np.array([[0, 1, 1], [0, 1, 0]])).all(), a[:, :, 0]
assert float(m.header["cal_min"]) == 0 and float(m.header["cal_max"]) == 1
c = nib.load(d + "/ct.nii.gz")
hu = c.get_fdata()[:, ::-1, 0].T
assert np.allclose(hu, 40 + 200 * np.array([[-1, 0, 1], [0.5, -0.5, 0.25]]), atol=1e-4), hu
assert np.asanyarray(c.dataobj).dtype == np.float64 or c.header.get_data_dtype() == np.float32
assert float(c.header["cal_min"]) == -160 and float(c.header["cal_max"]) == 240
assert np.allclose(c.header.get_zooms(), (3.828, 3.828, 3.828))
print("ok")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("nibabel check: %v\n%s", err, out)
	}
	out, err = exec.Command("nifti_tool", "-check_hdr", "-check_nim", "-infiles",
		filepath.Join(dir, "plane_coronal.nii"), filepath.Join(dir, "plane_.nii"), filepath.Join(dir, "mask.nii"), filepath.Join(dir, "ct.nii.gz")).CombinedOutput()
	if err != nil || strings.Count(string(out), "IS GOOD") != 8 {
		t.Fatalf("nifti_tool: %v\n%s", err, out)
	}
}
