package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"medzoo/bundled"
	"medzoo/internal/testfiles"
	"medzoo/output"
	"medzoo/runner"
	"medzoo/zoo"
	"medzoo/zoo/store"
)

// runnerEnv makes this test binary a model runner (package runner's child)
// instead of running tests: the servers under test start it as their
// runner, so tests run the real child process without building zoo-torch.
const runnerEnv = "ZOO_SERVER_TEST_RUNNER"

func TestMain(m *testing.M) {
	if os.Getenv(runnerEnv) == "1" {
		if err := runner.ServeStdio(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	removeZooTorch() // export_test.go's build
	os.Exit(code)
}

// testRunner is this test binary as a runner.
func testRunner(t *testing.T) runner.Command {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return runner.Command{Path: self, Env: []string{runnerEnv + "=1"}}
}

// testServer serves the embedded catalog with the bundled models, on
// 127.0.0.1, with real LibTorch.
func testServer(t *testing.T, opt Options) *httptest.Server {
	t.Helper()
	cat := mustEmbedded(t)
	st := store.NewStore(t.TempDir())
	st.Bundled = bundled.FS
	opt.Catalog, opt.Store, opt.Device, opt.Runner = cat, st, "cpu", testRunner(t)
	srv := New(opt)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return ts
}

func mustEmbedded(t *testing.T) *zoo.Catalog {
	t.Helper()
	cat, err := zoo.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func get(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func wantError(t *testing.T, ts *httptest.Server, path string, status int, fragment string) {
	t.Helper()
	code, ctype, body := get(t, ts.URL+path)
	var e struct{ Error string }
	if code != status || ctype != "application/json" || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, fragment) {
		t.Errorf("%s: %d %s %s; want %d with %q", path, code, ctype, body, status, fragment)
	}
}

func TestAPI(t *testing.T) {
	ts := testServer(t, Options{})

	// Search, with the CLI's engine (synonyms: "brain" finds the MRI demos).
	code, _, body := get(t, ts.URL+"/api/models?q=brain&runnable=1")
	var res struct {
		Total   int
		Results []struct {
			Rank     int
			ID       string
			Runnable bool
		}
	}
	if code != 200 || json.Unmarshal(body, &res) != nil || res.Total == 0 {
		t.Fatalf("search: %d %s", code, body)
	}
	for i, h := range res.Results {
		if !h.Runnable || h.Rank != i+1 {
			t.Errorf("hit %d: %+v", i, h)
		}
	}
	// Details with catalog key names.
	code, _, body = get(t, ts.URL+"/api/models/101")
	var m map[string]any
	if code != 200 || json.Unmarshal(body, &m) != nil || m["id"] != "00101_DCGAN_MRI_COLIN27_DEMO" || m["runnable"] != true || m["signature"] == nil {
		t.Fatalf("details: %d %s", code, body)
	}

	// A figure: 4 samples in 2 columns of 64x64 panels.
	code, ctype, body := get(t, ts.URL+"/api/models/101/image?n=4&cols=2&seed=3")
	if code != 200 || ctype != "image/png" {
		t.Fatalf("image: %d %s %s", code, ctype, body)
	}
	im, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if b := im.Bounds(); b.Dx() != 4+2*68 || b.Dy() != 4+2*68 {
		t.Errorf("figure %v", b)
	}
	text, _ := output.ReadText(body)
	if !strings.Contains(text["Description"], "SYNTHETIC") || !strings.Contains(text["medzoo.provenance"], `"seed":3`) {
		t.Errorf("provenance %v", text)
	}
	// The same provenance as zoo generate's files, the catalog's modality
	// and organ included (once dropped by the server).
	if p := testfiles.PNGProvenance(t, body); p.Modality != "MRI" || p.Organ != "brain" || p.Output != "figure" || p.Figure != "samples 0-3" {
		t.Errorf("figure provenance %+v", p)
	}
	// Latent offsets move the image; the same request gives the same bytes.
	_, _, a := get(t, ts.URL+"/api/models/101/image?seed=1&groups=2&offsets=0,0")
	_, _, b := get(t, ts.URL+"/api/models/101/image?seed=1&groups=2&offsets=1.5,0")
	_, _, a2 := get(t, ts.URL+"/api/models/101/image?seed=1&groups=2&offsets=0,0")
	if bytes.Equal(a, b) || !bytes.Equal(a, a2) {
		t.Errorf("offsets: moved %v, repeatable %v", !bytes.Equal(a, b), bytes.Equal(a, a2))
	}
	// A zip of the image+mask model: one PNG per output.
	code, ctype, body = get(t, ts.URL+"/api/models/103/image?n=2&format=zip")
	if code != 200 || ctype != "application/zip" {
		t.Fatalf("zip: %d %s %s", code, ctype, body)
	}
	names, files := testfiles.ReadZip(t, body)
	if strings.Join(names, " ") != "00000_image.png 00000_mask.png 00001_image.png 00001_mask.png" {
		t.Errorf("zip holds %v", names)
	}
	for _, name := range names {
		p := testfiles.PNGProvenance(t, files[name])
		if p.Modality != "MRI" || p.Organ != "brain" || p.Reproducible == "" || p.Model != "00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO" ||
			name != fmt.Sprintf("%05d_%s.png", p.Index, p.Output) {
			t.Errorf("%s: provenance %+v", name, p)
		}
	}
	// Latents moved by the explorer are not the seed's, and say so.
	_, _, body = get(t, ts.URL+"/api/models/101/image?seed=1&groups=2&offsets=1.5,0&format=zip")
	if _, data := testfiles.OnlyFile(t, body); !strings.Contains(testfiles.PNGProvenance(t, data).Latents, "moved by groups [1.5 0]") {
		t.Errorf("moved latents' provenance %+v", testfiles.PNGProvenance(t, data))
	}

	// Bad requests say why.
	wantError(t, ts, "/api/models/101/image?n=65", 400, "from 1 to 64")
	wantError(t, ts, "/api/models/101/image?n=x", 400, "n=")
	wantError(t, ts, "/api/models/101/image?seed=-1", 400, "seed")
	wantError(t, ts, "/api/models/101/image?groups=3&offsets=1,2", 400, "one offset per group")
	wantError(t, ts, "/api/models/101/image?groups=2&offsets=1,99", 400, "-10 to 10")
	wantError(t, ts, "/api/models/101/image?groups=500&offsets="+strings.Repeat("0,", 499)+"0", 400, "only 100")
	wantError(t, ts, "/api/models/101/image?format=gif", 400, "png or zip")
	wantError(t, ts, "/api/models/102/image?condition=plane=oblique", 400, "axial")
	wantError(t, ts, "/api/models/102/image?condition=oops", 400, "NAME=VALUE")
	wantError(t, ts, "/api/models/nope", 404, "nope")
	wantError(t, ts, "/api/models/nope/image", 404, "nope")
	wantError(t, ts, "/api/models/8/image", 422, "python-package")
	wantError(t, ts, "/api/models/104/image", 422, "image-to-image")
	wantError(t, ts, "/api/nothing", 404, "/api/models")
	wantError(t, ts, "/api/models?limit=-1", 400, "limit")
	// Search errors name this API's parameters, never the CLI's flags.
	wantError(t, ts, "/api/models?order=asc", 400, "add rank_by METRIC")
	wantError(t, ts, "/api/models?rank_by=FIDD", 400, "FID")
	for _, p := range []string{"/api/models?order=asc", "/api/models?function=teleport", "/api/models?modality=%25%25"} {
		if _, _, body := get(t, ts.URL+p); strings.Contains(string(body), "--") {
			t.Errorf("%s: %s names a CLI flag", p, body)
		}
	}
	// Only embedded assets are served.
	for _, p := range []string{"/../go.mod", "/%2e%2e/server.go", "/web/index.html", "/server.go"} {
		if code, _, body := get(t, ts.URL+p); code == 200 && !bytes.Contains(body, []byte("<!doctype html")) {
			t.Errorf("%s served %d bytes", p, len(body))
		}
	}
}

// 32 clients at once get exactly what one client alone gets.
func TestConcurrentRequests(t *testing.T) {
	ts := testServer(t, Options{MaxConcurrent: 4})
	url := func(i int) string {
		return fmt.Sprintf("%s/api/models/%d/image?seed=%d&n=%d", ts.URL, []int{101, 102, 103, 105}[i%4], i, 1+i%3)
	}
	want := make([][]byte, 32)
	for i := range want {
		_, _, want[i] = get(t, url(i))
	}
	var wg sync.WaitGroup
	got := make([][]byte, 32)
	codes := make([]int, 32)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(url(i))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			codes[i] = resp.StatusCode
			got[i], _ = io.ReadAll(resp.Body)
		}()
	}
	wg.Wait()
	for i := range got {
		if codes[i] != 200 || !bytes.Equal(got[i], want[i]) {
			t.Errorf("request %d: %d, %d bytes, same as alone: %v", i, codes[i], len(got[i]), bytes.Equal(got[i], want[i]))
		}
	}
}

// A request that cannot get a slot in time is refused with 503, not queued
// forever.
func TestTimeout(t *testing.T) {
	ts := testServer(t, Options{Timeout: time.Nanosecond})
	wantError(t, ts, "/api/models/101/image", 503, "")
}

// runnable=1 filters before limit, and entries that cannot run say why.
func TestSearchLimitAndReasons(t *testing.T) {
	ts := testServer(t, Options{})
	_, _, body := get(t, ts.URL+"/api/models?runnable=1&limit=2")
	var res struct {
		Total   int
		Results []struct{ ID string }
	}
	if json.Unmarshal(body, &res) != nil || len(res.Results) != 2 || res.Total < 5 {
		t.Errorf("runnable=1&limit=2: %s", body)
	}
	_, _, body = get(t, ts.URL+"/api/models/8")
	var m map[string]any
	json.Unmarshal(body, &m)
	if reason, _ := m["runnable_reason"].(string); !strings.Contains(reason, "TorchScript") {
		t.Errorf("no reason for 00008: %v", m["runnable_reason"])
	}
}

// Request sizes are checked before anything is allocated, with every
// product checked for overflow.
func TestCheckSize(t *testing.T) {
	out := func(c, h, w int) zoo.TensorSpec {
		return zoo.TensorSpec{Name: "image", Channels: c, Height: h, Width: w}
	}
	cases := []struct {
		name   string
		sig    zoo.Signature
		n      int
		status int
	}{
		{"small", zoo.Signature{Latent: []int64{100}, Outputs: []zoo.TensorSpec{out(1, 64, 64)}}, 64, 0},
		{"n-too-many", zoo.Signature{Batch: 1, Outputs: []zoo.TensorSpec{out(1, 8192, 8192)}}, 64, 400},
		{"block-too-large", zoo.Signature{Outputs: []zoo.TensorSpec{out(1, 8192, 8192)}}, 1, 422},
		{"output-overflows", zoo.Signature{Outputs: []zoo.TensorSpec{out(1<<40, 1<<40, 1<<40)}}, 1, 422},
		{"latent-huge", zoo.Signature{Latent: []int64{10000000000}, Outputs: []zoo.TensorSpec{out(1, 4, 4)}}, 1, 422},
		{"latent-overflows", zoo.Signature{Latent: []int64{1 << 32, 1 << 32}, Outputs: []zoo.TensorSpec{out(1, 4, 4)}}, 1, 422},
		{"latent-negative", zoo.Signature{Latent: []int64{-5}, Outputs: []zoo.TensorSpec{out(1, 4, 4)}}, 1, 422},
		{"output-zero", zoo.Signature{Outputs: []zoo.TensorSpec{out(0, 4, 4)}}, 1, 422},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, err := checkSize(&zoo.Model{ID: "00000_X", Signature: &c.sig}, c.n)
			if status != c.status || (err == nil) != (c.status == 0) {
				t.Fatalf("status %d, %v; want %d", status, err, c.status)
			}
			if err != nil && !strings.Contains(err.Error(), "00000_X") {
				t.Errorf("error does not name the model: %v", err)
			}
		})
	}
}

// When every connection slot is taken, the longest idle connection is
// closed to make room, so a new client gets in at once.
func TestConnGuardEvictsIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Catalog: mustEmbedded(t), Store: store.NewStore(t.TempDir()), MaxConns: 2, Runner: testRunner(t), Log: io.Discard})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Two idle keep-alive connections fill the server.
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /api/models/101 HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + ln.Addr().String() + "/api/models/101")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a third client: %v %v", resp, err)
	}
	resp.Body.Close()
}
