package zoo

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"medzoo/internal/catalogtest"
)

type mediganEntry struct {
	Selection struct {
		Performance map[string]any `json:"performance"`
	} `json:"selection"`
}

// readMedigan returns the entries of medigan's catalog, the one the
// medigan block of zoo.toml is generated from.
func readMedigan(t *testing.T) map[string]mediganEntry {
	t.Helper()
	path, data := catalogtest.Medigan(t)
	var m map[string]mediganEntry
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func TestEmbeddedCatalogParses(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatalf("embedded catalog does not parse:\n%v", err)
	}
	if c.Schema != SchemaVersion || !reflect.DeepEqual(c.Sources, []string{EmbeddedSource}) {
		t.Errorf("schema %d, sources %v", c.Schema, c.Sources)
	}
	lines := strings.Split(string(embeddedCatalog), "\n")
	for _, m := range c.Models {
		if m.Source != EmbeddedSource {
			t.Errorf("%s: source %q", m.ID, m.Source)
		}
		// Line must point at the [[model]] header whose table holds this id.
		if m.Line < 1 || m.Line >= len(lines) || lines[m.Line-1] != "[[model]]" ||
			!strings.Contains(lines[m.Line], `"`+m.ID+`"`) {
			t.Errorf("%s: Line %d does not point at its [[model]] header", m.ID, m.Line)
		}
	}
	// Each call hands out its own model list.
	c.Models = c.Models[:0]
	again, _ := Embedded()
	if len(again.Models) == 0 {
		t.Error("Embedded returned a shared model list")
	}
}

func TestEmbeddedCatalogMatchesMedigan(t *testing.T) {
	medigan := readMedigan(t)
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if len(medigan) != 23 {
		t.Errorf("medigan JSON holds %d models, want 23", len(medigan))
	}
	for id, e := range medigan {
		m := c.Get(id)
		if m == nil {
			t.Errorf("medigan model %s is not in the catalog", id)
			continue
		}
		if m.ID != id || m.Artifact.Format != FormatPythonPackage || m.Runnable() || m.Upstream == nil {
			t.Errorf("%s: id %q, format %q, runnable %v, upstream %v", id, m.ID, m.Artifact.Format, m.Runnable(), m.Upstream)
		}
		if m.Function != FunctionNoiseToImage && m.Function != FunctionImageToImage {
			t.Errorf("%s: function %q", id, m.Function)
		}
		perf := e.Selection.Performance
		images, _ := perf["FID_no_images"].(float64)
		for _, name := range []string{"FID", "FID_ratio", "FID_RADIMAGENET", "FID_RADIMAGENET_ratio"} {
			want, ok := perf[name].(float64)
			got, have := m.Metrics[name]
			switch {
			case ok && !have:
				t.Errorf("%s: metric %s = %v missing from the catalog", id, name, want)
			case !ok && have:
				t.Errorf("%s: metric %s in the catalog but not in medigan", id, name)
			case ok && got.Value != want:
				t.Errorf("%s: %s = %v in the catalog, %v in medigan", id, name, got.Value, want)
			case ok && (got.Images != int(images) || got.Source != "self-reported (medigan)" || got.Extractor == "" || got.Direction == ""):
				t.Errorf("%s: %s protocol %+v (medigan FID_no_images %v)", id, name, got, images)
			}
		}
		if _, ok := m.Metrics["FID_no_images"]; ok {
			t.Errorf("%s: FID_no_images is an image count, not a metric", id)
		}
	}
	// Spot checks of the conversion rules.
	for id, fn := range map[string]string{
		"00001_DCGAN_MMG_CALC_ROI":          FunctionNoiseToImage,
		"00003_CYCLEGAN_MMG_DENSITY_FULL":   FunctionImageToImage,
		"00004_PIX2PIX_MMG_MASSES_W_MASKS":  FunctionImageToImage, // mask to image
		"00009_PGGAN_POLYP_PATCHES_W_MASKS": FunctionNoiseToImage, // noise to image and mask
		"00021_CYCLEGAN_BRAIN_MRI_T1_T2":    FunctionImageToImage, // empty list, CycleGAN
		"00023_PIX2PIXHD_BREAST_DCEMRI":     FunctionImageToImage, // empty list, pix2pixHD
	} {
		if m := c.Get(id); m == nil || m.Function != fn {
			t.Errorf("%s: function %v, want %s", id, m, fn)
		}
	}
	m := c.Get("00021_CYCLEGAN_BRAIN_MRI_T1_T2")
	if m.Height != 224 || m.Width != 192 || m.Depth != 0 {
		t.Errorf("00021 size %dx%dx%d, want 224x192x0", m.Height, m.Width, m.Depth)
	}
	if got := c.Get("00023_PIX2PIXHD_BREAST_DCEMRI").Metrics["SEG.trained_on_real_and_fake.dice"]; got.Value != 0.797 || got.Direction != "higher" {
		t.Errorf("00023 dice from the string \"0.797\": %+v", got)
	}
	if got := c.Get("00002_DCGAN_MMG_MASS_ROI").Metrics["CLF.trained_on_real.f1"]; got.Value != 0.9 {
		t.Errorf("00002 CLF.trained_on_real.f1 = %+v", got)
	}
	if got := c.Get("00009_PGGAN_POLYP_PATCHES_W_MASKS").Metrics["SEG.trained_on_fake.dice_loss"]; got.Direction != "lower" {
		t.Errorf("dice_loss direction %q, want lower", got.Direction)
	}
	if up := c.Get("00008_C-DCGAN_MMG_MASSES").Upstream; up == nil || up.LatentSize != 100 || up.Package != "00008_C-DCGAN_MMG_MASSES" {
		t.Errorf("00008 upstream %+v", up)
	}
}

func TestMediganScriptCheck(t *testing.T) {
	mediganJSON, _ := catalogtest.Medigan(t) // skips without the JSON
	cmd := exec.Command("/usr/bin/python3", "../scripts/medigan_to_toml.py", "--check")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zoo.toml's medigan block is out of date (%v):\n%s", err, out)
	}

	// On a stale copy, the script rewrites the block and nothing else.
	real, err := os.ReadFile("../zoo.toml")
	if err != nil {
		t.Fatal(err)
	}
	const begin = "# BEGIN medigan"
	i, j := strings.Index(string(real), begin), strings.Index(string(real), "# END medigan\n")
	if i < 0 || j < 0 {
		t.Fatal("zoo.toml lacks the medigan markers")
	}
	header := strings.SplitAfterN(string(real[i:]), "\n", 2)[0]
	stale := "# my own preamble\nschema = 1\n\n" + header + "[[model]]\nid = \"stale\"\n# END medigan\n\n# mine after\n"
	path := filepath.Join(t.TempDir(), "zoo.toml")
	if err := os.WriteFile(path, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	check := exec.Command("/usr/bin/python3", "../scripts/medigan_to_toml.py", mediganJSON, "--toml", path, "--check")
	if err := check.Run(); err == nil {
		t.Error("--check passed on a stale block")
	}
	if out, err := exec.Command("/usr/bin/python3", "../scripts/medigan_to_toml.py", mediganJSON, "--toml", path).CombinedOutput(); err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(path)
	want := "# my own preamble\nschema = 1\n\n" + string(real[i:j]) + "# END medigan\n\n# mine after\n"
	if string(got) != want {
		t.Error("script changed more than the medigan block, or generated a different block")
	}
}

func TestResolve(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	const id8 = "00008_C-DCGAN_MMG_MASSES"
	for _, tc := range []struct {
		query   string
		want    string   // resolved id
		suggest []string // NotFoundError suggestions
		among   []string // AmbiguousError candidates
		message string
	}{
		{query: "8", want: id8},
		{query: "08", want: id8},
		{query: "00008", want: id8},
		{query: " 8 ", want: id8},
		{query: id8, want: id8},
		{query: "00008_c-dcgan_mmg_masses", want: id8},
		{query: "00008_c-dcgan", want: id8},
		{query: "23", want: "00023_PIX2PIXHD_BREAST_DCEMRI"},
		{query: "00012", want: "00012_C-DCGAN_MMG_MASSES"},
		{query: "fastgan_polyp_patches_w_masks", want: "00010_FASTGAN_POLYP_PATCHES_W_MASKS"},
		{query: "C-DCGAN_MMG_MASES",
			suggest: []string{id8, "00012_C-DCGAN_MMG_MASSES"},
			message: `no model "C-DCGAN_MMG_MASES" in the catalog; did you mean: 00008_C-DCGAN_MMG_MASSES, 00012_C-DCGAN_MMG_MASSES? (zoo list shows all)`},
		{query: "cylcegan",
			suggest: []string{"00003_CYCLEGAN_MMG_DENSITY_FULL", "00013_CYCLEGAN_MMG_DENSITY_OPTIMAM_MLO", "00014_CYCLEGAN_MMG_DENSITY_OPTIMAM_CC"}},
		{query: "99", suggest: []string{}, message: `no model "99" in the catalog; to find models by what they are, try: zoo search "99" (zoo list shows all)`},
		{query: "xyzzy", suggest: []string{}},
		{query: "0000", among: []string{"00001_DCGAN_MMG_CALC_ROI", "00002_DCGAN_MMG_MASS_ROI", "00003_CYCLEGAN_MMG_DENSITY_FULL",
			"00004_PIX2PIX_MMG_MASSES_W_MASKS", "00005_DCGAN_MMG_MASS_ROI", "00006_WGANGP_MMG_MASS_ROI", "00007_INPAINT_BRAIN_MRI",
			id8, "00009_PGGAN_POLYP_PATCHES_W_MASKS"}},
		{query: "c-dcgan_mmg_masses", among: []string{id8, "00012_C-DCGAN_MMG_MASSES"},
			message: `"c-dcgan_mmg_masses" matches 2 models: 00008_C-DCGAN_MMG_MASSES, 00012_C-DCGAN_MMG_MASSES; give more of the id`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			m, err := c.Resolve(tc.query)
			var nf *NotFoundError
			var amb *AmbiguousError
			switch {
			case tc.want != "":
				if err != nil || m.ID != tc.want {
					t.Fatalf("got %v, %v; want %s", m, err, tc.want)
				}
			case tc.suggest != nil:
				if !errors.As(err, &nf) {
					t.Fatalf("got %v, %v; want NotFoundError", m, err)
				}
				if len(nf.Suggestions) != len(tc.suggest) || (len(tc.suggest) > 0 && !reflect.DeepEqual(nf.Suggestions, tc.suggest)) {
					t.Errorf("suggestions %q, want %q", nf.Suggestions, tc.suggest)
				}
			case tc.among != nil:
				if !errors.As(err, &amb) || !reflect.DeepEqual(amb.Candidates, tc.among) {
					t.Fatalf("got %v, %v; want ambiguity among %v", m, err, tc.among)
				}
			}
			if tc.message != "" && (err == nil || err.Error() != tc.message) {
				t.Errorf("message\n%v\nwant\n%s", err, tc.message)
			}
		})
	}

	if m := c.Get("00008_c-dcgan_mmg_masses"); m == nil || m.ID != id8 {
		t.Errorf("Get ignoring case: %v", m)
	}
	if m := c.Get("8"); m != nil {
		t.Errorf("Get is exact, but Get(8) = %s", m.ID)
	}
}

// validModel is a complete runnable entry; tests break one thing at a time.
const validModel = `[[model]]
id = "90001_TEST_GAN"
title = "Test GAN"
function = "noise-to-image"
height = 64
width = 64

[model.artifact]
url = "file:///tmp/test.pt"
sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
format = "torchscript"

[model.signature]
latent = [100]

[[model.signature.outputs]]
name = "image"
kind = "image"
channels = 1
height = 64
width = 64
range = [-1, 1]
`

func TestParseValid(t *testing.T) {
	src := "schema = 1\n\n" + validModel + `
[model.metrics.FID]
value = 12
direction = "lower"
images = 500

[[model]]
id = "90002_TEST_I2I"
title = """Image
to image"""
function = "image-to-image"
demo = true
artifact = { url = "bundled://i2i", sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", format = "torchscript" }
training = { data_source = "synthetic shapes", data_license = "CC0", command = "make demo", seed = 7 }

[model.signature]
conditions = [{ name = "density", values = ["A", "B"] }]
input = { name = "input", kind = "image", channels = 1, height = 32, width = 32 }
outputs = [
  { name = "image", kind = "image", channels = 1, height = 32, width = 32 },
  { name = "mask", kind = "mask", channels = 1, height = 32, width = 32, range = [0, 1] },
]
`
	c, err := Parse([]byte(src), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Models) != 2 {
		t.Fatalf("%d models", len(c.Models))
	}
	a, b := c.Models[0], c.Models[1]
	if a.Line != 3 || b.Line != 31 || a.Source != "t.toml" {
		t.Errorf("lines %d, %d; source %q", a.Line, b.Line, a.Source)
	}
	if !a.Runnable() || a.Signature.Latent[0] != 100 || a.Signature.Outputs[0].Range != [2]float64{-1, 1} {
		t.Errorf("model a: %+v", a.Signature)
	}
	if a.Metrics["FID"] != (Metric{Value: 12, Direction: "lower", Images: 500}) {
		t.Errorf("FID %+v", a.Metrics["FID"])
	}
	if !b.Demo || b.Training.Seed != 7 || b.Title != "Image\nto image" || b.Signature.Input.Height != 32 ||
		len(b.Signature.Outputs) != 2 || b.Signature.Outputs[1].Kind != KindMask || b.Signature.Conditions[0].Values[1] != "B" {
		t.Errorf("model b: %+v %+v", b, b.Signature)
	}
}

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		want []string
	}{
		{"syntax", "schema = 1\n[[model]\nid = \"x\"\n",
			[]string{`t.toml:2: expected end of table array name delimiter ']', but got '\n' instead`}},
		{"syntax at a newline", "schema = 1\nx = \"abc\nid = 1\n",
			[]string{`t.toml:2: strings cannot contain newlines`}},
		{"unknown key", "schema = 1\n" + strings.Replace(validModel, `format = "torchscript"`, "format = \"torchscript\"\nsah256 = \"\"", 1) +
			"colour = \"red\"\n",
			[]string{
				`t.toml:13: model 90001_TEST_GAN: unknown key artifact.sah256 (did you mean "sha256"?)`,
				`t.toml:25: model 90001_TEST_GAN: unknown key signature.outputs[0].colour`,
			}},
		{"unknown top-level key", "schema = 1\nmodels = []\n",
			[]string{`t.toml:2: unknown key models (did you mean "model"?)`}},
		{"wrong types", "schema = 1\n" + strings.NewReplacer(
			"height = 64\n", "height = \"64\"\n",
			"latent = [100]", "latent = 100",
			"title = \"Test GAN\"\n", "title = \"Test GAN\"\ntags = \"gan\"\n",
		).Replace(validModel),
			[]string{
				`t.toml:5: model 90001_TEST_GAN: tags must be an array of strings, not a string ("gan")`,
				`t.toml:7: model 90001_TEST_GAN: height must be an integer, not a string ("64")`,
				`t.toml:16: model 90001_TEST_GAN: signature.latent must be an array of integers, not an integer (100)`,
				`t.toml:22: model 90001_TEST_GAN: signature.outputs[0].height must be an integer, not a string ("64")`,
			}},
		{"wrong type is not also missing", "schema = 1\n[[model]]\nid = 5\ntitle = \"t\"\nartifact = { url = \"x\", format = \"python-package\" }\n",
			[]string{`t.toml:3: model #1: id must be a string, not an integer (5)`}},
		{"model must be an array", "schema = 1\n[model]\nid = \"a\"\n",
			[]string{`t.toml:2: model must be an array of tables, not a table`}},
		{"float for int", "schema = 1\n" + strings.Replace(validModel, "channels = 1", "channels = 1.5", 1),
			[]string{`t.toml:20: model 90001_TEST_GAN: signature.outputs[0].channels must be an integer, not a float (1.5)`}},
		{"duplicate id", "schema = 1\n" + validModel + "\n" + strings.Replace(validModel, `"90001_TEST_GAN"`, `"90001_test_gan"`, 1),
			[]string{`t.toml:26: model 90001_test_gan: duplicate id "90001_test_gan": also defined at line 2`}},
		{"missing required", "schema = 1\n[[model]]\nid = \"a\"\n\n[model.artifact]\nsha256 = \"\"\n\n[[model]]\ntitle = \"no id\"\nartifact = { url = \"x\", format = \"python-package\" }\n",
			[]string{
				`t.toml:2: model a: missing title`,
				`t.toml:5: model a: missing artifact.url`,
				`t.toml:5: model a: missing artifact.format (torchscript or python-package)`,
				`t.toml:8: model #2: missing id`,
			}},
		{"torchscript needs sha256 and signature", "schema = 1\n[[model]]\nid = \"a\"\ntitle = \"A\"\n[model.artifact]\nurl = \"x\"\nformat = \"torchscript\"\n",
			[]string{
				`t.toml:2: model a: missing [model.signature] (a torchscript model needs its inputs and outputs declared)`,
				`t.toml:5: model a: missing artifact.sha256 (zoo runs only TorchScript it can verify)`,
			}},
		{"bad sha256", "schema = 1\n" + strings.Replace(validModel, "0123456789abcdef0123", "0123456789ABCDEF0123", 1),
			[]string{`t.toml:11: model 90001_TEST_GAN: artifact.sha256 must be 64 lower-case hex digits, got "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"`}},
		{"newer schema", "schema = 2\n[[model]]\nnew_field = 1\n",
			[]string{`t.toml:1: catalog schema 2 is newer than this zoo understands (1): upgrade zoo`}},
		{"unknown values", "schema = 1\n" + strings.NewReplacer(
			`function = "noise-to-image"`, `function = "noise-to-video"`,
			`format = "torchscript"`, `format = "onnx"`,
			`kind = "image"`, `kind = "picture"`,
			"channels = 1", "channels = 0",
		).Replace(validModel) + "[model.metrics.FID]\nvalue = 1.0\ndirection = \"smaller\"\n[model.metrics.IS]\nvalue = 2.0\n",
			[]string{
				`t.toml:5: model 90001_TEST_GAN: function "noise-to-video" is not one of noise-to-image, image-to-image`,
				`t.toml:12: model 90001_TEST_GAN: artifact.format "onnx" is not one of torchscript, python-package`,
				`t.toml:19: model 90001_TEST_GAN: signature.outputs[0].kind "picture" is not one of image, mask, label`,
				`t.toml:20: model 90001_TEST_GAN: signature.outputs[0].channels must be a positive integer`,
				`t.toml:26: model 90001_TEST_GAN: metric FID: direction "smaller" is not lower or higher`,
				`t.toml:27: model 90001_TEST_GAN: missing metrics.IS.direction (lower or higher is better)`,
			}},
		{"inline outputs and multi-line strings", "schema = 1\n[[model]]\nid = \"a\"\ntitle = '''\n[[model]]\nid = \"fake\"\n'''\n" +
			"description = \"\"\"\n\\\"\"\"\n[[model]]\"\"\"\n" +
			"artifact = { url = \"x\", format = \"torchscript\", sha256 = \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\" }\n" +
			"[model.signature]\noutputs = [\n  { name = \"a\", kind = \"image\", channels = 1, height = 8, width = 8 },\n" +
			"  { name = \"a\", kind = \"img\", channels = 1, height = 8, width = 8 },\n]\n",
			[]string{
				`t.toml:15: model a: signature.outputs[1].kind "img" is not one of image, mask, label`,
				`t.toml:15: model a: output "a" declared twice`,
			}},
		{"post-processing and signature extensions", "schema = 1\n" + strings.NewReplacer(
			"latent = [100]", "latent = [100]\nbatch = 100000\n"+
				"[[model.signature.conditions]]\nname = \"c\"\ntype = \"int\"\n"+
				"[[model.signature.conditions]]\nname = \"s\"\ntype = \"float\"\ndefault = 3.0\nrange = [0.0, 1.0]\n"+
				"[[model.signature.args]]\nname = \"step\"\ntype = \"int\"\nvalue = 6.5\n",
			"range = [-1, 1]\n", "range = [-1, 1]\nchannel_offset = -1\n[model.signature.outputs.post]\nmap = [1.0, 1.0, 0.0, 255.0]\narithmetic = \"float16\"\nlut = [1, 2]\nbgr = true\n",
		).Replace(validModel),
			[]string{
				`t.toml:16: model 90001_TEST_GAN: signature.batch must be between 1 and 4096 (0: the default 16), not 100000`,
				`t.toml:19: model 90001_TEST_GAN: condition "c": type "int" is not index or float`,
				`t.toml:23: model 90001_TEST_GAN: condition "s": default 3 is outside its range [0 1]`,
				`t.toml:28: model 90001_TEST_GAN: argument "step" is an int but its value 6.5 is not a whole number`,
				`t.toml:38: model 90001_TEST_GAN: signature.outputs[0].channel_offset must not be negative`,
				`t.toml:40: model 90001_TEST_GAN: signature.outputs[0].post.map must be [from_low, from_high, to_low, to_high] with from_low != from_high`,
				`t.toml:41: model 90001_TEST_GAN: signature.outputs[0].post.arithmetic "float16" is not one of float32, float64, float32,float64`,
				`t.toml:42: model 90001_TEST_GAN: signature.outputs[0].post.lut must have 256 entries, not 2`,
				`t.toml:43: model 90001_TEST_GAN: signature.outputs[0].post.bgr needs a 3-channel output, this one has 1`,
			}},
		{"physical units and geometry", "schema = 1\n" + validModel +
			"units = \"HU\"\nscale = 100000.0\nstored_bits = 12\nspacing_mm = [1.0, -2.0]\nplane = \"transverse\"\n",
			[]string{
				`t.toml:25: model 90001_TEST_GAN: signature.outputs[0].scale maps the range [-1 1] to [-100000, 100000] HU, outside the -32768..32767 that DICOM stores; check scale and offset`,
				`t.toml:26: model 90001_TEST_GAN: signature.outputs[0].stored_bits: HU are stored as signed 16 bits; remove stored_bits (it is for MR)`,
				`t.toml:27: model 90001_TEST_GAN: signature.outputs[0].spacing_mm: -2 mm is not a pixel spacing; each must be between 0.001 and 1000 mm`,
				`t.toml:28: model 90001_TEST_GAN: signature.outputs[0].plane "transverse" is not one of axial, coronal, sagittal`,
			}},
		{"HU scale on a mask", "schema = 1\n" + strings.Replace(validModel, `kind = "image"`, `kind = "mask"`, 1) + "units = \"HU\"\nscale = 2.0\n",
			[]string{`t.toml:24: model 90001_TEST_GAN: signature.outputs[0].units: a mask holds classes, not measurements; remove units, scale, offset and stored_bits from it`}},
		{"a mapping without units", "schema = 1\n" + validModel + "offset = 40.0\nspacing_mm = [1.0]\n",
			[]string{
				`t.toml:17: model 90001_TEST_GAN: signature.outputs[0].units is missing: scale, offset and stored_bits say how values map to units; set units = "HU" (CT) or "MR" (MR), or remove them`,
				`t.toml:25: model 90001_TEST_GAN: signature.outputs[0].spacing_mm must be [row, column] (or [row, column, slice]) in millimetres, not 1 values`,
			}},
		{"MR units", "schema = 1\n" + validModel + "units = \"MR\"\nscale = 2.0\nstored_bits = 20\nplane = \"axial\"\nplane_condition = \"view\"\n",
			[]string{
				`t.toml:25: model 90001_TEST_GAN: signature.outputs[0].scale: MR values are arbitrary units, stored by mapping the range onto stored_bits; remove scale and offset`,
				`t.toml:26: model 90001_TEST_GAN: signature.outputs[0].stored_bits must be 8 to 16 (12 and 16 are usual), not 20`,
				`t.toml:27: model 90001_TEST_GAN: signature.outputs[0].plane and plane_condition contradict each other: a fixed plane, or the condition that gives it`,
				`t.toml:28: model 90001_TEST_GAN: signature.outputs[0].plane_condition names no condition of the signature: "view"`,
			}},
		{"plane condition with other values", "schema = 1\n" + strings.Replace(validModel, "latent = [100]\n",
			"latent = [100]\n[[model.signature.conditions]]\nname = \"view\"\nvalues = [\"axial\", \"oblique\"]\n", 1) + "plane_condition = \"view\"\n",
			[]string{`t.toml:27: model 90001_TEST_GAN: signature.outputs[0].plane_condition: condition "view" has the value "oblique", which is not a plane (axial, coronal, sagittal)`}},
		{"demo needs training", "schema = 1\n" + strings.Replace(validModel, "height = 64\n", "height = 64\ndemo = true\n", 1) +
			"[model.training]\ndata_source = \"shapes\"\n",
			[]string{
				`t.toml:25: model 90001_TEST_GAN: missing training.data_license`,
				`t.toml:25: model 90001_TEST_GAN: missing training.command`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml), "t.toml")
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			got := strings.Split(ve.Error(), "\n")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	entry := func(id, title string) string {
		return "[[model]]\nid = \"" + id + "\"\ntitle = \"" + title + "\"\nartifact = { url = \"x\", format = \"python-package\" }\n"
	}
	a := writeFile(t, dir, "a.toml", "schema = 1\n"+entry("00008_C-DCGAN_MMG_MASSES", "from a")+entry("90001_NEW", "new from a"))
	b := writeFile(t, dir, "b.toml", entry("00008_c-dcgan_mmg_masses", "from b")) // no schema: read as 1
	c := writeFile(t, dir, "c.toml", "schema = 1\n"+entry("90001_new", "from c")+entry("90002_OTHER", "other from c"))
	t.Setenv(CatalogEnv, a+string(os.PathListSeparator)+string(os.PathListSeparator)+b)

	cat, err := Load(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{EmbeddedSource, a, b, c}; !reflect.DeepEqual(cat.Sources, want) {
		t.Errorf("sources %v, want %v", cat.Sources, want)
	}
	emb, _ := Embedded()
	n := len(emb.Models)
	if len(cat.Models) != n+2 {
		t.Fatalf("%d models, want %d", len(cat.Models), n+2)
	}
	if m := cat.Models[7]; m.Title != "from b" || m.Source != b || m.Line != 1 {
		t.Errorf("00008 kept its place but should come from b: %s %q %s:%d", m.ID, m.Title, m.Source, m.Line)
	}
	if m := cat.Models[n]; m.ID != "90001_new" || m.Title != "from c" {
		t.Errorf("model %d: %s %q", n, m.ID, m.Title)
	}
	if m := cat.Models[n+1]; m.ID != "90002_OTHER" {
		t.Errorf("model %d: %s", n+1, m.ID)
	}
	if m, err := cat.Resolve("90001"); err != nil || m.Title != "from c" {
		t.Errorf("resolve 90001: %v %v", m, err)
	}
	if emb.Get("00008_C-DCGAN_MMG_MASSES").Title == "from b" {
		t.Error("Load changed the embedded catalog")
	}

	// A missing file is named; problems of several files come together.
	missing := filepath.Join(dir, "nope.toml")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad1 := writeFile(t, dir, "bad1.toml", "schema = 1\n[[model]]\nid = \"x\"\n")
	bad2 := writeFile(t, dir, "bad2.toml", "schema = 3\n")
	t.Setenv(CatalogEnv, bad1)
	_, err = Load(bad2)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 4 ||
		ve.Problems[0].Source != bad1 || ve.Problems[3].String() != bad2+":1: catalog schema 3 is newer than this zoo understands (1): upgrade zoo" {
		t.Errorf("bad files: %v", err)
	}
}

// TestOverlay: an overlay entry adds to the entry of the same id loaded
// before it; its metrics are added, everything it leaves unset stays.
func TestOverlay(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "base.toml", "schema = 1\n"+validModel+"[model.metrics.FID]\nvalue = 12\ndirection = \"lower\"\n")
	over := writeFile(t, dir, "over.toml", `schema = 1
[[model]]
id = "90001_test_gan"
overlay = true
[model.metrics.KID]
value = 0.5
direction = "lower"
`)
	cat, err := Load(base, over)
	if err != nil {
		t.Fatal(err)
	}
	m, err := cat.Resolve("90001")
	if err != nil {
		t.Fatal(err)
	}
	if m.Title != "Test GAN" || m.Signature == nil || m.Metrics["FID"].Value != 12 || m.Metrics["KID"].Value != 0.5 {
		t.Fatalf("merged entry: title %q, signature %v, metrics %v", m.Title, m.Signature, m.Metrics)
	}
	if len(m.Overlays) != 1 || m.Overlays[0] != over || m.Source != base {
		t.Errorf("sources: %s, overlays %v", m.Source, m.Overlays)
	}
	// UpsertEntry writes an overlay with only what it sets, and replaces it.
	out := filepath.Join(dir, "catalogs", "written.toml")
	for _, v := range []float64{1, 2} {
		if err := UpsertEntry(out, "# test\n", Model{ID: "90001_TEST_GAN", Overlay: true, Metrics: map[string]Metric{"KID": {Value: v, Direction: "lower"}}}); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(out)
	if strings.Contains(string(data), "title") || strings.Count(string(data), "[[model]]") != 1 {
		t.Errorf("written overlay:\n%s", data)
	}
	cat, err = Load(base, out)
	if err != nil {
		t.Fatal(err)
	}
	m, _ = cat.Resolve("90001")
	if m.Metrics["KID"].Value != 2 || m.Title != "Test GAN" {
		t.Errorf("after upsert: %+v", m.Metrics)
	}
}
