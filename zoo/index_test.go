package zoo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// userEntry is a minimal valid catalog entry.
func userEntry(id, title string, extra ...string) string {
	return "[[model]]\nid = \"" + id + "\"\ntitle = \"" + title + "\"\n" + strings.Join(extra, "\n") +
		"\n[model.artifact]\nurl = \"x.zip\"\nformat = \"python-package\"\n\n"
}

// isolate points the config dir and the catalog list away from the user's.
func isolate(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	t.Setenv(ConfigDirEnv, cfg)
	t.Setenv(CatalogEnv, "")
	t.Setenv(IndexCacheEnv, "")
	return cfg
}

func openIx(t *testing.T, cache string, extra ...string) (*Index, IndexStatus) {
	t.Helper()
	ix, st, err := OpenIndex(context.Background(), IndexOptions{Load: LoadOptions{Extra: extra}, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix, st
}

func titleOf(t *testing.T, ix *Index, id string) string {
	t.Helper()
	r, err := ix.Search(Query{Where: []string{"id=" + id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Hits) != 1 {
		t.Fatalf("id %s: %d hits", id, len(r.Hits))
	}
	return r.Hits[0].Title
}

func TestIndexCacheIsUsedAndInvalidated(t *testing.T) {
	isolate(t)
	old := racyWindow
	racyWindow = 200 * time.Millisecond
	defer func() { racyWindow = old }()
	cache := t.TempDir()
	dir := t.TempDir()
	user := filepath.Join(dir, "user.toml")
	write := func(s string) {
		if err := os.WriteFile(user, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(userEntry("90001_A", "alpha one"))

	ix, st := openIx(t, cache, user)
	if st.Cached || st.Path == "" {
		t.Fatalf("first open: %+v", st)
	}
	emb, _ := Embedded()
	if ix.Len() != len(emb.Models)+1 || titleOf(t, ix, "90001_A") != "alpha one" {
		t.Fatalf("%d models", ix.Len())
	}
	// Fresh file: racy, so the next opens verify its bytes.
	_, st = openIx(t, cache, user)
	if !st.Cached {
		t.Fatalf("second open not cached: %+v", st)
	}
	time.Sleep(250 * time.Millisecond)
	_, st = openIx(t, cache, user) // clears the racy mark
	if !st.Cached {
		t.Fatalf("third open not cached: %+v", st)
	}
	hdr := readHeader(t, st.Path)
	if hdr.Sources[1].Racy {
		t.Error("racy mark not cleared once the file aged")
	}

	// Edits are seen: a different size, and the same size.
	write(userEntry("90001_A", "alpha two"))
	ix, st = openIx(t, cache, user)
	if st.Cached || titleOf(t, ix, "90001_A") != "alpha two" {
		t.Fatalf("edit not seen: %+v", st)
	}
	time.Sleep(250 * time.Millisecond)
	write(userEntry("90001_A", "alpha 3ne")) // same length
	ix, st = openIx(t, cache, user)
	if st.Cached || titleOf(t, ix, "90001_A") != "alpha 3ne" {
		t.Fatalf("same-size edit not seen: %+v", st)
	}
	// A file replaced by another with the same size and time.
	mt := time.Now().Add(-time.Hour)
	os.Chtimes(user, mt, mt)
	openIx(t, cache, user)
	other := filepath.Join(dir, "other.toml")
	os.WriteFile(other, []byte(userEntry("90001_A", "alpha 4ne")), 0o644)
	os.Chtimes(other, mt, mt)
	if err := os.Rename(other, user); err != nil {
		t.Fatal(err)
	}
	ix, st = openIx(t, cache, user)
	if st.Cached || titleOf(t, ix, "90001_A") != "alpha 4ne" {
		t.Fatalf("replaced file not seen: %+v", st)
	}

	// Another list of catalogs is another cache file.
	second := filepath.Join(dir, "second.toml")
	os.WriteFile(second, []byte(userEntry("90002_B", "beta")), 0o644)
	ix, st2 := openIx(t, cache, user, second)
	if st2.Path == st.Path || ix.Len() != len(emb.Models)+2 {
		t.Fatalf("two catalogs: %+v, %d models", st2, ix.Len())
	}
	// A deleted catalog is an error naming it, not a stale answer.
	os.Remove(second)
	if _, _, err := OpenIndex(context.Background(), IndexOptions{Load: LoadOptions{Extra: []string{user, second}}, CacheDir: cache}); err == nil || !strings.Contains(err.Error(), second) {
		t.Fatalf("deleted catalog: %v", err)
	}
}

// The racy check: a source whose stat matches but whose bytes differ from
// what was indexed is caught while the file is young.
func TestIndexRacyFileIsHashed(t *testing.T) {
	isolate(t)
	cache, dir := t.TempDir(), t.TempDir()
	user := filepath.Join(dir, "user.toml")
	os.WriteFile(user, []byte(userEntry("90001_A", "alpha")), 0o644)
	_, st := openIx(t, cache, user)
	hdr := readHeader(t, st.Path)
	if !hdr.Sources[1].Racy {
		t.Fatal("a file written just now is not marked racy")
	}
	// Pretend the index was built from other bytes with the same stat.
	data, _ := os.ReadFile(st.Path)
	_, payload, _ := splitCacheFile(data)
	hdr.Sources[1].Digest = strings.Repeat("0", 64)
	if err := writeCacheFile(st.Path, hdr, append([]byte(nil), payload...)); err != nil {
		t.Fatal(err)
	}
	_, st = openIx(t, cache, user)
	if st.Cached {
		t.Fatal("racy source with other bytes was trusted")
	}
}

func readHeader(t *testing.T, path string) *indexHeader {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _, err := splitCacheFile(data)
	if err != nil {
		t.Fatal(err)
	}
	return hdr
}

func TestIndexDamagedCacheIsRebuilt(t *testing.T) {
	isolate(t)
	cache := t.TempDir()
	_, st := openIx(t, cache)
	data, _ := os.ReadFile(st.Path)
	for name, bad := range map[string][]byte{
		"empty":     {},
		"garbage":   bytes.Repeat([]byte{0xA5}, 4096),
		"truncated": data[:len(data)/2],
		"header":    append([]byte(cacheMagic+"\xff\xff\xff\x7f"), data[12:]...),
	} {
		if err := os.WriteFile(st.Path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		ix, st2 := openIx(t, cache)
		if st2.Cached || ix.Len() == 0 {
			t.Errorf("%s: %+v", name, st2)
		}
		if _, err := ix.Search(Query{Terms: []string{"mammography"}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Index bytes that pass the structural checks but lie inside: a search
// returns an error, never a panic.
func TestIndexCorruptPostings(t *testing.T) {
	c, _ := Embedded()
	good := BuildIndex(c)
	ix, _ := OpenIndexBytes(good)
	post := ix.sec[sPost]
	start := bytes.Index(good, post)
	for _, fill := range []byte{0xff, 0x80, 0x00} {
		bad := append([]byte(nil), good...)
		for i := start; i < start+len(post); i++ {
			bad[i] = fill
		}
		ix, err := OpenIndexBytes(bad)
		if err != nil {
			continue
		}
		_, err = ix.Search(Query{Terms: []string{"mammography", "mass"}, RankBy: "FID"})
		if fill != 0x00 && !errors.Is(err, errBadIndex) {
			t.Errorf("fill %#x: %v", fill, err)
		}
	}
	for _, n := range []int{0, 7, headerSize - 1, headerSize, 1000} {
		if _, err := OpenIndexBytes(good[:min(n, len(good))]); err == nil {
			t.Errorf("%d bytes opened", n)
		}
	}
}

func TestIndexConcurrentOpens(t *testing.T) {
	isolate(t)
	cache, dir := t.TempDir(), t.TempDir()
	user := filepath.Join(dir, "user.toml")
	os.WriteFile(user, []byte(userEntry("90001_A", "alpha")), 0o644)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ix, _, err := OpenIndex(context.Background(), IndexOptions{Load: LoadOptions{Extra: []string{user}}, CacheDir: cache})
			if err != nil {
				failed.Add(1)
				return
			}
			defer ix.Close()
			if r, err := ix.Search(Query{Terms: []string{"alpha"}}); err != nil || r.Total != 1 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d concurrent opens failed", failed.Load())
	}
	left, _ := filepath.Glob(filepath.Join(cache, "index", ".search-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestIndexCacheOff(t *testing.T) {
	isolate(t)
	cache := t.TempDir()
	t.Setenv(IndexCacheEnv, "off")
	_, st := openIx(t, cache)
	if st.Path != "" {
		t.Fatalf("cache off but wrote %s", st.Path)
	}
	if files, _ := filepath.Glob(filepath.Join(cache, "index", "*")); len(files) != 0 {
		t.Fatalf("files: %v", files)
	}
}

// Later catalogs replace models with the same id where they stood, in the
// index as in Load.
func TestIndexMergeMatchesLoad(t *testing.T) {
	cfg := isolate(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.toml")
	b := filepath.Join(dir, "b.toml")
	os.WriteFile(a, []byte(userEntry("00008_C-DCGAN_MMG_MASSES", "replaced by a", `modality = ["ultrasound"]`)+userEntry("90001_NEW", "new in a")), 0o644)
	os.WriteFile(b, []byte(userEntry("90001_new", "new in b, replacing a's")), 0o644)
	os.MkdirAll(filepath.Join(cfg, "catalogs"), 0o755)
	os.WriteFile(filepath.Join(cfg, "catalogs", "lab.toml"), []byte(userEntry("90003_LAB", "from the config dir")), 0o644)
	t.Setenv(CatalogEnv, a)

	cat, srcs, err := LoadWith(context.Background(), LoadOptions{Extra: []string{b}})
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	for _, s := range srcs {
		froms = append(froms, s.From)
	}
	if want := []string{FromEmbedded, FromConfigDir, FromEnv, FromFlag}; !reflect.DeepEqual(froms, want) {
		t.Fatalf("sources %v, want %v", froms, want)
	}
	ix, _ := openIx(t, t.TempDir(), b)
	r, err := ix.Search(Query{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range cat.Models {
		want = append(want, m.ID)
	}
	if !reflect.DeepEqual(hitIDs(r), want) {
		t.Fatalf("index order\n %v\nLoad order\n %v", hitIDs(r), want)
	}
	if titleOf(t, ix, "00008_C-DCGAN_MMG_MASSES") != "replaced by a" || titleOf(t, ix, "90001_NEW") != "new in b, replacing a's" {
		t.Error("replacement")
	}
	// The replaced entry's words are gone with it.
	r, _ = ix.Search(Query{Terms: []string{"ultrasound"}})
	if !reflect.DeepEqual(hitIDs(r), []string{"00008_C-DCGAN_MMG_MASSES"}) {
		t.Errorf("ultrasound: %v", hitIDs(r))
	}
	r, _ = ix.Search(Query{Terms: []string{"CBIS-DDSM"}, Where: []string{"id=00008_C-DCGAN_MMG_MASSES"}})
	if r.Total != 0 {
		t.Errorf("the replaced entry still matches: %v", hitIDs(r))
	}
}

// Large catalogs are parsed in pieces; the result must be Parse's.
func TestChunkedParseEqualsParse(t *testing.T) {
	var b strings.Builder
	b.WriteString("# big\nschema = 1\n\n")
	for i := 0; b.Len() < chunkedMinSize+chunkedMinSize/2; i++ {
		b.WriteString(userEntry(fmt.Sprintf("%05d_M", i), fmt.Sprintf("model %d", i),
			`modality = ["MRI"]`, `description = """several
lines"""`) + "[model.metrics.FID]\nvalue = 1.5\ndirection = \"lower\"\n\n")
	}
	data := []byte(b.String())
	check := func(name string, data []byte) {
		t.Helper()
		want, werr := Parse(data, "big.toml")
		got, gerr := parseFile(data, "big.toml")
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Fatalf("%s: errors differ:\n parse: %v\n chunked: %v", name, werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("%s: catalogs differ", name)
		}
	}
	check("valid", data)
	// An error deep inside: the same message and line as Parse.
	bad := bytes.Replace(data, []byte(`id = "00900_M"`), []byte(`id = "00900_M"`+"\nheight = -3\nbogus = 1"), 1)
	check("invalid", bad)
	// A duplicate id in another piece.
	dup := bytes.Replace(data, []byte(`id = "00900_M"`), []byte(`id = "00001_M"`), 1)
	check("duplicate", dup)
	// A multi-line string holding a [[model]] line: cut there, the pieces
	// do not parse, and the whole file is parsed instead.
	tricky := bytes.Replace(data, []byte("several\nlines"), []byte("several\n[[model]]\nlines"), 1)
	check("tricky", tricky)
	// A newer schema in the preamble.
	check("schema", bytes.Replace(data, []byte("schema = 1"), []byte("schema = 9"), 1))
}

func TestRemoteCatalogs(t *testing.T) {
	cfg := isolate(t)
	body := []byte("schema = 1\n" + userEntry("90007_REMOTE", "remote model", `organ = ["knee"]`))
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/cat.toml":
			w.Write(body)
		case "/tampered.toml":
			w.Write(append(body, '#'))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cache := t.TempDir()
	store := NewStore(cache)
	load := func(extra ...string) (*Catalog, []CatalogSource, error) {
		return LoadWith(context.Background(), LoadOptions{Extra: extra, Store: store})
	}

	spec := srv.URL + "/cat.toml#sha256=" + digest
	cat, srcs, err := load(spec)
	if err != nil {
		t.Fatal(err)
	}
	last := srcs[len(srcs)-1]
	if last.URL != srv.URL+"/cat.toml" || last.SHA256 != digest || cat.Get("90007_REMOTE") == nil || cat.Get("90007_REMOTE").Source != last.URL {
		t.Fatalf("remote source %+v", last)
	}
	// Cached by digest: offline works and asks nothing.
	store.Offline = true
	before := hits.Load()
	if _, _, err := load(spec); err != nil {
		t.Fatalf("offline with the catalog cached: %v", err)
	}
	if hits.Load() != before {
		t.Error("a cached remote catalog was fetched again")
	}
	// Not cached and offline: an error saying what to do.
	_, _, err = load(srv.URL + "/other.toml#sha256=" + strings.Repeat("a", 64))
	if err == nil || !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("offline uncached: %v", err)
	}
	store.Offline = false
	// A checksum is required, and checked.
	for _, bad := range []string{srv.URL + "/cat.toml", srv.URL + "/cat.toml#md5=abc", srv.URL + "/cat.toml#sha256=xyz"} {
		if _, _, err := load(bad); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// (A fresh cache: the one above holds these bytes under this digest.)
	_, _, err = LoadWith(context.Background(), LoadOptions{Extra: []string{srv.URL + "/tampered.toml#sha256=" + digest}, Store: NewStore(t.TempDir())})
	if err == nil || !errors.Is(err, ErrChecksum) {
		t.Errorf("tampered: %v", err)
	}

	// Listed in the config dir's catalogs.toml, and in $ZOO_CATALOG.
	os.WriteFile(filepath.Join(cfg, RemoteListFile), []byte(fmt.Sprintf("[[catalog]]\nurl = %q\nsha256 = %q\n", srv.URL+"/cat.toml", digest)), 0o644)
	_, srcs, err = load()
	if err != nil || len(srcs) != 2 || srcs[1].From != FromRemotes {
		t.Fatalf("catalogs.toml: %v %+v", err, srcs)
	}
	os.Remove(filepath.Join(cfg, RemoteListFile))
	t.Setenv(CatalogEnv, "/nonexistent-a.toml"+string(os.PathListSeparator)+spec)
	got := SplitCatalogList(os.Getenv(CatalogEnv))
	if !reflect.DeepEqual(got, []string{"/nonexistent-a.toml", spec}) {
		t.Fatalf("split %q", got)
	}
	os.WriteFile(filepath.Join(cfg, RemoteListFile), []byte("[[catalog]]\nurl = \"https://x/y.toml#sha256=00\"\n"), 0o644)
	if _, _, err := load(); err == nil || !strings.Contains(err.Error(), RemoteListFile) {
		t.Errorf("bad catalogs.toml: %v", err)
	}
	os.WriteFile(filepath.Join(cfg, RemoteListFile), []byte("[[catalog]]\nurl = \"https://x/y.toml\"\nsha = 1\n"), 0o644)
	if _, _, err := load(); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("unknown key in catalogs.toml: %v", err)
	}
}

func TestSplitCatalogList(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                    nil,
		"a.toml":                              {"a.toml"},
		"a.toml::b.toml":                      {"a.toml", "b.toml"},
		"https://h/x.toml#sha256=ab:b.toml":   {"https://h/x.toml#sha256=ab", "b.toml"},
		"http://h:8080/x.toml:file:///c.toml": {"http://h:8080/x.toml", "file:///c.toml"},
	} {
		if got := SplitCatalogList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
