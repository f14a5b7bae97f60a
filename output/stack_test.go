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

// stackRun opens a stacked run of n samples with outputs image and mask in
// dir, and its stack.
func stackRun(t *testing.T, dir string, n int, mode Mode, gz bool) (*Run, *Stack) {
	t.Helper()
	r, err := Open(dir, RunInfo{Model: prov.Model, SHA256: prov.SHA256, Seed: prov.Seed, N: n, Format: "nifti",
		Outputs: []string{"image", "mask"}, Generator: "zoo-test", Stack: true, Gzip: gz}, mode)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStack(r, []StackOutput{{Name: "image", Channels: 1, Height: 2, Width: 3}, {Name: "mask", Channels: 1, Height: 2, Width: 3}}, gz)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// stackSample is sample k's image and mask: values that differ per sample.
func stackSample(k int, plane string) (Image, Image) {
	img := Image{Channels: 1, Height: 2, Width: 3, Range: [2]float64{-1, 1},
		Physical: Physical{Units: UnitsMR, SpacingMM: []float64{2, 3}, Plane: plane}}
	mask := Image{Channels: 1, Height: 2, Width: 3, Range: [2]float64{0, 1}, Mask: true, Physical: Physical{SpacingMM: []float64{2, 3}}}
	for i := 0; i < 6; i++ {
		img.Data = append(img.Data, float32(k)+float32(i)/10)
		mask.Data = append(mask.Data, float32((k+i)%2))
	}
	return img, mask
}

// writeStacked writes samples ks into s and commits them.
func writeStacked(t *testing.T, r *Run, s *Stack, ks ...int) {
	t.Helper()
	for _, k := range ks {
		img, mask := stackSample(k, "axial")
		rec := Record{Index: k, Files: map[string]string{}, Model: prov.Model, SHA256: prov.SHA256, Synthetic: true}
		for out, im := range map[string]Image{"image": img, "mask": mask} {
			p := prov
			p.Index, p.Output = k, out
			name, err := s.WriteSlice(k, im, p)
			if err != nil {
				t.Fatal(err)
			}
			rec.Files[out] = name
		}
		slice := k
		rec.Slice = &slice
		if err := r.Commit(rec); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStackSlicesAndResume: slices written out of order land at their
// sample's offset, equal to the per-sample file's voxels; a run stopped
// half-way and resumed gives the same bytes as one that was not; nibabel
// reads the volume's geometry, slices and provenance.
func TestStackSlicesAndResume(t *testing.T) {
	const n = 4
	whole := t.TempDir()
	r, s := stackRun(t, whole, n, Fresh, false)
	writeStacked(t, r, s, 3, 1, 0, 2)
	if _, err := os.Stat(filepath.Join(whole, "image.nii")); err == nil {
		t.Fatal("the volume has its final name before Finish")
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	vol, err := os.ReadFile(filepath.Join(whole, "image.nii"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(whole, "image.nii"+partialSuffix)); err == nil {
		t.Fatal("partial volume left after Finish")
	}
	off := int(math.Float32frombits(binary.LittleEndian.Uint32(vol[108:])))
	for k := 0; k < n; k++ {
		img, _ := stackSample(k, "axial")
		var one bytes.Buffer
		if err := Formats["nifti"].Encode(&one, img, prov); err != nil {
			t.Fatal(err)
		}
		d := one.Bytes()
		single := d[int(math.Float32frombits(binary.LittleEndian.Uint32(d[108:]))):]
		if got := vol[off+k*24 : off+(k+1)*24]; !bytes.Equal(got, single) {
			t.Fatalf("slice %d differs from sample %d's own file", k, k)
		}
		// Type, pixdim, scaling and the transforms are the per-sample
		// file's; dim[3] is n.
		for _, span := range [][2]int{{68, 108}, {112, 148}, {252, 344}} {
			if !bytes.Equal(vol[span[0]:span[1]], d[span[0]:span[1]]) {
				t.Fatalf("header bytes %v differ from the per-sample file's", span)
			}
		}
		if binary.LittleEndian.Uint16(vol[46:]) != n {
			t.Fatalf("dim[3] = %d, want %d", binary.LittleEndian.Uint16(vol[46:]), n)
		}
	}
	if len(vol) != off+n*24 {
		t.Fatalf("volume of %d bytes, want %d", len(vol), off+n*24)
	}

	// Stopped after samples 0 and 1 (2 written but not committed), resumed.
	half := t.TempDir()
	r, s = stackRun(t, half, n, Fresh, false)
	writeStacked(t, r, s, 1, 0)
	img, _ := stackSample(3, "axial")
	p := prov
	p.Output = "image"
	if _, err := s.WriteSlice(3, img, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(); err == nil || !strings.Contains(err.Error(), "2 of 4") {
		t.Fatalf("Finish of a run half done: %v", err)
	}
	s.Close()
	r.Close()
	if _, err := Open(half, RunInfo{Model: prov.Model, SHA256: prov.SHA256, Seed: prov.Seed, N: 5, Format: "nifti",
		Outputs: []string{"image", "mask"}, Generator: "zoo-test", Stack: true}, Resume); err == nil || !strings.Contains(err.Error(), "resume with -n 4") {
		t.Fatalf("resume of a stacked run with another -n: %v", err)
	}
	if _, err := Open(half, RunInfo{Model: prov.Model, SHA256: prov.SHA256, Seed: prov.Seed, N: 4, Format: "nifti",
		Outputs: []string{"image", "mask"}, Generator: "zoo-test"}, Resume); err == nil || !strings.Contains(err.Error(), "--stack") {
		t.Fatalf("resume of a stacked run without --stack: %v", err)
	}
	r, s = stackRun(t, half, n, Resume, false)
	if r.Done != 2 {
		t.Fatalf("resume found %d samples done, want 2", r.Done)
	}
	writeStacked(t, r, s, 3, 2)
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, name := range []string{"image.nii", "mask.nii", ManifestFile} {
		a, _ := os.ReadFile(filepath.Join(whole, name))
		b, _ := os.ReadFile(filepath.Join(half, name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Fatalf("%s differs between the resumed run and the whole one", name)
		}
	}
	// A complete run resumed has nothing to do.
	r, s = stackRun(t, half, n, Resume, false)
	if r.Done != n {
		t.Fatalf("resume of a complete run found %d done", r.Done)
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	r.Close()

	script := `
import json, sys, numpy as np, nibabel as nib
d = sys.argv[1]
img = nib.load(d + "/image.nii")
assert img.shape == (3, 2, 4), img.shape
assert img.header.get_zooms() == (3.0, 2.0, 2.0)
assert np.allclose(img.affine, np.diag([3.0, 2.0, 2.0, 1.0])), img.affine
a = img.get_fdata()
for k in range(4):
    want = (k + np.arange(6, dtype=np.float32) / 10).reshape(2, 3)
    assert np.allclose(a[:, ::-1, k].T, want), (k, a[:, :, k])
p = json.loads(img.header.extensions[0].get_content().rstrip(b"\0"))
assert p["synthetic"] and p["n"] == 4 and p["output"] == "image" and "slice k = sample k" in p["slices"], p
assert "SYNTHETIC" in p["notice"], p
m = nib.load(d + "/mask.nii")
assert m.header.get_data_dtype() == np.uint8 and m.header.get_intent()[0] == "label"
b = np.asanyarray(m.dataobj)
for k in range(4):
    assert (b[:, ::-1, k].T == ((np.arange(6) + k) % 2).reshape(2, 3)).all(), k
print("ok")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, whole).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("nibabel check: %v\n%s", err, out)
	}
	out, err = exec.Command("nifti_tool", "-check_hdr", "-check_nim", "-infiles", filepath.Join(whole, "image.nii"), filepath.Join(whole, "mask.nii")).CombinedOutput()
	if err != nil || strings.Count(string(out), "IS GOOD") != 4 {
		t.Fatalf("nifti_tool: %v\n%s", err, out)
	}
}

// TestStackGzip: a stacked .nii.gz is the gzip of the .nii, and the same
// bytes every time.
func TestStackGzip(t *testing.T) {
	var vols [][]byte
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		r, s := stackRun(t, dir, 3, Fresh, true)
		writeStacked(t, r, s, 2, 0, 1)
		if err := s.Finish(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		b, err := os.ReadFile(filepath.Join(dir, "image.nii.gz"))
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, b)
		if recs := mustManifest(t, dir); recs[1].Files["image"] != "image.nii.gz" || recs[1].Slice == nil || *recs[1].Slice != 1 {
			t.Fatalf("manifest line %+v", recs[1])
		}
	}
	if !bytes.Equal(vols[0], vols[1]) {
		t.Fatal("stacked .nii.gz differs between two runs")
	}
}

func mustManifest(t *testing.T, dir string) []Record {
	t.Helper()
	recs, err := ReadManifest(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestStackRefusals: samples in another plane than the volume's, a volume
// over StackBytes, and more slices than NIfTI-1 holds are refused with
// errors that name the fix.
func TestStackRefusals(t *testing.T) {
	dir := t.TempDir()
	r, s := stackRun(t, dir, 2, Fresh, false)
	writeStacked(t, r, s, 0)
	img, _ := stackSample(1, "coronal")
	p := prov
	p.Output = "image"
	if _, err := s.WriteSlice(1, img, p); err == nil || !strings.Contains(err.Error(), "coronal") || !strings.Contains(err.Error(), "--condition") {
		t.Fatalf("a coronal slice in an axial volume: %v", err)
	}
	img.Height = 3
	img.Data = append(img.Data, 0, 0, 0)
	img.Physical.Plane = "axial"
	if _, err := s.WriteSlice(1, img, p); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("a slice of another size: %v", err)
	}
	s.Discard()
	r.Close()
	if _, err := os.Stat(filepath.Join(dir, "image.nii"+partialSuffix)); err == nil {
		t.Fatal("Discard left the partial volume")
	}

	for _, c := range []struct {
		n    int
		o    StackOutput
		want string
	}{
		{40000, StackOutput{Name: "image", Channels: 1, Height: 64, Width: 64}, "at most 32767 slices"},
		{30000, StackOutput{Name: "image", Channels: 3, Height: 4096, Width: 4096}, "over 64 Gi bytes"},
	} {
		r, err := Open(t.TempDir(), RunInfo{Model: "m", N: c.n, Format: "nifti", Outputs: []string{"image"}, Stack: true}, Fresh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenStack(r, []StackOutput{c.o}, false); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "-n") {
			t.Fatalf("n %d of %+v: %v", c.n, c.o, err)
		}
		r.Close()
	}
}
