package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/internal/testfiles"
)

const (
	id104 = "00104_PIX2PIX_MRI_MASK_TO_T1_DEMO"
	id105 = "00105_WGANGP_CT_HEAD_DEMO"
)

// post sends body to path as the explorer's page does (its header set),
// with extra headers on top; "" removes a header.
func post(t *testing.T, ts *httptest.Server, path string, body []byte, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(UploadHeader, "1")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// wantJSONError checks a status and that the JSON reason names want.
func wantJSONError(t *testing.T, what string, code int, h http.Header, body []byte, status int, want string) {
	t.Helper()
	var e struct{ Error string }
	if code != status || h.Get("Content-Type") != "application/json" || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, want) {
		t.Errorf("%s: %d %s %s; want %d naming %q", what, code, h.Get("Content-Type"), body, status, want)
	}
}

// mask104 is 00104's first example input.
func mask104(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("examples", id104, "brainmask_axial_00.png"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func grayPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 2 * 255)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func rgbPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), 0, uint8(y * 4), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUpload runs 00104 on an uploaded mask and on its example input: the
// same file gives the same bytes either way, with the input named in its
// provenance; the bad uploads get the status and reason that say why.
// That these bytes are zoo generate --input's is
// TestServeUploadMatchesGenerate's check (cmd/zoo), against the binary.
func TestUpload(t *testing.T) {
	ts := testServer(t, Options{})
	mask := mask104(t)

	code, h, up := post(t, ts, "/api/models/104/generate?name=brainmask_axial_00.png&seed=7&format=zip", mask, nil)
	if code != 200 || h.Get("Content-Type") != "application/zip" {
		t.Fatalf("upload: %d %s %s", code, h.Get("Content-Type"), up)
	}
	name, file := testfiles.OnlyFile(t, up)
	p := testfiles.PNGProvenance(t, file)
	if name != "00000_image.png" || p.Model != id104 || p.Input != "brainmask_axial_00.png" || p.Seed != 7 || !p.Synthetic {
		t.Errorf("upload's %s: provenance %+v", name, p)
	}
	code, _, ex := get(t, ts.URL+"/api/models/104/image?example=brainmask_axial_00.png&seed=7&format=zip")
	if code != 200 {
		t.Fatalf("example: %d %s", code, ex)
	}
	if _, exFile := testfiles.OnlyFile(t, ex); !bytes.Equal(exFile, file) {
		t.Error("the example input and the same file uploaded give different PNGs")
	}
	// A figure by default, like /image.
	code, h, fig := post(t, ts, "/api/models/104/generate?name=m.png", mask, nil)
	if code != 200 || h.Get("Content-Type") != "image/png" {
		t.Fatalf("figure: %d %s", code, fig)
	}
	if im, err := png.Decode(bytes.NewReader(fig)); err != nil || im.Bounds().Dx() < 64 {
		t.Errorf("figure: %v %v", err, im)
	}
	// A name with no extension zoo reads is given the one of the bytes.
	code, _, up2 := post(t, ts, "/api/models/104/generate?name=../../etc/mask&format=zip", mask, nil)
	if _, f := testfiles.OnlyFile(t, up2); code != 200 || testfiles.PNGProvenance(t, f).Input != "mask.png" {
		t.Errorf("a name without extension: %d, provenance %+v", code, testfiles.PNGProvenance(t, f))
	}

	// The example list names each file and how to run it.
	code, _, body := get(t, ts.URL+"/api/models/104/examples")
	var list struct {
		Examples []example
	}
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Examples) != 8 || list.Examples[0].Name != "brainmask_axial_00.png" {
		t.Fatalf("examples: %d %s", code, body)
	}
	if code, ctype, data := get(t, ts.URL+list.Examples[0].URL); code != 200 || ctype != "image/png" || !bytes.Equal(data, mask) {
		t.Errorf("%s: %d %s, %d bytes", list.Examples[0].URL, code, ctype, len(data))
	}
	wantError(t, ts, "/api/models/104/image?example=nope.png", 404, "brainmask_axial_00.png")
	wantError(t, ts, "/api/models/104/examples/..%2fzoo.toml", 404, "no example input")
	wantError(t, ts, "/api/models/104/image", 422, "?example=NAME")

	// Bad uploads.
	big := make([]byte, MaxUploadBytes+1)
	copy(big, mask)
	code, h, body = post(t, ts, "/api/models/104/generate", big, nil)
	wantJSONError(t, "too large (Content-Length)", code, h, body, 413, "16 MiB")
	// Chunked, with no length declared: cut at the limit.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/models/104/generate", io.MultiReader(bytes.NewReader(big)))
	req.Header.Set(UploadHeader, "1")
	if req.ContentLength != 0 {
		t.Fatalf("the request declares %d bytes; want none (chunked)", req.ContentLength)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("a chunked upload over the limit: %v", err)
	} else {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantJSONError(t, "too large (chunked)", resp.StatusCode, resp.Header, data, 413, "more than the 16 MiB")
	}
	code, h, body = post(t, ts, "/api/models/104/generate?name=m.png", grayPNG(t, 32, 48), nil)
	wantJSONError(t, "32x48", code, h, body, 422, "expects 64x64 with 1 channel")
	code, h, body = post(t, ts, "/api/models/104/generate?name=m.png", rgbPNG(t, 64, 64), nil)
	wantJSONError(t, "RGB", code, h, body, 422, "convert them to grayscale")
	code, h, body = post(t, ts, "/api/models/104/generate?name=m.png", []byte("not an image"), nil)
	wantJSONError(t, "not a PNG", code, h, body, 400, "not a readable PNG")
	code, h, body = post(t, ts, "/api/models/104/generate", []byte("not an image"), nil)
	wantJSONError(t, "no signature", code, h, body, 400, "not a PNG, JPEG, NPY or DICOM")
	code, h, body = post(t, ts, "/api/models/104/generate", testfiles.PNGHeader(1<<20, 1<<20), nil)
	wantJSONError(t, "a header of 2^40 pixels", code, h, body, 400, "more than the")
	code, h, body = post(t, ts, "/api/models/104/generate", nil, nil)
	wantJSONError(t, "empty", code, h, body, 400, "empty")
	code, h, body = post(t, ts, "/api/models/101/generate", mask, nil)
	wantJSONError(t, "noise model", code, h, body, 422, "takes no input image")
	code, h, body = post(t, ts, "/api/models/104/generate?n=2", mask, nil)
	wantJSONError(t, "n=2", code, h, body, 400, "one sample")

	// Cross-site requests are refused before the body is read.
	code, h, body = post(t, ts, "/api/models/104/generate", mask, map[string]string{UploadHeader: ""})
	wantJSONError(t, "no header", code, h, body, 403, UploadHeader)
	code, h, body = post(t, ts, "/api/models/104/generate", mask, map[string]string{"Origin": "http://evil.example"})
	wantJSONError(t, "other origin", code, h, body, 403, "evil.example")
	code, h, body = post(t, ts, "/api/models/104/generate", mask, map[string]string{"Sec-Fetch-Site": "cross-site"})
	wantJSONError(t, "cross-site", code, h, body, 403, "cross-site")
	// The page's own origin passes.
	code, _, _ = post(t, ts, "/api/models/104/generate?name=m.png", mask, map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"})
	if code != 200 {
		t.Errorf("a same-origin upload: %d", code)
	}

	// Every other route keeps taking GET only, and no body.
	for _, path := range []string{"/api/models/104/image", "/api/models/104", "/api/models/104/values", "/"} {
		code, h, body = post(t, ts, path, mask, nil)
		wantJSONError(t, "POST "+path, code, h, body, 405, "GET requests only")
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, bytes.NewReader(mask))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantJSONError(t, "GET with a body "+path, resp.StatusCode, resp.Header, data, 413, "takes no body")
	}
	req, _ = http.NewRequest(http.MethodPut, ts.URL+"/api/models/104/generate", bytes.NewReader(mask))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("PUT /generate: %v %v", err, resp)
	}
}

// readValues decodes a values answer.
func readValues(t *testing.T, h http.Header, body []byte) (ValuesMeta, []float32) {
	t.Helper()
	var meta ValuesMeta
	if err := json.Unmarshal([]byte(h.Get(ValuesHeader)), &meta); err != nil {
		t.Fatalf("%s: %v", ValuesHeader, err)
	}
	if len(body) != 4*meta.Height*meta.Width {
		t.Fatalf("%d bytes for %dx%d values", len(body), meta.Width, meta.Height)
	}
	v := make([]float32, len(body)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return meta, v
}

func getValues(t *testing.T, url string) (ValuesMeta, []float32) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("%s: %d %s %v", url, resp.StatusCode, body, err)
	}
	return readValues(t, resp.Header, body)
}

// TestValues: one sample's raw values and their meaning. The values are
// the ones the sample's 16-bit PNG quantises (so they are the sample's,
// not another's), and their mapping is the catalog's; that they give the
// HU zoo's DICOM stores is TestServeValuesMatchDICOM's check (cmd/zoo).
func TestValues(t *testing.T) {
	ts := testServer(t, Options{})
	meta, v := getValues(t, ts.URL+"/api/models/105/values?seed=3&index=2")
	if meta.Model != id105 || meta.Output != "image" || meta.Units != "HU" || meta.Scale != 200 || meta.Offset != 40 ||
		meta.Index != 2 || meta.Seed != 3 || meta.Width != 64 || !meta.Synthetic || meta.Range != [2]float64{-1, 1} {
		t.Errorf("meta %+v", meta)
	}
	// The same sample as the figure's: its 8-bit PNG in the zip.
	_, _, z := get(t, ts.URL+"/api/models/105/image?seed=3&index=2&format=zip")
	_, file := testfiles.OnlyFile(t, z)
	im, err := png.Decode(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	g := im.(*image.Gray)
	for i, x := range v {
		want := min(255, max(0, math.Round((float64(x)-(-1))/2*255)))
		if d := math.Abs(want - float64(g.Pix[i])); d > 0 {
			t.Fatalf("value %d: %g quantises to %g, the PNG holds %d", i, x, want, g.Pix[i])
		}
	}
	// 00103's mask by name; MR's stored bits for its image.
	if meta, v := getValues(t, ts.URL+"/api/models/103/values?output=mask"); meta.Kind != "mask" || meta.Units != "" {
		t.Errorf("00103 mask: %+v", meta)
	} else {
		for _, x := range v {
			if x != 0 && x != 1 {
				t.Fatalf("00103 mask value %g", x)
			}
		}
	}
	if meta, _ := getValues(t, ts.URL+"/api/models/103/values"); meta.Output != "image" || meta.Units != "MR" || meta.StoredBits != 12 {
		t.Errorf("00103 image: %+v", meta)
	}
	// 00104's values come with its input.
	code, h, body := post(t, ts, "/api/models/104/generate?name=m.png&format=values", mask104(t), nil)
	if code != 200 {
		t.Fatalf("00104 values: %d %s", code, body)
	}
	if meta, _ := readValues(t, h, body); meta.Input != "m.png" || meta.Units != "MR" {
		t.Errorf("00104 values: %+v", meta)
	}

	wantError(t, ts, "/api/models/103/values?output=nope", 400, "image, mask")
	wantError(t, ts, "/api/models/101/values?n=2", 400, "one sample")
	wantError(t, ts, "/api/models/104/values", 422, "example=NAME&format=values")
	wantError(t, ts, "/api/models/8/values", 422, "python-package")
	wantError(t, ts, "/api/models/101/image?format=values", 400, "/values")
}

// The example inputs served are the ones the catalog points to.
func TestExamplesMatchDocs(t *testing.T) {
	names := exampleNames(id104)
	docs, err := filepath.Glob(filepath.Join("..", "docs", "models", "00104_inputs", "*.png"))
	if err != nil || len(docs) != len(names) || len(names) == 0 {
		t.Fatalf("%d examples embedded, %d in docs/models/00104_inputs (%v)", len(names), len(docs), err)
	}
	for i, p := range docs {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := exampleBytes(id104, names[i])
		if err != nil || filepath.Base(p) != names[i] || !bytes.Equal(got, want) {
			t.Errorf("example %s differs from %s (%v)", names[i], p, err)
		}
	}
}
