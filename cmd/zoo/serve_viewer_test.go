package main_test

// The explorer's image-to-image runs and pixel values against zoo
// generate's files: the real zoo serve and the real zoo generate, each
// with its own zoo-torch runner.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"medzoo/imagein"
	"medzoo/internal/testfiles"
)

// serveDo sends a request to zoo serve, as the explorer's page does, and
// returns the status, headers and body.
func serveDo(t *testing.T, method, url string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("X-Zoo-Upload", "1")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	return resp.StatusCode, resp.Header, data
}

// An input uploaded to the explorer, and the same file as a bundled example,
// give byte for byte the PNG zoo generate --input writes for it: the same
// decoder, model run, and provenance (input name, run identity).
func TestServeUploadMatchesGenerate(t *testing.T) {
	const name = "brainmask_coronal_03.png"
	input := filepath.Join("..", "..", "docs", "models", "00104_inputs", name)
	mask, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustOK(t, zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "104", "--input", input, "--seed", "5", "-o", out))
	want, err := os.ReadFile(filepath.Join(out, "brainmask_coronal_03.png"))
	if err != nil {
		t.Fatal(err)
	}

	s := startServe(t, nil)
	_, _, up := serveDo(t, http.MethodPost, s.base+"/api/models/104/generate?name="+name+"&seed=5&format=zip", mask)
	if _, got := testfiles.OnlyFile(t, up); !bytes.Equal(got, want) {
		t.Errorf("the uploaded input gives a PNG of %d bytes that differs from zoo generate's (%d bytes)", len(got), len(want))
	}
	_, _, ex := serveDo(t, http.MethodGet, s.base+"/api/models/104/image?example="+name+"&seed=5&format=zip", nil)
	if _, got := testfiles.OnlyFile(t, ex); !bytes.Equal(got, want) {
		t.Errorf("the example input gives a PNG of %d bytes that differs from zoo generate's (%d bytes)", len(got), len(want))
	}
}

// The raw values the explorer reads out give, through the catalog's
// mapping, the HU zoo generate's DICOM stores for the same sample.
func TestServeValuesMatchDICOM(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	mustOK(t, zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "105", "-n", "3", "--seed", "11", "--format", "dicom", "-o", out))
	dcms, err := filepath.Glob(filepath.Join(out, "*.dcm"))
	if err != nil || len(dcms) != 3 {
		t.Fatalf("zoo generate wrote %v (%v)", dcms, err)
	}
	sort.Strings(dcms)
	img, units, err := imagein.ReadUnits(dcms[2])
	if err != nil || !units.Known || img.Width != 64 || img.Height != 64 {
		t.Fatalf("%s: %v %+v", dcms[2], err, units)
	}

	s := startServe(t, nil)
	_, h, body := serveDo(t, http.MethodGet, s.base+"/api/models/105/values?seed=11&index=2", nil)
	var meta struct {
		Units         string
		Scale, Offset float64
		Index         int
	}
	if err := json.Unmarshal([]byte(h.Get("X-Zoo-Values")), &meta); err != nil || meta.Units != "HU" || meta.Index != 2 {
		t.Fatalf("X-Zoo-Values %q: %v", h.Get("X-Zoo-Values"), err)
	}
	if len(body) != 4*len(img.Data) {
		t.Fatalf("%d bytes of values for %d pixels", len(body), len(img.Data))
	}
	for i, hu := range img.Data {
		v := math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		// docs/formats.md: DICOM stores round(offset + scale × value).
		if got := math.Round(meta.Offset + meta.Scale*float64(v)); got != float64(hu) {
			t.Fatalf("pixel %d: value %g maps to %g HU; the DICOM stores %g", i, v, got, hu)
		}
	}
}
