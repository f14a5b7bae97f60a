package main_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// bundledRuns are zoo generate arguments for a few samples of every
// bundled model (00104 translates the bundled example masks).
var bundledRuns = [][]string{
	{"00101", "-n", "4"},
	{"00102", "-n", "6"}, // the balanced condition mix: axial, coronal, sagittal
	{"00103", "-n", "4"},
	{"00104", "-n", "4", "--input", filepath.Join("..", "..", "docs", "models", "00104_inputs")},
	{"00105", "-n", "4"},
}

// TestDICOMRendersLikePNG checks zoo's DICOM with validators no one here
// wrote: for every bundled model and output, DCMTK's dcmj2pnm (its
// modality LUT, and the file's window: +Wi 1, as viewers open a file)
// draws zoo's 8-bit PNG of the same sample within one grey level (and so
// do dcmj2pnm's plain defaults, no window, for unsigned MR-like values),
// dicom3tools' dciodvfy finds no error and no warning but the empty Patient
// ID, masks are Segmentations that read back (pydicom) as the PNG mask
// thresholded at its middle and reference their image, and a run is one
// study with a series per output.
func TestDICOMRendersLikePNG(t *testing.T) {
	for _, tool := range []string{"dcmj2pnm", "dciodvfy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: install dcmtk and dicom3tools (make test-deps)", tool)
		}
	}
	for _, args := range bundledRuns {
		t.Run(args[0], func(t *testing.T) {
			dir := t.TempDir()
			pngDir, dcmDir := filepath.Join(dir, "png"), filepath.Join(dir, "dcm")
			mustOK(t, zoo(t, nil, append([]string{"generate", "-q", "--seed", "3", "-o", pngDir}, args...)...))
			mustOK(t, zoo(t, nil, append([]string{"generate", "-q", "--seed", "3", "-o", dcmDir, "--format", "dicom"}, args...)...))
			pngs := readManifest(t, pngDir)
			dcms := readManifest(t, dcmDir)
			if len(pngs) != len(dcms) || len(dcms) == 0 {
				t.Fatalf("%d PNG samples, %d DICOM samples", len(pngs), len(dcms))
			}
			for i, rec := range dcms {
				for out, name := range rec.Files {
					path := filepath.Join(dcmDir, name)
					checkDICOMValid(t, path)
					if out == "mask" {
						continue // a Segmentation: checked below with pydicom
					}
					want := readGray8(t, filepath.Join(pngDir, pngs[i].Files[out]))
					compareGray(t, name+" (+Wi 1)", dcmtkRender(t, path, "+Wi", "1"), want)
					if args[0] != "00105" { // CT: signed HU, shown through its window only
						compareGray(t, name+" (defaults)", dcmtkRender(t, path), want)
					}
				}
			}
			checkDICOMRun(t, dcmDir, pngDir)
		})
	}
}

// checkDICOMValid runs dciodvfy: no errors, and no warning but the empty
// Patient ID (docs/formats.md: a synthetic image has no patient).
func checkDICOMValid(t *testing.T, path string) {
	t.Helper()
	out, _ := exec.Command("dciodvfy", path).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch line {
		case "SCImage", "Segmentation",
			"Warning - Missing attribute or value that would be needed to build DICOMDIR - Patient ID":
		default:
			t.Errorf("dciodvfy %s: %s\n%s", filepath.Base(path), line, out)
		}
	}
}

// dcmtkRender is dcmj2pnm's 8-bit rendering of a DICOM file.
func dcmtkRender(t *testing.T, path string, opts ...string) *image.Gray {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "render.png")
	args := append(append([]string{"+on"}, opts...), path, dst)
	if out, err := exec.Command("dcmj2pnm", args...).CombinedOutput(); err != nil {
		t.Fatalf("dcmj2pnm %v: %v\n%s", args, err, out)
	}
	return readGray8(t, dst)
}

func readGray8(t *testing.T, path string) *image.Gray {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("%s is a %T, want 8-bit gray", path, img)
	}
	return g
}

// compareGray fails unless got and want have one size and differ by at
// most one grey level anywhere.
func compareGray(t *testing.T, what string, got, want *image.Gray) {
	t.Helper()
	if got.Bounds() != want.Bounds() {
		t.Fatalf("%s: %v rendered, PNG %v", what, got.Bounds(), want.Bounds())
	}
	worst := 0
	for i := range got.Pix {
		worst = max(worst, abs(int(got.Pix[i])-int(want.Pix[i])))
	}
	if worst > 1 {
		t.Errorf("%s: rendering differs from zoo's PNG by up to %d grey levels", what, worst)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// checkDICOMRun checks, with pydicom, what ties a run's files together and
// the Segmentations' pixels.
func checkDICOMRun(t *testing.T, dcmDir, pngDir string) {
	t.Helper()
	script := `
import json, sys, numpy as np, pydicom
from PIL import Image
dcm, png = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(dcm + "/manifest.jsonl")]
pngs = [json.loads(l) for l in open(png + "/manifest.jsonl")]
cat = json.load(open(sys.argv[3]))
outs = {o["name"]: o for o in cat["signature"]["outputs"]}
order = [o["name"] for o in cat["signature"]["outputs"]]
studies, series = set(), {}
for rec, prec in zip(recs, pngs):
    images = {}
    for out, name in rec["files"].items():
        ds = pydicom.dcmread(dcm + "/" + name)
        studies.add(ds.StudyInstanceUID)
        series.setdefault(out, set()).add(ds.SeriesInstanceUID)
        assert ds.InstanceNumber == rec["index"] + 1, (name, ds.InstanceNumber)
        assert ds.SeriesNumber == order.index(out) + 1, (name, ds.SeriesNumber)
        assert ds.PatientIdentityRemoved == "YES" and ds.PatientID == "" and ds.PatientName == ""
        assert ds.ImageType[0] == "DERIVED" and json.loads(ds.ImageComments)["synthetic"] is True
        spec = outs[out]
        spacing = spec.get("spacing_mm")
        if ds.Modality == "SEG":
            got = [float(x) for x in ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing]
        else:
            got = [float(x) for x in ds.PixelSpacing] if "PixelSpacing" in ds else None
            images[out] = ds
        assert got == spacing, (name, got, spacing)
        plane = spec.get("plane") or (rec.get("conditions") or {}).get(spec.get("plane_condition", ""))
        want = {"axial": ["R", "P"], "coronal": ["R", "F"], "sagittal": ["A", "F"]}.get(plane, [])
        got = list(ds.PatientOrientation) if ds.PatientOrientation else []
        assert got == want, (name, plane, got)
        if spec.get("units") == "HU":
            assert ds.PixelRepresentation == 1 and ds.RescaleType == "HU" and ds.RescaleSlope == 1 and ds.Modality == "CT"
        elif spec.get("units") == "MR":
            assert ds.BitsStored == spec["stored_bits"] and ds.Modality == "MR" and ds.RescaleSlope == 1
    for out, name in rec["files"].items():
        if outs[out]["kind"] != "mask":
            continue
        ds = pydicom.dcmread(dcm + "/" + name)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and ds.SegmentationType == "BINARY"
        want = np.asarray(Image.open(png + "/" + prec["files"][out])) >= 128
        assert (ds.pixel_array.astype(bool) == want).all(), name
        img = images["image"]
        src = ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
        assert src.ReferencedSOPInstanceUID == img.SOPInstanceUID, name
        assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == img.SeriesInstanceUID, name
assert len(studies) == 1, studies
assert all(len(s) == 1 for s in series.values()) and len({min(s) for s in series.values()}) == len(series), series
print("ok")
`
	info := mustOK(t, zoo(t, nil, "info", readManifest(t, dcmDir)[0].Model, "--json")).stdout
	entry := filepath.Join(t.TempDir(), "entry.json")
	if err := os.WriteFile(entry, []byte(info), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", script, dcmDir, pngDir, entry).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("DICOM run check: %v\n%s", err, out)
	}
}

// TestDICOMRepeatAndResume: the same run gives byte-identical DICOM files
// whatever the batch size, and a stopped run resumed gives the files of an
// uninterrupted one (their UIDs derive from the run, not from chance).
func TestDICOMRepeatAndResume(t *testing.T) {
	dir := t.TempDir()
	full, again, resumed := filepath.Join(dir, "full"), filepath.Join(dir, "again"), filepath.Join(dir, "resumed")
	gen := func(out string, n int, extra ...string) {
		args := append([]string{"generate", "00103", "-q", "--seed", "11", "--format", "dicom", "-o", out, "-n", strconv.Itoa(n)}, extra...)
		mustOK(t, zoo(t, nil, args...))
	}
	gen(full, 6)
	gen(again, 6, "--batch-size", "4")
	sameDirs(t, full, again)
	gen(resumed, 3)
	gen(resumed, 6, "--resume")
	sameDirs(t, full, resumed)
	if n := len(readManifest(t, full)); n != 6 {
		t.Fatalf("%d samples", n)
	}
	other := filepath.Join(dir, "other-seed")
	mustOK(t, zoo(t, nil, "generate", "00103", "-q", "--seed", "12", "--format", "dicom", "-o", other, "-n", "1"))
	a, _ := os.ReadFile(filepath.Join(full, "00000_image.dcm"))
	b, _ := os.ReadFile(filepath.Join(other, "00000_image.dcm"))
	if bytes.Equal(a, b) || len(a) == 0 {
		t.Fatal(fmt.Sprintf("runs of different seeds give the same DICOM file (%d bytes)", len(a)))
	}
}

// TestDICOMSegmentationAsInput: model 00103's masks written as DICOM
// Segmentations feed the mask-to-image model 00104 as its PNG masks do,
// giving the same images.
func TestDICOMSegmentationAsInput(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"png", "dicom"} {
		mustOK(t, zoo(t, nil, "generate", "00103", "-q", "-n", "3", "--seed", "5", "--format", f, "-o", filepath.Join(dir, "pairs-"+f)))
		masks := filepath.Join(dir, "masks-"+f)
		if err := os.MkdirAll(masks, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, rec := range readManifest(t, filepath.Join(dir, "pairs-"+f)) {
			data, err := os.ReadFile(filepath.Join(dir, "pairs-"+f, rec.Files["mask"]))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(masks, rec.Files["mask"]), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		mustOK(t, zoo(t, nil, "generate", "00104", "-q", "--input", masks, "-o", filepath.Join(dir, "from-"+f)))
	}
	a, b := readManifest(t, filepath.Join(dir, "from-png")), readManifest(t, filepath.Join(dir, "from-dicom"))
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("%d and %d samples", len(a), len(b))
	}
	for i := range a {
		pa := filepath.Join(dir, "from-png", a[i].Files["image"])
		pb := filepath.Join(dir, "from-dicom", b[i].Files["image"])
		// The same pixels (the provenance names other input files).
		if !bytes.Equal(readGray8(t, pa).Pix, readGray8(t, pb).Pix) {
			t.Errorf("sample %d: the image made from the DICOM mask differs from the one made from the PNG mask", i)
		}
	}
}
