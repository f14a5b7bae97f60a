package output

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
		u := derivedUID("instance", "run", strconv.Itoa(i))
		if !valid.MatchString(u) || len(u) > 64 || seen[u] {
			t.Fatalf("UID %q (length %d, repeated %v)", u, len(u), seen[u])
		}
		seen[u] = true
		if again := derivedUID("instance", "run", strconv.Itoa(i)); again != u {
			t.Fatalf("UID of the same parts differs: %s, %s", u, again)
		}
	}
	// Parts are separated: ("ab", "c") is not ("a", "bc").
	if derivedUID("ab", "c") == derivedUID("a", "bc") {
		t.Fatal("UID parts run together")
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
// strict value validation, and checks pixels and their modality and VOI
// mapping (unit-less, MR 12-bit, CT in HU, RGB), the synthetic markers, the
// absence of patient identifiers, the study and series UIDs shared by a
// run, and masks and label maps as Segmentations of their image.
func TestDICOMReadableByPydicom(t *testing.T) {
	dir := t.TempDir()
	run := prov
	run.Modality, run.Organ, run.Run, run.Output, run.OutputNumber = "Brain MRI", "brain", "run-1", "image", 1
	next := run
	next.Index = 4
	rgbProv := prov
	rgbProv.Modality, rgbProv.Organ, rgbProv.Index = "endoscopy", "polyps", 0
	maskProv := run
	maskProv.Output, maskProv.OutputNumber, maskProv.ImageOutput = "mask", 2, "image"
	ctProv := run
	ctProv.Modality = "CT"
	g := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{-1, -0.5, 0.1, 0.999, 1, 7}, Range: [2]float64{-1, 1}}
	mr := g
	mr.Physical = Physical{Units: UnitsMR, StoredBits: 12, SpacingMM: []float64{3.390625, 3.390625}, Plane: "coronal"}
	ct := g
	ct.Physical = Physical{Units: UnitsHU, Scale: 200, Offset: 40, SpacingMM: []float64{3.828, 3.5}, Plane: "axial"}
	mask := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{0, 0.49, 0.5, 0.51, 1, -3}, Range: [2]float64{0, 1}, Mask: true,
		Physical: Physical{SpacingMM: []float64{3.828, 3.5}, Plane: "axial"}}
	label := Image{Channels: 1, Height: 2, Width: 3, Data: []float32{0, 1, 2, 1.4, 1.6, 9}, Range: [2]float64{0, 2}, Label: true}
	rgb := Image{Channels: 3, Height: 1, Width: 3, Data: []float32{0, 0.5, 1, 1, 0.25, 0, -2, 0.75, 2}, Range: [2]float64{0, 1}}
	encoded := map[string][]byte{}
	for _, f := range []struct {
		name string
		img  Image
		p    Provenance
	}{{"a.dcm", g, run}, {"again.dcm", g, run}, {"b.dcm", g, next}, {"mr.dcm", mr, run}, {"ct.dcm", ct, ctProv},
		{"mask.dcm", mask, maskProv}, {"label.dcm", label, maskProv}, {"rgb.dcm", rgb, rgbProv}} {
		var buf bytes.Buffer
		if err := Formats["dicom"].Encode(&buf, f.img, f.p); err != nil {
			t.Fatal(f.name, err)
		}
		encoded[f.name] = buf.Bytes()
		if err := os.WriteFile(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(encoded["a.dcm"], encoded["again.dcm"]) {
		t.Fatal("the same sample of the same run gives different DICOM bytes")
	}
	script := `
import json, re, sys, numpy as np, pydicom
from pydicom import config
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
config.settings.reading_validation_mode = config.RAISE
d = sys.argv[1]
a, b, mr, ct, mask, label, c = (pydicom.dcmread(d + "/" + n + ".dcm") for n in ("a", "b", "mr", "ct", "mask", "label", "rgb"))
SC, SEG = "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.66.4"
fm = a.file_meta
assert fm.TransferSyntaxUID == "1.2.840.10008.1.2.1", fm.TransferSyntaxUID
assert fm.MediaStorageSOPClassUID == SC and a.SOPClassUID == SC
assert fm.MediaStorageSOPInstanceUID == a.SOPInstanceUID
for ds in (a, mask):
    assert ds.ImageType[0] == "DERIVED", ds.ImageType
    for kw in ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "ReferringPhysicianName"]:
        assert kw in ds and ds.data_element(kw).value in ("", None), (kw, ds.data_element(kw).value)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.ContentDate == "19700101" and ds.ContentTime == "000000" and ds.StudyDate == "19700101"
    assert ds.DerivationDescription.startswith("SYNTHETIC") and "demonstration" in ds.DerivationDescription
    assert json.loads(ds.ImageComments)["synthetic"] is True
assert list(a.ImageType) == ["DERIVED", "SECONDARY"], a.ImageType
assert a.ConversionType == "SYN" and a.Modality == "MR" and a.BodyPartExamined == "BRAIN" and a.BurnedInAnnotation == "NO"
assert a.InstanceNumber == 4 and a.SeriesNumber == 1 and a.Manufacturer == "medzoo"
assert a.SeriesDescription == "SYNTHETIC 00101_TEST image", a.SeriesDescription
p = json.loads(a.ImageComments)
assert p["index"] == 3 and p["modality"] == "Brain MRI", p
uid = re.compile(r"^2\.25\.[1-9][0-9]*$")
for ds in (a, b, mask):
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        u = str(ds.data_element(kw).value)
        assert uid.match(u) and len(u) <= 64, u
# One study and series per run and output; one instance per sample.
assert a.StudyInstanceUID == b.StudyInstanceUID == mask.StudyInstanceUID
assert a.SeriesInstanceUID == b.SeriesInstanceUID != mask.SeriesInstanceUID
assert a.SOPInstanceUID != b.SOPInstanceUID and b.InstanceNumber == 5
assert c.StudyInstanceUID != a.StudyInstanceUID

v = np.array([[-1, -0.5, 0.1], [0.999, 1, 7]])
# No units: 16 bits quantised from [-1, 1], slope 1, the window spans 0..65535.
arr = a.pixel_array
assert arr.dtype == np.uint16 and arr.shape == (2, 3), (arr.dtype, arr.shape)
want = np.round((np.clip(v, -1, 1) + 1) / 2 * 65535)
assert (arr == want).all(), (arr, want)
assert a.RescaleType == "US" and a.RescaleSlope == 1 and a.RescaleIntercept == 0 and a.BitsStored == 16
assert a.WindowCenter == 32768 and a.WindowWidth == 65536, (a.WindowCenter, a.WindowWidth)
assert "PixelSpacing" not in a and a.PatientOrientation in ("", None, []), a.PatientOrientation
shown = apply_voi_lut(apply_modality_lut(arr, a), a)
assert shown[0, 0] == shown.min() and shown[1, 1] == shown.max() and shown[0, 1] < shown[0, 2] < shown[1, 0], shown
# MR: 12 bits stored, window 0..4095, spacing and orientation.
arr = mr.pixel_array
assert mr.BitsStored == 12 and mr.HighBit == 11 and mr.PixelRepresentation == 0
assert (arr == np.round((np.clip(v, -1, 1) + 1) / 2 * 4095)).all(), arr
assert mr.WindowCenter == 2048 and mr.WindowWidth == 4096
assert [float(x) for x in mr.PixelSpacing] == [3.390625, 3.390625] and list(mr.PatientOrientation) == ["R", "F"]
# CT: signed 16-bit HU = round(40 + 200 v), not clipped to the range; the window is the range in HU.
arr = ct.pixel_array
assert ct.PixelRepresentation == 1 and arr.dtype == np.int16 and ct.RescaleType == "HU" and ct.Modality == "CT"
assert (arr == np.round(40 + 200 * v)).all(), arr
assert (apply_modality_lut(arr, ct) == arr).all()
assert ct.WindowCenter == 40.5 and ct.WindowWidth == 401, (ct.WindowCenter, ct.WindowWidth)
assert [float(x) for x in ct.PixelSpacing] == [3.828, 3.5] and list(ct.PatientOrientation) == ["R", "P"]
# A mask: a binary Segmentation of the CT sample of the same index, value >= 0.5.
assert mask.SOPClassUID == SEG and mask.Modality == "SEG" and mask.SegmentationType == "BINARY" and mask.SeriesNumber == 2
assert mask.BitsAllocated == 1 and mask.NumberOfFrames == 1
m = mask.pixel_array
assert m.tolist() == [[0, 0, 1], [1, 1, 0]], m.tolist()
src = mask.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
assert src.ReferencedSOPInstanceUID == ct.SOPInstanceUID and src.ReferencedSOPClassUID == SC
ref = mask.ReferencedSeriesSequence[0]
assert ref.SeriesInstanceUID == ct.SeriesInstanceUID and ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == ct.SOPInstanceUID
assert [float(x) for x in mask.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing] == [3.828, 3.5]
assert mask.SegmentSequence[0].SegmentLabel == "mask" and mask.SegmentSequence[0].SegmentAlgorithmName == "00101_TEST"
# A label map of range [0, 2]: segments 1 and 2, one frame each.
assert label.NumberOfFrames == 2 and len(label.SegmentSequence) == 2
l = label.pixel_array
assert l.shape == (2, 2, 3) and l[0].tolist() == [[0, 1, 0], [1, 0, 0]] and l[1].tolist() == [[0, 0, 1], [0, 1, 0]], l.tolist()
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
	for _, name := range []string{"a.dcm", "mr.dcm", "ct.dcm", "mask.dcm", "label.dcm", "rgb.dcm"} {
		checkDciodvfy(t, filepath.Join(dir, name))
	}
}

// dciodvfyAllowed are the only messages dciodvfy may print about a zoo
// DICOM file; docs/formats.md says why each is right.
var dciodvfyAllowed = []string{
	// PatientID is empty on purpose: a synthetic image has no patient.
	"Warning - Missing attribute or value that would be needed to build DICOMDIR - Patient ID",
	// Laterality is empty where the catalog names no organ or a paired
	// one: the side of a synthetic image is unknown.
	"Warning - is only permitted to be empty when actually unknown; should be absent (not empty) if an unpaired body part, and have a value if a paired body part - attribute <Laterality>",
}

// checkDciodvfy runs dicom3tools' validator on a file: no errors, and no
// warnings but the allowed ones.
func checkDciodvfy(t *testing.T, path string) {
	t.Helper()
	out, _ := exec.Command("dciodvfy", path).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		ok := line == "SCImage" || line == "Segmentation" || slices.Contains(dciodvfyAllowed, line)
		if !ok {
			t.Errorf("dciodvfy %s: %s\n%s", filepath.Base(path), line, out)
		}
	}
}
