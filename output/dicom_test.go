package output

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDICOMModalityAndBodyPart(t *testing.T) {
	for in, want := range map[string]string{
		"MRI": "MR", "T1": "MR", "t2-weighted": "MR", "dce-mri": "MR", "Brain MRI": "MR", "Flair": "MR",
		"CT": "CT", "computed tomography": "CT", "low-dose CT": "CT",
		"MMG": "MG", "Mammography": "MG", "mammogram": "MG",
		"x-ray": "DX", "xray": "DX", "X-Ray": "DX", "CXR": "DX",
		"endoscopy": "ES", "gastrointestinal endoscopy": "ES",
		"ultrasound": "US", "US": "US",
		"": "OT", "histopathology": "OT", "dermoscopy": "OT", "cartoon": "OT",
	} {
		if got := dicomModality(in); got != want {
			t.Errorf("modality %q -> %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"brain": "BRAIN", "Breast": "BREAST", " lung ": "LUNG", "heart": "HEART", "polyps": "", "": ""} {
		if got := bodyPart(in); got != want {
			t.Errorf("organ %q -> %q, want %q", in, got, want)
		}
	}
}

func TestDICOMValueHelpers(t *testing.T) {
	for _, x := range []float64{2.0 / 65535, -1, 1e-30, -1234567.891234, 3071.5, 1.0 / 3} {
		s := decimalString(x)
		if len(s) > 16 || strings.ContainsAny(s, " ,") {
			t.Errorf("DS %v -> %q", x, s)
		}
	}
	if s := decimalString(2.0 / 65535); s != "3.0518043793e-05" {
		t.Errorf("DS of 2/65535 is %q", s)
	}
	if got := dicomString("a\\b\x01c\nd", 64, false); got != "a/b c d" {
		t.Errorf("LO clean %q", got)
	}
	if got := dicomString("a\\b\nc", 64, true); got != "a\\b\nc" {
		t.Errorf("LT clean %q", got)
	}
	if got := dicomString(strings.Repeat("é", 70), 64, false); got != strings.Repeat("é", 64) {
		t.Errorf("LO truncation %q", got)
	}
	seen := map[string]bool{}
	valid := regexp.MustCompile(`^2\.25\.[1-9][0-9]*$`)
	for i := 0; i < 100; i++ {
		u, err := newUID()
		if err != nil {
			t.Fatal(err)
		}
		if !valid.MatchString(u) || len(u) > 64 || seen[u] {
			t.Fatalf("UID %q (length %d, repeated %v)", u, len(u), seen[u])
		}
		seen[u] = true
	}
}

func TestDICOMRefusesOtherChannelCounts(t *testing.T) {
	bad := Image{Channels: 2, Height: 1, Width: 1, Data: []float32{0, 0}, Range: [2]float64{0, 1}}
	err := Formats["dicom"].Encode(&bytes.Buffer{}, bad, prov)
	if err == nil || !strings.Contains(err.Error(), "npy") || !strings.Contains(err.Error(), "nifti") {
		t.Fatalf("2-channel DICOM: %v", err)
	}
	if e := Formats["dicom"].Ext(); e != ".dcm" {
		t.Fatalf("extension %q", e)
	}
}

// TestDICOMPart10Header checks the file layout without any DICOM library:
// preamble, DICM, and a group-length value that matches group 0002.
func TestDICOMPart10Header(t *testing.T) {
	var buf bytes.Buffer
	if err := Formats["dicom"].Encode(&buf, gray(-1, 0, 1), prov); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.Equal(b[:128], make([]byte, 128)) || string(b[128:132]) != "DICM" {
		t.Fatalf("no preamble/DICM")
	}
	// (0002,0000) UL, length 4, value = bytes of the rest of group 2.
	if !bytes.Equal(b[132:140], []byte{2, 0, 0, 0, 'U', 'L', 4, 0}) {
		t.Fatalf("group length element % x", b[132:140])
	}
	groupLen := int(binary.LittleEndian.Uint32(b[140:]))
	pos := 144
	for pos < len(b) && binary.LittleEndian.Uint16(b[pos:]) == 2 {
		vr := string(b[pos+4 : pos+6])
		if vr == "OB" || vr == "OW" || vr == "UN" || vr == "UT" || vr == "SQ" {
			pos += 12 + int(binary.LittleEndian.Uint32(b[pos+8:]))
		} else {
			pos += 8 + int(binary.LittleEndian.Uint16(b[pos+6:]))
		}
	}
	if pos-144 != groupLen {
		t.Fatalf("group 0002 holds %d bytes, its length says %d", pos-144, groupLen)
	}
	if !bytes.Contains(b[144:pos], []byte("1.2.840.10008.1.2.1\x00")) {
		t.Fatalf("transfer syntax is not explicit VR little endian")
	}
}

// TestDICOMReadableByPydicom reads the files with Debian's pydicom, with
// strict value validation, and checks pixels, the synthetic markers, the
// absence of patient identifiers and the UIDs.
func TestDICOMReadableByPydicom(t *testing.T) {
	dir := t.TempDir()
	grayProv := prov
	grayProv.Modality, grayProv.Organ = "Brain MRI", "brain"
	rgbProv := prov
	rgbProv.Modality, rgbProv.Organ, rgbProv.Index = "endoscopy", "polyps", 0
	g := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{-1, -0.5, 0.1, 0.999, 1, 7}, Range: [2]float64{-1, 1}}
	rgb := Image{Channels: 3, Height: 1, Width: 3, Data: []float32{0, 0.5, 1, 1, 0.25, 0, -2, 0.75, 2}, Range: [2]float64{0, 1}}
	for _, f := range []struct {
		name string
		img  Image
		p    Provenance
	}{{"a.dcm", g, grayProv}, {"b.dcm", g, grayProv}, {"rgb.dcm", rgb, rgbProv}} {
		var buf bytes.Buffer
		if err := Formats["dicom"].Encode(&buf, f.img, f.p); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `
import json, re, sys, numpy as np, pydicom
from pydicom import config
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
config.settings.reading_validation_mode = config.RAISE
d = sys.argv[1]
a = pydicom.dcmread(d + "/a.dcm")
b = pydicom.dcmread(d + "/b.dcm")
SC = "1.2.840.10008.5.1.4.1.1.7"
fm = a.file_meta
assert fm.TransferSyntaxUID == "1.2.840.10008.1.2.1", fm.TransferSyntaxUID
assert fm.MediaStorageSOPClassUID == SC and a.SOPClassUID == SC
assert fm.MediaStorageSOPInstanceUID == a.SOPInstanceUID
assert list(a.ImageType) == ["DERIVED", "SECONDARY"], a.ImageType
assert a.ConversionType == "SYN" and a.Modality == "MR" and a.BodyPartExamined == "BRAIN"
for kw in ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "ReferringPhysicianName"]:
    assert kw in a and a.data_element(kw).value in ("", None), (kw, a.data_element(kw).value)
assert a.PatientIdentityRemoved == "YES" and a.BurnedInAnnotation == "NO"
assert a.InstanceNumber == 4 and a.SeriesDescription == "00101_TEST" and a.Manufacturer == "medzoo"
assert a.DerivationDescription.startswith("SYNTHETIC") and "demonstration" in a.DerivationDescription
p = json.loads(a.ImageComments)
assert p["synthetic"] is True and p["index"] == 3 and p["modality"] == "Brain MRI", p
uid = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
uids = {}
for ds in (a, b):
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        u = str(ds.data_element(kw).value)
        assert uid.match(u) and len(u) <= 64 and u.startswith("2.25."), u
        assert u not in uids, ("repeated UID", kw, u)
        uids[u] = kw
# Apart from the UIDs the two files are identical.
for ds in (a, b):
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        delattr(ds, kw)
assert a == b
# Pixels: 16-bit, quantised from [-1, 1]; the rescale gives model values back.
arr = a.pixel_array
assert arr.dtype == np.uint16 and arr.shape == (2, 3), (arr.dtype, arr.shape)
v = np.array([[-1, -0.5, 0.1], [0.999, 1, 7]])
want = np.round((np.clip(v, -1, 1) + 1) / 2 * 65535)
assert (arr == want).all(), (arr, want)
back = apply_modality_lut(arr, a)
assert np.abs(back - np.clip(v, -1, 1)).max() <= 1 / 65535 + 1e-9, back
assert a.RescaleType == "US" and a.PhotometricInterpretation == "MONOCHROME2" and a.BitsStored == 16
# The window spans the declared range: -1 is the darkest, 1 the brightest.
shown = apply_voi_lut(back, a)
assert shown[0, 0] == shown.min() and shown[1, 1] == shown.max() and shown[0, 1] < shown[0, 2] < shown[1, 0], shown
c = pydicom.dcmread(d + "/rgb.dcm")
arr = c.pixel_array
assert c.PhotometricInterpretation == "RGB" and c.PlanarConfiguration == 0 and c.SamplesPerPixel == 3
assert arr.dtype == np.uint8 and arr.shape == (1, 3, 3), (arr.dtype, arr.shape)
assert arr.tolist() == [[[0, 255, 0], [128, 64, 191], [255, 0, 255]]], arr.tolist()
assert c.Modality == "ES" and "BodyPartExamined" not in c and c.InstanceNumber == 1
assert "RescaleSlope" not in c
print("ok")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("pydicom check: %v\n%s", err, out)
	}
}
