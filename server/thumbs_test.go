package server

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"medzoo/bundled"
	"medzoo/internal/testfiles"
	"medzoo/zoo/store"
)

// storeServer is testServer over a given cache directory, so that two
// servers (one after the other, like two runs of zoo serve) share a store.
func storeServer(t *testing.T, dir string) (*httptest.Server, *Server) {
	t.Helper()
	st := store.NewStore(dir)
	st.Bundled = bundled.FS
	srv := New(Options{Catalog: mustEmbedded(t), Store: st, Device: "cpu", Runner: testRunner(t), Log: io.Discard})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return ts, srv
}

type thumbResponse struct {
	status             int
	ctype, cache, etag string
	from               string // X-Zoo-Thumbnail
	body               []byte
}

func getThumb(t *testing.T, url, ifNoneMatch string) thumbResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return thumbResponse{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"),
		resp.Header.Get("ETag"), resp.Header.Get("X-Zoo-Thumbnail"), body}
}

func decodePNG(t *testing.T, what string, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", what, err)
	}
	return img
}

// TestThumbnailAPI: a runnable model's thumbnail is its sample 0 of seed 0
// at the model's size, made once and then served from memory, from disk
// after a restart, and 304 for a matching ETag; models without a
// thumbnail get a 4xx with a JSON reason.
func TestThumbnailAPI(t *testing.T) {
	dir := t.TempDir()
	ts, srv := storeServer(t, dir)
	const url101 = "/api/models/00101_DCGAN_MRI_COLIN27_DEMO/thumbnail"

	first := getThumb(t, ts.URL+url101, "")
	if first.status != 200 || first.ctype != "image/png" || first.from != "generated" {
		t.Fatalf("first thumbnail: %d %s from %q: %s", first.status, first.ctype, first.from, first.body)
	}
	if first.cache == "" || first.etag == "" {
		t.Errorf("thumbnail headers: Cache-Control %q, ETag %q; want both", first.cache, first.etag)
	}
	if pids := srv.Runners(); len(pids) != 0 {
		t.Errorf("runners %v alive after a thumbnail; want the one started for it stopped", pids)
	}
	img := decodePNG(t, "the thumbnail", first.body)
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
		t.Errorf("00101's thumbnail is %dx%d; want the model's 64x64", b.Dx(), b.Dy())
	}

	// It is sample 0 of seed 0, as the image API's zip gives it.
	_, _, zipped := get(t, ts.URL+"/api/models/00101_DCGAN_MRI_COLIN27_DEMO/image?n=1&seed=0&format=zip")
	name, want := testfiles.OnlyFile(t, zipped)
	if !samePixels(decodePNG(t, "the zip's sample", want), img) {
		t.Errorf("the thumbnail's pixels differ from sample 0 of seed 0 (%s in the image API's zip)", name)
	}

	second := getThumb(t, ts.URL+url101, "")
	if second.status != 200 || second.from != "memory" || !bytes.Equal(second.body, first.body) || second.etag != first.etag {
		t.Errorf("second thumbnail: %d from %q, same bytes %v, ETag %q then %q; want the memory cache's same bytes",
			second.status, second.from, bytes.Equal(second.body, first.body), first.etag, second.etag)
	}
	if r := getThumb(t, ts.URL+url101, first.etag); r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Errorf("If-None-Match %s: %d with %d bytes; want 304 and no body", first.etag, r.status, len(r.body))
	}

	// Another server over the same store: the thumbnail comes from disk,
	// no runner started.
	ts2, _ := storeServer(t, dir)
	third := getThumb(t, ts2.URL+url101, "")
	if third.status != 200 || third.from != "disk" || !bytes.Equal(third.body, first.body) {
		t.Errorf("after a restart: %d from %q, same bytes %v; want the disk cache's", third.status, third.from, bytes.Equal(third.body, first.body))
	}
	disk, err := filepath.Glob(filepath.Join(dir, thumbDir, "sha256-*.png"))
	if err != nil || len(disk) != 1 {
		t.Fatalf("thumbnails on disk: %v %v; want one, keyed by the artifact's sha256", disk, err)
	}

	// A link where the cached file was is neither read nor written through.
	other := filepath.Join(t.TempDir(), "other.png")
	if err := os.WriteFile(other, []byte("not this"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(disk[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, disk[0]); err != nil {
		t.Fatal(err)
	}
	ts3, _ := storeServer(t, dir)
	fourth := getThumb(t, ts3.URL+url101, "")
	if fourth.status != 200 || fourth.from != "generated" || !bytes.Equal(fourth.body, first.body) {
		t.Errorf("with a link in the cache: %d from %q; want a thumbnail generated again", fourth.status, fourth.from)
	}
	if b, _ := os.ReadFile(other); string(b) != "not this" {
		t.Errorf("the link's target was written: %q", b)
	}

	// A damaged cached file is made again and replaced.
	if err := os.Remove(disk[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(disk[0], []byte("\x89PNG damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts4, _ := storeServer(t, dir)
	if r := getThumb(t, ts4.URL+url101, ""); r.status != 200 || r.from != "generated" || !bytes.Equal(r.body, first.body) {
		t.Errorf("with a damaged cached file: %d from %q; want the thumbnail generated again", r.status, r.from)
	}
	if b, err := os.ReadFile(disk[0]); err != nil || !bytes.Equal(b, first.body) {
		t.Errorf("the damaged cached file was not replaced by the thumbnail (%v)", err)
	}

	// A conditional model: its thumbnail uses the condition's first value.
	// Its runner, started by an image request, outlives the thumbnail.
	if code, _, body := get(t, ts.URL+"/api/models/102/image?n=1"); code != 200 {
		t.Fatalf("00102's image: %d %s", code, body)
	}
	running := srv.Runners()
	slices.Sort(running)
	if r := getThumb(t, ts.URL+"/api/models/102/thumbnail", ""); r.status != 200 || r.from != "generated" {
		t.Errorf("00102's thumbnail: %d from %q: %s", r.status, r.from, r.body)
	}
	after := srv.Runners()
	slices.Sort(after)
	if len(running) == 0 || !slices.Equal(running, after) {
		t.Errorf("runners %v before 00102's thumbnail, %v after; want the same ones (00102's kept)", running, after)
	}

	wantError(t, ts, "/api/models/00104_PIX2PIX_MRI_MASK_TO_T1_DEMO/thumbnail", 422, "image-to-image")
	wantError(t, ts, "/api/models/00001_DCGAN_MMG_CALC_ROI/thumbnail", 422, "not runnable")
	wantError(t, ts, "/api/models/nope/thumbnail", 404, "nope")
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, aa := a.At(x, y).RGBA()
			br, bg, bb, ba := b.At(x, y).RGBA()
			if ar != br || ag != bg || ab != bb || aa != ba {
				return false
			}
		}
	}
	return true
}
