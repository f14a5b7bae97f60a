package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"medzoo/internal/testnet"
)

// ---- helpers ----

func hexSHA256(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// payload returns n bytes that differ per seed, so tests never share blobs.
func fakeArtifact(seed string, n int) []byte {
	b := make([]byte, 0, n+64)
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "%s-%d;", seed, i)
	}
	return b[:n]
}

func pinnedModel(id, url string, data []byte) *Artifact {
	return &Artifact{Name: id, URL: url, SHA256: hexSHA256(data), Size: int64(len(data)), Format: FormatTorchScript}
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	return &Store{Dir: t.TempDir()}
}

// artifactServer serves data at every path, counting GET requests.
type artifactServer struct {
	*httptest.Server
	gets atomic.Int64
	mu   sync.Mutex
	data []byte
	// delay between 10 chunks of the body, to make downloads overlap.
	delay time.Duration
	query atomic.Value // last raw query seen
}

func newArtifactServer(t *testing.T, data []byte) *artifactServer {
	t.Helper()
	fs := &artifactServer{data: data}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		fs.gets.Add(1)
		fs.query.Store(r.URL.RawQuery)
		fs.mu.Lock()
		data, delay := fs.data, fs.delay
		fs.mu.Unlock()
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if delay == 0 {
			w.Write(data)
			return
		}
		step := (len(data) + 9) / 10
		for i := 0; i < len(data); i += step {
			w.Write(data[i:min(i+step, len(data))])
			w.(http.Flusher).Flush()
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *artifactServer) setDelay(d time.Duration) {
	fs.mu.Lock()
	fs.delay = d
	fs.mu.Unlock()
}

func (fs *artifactServer) set(data []byte) {
	fs.mu.Lock()
	fs.data = data
	fs.mu.Unlock()
}

// entries lists the names in dir/sub ("" if it does not exist).
func listDir(t *testing.T, dir, sub string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, sub))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func wantNothingCached(t *testing.T, s *Store) {
	t.Helper()
	if b := listDir(t, s.Dir, "blobs"); len(b) != 0 {
		t.Errorf("blobs/ holds %v, want nothing", b)
	}
	if u := listDir(t, s.Dir, "unpacked"); len(u) != 0 {
		t.Errorf("unpacked/ holds %v, want nothing", u)
	}
	if tmp := listDir(t, s.Dir, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ holds %v, want nothing left behind", tmp)
	}
}

func wantErrorMentioning(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got nil", parts)
	}
	t.Log(err) // for reading the messages with -v
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// victim is what the links a test plants in the cache point at: a
// directory holding one file, which nothing the store does may change.
type victim struct{ dir, file string }

func newVictim(t *testing.T) victim {
	t.Helper()
	v := victim{dir: t.TempDir()}
	v.file = filepath.Join(v.dir, "victim.txt")
	if err := os.WriteFile(v.file, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

// untouched fails the test unless the file still holds what it held and
// the directory holds nothing else.
func (v victim) untouched(t *testing.T) {
	t.Helper()
	if got := string(mustReadFile(t, v.file)); got != "precious" {
		t.Fatalf("the file a planted link points at now holds %q", got)
	}
	if ents, _ := os.ReadDir(v.dir); len(ents) != 1 {
		t.Fatalf("the directory a planted link points at now holds %d entries", len(ents))
	}
}

// ---- HTTP ----

func TestStoreFetchHTTPThenCache(t *testing.T) {
	data := fakeArtifact("good", 300_000)
	srv := newArtifactServer(t, data)
	s := newTestStore(t)
	var calls []int64
	var lastTotal int64
	s.Progress = func(name string, done, total int64) {
		if name != "00001_TEST" {
			t.Errorf("progress name %q", name)
		}
		calls = append(calls, done)
		lastTotal = total
	}
	m := pinnedModel("00001_TEST", srv.URL+"/files/model.pt", data)

	if _, ok := s.Cached(*m); ok {
		t.Fatal("Cached reports a blob before any fetch")
	}
	p, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.Dir, "blobs", "sha256-"+hexSHA256(data)); p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	if !bytes.Equal(mustReadFile(t, p), data) {
		t.Error("cached bytes differ from the served ones")
	}
	if len(calls) == 0 || calls[len(calls)-1] != int64(len(data)) || lastTotal != int64(len(data)) {
		t.Errorf("progress calls %v (total %d), want them to end at %d", calls, lastTotal, len(data))
	}
	if tmp := listDir(t, s.Dir, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ keeps %v", tmp)
	}

	// Second fetch, also from a fresh Store on the same directory: cache.
	for _, st := range []*Store{s, {Dir: s.Dir}} {
		p2, err := st.Fetch(context.Background(), *m)
		if err != nil || p2 != p {
			t.Fatalf("second fetch: %q, %v", p2, err)
		}
		if c, ok := st.Cached(*m); !ok || c != p {
			t.Errorf("Cached = %q, %v; want %q, true", c, ok, p)
		}
	}
	if n := srv.gets.Load(); n != 1 {
		t.Errorf("server saw %d GETs, want 1", n)
	}
}

func TestStoreFetchKeepsQueryExactly(t *testing.T) {
	// Zenodo-style URL; the second one carries parameters that go-getter
	// would otherwise treat as its own (checksum, archive, filename).
	data := fakeArtifact("query", 5000)
	srv := newArtifactServer(t, data)
	for _, q := range []string{
		"download=1",
		"download=1&checksum=md5:0123&archive=false&filename=x",
	} {
		s := newTestStore(t)
		m := pinnedModel("00002_Q", srv.URL+"/record/7382545/files/model.pt?"+q, data)
		p, err := s.Fetch(context.Background(), *m)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got := srv.query.Load(); got != q {
			t.Errorf("server saw query %q, want %q exactly", got, q)
		}
		if !bytes.Equal(mustReadFile(t, p), data) {
			t.Errorf("%s: wrong bytes cached", q)
		}
	}
}

func TestStoreFetchZenodoZip(t *testing.T) {
	zipData := zipBytes(t, []testZipEntry{
		{name: "00009_PGGAN/", dir: true},
		{name: "00009_PGGAN/model.pt", body: []byte("torchscript")},
		{name: "00009_PGGAN/README.md", body: []byte("hello")},
	})
	srv := newArtifactServer(t, zipData)
	s := newTestStore(t)
	m := pinnedModel("00009_PGGAN", srv.URL+"/record/7382545/files/00009_PGGAN.zip?download=1", zipData)
	m.Path = "00009_PGGAN/model.pt"

	if p, ok := s.Cached(*m); ok || !strings.HasSuffix(p, filepath.FromSlash("unpacked/sha256-"+hexSHA256(zipData)+"/00009_PGGAN/model.pt")) {
		t.Errorf("Cached before fetch = %q, %v", p, ok)
	}
	p, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.Dir, "unpacked", "sha256-"+hexSHA256(zipData), "00009_PGGAN", "model.pt")
	if p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	if string(mustReadFile(t, p)) != "torchscript" {
		t.Error("wrong content unpacked")
	}
	if srv.query.Load() != "download=1" {
		t.Errorf("server saw query %q", srv.query.Load())
	}
	if c, ok := s.Cached(*m); !ok || c != p {
		t.Errorf("Cached = %q, %v", c, ok)
	}
	// Offline now: served from the unpacked cache.
	off := &Store{Dir: s.Dir, Offline: true}
	if p2, err := off.Fetch(context.Background(), *m); err != nil || p2 != p {
		t.Errorf("offline fetch: %q, %v", p2, err)
	}
	// Empty Path: the directory itself.
	m2 := *m
	m2.Path = ""
	if p2, err := s.Fetch(context.Background(), m2); err != nil || p2 != filepath.Dir(filepath.Dir(p)) {
		t.Errorf("fetch without path: %q, %v", p2, err)
	}
	if n := srv.gets.Load(); n != 1 {
		t.Errorf("server saw %d GETs, want 1", n)
	}
}

func TestStoreFetchWrongBytes(t *testing.T) {
	good, bad := fakeArtifact("good", 4000), fakeArtifact("evil", 4000)
	srv := newArtifactServer(t, bad)
	s := newTestStore(t)
	m := pinnedModel("00003_WRONG", srv.URL+"/m.pt", good)
	_, err := s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "00003_WRONG", m.URL, hexSHA256(good), hexSHA256(bad), "nothing was cached")
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("error %v is not ErrChecksum", err)
	}
	wantNothingCached(t, s)

	// Right digest, wrong size in the catalog: also refused.
	m = pinnedModel("00003_WRONG", srv.URL+"/m.pt", bad)
	m.Size = 10
	_, err = s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "4000 bytes", "says 10", "nothing was cached")
	wantNothingCached(t, s)
}

func TestStoreFetchTruncatedBody(t *testing.T) {
	data := fakeArtifact("trunc", 10_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:len(data)/2])
		// Returning early: the server must close the connection short.
	}))
	defer srv.Close()
	s := newTestStore(t)
	m := pinnedModel("00004_TRUNC", srv.URL+"/m.pt", data)
	m.Size = 0 // only the digest and Content-Length can tell
	_, err := s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "00004_TRUNC", srv.URL, "nothing was cached")
	wantNothingCached(t, s)
}

func TestStoreFetchHTTPStatus(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusNotFound} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", code)
		}))
		s := newTestStore(t)
		m := pinnedModel("00005_STATUS", srv.URL+"/m.pt", []byte("x"))
		_, err := s.Fetch(context.Background(), *m)
		wantErrorMentioning(t, err, "00005_STATUS", srv.URL+"/m.pt",
			fmt.Sprintf("HTTP %d %s", code, http.StatusText(code)), "nothing was cached")
		wantNothingCached(t, s)
		srv.Close()
	}
}

// hangingServer sends half the body, then waits until the client goes
// away; started reports each request that reached the hang.
func hangingServer(t *testing.T, data []byte) (*httptest.Server, chan struct{}) {
	started := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv, started
}

func TestStoreFetchSlowServerTimeout(t *testing.T) {
	data := fakeArtifact("slow", 100_000)
	srv, _ := hangingServer(t, data)
	s := newTestStore(t)
	m := pinnedModel("00006_SLOW", srv.URL+"/m.pt", data)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Fetch(ctx, *m)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}
	wantErrorMentioning(t, err, "00006_SLOW", "nothing was cached")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Fetch took %s after a 300ms timeout", d)
	}
	wantNothingCached(t, s)

	// No deadline, but the stall watchdog ends a silent connection.
	s.StallTimeout = 300 * time.Millisecond
	_, err = s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "the server sent nothing for 300ms", "ZOO_STALL_TIMEOUT", "nothing was cached")
	wantNothingCached(t, s)
}

// A download cancelled mid-body (as by Ctrl-C) leaves no blob and no temp.
func TestStoreFetchCancelledMidBody(t *testing.T) {
	data := fakeArtifact("cancel", 200_000)
	srv, started := hangingServer(t, data)
	s := newTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-started
		time.Sleep(50 * time.Millisecond) // let the first half land in tmp/
		cancel()
	}()
	_, err := s.Fetch(ctx, *pinnedModel("00007_CANCEL", srv.URL+"/m.pt", data))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	wantNothingCached(t, s)
}

// ---- offline ----

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestStoreFetchOffline(t *testing.T) {
	data := fakeArtifact("offline", 3000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	ln := &countingListener{Listener: srv.Listener}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	m := pinnedModel("00008_C-DCGAN_MMG_MASSES", srv.URL+"/files/m.pt?download=1", data)

	dir := t.TempDir()
	off := &Store{Dir: dir, Offline: true}
	_, err := off.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "00008_C-DCGAN_MMG_MASSES", m.URL, "zoo pull 00008_C-DCGAN_MMG_MASSES", "ZOO_CACHE", "offline")
	if !errors.Is(err, ErrOffline) {
		t.Errorf("error %v is not ErrOffline", err)
	}
	// The unpinned path must not connect either.
	unpinned := *m
	unpinned.SHA256 = ""
	off.AllowUnpinned = true
	if _, err := off.Fetch(context.Background(), unpinned); !errors.Is(err, ErrOffline) {
		t.Errorf("unpinned offline fetch: %v, want ErrOffline", err)
	}
	time.Sleep(50 * time.Millisecond) // let a stray connection, if any, be accepted
	if n := ln.n.Load(); n != 0 {
		t.Fatalf("offline Fetch opened %d connections", n)
	}
	if _, ok := off.Cached(*m); ok {
		t.Error("Cached reports an artifact never fetched")
	}

	// Online once, then offline is served from the cache without a socket.
	on := &Store{Dir: dir}
	p, err := on.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	if ln.n.Load() == 0 {
		t.Fatal("online fetch made no connection: the counter is broken")
	}
	before := ln.n.Load()
	off2 := &Store{Dir: dir, Offline: true}
	if c, ok := off2.Cached(*m); !ok || c != p {
		t.Errorf("offline Cached = %q, %v", c, ok)
	}
	if p2, err := off2.Fetch(context.Background(), *m); err != nil || p2 != p {
		t.Errorf("offline fetch from cache: %q, %v", p2, err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := ln.n.Load(); n != before {
		t.Errorf("offline fetch from cache opened %d connections", n-before)
	}
}

func TestStoreEnv(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "YES": true, "0": false, "": false, "no": false} {
		t.Setenv("ZOO_OFFLINE", v)
		if got := OfflineFromEnv(); got != want {
			t.Errorf("ZOO_OFFLINE=%q: %v, want %v", v, got, want)
		}
		if got := NewStore("x").Offline; got != want {
			t.Errorf("NewStore with ZOO_OFFLINE=%q: Offline %v", v, got)
		}
	}
	t.Setenv("ZOO_CACHE", "/some/cache")
	if d, err := DefaultCacheDir(); err != nil || d != "/some/cache" {
		t.Errorf("DefaultCacheDir = %q, %v", d, err)
	}
	if runtime.GOOS != "linux" {
		return // os.UserCacheDir follows XDG only on Linux
	}
	t.Setenv("ZOO_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d, err := DefaultCacheDir(); err != nil || d != filepath.Join("/xdg", "medzoo") {
		t.Errorf("DefaultCacheDir = %q, %v", d, err)
	}
}

// ---- damaged cache, leftovers ----

func TestStoreFetchRepairsDamagedBlob(t *testing.T) {
	data := fakeArtifact("damage", 5000)
	srv := newArtifactServer(t, data)
	s := newTestStore(t)
	m := pinnedModel("00010_DMG", srv.URL+"/m.pt", data)
	p, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	// Same size, different bytes: only hashing can tell.
	bad := bytes.Clone(data)
	bad[100] ^= 0xff
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(p, future, future)

	off := &Store{Dir: s.Dir, Offline: true}
	_, err = off.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "damaged", "zoo pull 00010_DMG")

	if p2, err := s.Fetch(context.Background(), *m); err != nil || p2 != p {
		t.Fatalf("refetch: %q, %v", p2, err)
	}
	if !bytes.Equal(mustReadFile(t, p), data) {
		t.Error("damaged blob not replaced")
	}
	if n := srv.gets.Load(); n != 2 {
		t.Errorf("server saw %d GETs, want 2", n)
	}
}

func TestStoreFetchSweepsLeftoverTemp(t *testing.T) {
	data := fakeArtifact("leftover", 2000)
	srv := newArtifactServer(t, data)
	s := newTestStore(t)
	m := pinnedModel("00011_LEFT", srv.URL+"/m.pt", data)
	other := "sha256-" + hexSHA256([]byte("some other artifact"))
	for _, name := range []string{"sha256-" + hexSHA256(data) + ".123", other + ".456"} {
		d := filepath.Join(s.Dir, "tmp", name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "blob"), []byte("partial"), 0o644)
	}
	if _, err := s.Fetch(context.Background(), *m); err != nil {
		t.Fatal(err)
	}
	if tmp := listDir(t, s.Dir, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ still holds %v", tmp)
	}
}

// ---- concurrency ----

func TestStoreFetchConcurrentGoroutines(t *testing.T) {
	data := fakeArtifact("many", 100_000)
	srv := newArtifactServer(t, data)
	srv.setDelay(20 * time.Millisecond)
	s := newTestStore(t)
	m := pinnedModel("00012_MANY", srv.URL+"/m.pt", data)
	const n = 12
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = &Store{Dir: s.Dir} // separate Store values share the cache too
			}
			paths[i], errs[i] = st.Fetch(context.Background(), *m)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Errorf("goroutine %d: %q, %v", i, paths[i], errs[i])
		}
	}
	if got := srv.gets.Load(); got != 1 {
		t.Errorf("server saw %d GETs, want 1", got)
	}
	if !bytes.Equal(mustReadFile(t, paths[0]), data) {
		t.Error("bad blob")
	}
	if b := listDir(t, s.Dir, "blobs"); len(b) != 1 {
		t.Errorf("blobs/ = %v", b)
	}
	if tmp := listDir(t, s.Dir, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ = %v", tmp)
	}
}

const helperEnv = "ZOO_STORE_TEST_HELPER"

// TestStoreHelperProcess is not a test: other tests run the test binary
// with it selected to get a second process that fetches one artifact.
func TestStoreHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for the multi-process tests")
	}
	var m Artifact
	if err := json.Unmarshal([]byte(os.Getenv("ZOO_HELPER_MODEL")), &m); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	s := &Store{Dir: os.Getenv("ZOO_HELPER_DIR")}
	p, err := s.Fetch(context.Background(), m)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("PATH", p)
	os.Exit(0)
}

func helperCommand(t *testing.T, dir string, m *Artifact) *exec.Cmd {
	t.Helper()
	mj, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "ZOO_HELPER_DIR="+dir, "ZOO_HELPER_MODEL="+string(mj))
	return cmd
}

func helperPath(t *testing.T, out []byte) string {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "PATH "); ok {
			return p
		}
	}
	t.Errorf("helper output has no path:\n%s", out)
	return ""
}

func TestStoreFetchConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	data := fakeArtifact("procs", 200_000)
	srv := newArtifactServer(t, data)
	srv.setDelay(40 * time.Millisecond) // the download takes ~0.4s
	dir := t.TempDir()
	m := pinnedModel("00013_PROCS", srv.URL+"/m.pt", data)

	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = helperCommand(t, dir, m)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	var paths [2]string
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i].String())
		}
		paths[i] = helperPath(t, outs[i].Bytes())
	}
	if paths[0] != paths[1] || paths[0] != filepath.Join(dir, "blobs", "sha256-"+hexSHA256(data)) {
		t.Errorf("processes got %q and %q", paths[0], paths[1])
	}
	if !bytes.Equal(mustReadFile(t, paths[0]), data) {
		t.Error("bad blob")
	}
	if got := srv.gets.Load(); got != 1 {
		t.Errorf("server saw %d GETs, want 1 (the second process should wait and reuse)", got)
	}
	if tmp := listDir(t, dir, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ = %v", tmp)
	}
}

// A process killed mid-download leaves no blob; its temp file is removed
// by the next fetch, which succeeds.
func TestStoreFetchKilledProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	data := fakeArtifact("killed", 300_000)
	srv, started := hangingServer(t, data)
	dir := t.TempDir()
	m := pinnedModel("00014_KILLED", srv.URL+"/m.pt", data)

	cmd := helperCommand(t, dir, m)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("helper never reached the server:\n%s", out.String())
	}
	// Wait until part of the body is on disk in tmp/.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var size int64
		filepath.WalkDir(filepath.Join(dir, "tmp"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil {
					size += fi.Size()
				}
			}
			return nil
		})
		if size > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no partial download appeared in tmp/")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	if b := listDir(t, dir, "blobs"); len(b) != 0 {
		t.Fatalf("killed download left blobs %v", b)
	}
	if tmp := listDir(t, dir, "tmp"); len(tmp) == 0 {
		t.Fatal("expected the killed process's temp entry to remain")
	}
	s := &Store{Dir: dir}
	if _, ok := s.Cached(*m); ok {
		t.Error("Cached reports the killed download as present")
	}

	// A working server now: the next fetch succeeds and sweeps tmp/.
	good := newArtifactServer(t, data)
	m.URL = good.URL + "/m.pt"
	p, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustReadFile(t, p), data) {
		t.Error("bad blob")
	}
	if tmp := listDir(t, dir, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ still holds %v", tmp)
	}
}

// ---- unpinned ----

func TestStoreFetchUnpinned(t *testing.T) {
	data := fakeArtifact("unpinned", 6000)
	srv := newArtifactServer(t, data)
	dir := t.TempDir()
	m := &Artifact{Name: "00015_UNPINNED", URL: srv.URL + "/files/m.pt?download=1"}

	s := &Store{Dir: dir}
	_, err := s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "00015_UNPINNED", "pins no sha256", "--allow-unpinned", m.URL)
	if !errors.Is(err, ErrUnpinned) {
		t.Errorf("error %v is not ErrUnpinned", err)
	}
	if srv.gets.Load() != 0 {
		t.Fatal("refused fetch still downloaded")
	}
	if p, ok := s.Cached(*m); ok || p != "" {
		t.Errorf("Cached = %q, %v before pinning", p, ok)
	}

	s.AllowUnpinned = true
	p, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "blobs", "sha256-"+hexSHA256(data)); p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	pinFile := filepath.Join(dir, "pins", hexSHA256([]byte(m.URL)))
	var rec struct{ URL, SHA256 string }
	if err := json.Unmarshal(mustReadFile(t, pinFile), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.URL != m.URL || rec.SHA256 != hexSHA256(data) {
		t.Errorf("pin %+v", rec)
	}

	// Pinned now: a store that does not allow unpinned artifacts finds it,
	// online and offline, without downloading again.
	for _, st := range []*Store{{Dir: dir}, {Dir: dir, Offline: true}} {
		if c, ok := st.Cached(*m); !ok || c != p {
			t.Errorf("Cached = %q, %v", c, ok)
		}
		if p2, err := st.Fetch(context.Background(), *m); err != nil || p2 != p {
			t.Errorf("fetch after pin: %q, %v", p2, err)
		}
	}
	if n := srv.gets.Load(); n != 1 {
		t.Errorf("server saw %d GETs, want 1", n)
	}

	// The upstream file changes and the blob is gone: the pin catches it.
	os.Remove(p)
	srv.set(fakeArtifact("changed", 6000))
	_, err = (&Store{Dir: dir}).Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, hexSHA256(data), hexSHA256(fakeArtifact("changed", 6000)), "pin", "nothing was cached")
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("error %v is not ErrChecksum", err)
	}
}

// ---- local sources ----

func TestStoreFetchBundled(t *testing.T) {
	data := fakeArtifact("bundled", 7000)
	fsys := fstest.MapFS{"demo/model.pt": {Data: data}}
	s := &Store{Dir: t.TempDir(), Bundled: fsys, Offline: true}
	m := pinnedModel("90001_DEMO", "bundled://demo/model.pt", data)
	p, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(s.Dir, "blobs", "sha256-"+hexSHA256(data)) || !bytes.Equal(mustReadFile(t, p), data) {
		t.Errorf("bundled fetch gave %s", p)
	}
	if c, ok := s.Cached(*m); !ok || c != p {
		t.Errorf("Cached = %q, %v", c, ok)
	}

	wrong := pinnedModel("90001_DEMO", "bundled://demo/model.pt", []byte("other"))
	wrong.Size = 0
	s2 := &Store{Dir: t.TempDir(), Bundled: fsys}
	_, err = s2.Fetch(context.Background(), *wrong)
	wantErrorMentioning(t, err, "bundled://demo/model.pt", hexSHA256([]byte("other")), hexSHA256(data), "nothing was cached")
	wantNothingCached(t, s2)

	_, err = (&Store{Dir: t.TempDir()}).Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "90001_DEMO", "bundled")
	_, err = s2.Fetch(context.Background(), *pinnedModel("90002", "bundled://missing.pt", data))
	wantErrorMentioning(t, err, "bundled://missing.pt")
}

func TestStoreFetchLocalFile(t *testing.T) {
	data := fakeArtifact("local", 9000)
	src := t.TempDir()
	// A '?' and '//' in the name would mean something to go-getter.
	name := "odd?name.pt"
	if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	catalog := filepath.Join(src, "my.toml")
	os.WriteFile(catalog, []byte("schema = 1\n"), 0o644)

	for _, tc := range []struct {
		label, url, source string
	}{
		{"file URL", "file://" + filepath.ToSlash(src) + "/odd%3Fname.pt", ""},
		{"absolute path", filepath.Join(src, name), ""},
		{"double slash", src + "//" + name, ""},
		{"relative to catalog", name, catalog},
	} {
		t.Run(tc.label, func(t *testing.T) {
			s := &Store{Dir: t.TempDir(), Offline: true}
			m := pinnedModel("90003_LOCAL", tc.url, data)
			m.Source = tc.source
			p, err := s.Fetch(context.Background(), *m)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(p)
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("cache entry %s is not a regular file (%v): go-getter must copy, not link", p, err)
			}
			if !bytes.Equal(mustReadFile(t, p), data) {
				t.Error("wrong bytes")
			}
		})
	}

	s := newTestStore(t)
	_, err := s.Fetch(context.Background(), *pinnedModel("90004", filepath.Join(src, "nope.pt"), data))
	wantErrorMentioning(t, err, "90004", "nope.pt")
	_, err = s.Fetch(context.Background(), *pinnedModel("90005", "s3://bucket/x.pt", data))
	wantErrorMentioning(t, err, "unsupported scheme")
	wantNothingCached(t, s)
}

// ---- hostile servers and caches ----

// endlessServer streams an unending body (no Content-Length), counting the
// bytes it managed to send.
func endlessServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var sent atomic.Int64
	chunk := bytes.Repeat([]byte("endless-"), 4096)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &sent
}

func TestStoreFetchSizeLimits(t *testing.T) {
	srv, _ := endlessServer(t)
	data := fakeArtifact("sized", 3892)
	lengthSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Announces 10 MiB, sends a little, then hangs until the client leaves.
		w.Header().Set("Content-Length", strconv.Itoa(10<<20))
		w.Write(data)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(lengthSrv.Close)

	for _, tc := range []struct {
		name     string
		url      string
		size     int64
		maxBytes int64
		want     []string
	}{
		{"endless body, declared size", srv.URL + "/m.pt", 3892, 0,
			[]string{"more than the 3892 bytes the catalog declares", "stopped"}},
		{"endless body, no size", srv.URL + "/m.pt", 0, 1 << 20,
			[]string{"more than the download limit of 1048576 bytes", "--max-download", "ZOO_MAX_DOWNLOAD"}},
		{"content-length disagrees with size", lengthSrv.URL + "/m.pt", 3892, 0,
			[]string{"announces 10485760 bytes (10.0 MiB) (Content-Length)", "catalog says 3892 bytes"}},
		{"content-length over the limit", lengthSrv.URL + "/m.pt", 0, 1 << 20,
			[]string{"announces 10485760 bytes", "more than the download limit of 1048576 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{Dir: t.TempDir(), MaxDownloadBytes: tc.maxBytes}
			m := pinnedModel("00030_BIG", tc.url, data)
			m.Size = tc.size
			done := make(chan error, 1)
			go func() { _, err := s.Fetch(context.Background(), *m); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Fetch did not stop the download")
			}
			wantErrorMentioning(t, err, append(tc.want, "00030_BIG", "nothing was cached")...)
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("error %v is not ErrTooLarge", err)
			}
			wantNothingCached(t, s)
		})
	}

	// A declared size above the limit is refused before connecting.
	s := &Store{Dir: t.TempDir(), MaxDownloadBytes: 1000}
	counted := newArtifactServer(t, data)
	_, err := s.Fetch(context.Background(), *pinnedModel("00031_BIG", counted.URL+"/m.pt", data))
	wantErrorMentioning(t, err, "the catalog says", "3892 bytes", "more than the download limit of 1000 bytes", "nothing was downloaded")
	if counted.gets.Load() != 0 {
		t.Errorf("a refused download still made %d requests", counted.gets.Load())
	}
	// Exactly the limit is fine, and so is the largest limit there is.
	for _, limit := range []int64{int64(len(data)), math.MaxInt64} {
		s := &Store{Dir: t.TempDir(), MaxDownloadBytes: limit}
		m := pinnedModel("00031_BIG", counted.URL+"/m.pt", data)
		m.Size = 0
		if _, err := s.Fetch(context.Background(), *m); err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
	}
}

func TestStoreLimitsFromEnv(t *testing.T) {
	data := fakeArtifact("env", 5000)
	srv := newArtifactServer(t, data)
	m := pinnedModel("00032_ENV", srv.URL+"/m.pt", data)
	m.Size = 0

	t.Setenv(EnvMaxDownload, "4KiB")
	s := newTestStore(t)
	_, err := s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "more than the download limit of 4096 bytes")
	wantNothingCached(t, s)

	t.Setenv(EnvMaxDownload, "lots")
	_, err = s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "ZOO_MAX_DOWNLOAD", `"lots" is not a size`, "4GiB")

	t.Setenv(EnvMaxDownload, "")
	t.Setenv(EnvStallTimeout, "-3s")
	_, err = s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "ZOO_STALL_TIMEOUT", "positive duration")
	if srv.gets.Load() != 1 {
		t.Errorf("server saw %d GETs, want 1 (bad settings must stop before connecting)", srv.gets.Load())
	}
	t.Setenv(EnvStallTimeout, "1m")
	if _, err := s.Fetch(context.Background(), *m); err != nil {
		t.Fatal(err)
	}
}

func TestStoreFetchRedirects(t *testing.T) {
	data := fakeArtifact("redirected", 2000)
	mux := http.NewServeMux()
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop2", http.StatusFound) })
	mux.HandleFunc("/loop2", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "file:///etc/passwd")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/chain/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/chain/"))
		http.Redirect(w, r, fmt.Sprintf("/chain/%d", n+1), http.StatusFound)
	})
	mux.HandleFunc("/nowhere", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusFound) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/real.pt", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/real.pt", func(w http.ResponseWriter, r *http.Request) { w.Write(data) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/loop", []string{"redirect loop after 2 redirects", srv.URL + "/loop2", srv.URL + "/loop"}},
		{"/file", []string{"refused a redirect from " + srv.URL + "/file to file:///etc/passwd", "only http(s) redirects are followed"}},
		{"/chain/0", []string{"gave up after 10 redirects"}},
		{"/nowhere", []string{"HTTP 302 Found", "without a usable Location"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s := newTestStore(t)
			_, err := s.Fetch(context.Background(), *pinnedModel("00033_REDIR", srv.URL+tc.path, data))
			wantErrorMentioning(t, err, append(tc.want, "nothing was cached")...)
			wantNothingCached(t, s)
		})
	}
	s := newTestStore(t)
	p, err := s.Fetch(context.Background(), *pinnedModel("00033_REDIR", srv.URL+"/moved", data))
	if err != nil || !bytes.Equal(mustReadFile(t, p), data) {
		t.Fatalf("an honest redirect: %q, %v", p, err)
	}
}

// rawServer answers every connection on 127.0.0.1 with resp, byte for byte,
// then closes it: for responses net/http's server would never send.
func rawServer(t *testing.T, resp []byte) string {
	return testnet.RawServer(t, func(c net.Conn) {
		c.Write(resp)
		time.Sleep(200 * time.Millisecond) // keep it open for a stray read
	})
}

// A body longer than its Content-Length: the artifact is the announced
// bytes, and net/http logs nothing about the rest.
func TestStoreFetchBodyLongerThanLength(t *testing.T) {
	data := fakeArtifact("longer", 3000)
	extra := bytes.Repeat([]byte{0, 0xff, 'H', 'T', 'T', 'P'}, 2000)
	resp := fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(data))
	url := rawServer(t, append(append(resp, data...), extra...))

	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	s := newTestStore(t)
	p, err := s.Fetch(context.Background(), *pinnedModel("00034_LONGER", url+"/m.pt", data))
	if err != nil || !bytes.Equal(mustReadFile(t, p), data) {
		t.Fatalf("fetch: %q, %v", p, err)
	}
	time.Sleep(300 * time.Millisecond) // when a stray log would come
	if logged.Len() != 0 {
		t.Errorf("net/http logged %d bytes:\n%.300q", logged.Len(), logged.String())
	}
}

// Links planted in the cache are never written through: the files they
// point at stay as they were.
func TestStoreRefusesPlantedLinks(t *testing.T) {
	data := fakeArtifact("planted", 4000)
	srv := newArtifactServer(t, data)
	m := pinnedModel("00035_LINKS", srv.URL+"/m.pt", data)
	v := newVictim(t)

	for _, sub := range []string{"tmp", "blobs", "locks"} {
		for _, target := range []string{v.file, v.dir} {
			t.Run(sub+" links to "+filepath.Base(target), func(t *testing.T) {
				s := newTestStore(t)
				if err := os.Symlink(target, filepath.Join(s.Dir, sub)); err != nil {
					t.Fatal(err)
				}
				_, err := s.Fetch(context.Background(), *m)
				wantErrorMentioning(t, err, filepath.Join(s.Dir, sub), "symbolic link", "rm ")
				if !errors.Is(err, ErrUnsafeCache) {
					t.Errorf("error %v is not ErrUnsafeCache", err)
				}
				v.untouched(t)
			})
		}
	}

	t.Run("blob is a link", func(t *testing.T) {
		s := newTestStore(t)
		os.MkdirAll(filepath.Join(s.Dir, "blobs"), 0o755)
		blob := filepath.Join(s.Dir, "blobs", "sha256-"+hexSHA256(data))
		if err := os.Symlink(v.file, blob); err != nil {
			t.Fatal(err)
		}
		off := &Store{Dir: s.Dir, Offline: true}
		_, err := off.Fetch(context.Background(), *m)
		wantErrorMentioning(t, err, "symbolic link", "zoo pull 00035_LINKS")
		p, err := s.Fetch(context.Background(), *m)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() || !bytes.Equal(mustReadFile(t, p), data) {
			t.Fatalf("the link was not replaced by a real blob: %v", err)
		}
		v.untouched(t)
	})

	t.Run("lock file is a link", func(t *testing.T) {
		s := newTestStore(t)
		os.MkdirAll(filepath.Join(s.Dir, "locks"), 0o755)
		dangling := filepath.Join(v.dir, "created-by-zoo")
		lock := filepath.Join(s.Dir, "locks", "sha256-"+hexSHA256(data)+".lock")
		if err := os.Symlink(dangling, lock); err != nil {
			t.Fatal(err)
		}
		_, err := s.Fetch(context.Background(), *m)
		wantErrorMentioning(t, err, lock, "symbolic link")
		v.untouched(t)
	})

	t.Run("unpacked entry is a link", func(t *testing.T) {
		zipData := zipBytes(t, []testZipEntry{{name: "model.pt", body: []byte("w")}})
		s := newTestStore(t)
		zm := zipFileModel(t, zipData, "model.pt")
		os.MkdirAll(filepath.Join(s.Dir, "unpacked"), 0o755)
		link := filepath.Join(s.Dir, "unpacked", "sha256-"+hexSHA256(zipData))
		os.WriteFile(filepath.Join(v.dir, "model.pt"), []byte("planted"), 0o644)
		defer os.Remove(filepath.Join(v.dir, "model.pt"))
		if err := os.Symlink(v.dir, link); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Cached(*zm); ok {
			t.Error("Cached trusts a linked unpacked directory")
		}
		p, err := s.Fetch(context.Background(), *zm)
		if err != nil {
			t.Fatal(err)
		}
		if string(mustReadFile(t, p)) != "w" || strings.HasPrefix(p, v.dir) {
			t.Fatalf("Fetch used the planted directory: %s", p)
		}
		if fi, err := os.Lstat(link); err != nil || !fi.IsDir() {
			t.Fatalf("unpacked entry is not a real directory now: %v", err)
		}
	})
}

// A local file whose size differs from the catalog's is refused before
// anything is copied.
func TestStoreFetchLocalFileWrongSize(t *testing.T) {
	data := fakeArtifact("localsize", 3000)
	p := filepath.Join(t.TempDir(), "m.pt")
	os.WriteFile(p, data, 0o644)
	m := pinnedModel("00036_LOCAL", p, data)
	m.Size = 10
	s := newTestStore(t)
	_, err := s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "has 3000 bytes, the catalog says 10", "nothing was cached")
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("error %v is not ErrChecksum", err)
	}
	wantNothingCached(t, s)
}
