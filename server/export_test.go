package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"medzoo/bundled"
	"medzoo/internal/testfiles"
	"medzoo/output"
	"medzoo/zoo"
	"medzoo/zoo/store"
)

// zooTorch is the real zoo-torch, built once for the tests that compare an
// export with what `zoo generate` writes (package server cannot import the
// cli that imports it, and a stale bin/zoo-torch would prove nothing).
var zooTorch struct {
	once sync.Once
	path string
	err  error
}

// removeZooTorch removes the build, if a test made one (TestMain).
func removeZooTorch() {
	if zooTorch.path != "" {
		os.RemoveAll(filepath.Dir(zooTorch.path))
	}
}

func zooTorchBin(t *testing.T) string {
	t.Helper()
	zooTorch.once.Do(func() {
		dir, err := os.MkdirTemp("", "zoo-export-test-")
		if err != nil {
			zooTorch.err = err
			return
		}
		// Outlives each test, since they share it; TestMain removes it.
		zooTorch.path = filepath.Join(dir, "zoo-torch")
		out, err := exec.Command("go", "build", "-o", zooTorch.path, "medzoo/cmd/zoo").CombinedOutput()
		if err != nil {
			zooTorch.err = fmt.Errorf("go build medzoo/cmd/zoo: %v\n%s", err, out)
		}
	})
	if zooTorch.err != nil {
		t.Fatal(zooTorch.err)
	}
	return zooTorch.path
}

// zooGenerate runs `zoo generate ID args... -o DIR` with a private cache
// and returns the files it wrote, by name.
func zooGenerate(t *testing.T, id string, args ...string) map[string][]byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(zooTorchBin(t), append([]string{"generate", id, "-o", dir, "--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), "ZOO_CACHE="+filepath.Join(t.TempDir(), "cache"), "ZOO_CATALOG=", "ZOO_OFFLINE=1",
		"ZOO_CONFIG_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zoo generate %s %v: %v\n%s", id, args, err, out)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	return files
}

// sameFiles fails unless got holds exactly want's files, byte for byte.
func sameFiles(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: %s is missing", what, name)
		case !bytes.Equal(g, w):
			t.Errorf("%s: %s differs from zoo generate's (%d bytes, want %d)%s", what, name, len(g), len(w), firstDiff(g, w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: %s is not a file zoo generate writes", what, name)
		}
	}
}

func firstDiff(a, b []byte) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			lo := max(0, i-40)
			return fmt.Sprintf("; first difference at byte %d:\n%q\n%q", i, a[lo:min(len(a), i+40)], b[lo:min(len(b), i+40)])
		}
	}
	return ""
}

// exportServer is testServer with the *Server and its log at hand.
func exportServer(t *testing.T, opt Options, cat *zoo.Catalog) (*httptest.Server, *Server, *syncBuffer) {
	t.Helper()
	st := store.NewStore(t.TempDir())
	st.Bundled = bundled.FS
	log := &syncBuffer{}
	opt.Catalog, opt.Store, opt.Device, opt.Runner, opt.Log = cat, st, "cpu", testRunner(t), log
	srv := New(opt)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return ts, srv, log
}

// syncBuffer is a log several goroutines write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exportQuery is the export's query for zoo generate's arguments.
func exportQuery(n int, seed uint64, format string, conds ...string) string {
	v := url.Values{"n": {fmt.Sprint(n)}, "seed": {fmt.Sprint(seed)}, "format": {format}, "condition": conds}
	return v.Encode()
}

// An export holds exactly the files zoo generate writes for the same
// model, n, seed, conditions and format, byte for byte: images, masks,
// provenance, manifest and run record. n is not a multiple of the
// compute block (16), so the last block is partial, and one export spans
// several blocks.
func TestExportEqualsGenerate(t *testing.T) {
	ts, _, _ := exportServer(t, Options{}, mustEmbedded(t))
	cases := []struct {
		id     string
		n      int
		seed   uint64
		format string
		conds  []string
	}{
		{"00101_DCGAN_MRI_COLIN27_DEMO", 37, 5, "png", nil},
		{"00101_DCGAN_MRI_COLIN27_DEMO", 5, 0, "dicom", nil},
		{"00102_CDCGAN_MRI_COLIN27_PLANE_DEMO", 19, 7, "nifti", []string{"plane=coronal"}},
		{"00102_CDCGAN_MRI_COLIN27_PLANE_DEMO", 7, 3, "npy", nil}, // planes cycle
		{"00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO", 4, 2, "dicom", nil},
		{"00105_WGANGP_CT_HEAD_DEMO", 3, 9, "png16", nil},
	}
	for _, c := range cases {
		what := fmt.Sprintf("%s -n %d --seed %d --format %s %v", c.id, c.n, c.seed, c.format, c.conds)
		args := []string{"-n", fmt.Sprint(c.n), "--seed", fmt.Sprint(c.seed), "--format", c.format}
		for _, cond := range c.conds {
			args = append(args, "-c", cond)
		}
		want := zooGenerate(t, c.id, args...)

		resp, err := http.Get(ts.URL + "/api/models/" + c.id + "/export?" + exportQuery(c.n, c.seed, c.format, c.conds...))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v %s", what, resp.StatusCode, err, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/zip" {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
		if got := resp.Header.Get(headerExportSamples); got != fmt.Sprint(c.n) {
			t.Errorf("%s: %s %q", what, headerExportSamples, got)
		}
		names, got := testfiles.ReadZip(t, body)
		if h := resp.Header.Get(headerExportFiles); h != fmt.Sprint(len(want)) {
			t.Errorf("%s: %s %q, zoo generate wrote %d files", what, headerExportFiles, h, len(want))
		}
		sameFiles(t, what, got, want)
		if len(names) > 2 && (names[0] != output.RunFile || names[len(names)-1] != output.ManifestFile) {
			t.Errorf("%s: entries %s ... %s; want the run record first and the manifest last", what, names[0], names[len(names)-1])
		}
		// The same export is the same zip: no times, no order by chance.
		_, _, again := get(t, ts.URL+"/api/models/"+c.id+"/export?"+exportQuery(c.n, c.seed, c.format, c.conds...))
		if !bytes.Equal(again, body) {
			t.Errorf("%s: a second export is a different zip", what)
		}
	}
}

// A client that leaves mid-export stops it at the next block: the server
// logs how far it got, the runner was not killed (same process), and the
// next export of the model works. While it runs, the model serves a figure
// too.
func TestExportCancel(t *testing.T) {
	ts, srv, log := exportServer(t, Options{}, mustEmbedded(t))
	id := "00101_DCGAN_MRI_COLIN27_DEMO"
	n := DefaultMaxExportN
	resp, err := http.Get(ts.URL + "/api/models/" + id + "/export?" + exportQuery(n, 1, "npy"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	// Read into the stream (a few blocks), then hang up.
	if _, err := io.CopyN(io.Discard, resp.Body, 200<<10); err != nil {
		t.Fatal(err)
	}
	// The export gives its model back between blocks: the explorer's own
	// figure of the model comes meanwhile, not after 10000 samples.
	if code, ctype, body := get(t, ts.URL+"/api/models/"+id+"/image?n=1&seed=3"); code != 200 || ctype != "image/png" {
		t.Errorf("a figure during the export: %d %s %s", code, ctype, body)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 64<<10); err != nil {
		t.Fatalf("the export after the figure: %v", err)
	}
	pids := srv.Runners()
	resp.Body.Close()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(log.String(), "export stopped") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	line := ""
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "export stopped") {
			line = l
		}
	}
	var done, of int
	_, rest, _ := strings.Cut(line, "export ")
	if _, err := fmt.Sscanf(rest, "stopped after %d of %d samples", &done, &of); err != nil || of != n || done >= n || !strings.Contains(line, "the client left") {
		t.Fatalf("no line saying the export stopped early (%v); log:\n%s", err, log)
	}
	if after := srv.Runners(); len(pids) != 1 || len(after) != 1 || after[0] != pids[0] {
		t.Errorf("runners %v before the client left, %v after: the runner must be left alive", pids, after)
	}
	code, _, body := get(t, ts.URL+"/api/models/"+id+"/export?"+exportQuery(3, 1, "png"))
	if code != 200 {
		t.Fatalf("the export after a cancelled one: %d %s", code, body)
	}
	if names, _ := testfiles.ReadZip(t, body); len(names) != 5 {
		t.Errorf("the export after a cancelled one holds %v", names)
	}
}

// Bad input is refused with a JSON reason before any byte of zip: the
// parameters, the model, a condition, and a format the model's outputs
// cannot take.
func TestExportBadInput(t *testing.T) {
	cat := mustEmbedded(t)
	// A copy of 00101 that declares a pixel spacing PNG cannot record
	// (5 m per pixel): its forward is fine, its PNGs are refused.
	wide, err := cat.Resolve("00101")
	if err != nil {
		t.Fatal(err)
	}
	sig := *wide.Signature
	sig.Outputs = append([]zoo.TensorSpec(nil), sig.Outputs...)
	sig.Outputs[0].SpacingMM = []float64{5000, 5000}
	wide.Signature = &sig
	ts, _, _ := exportServer(t, Options{MaxExportN: 100}, cat)
	const demo = "/api/models/00102_CDCGAN_MRI_COLIN27_PLANE_DEMO/export?"
	for _, c := range []struct {
		path     string
		status   int
		fragment string
	}{
		{demo + "seed=1", 400, "n=\"\": want the number of samples to export, from 1 to 100"},
		{demo + "n=0", 400, "from 1 to 100 (zoo serve --max-export-n)"},
		{demo + "n=101", 400, "from 1 to 100"},
		{demo + "n=ten", 400, "n=\"ten\""},
		{demo + "n=2&seed=-1", 400, "seed=\"-1\""},
		{demo + "n=2&format=jpeg", 400, "unknown format \"jpeg\"; choose one of: dicom, nifti, npy, png, png16"},
		{demo + "n=2&condition=plane", 400, "want NAME=VALUE"},
		{demo + "n=2&condition=plane=axial&condition=plane=coronal", 400, "given twice"},
		{demo + "n=2&condition=plane=oblique", 400, "oblique"},
		{demo + "n=2&condition=colour=red", 400, "colour"},
		{"/api/models/00104_PIX2PIX_MRI_MASK_TO_T1_DEMO/export?n=2", 422, "image-to-image"},
		{"/api/models/00001_DCGAN_MMG_CALC_ROI/export?n=2", 422, ""},
		{"/api/models/nosuchmodel/export?n=2", 404, "nosuchmodel"},
		{"/api/models/00101/export?n=2&format=png", 422, "format png cannot hold the outputs of model 00101_DCGAN_MRI_COLIN27_DEMO: sample 0, output image: pixel spacing"},
	} {
		wantError(t, ts, c.path, c.status, c.fragment)
	}
	// HEAD checks as GET does and answers the headers only, having
	// made one block, not the 100 samples asked for.
	resp, err := http.Head(ts.URL + "/api/models/00102/export?n=100&format=nifti&condition=plane=axial")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(headerExportFiles) != "102" {
		t.Errorf("HEAD of an export: %d, %s %q", resp.StatusCode, headerExportFiles, resp.Header.Get(headerExportFiles))
	}
	// The same model in a format that records any spacing exports.
	if code, _, body := get(t, ts.URL+"/api/models/00101/export?n=2&format=npy"); code != 200 {
		t.Errorf("00101 with a wide spacing as NPY: %d %s", code, body)
	}
}

// --timeout bounds each block of an export, not the export: one that keeps
// making progress runs past it (and its runner is never stopped for it).
func TestExportOutlivesTimeout(t *testing.T) {
	ts, srv, log := exportServer(t, Options{Timeout: 2 * time.Second}, mustEmbedded(t))
	id := "00101_DCGAN_MRI_COLIN27_DEMO"
	// Start the runner first: its start is not bounded by the timeout,
	// but a request waiting for it is.
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		code, _, body := get(t, ts.URL+"/api/models/"+id+"/export?n=1")
		if code == 200 {
			break
		}
		if code != 503 || !strings.Contains(string(body), "still loading") || time.Now().After(deadline) {
			t.Fatalf("first export: %d %s", code, body)
		}
	}
	pids := srv.Runners()
	start := time.Now()
	n := 800
	code, _, body := get(t, ts.URL+"/api/models/"+id+"/export?"+exportQuery(n, 2, "npy"))
	took := time.Since(start)
	if code != 200 {
		t.Fatalf("export of %d samples: %d %s", n, code, body)
	}
	if names, _ := testfiles.ReadZip(t, body); len(names) != n+2 {
		t.Errorf("the export holds %d files, want %d", len(names), n+2)
	}
	if after := srv.Runners(); len(after) != 1 || after[0] != pids[0] || strings.Contains(log.String(), "ran past") {
		t.Errorf("runners %v before, %v after; log:\n%s", pids, after, log)
	}
	t.Logf("%d samples in %v with --timeout 2s", n, took.Round(time.Millisecond))
}
