package main_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// niftiCheck is run by /usr/bin/python3 on a model's per-sample run (argv
// 2) and stacked run (argv 3, "-" for none): nibabel reads every file each
// manifest line names, checks what the catalog declares for the model
// (argv 1), and checks that slice k of each stacked volume holds sample k's
// voxels.
const niftiCheck = `
import json, sys, numpy as np, nibabel as nib
model, per, stk = sys.argv[1], sys.argv[2], sys.argv[3]
def manifest(d):
    return [json.loads(l) for l in open(d + "/manifest.jsonl")]
pr = manifest(per)
sr = manifest(stk) if stk != "-" else [None] * len(pr)
assert len(pr) == len(sr) > 0, (len(pr), len(sr))
codes = {"axial": ("R", "A", "S"), "coronal": ("R", "S", "P"), "sagittal": ("A", "S", "R")}
planes = set()
vols = {}
for p, s in zip(pr, sr):
    k = p["index"]
    for out, name in p["files"].items():
        one = nib.load(per + "/" + name)
        h = one.header
        a = np.asanyarray(one.dataobj.get_unscaled())
        if s is None:
            pass
        elif s["files"][out] not in vols:
            vols[s["files"][out]] = nib.load(stk + "/" + s["files"][out])
        if s is not None:
            assert s["index"] == k and s["slice"] == k and "slice" not in p, (p, s)
            vol = vols[s["files"][out]]
            assert vol.shape[2] == len(sr) and vol.shape[:2] == one.shape[:2], (vol.shape, one.shape)
            b = np.asanyarray(vol.dataobj.get_unscaled())
            assert a.dtype == b.dtype and (b[:, :, k] == a[:, :, 0]).all(), (name, k)
            # (with no orientation, nibabel centres a guessed affine on the
            # volume, whose depth differs: compare the codes instead)
            assert int(vol.header["sform_code"]) == int(h["sform_code"]), name
            assert int(h["sform_code"]) == 0 or np.allclose(vol.affine, one.affine), name
            assert vol.header.get_zooms() == h.get_zooms(), name
            assert vol.header.get_intent() == h.get_intent(), name
        if model.startswith("00103") and out == "mask":
            assert h.get_data_dtype() == np.uint8 and int(h["intent_code"]) == 1002, h.get_intent()
            assert set(np.unique(a)) <= {0, 1} and float(h["cal_max"]) == 1
        else:
            assert h.get_data_dtype() == np.float32 and int(h["intent_code"]) == 0
        if model.startswith("00105"):
            v = a.astype(np.float64)
            assert np.allclose(one.get_fdata(), 40 + 200 * v, atol=1e-3), name
            assert np.allclose(h.get_zooms(), (3.828, 3.828, 3.828)), h.get_zooms()
            assert float(h["cal_min"]) == -160 and float(h["cal_max"]) == 240
            assert nib.aff2axcodes(one.affine) == ("R", "A", "S") and int(h["sform_code"]) == 1
        elif model.startswith("00102"):
            assert int(h["qform_code"]) == 1 and int(h["sform_code"]) == 1, name
            plane = p["conditions"]["plane"]
            planes.add(plane)
            assert nib.aff2axcodes(one.affine) == codes[plane], (name, plane, one.affine)
            assert np.allclose(h.get_zooms(), (3.390625,) * 3), h.get_zooms()
        else:
            # No plane declared: no orientation claimed, the spacing kept.
            assert int(h["qform_code"]) == 0 and int(h["sform_code"]) == 0, name
            assert np.allclose(h.get_zooms(), (3.390625,) * 3), h.get_zooms()
if model.startswith("00102") and stk == "-":
    assert planes == set(codes), planes  # a mixed run has all three
print("ok")
`

// niftiFiles lists the .nii and .nii.gz files in dirs.
func niftiFiles(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".nii") || strings.HasSuffix(e.Name(), ".nii.gz") {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
	}
	return out
}

// TestNIfTIBundledModels: for every bundled model, per-sample .nii files
// and a stacked .nii.gz run pass nifti_tool's header and image checks,
// read back in nibabel as the catalog declares them (model 00102's three
// planes with their own affines, 00103's masks as uint8 labels, 00105 in
// HU at 3.828 mm, no orientation where no plane is declared), and slice k
// of each stacked volume is sample k's file.
func TestNIfTIBundledModels(t *testing.T) {
	inputs := filepath.Join("..", "..", "docs", "models", "00104_inputs")
	for _, c := range []struct {
		id    string
		args  []string
		stack []string
	}{
		{"00101_DCGAN_MRI_COLIN27_DEMO", nil, nil},
		// 00102's samples mix planes; a stacked run fixes one.
		{"00102_CDCGAN_MRI_COLIN27_PLANE_DEMO", []string{"-n", "6"}, []string{"--condition", "plane=axial"}},
		{"00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO", nil, nil},
		{"00104_PIX2PIX_MRI_MASK_TO_T1_DEMO", []string{"--input", inputs}, nil},
		{"00105_WGANGP_CT_HEAD_DEMO", nil, nil},
	} {
		t.Run(c.id[:5], func(t *testing.T) {
			per, stk := t.TempDir(), t.TempDir()
			args := with([]string{"generate", c.id, "-n", "4", "--seed", "3", "--format", "nifti"}, c.args...)
			mustOK(t, zoo(t, nil, with(args, "-o", per)...))
			var mixed []string
			if c.stack != nil {
				// 00102: the run of mixed planes is checked for their
				// three affines; the stacked run keeps to one plane, and
				// is compared with a per-sample run of that plane.
				mixed = append(mixed, per)
				per = t.TempDir()
				mustOK(t, zoo(t, nil, with(with(args, c.stack...), "-o", per)...))
				wantFail(t, zoo(t, nil, with(args, "--stack", "-o", t.TempDir())...), 2, "--condition plane=VALUE")
			}
			mustOK(t, zoo(t, nil, with(with(args, c.stack...), "--stack", "--gzip", "-o", stk)...))
			names := niftiFiles(t, append(mixed, per, stk)...)
			out, err := exec.Command("nifti_tool", append([]string{"-check_hdr", "-check_nim", "-infiles"}, names...)...).CombinedOutput()
			if err != nil || strings.Count(string(out), "IS GOOD") != 2*len(names) {
				t.Fatalf("nifti_tool on %d files: %v\n%s", len(names), err, out)
			}
			runs := [][2]string{{per, stk}}
			if mixed != nil {
				runs = append(runs, [2]string{mixed[0], "-"})
			}
			for _, r := range runs {
				out, err = exec.Command("/usr/bin/python3", "-c", niftiCheck, c.id, r[0], r[1]).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "ok" {
					t.Fatalf("nibabel check of %s: %v\n%s", r[0], err, out)
				}
			}
		})
	}
}

// TestNIfTIGzipAndStackResume: --gzip and --stack need --format nifti
// (usage errors); .nii.gz files, per sample and stacked, are the same bytes
// on every run; and a stacked run stopped after two of its samples (its
// partial volume holding slices not yet committed, here zeroed) is
// completed by --resume into the bytes of an uninterrupted run.
func TestNIfTIGzipAndStackResume(t *testing.T) {
	base := []string{"generate", "101", "-n", "4", "--seed", "5"}
	wantFail(t, zoo(t, nil, with(base, "--stack", "-o", t.TempDir())...), 2, "--format nifti")
	wantFail(t, zoo(t, nil, with(base, "--gzip", "--format", "npy", "-o", t.TempDir())...), 2, "--format nifti")

	nifti := with(base, "--format", "nifti")
	for _, extra := range [][]string{{"--gzip"}, {"--gzip", "--stack"}} {
		a, b := t.TempDir(), t.TempDir()
		mustOK(t, zoo(t, nil, with(with(nifti, extra...), "-o", a)...))
		mustOK(t, zoo(t, nil, with(with(nifti, extra...), "-o", b)...))
		sameDirs(t, a, b)
		if len(niftiFiles(t, a)) == 0 {
			t.Fatalf("%v wrote no .nii.gz", extra)
		}
	}

	whole := t.TempDir()
	stacked := with(nifti, "--stack", "--gzip")
	mustOK(t, zoo(t, nil, with(stacked, "-o", whole)...))
	// The state a kill after sample 1 leaves: two manifest lines, the
	// partial volume (samples 2 and 3 not written yet), no final volume.
	stopped := t.TempDir()
	gz, err := os.Open(filepath.Join(whole, "image.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := io.ReadAll(zr)
	gz.Close()
	if err != nil {
		t.Fatal(err)
	}
	off := int(math.Float32frombits(binary.LittleEndian.Uint32(vol[108:])))
	slice := 64 * 64 * 4
	if len(vol) != off+4*slice {
		t.Fatalf("stacked volume of %d bytes, want %d", len(vol), off+4*slice)
	}
	clear(vol[off+2*slice:])
	manifest, err := os.ReadFile(filepath.Join(whole, "manifest.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(manifest, []byte("\n"))
	run, err := os.ReadFile(filepath.Join(whole, "zoo-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"image.nii.gz.partial": vol, "manifest.jsonl": bytes.Join(lines[:2], nil), "zoo-run.json": run} {
		if err := os.WriteFile(filepath.Join(stopped, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantFail(t, zoo(t, nil, "generate", "101", "-n", "6", "--seed", "5", "--format", "nifti", "--stack", "--gzip", "-o", stopped, "--resume"), 1, "resume with -n 4")
	wantFail(t, zoo(t, nil, with(nifti, "--stack", "-o", stopped, "--resume")...), 1, "--gzip")
	r := mustOK(t, zoo(t, nil, with(stacked, "-o", stopped, "--resume", "--json")...))
	if !strings.Contains(r.stdout, `"resumed_from": 2`) {
		t.Fatalf("resume did not continue from sample 2: %s", r.stdout)
	}
	sameDirs(t, whole, stopped)
	// Resuming a complete run changes nothing.
	mustOK(t, zoo(t, nil, with(stacked, "-o", stopped, "--resume")...))
	sameDirs(t, whole, stopped)
}

// with is base followed by extra, in a new slice: appending to a shared
// argument list would let one command's flags overwrite another's.
func with(base []string, extra ...string) []string {
	return append(append([]string(nil), base...), extra...)
}
