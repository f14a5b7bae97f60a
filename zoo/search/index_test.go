package search

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"medzoo/internal/catalogtest"
	"medzoo/zoo"
)

// isolate points the config dir, the catalog list and the index cache
// switch away from the user's.
func isolate(t *testing.T) string {
	t.Helper()
	t.Setenv(IndexCacheEnv, "")
	return catalogtest.Isolate(t)
}

func openIx(t *testing.T, cache string, extra ...string) (*Index, IndexStatus) {
	t.Helper()
	ix, st, err := OpenIndex(context.Background(), IndexOptions{Load: zoo.LoadOptions{Extra: extra}, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix, st
}

// userCatalog writes a catalog file holding the one entry id, and returns
// it with an empty index cache directory.
func userCatalog(t *testing.T, id, title string) (cache, user string) {
	t.Helper()
	user = filepath.Join(t.TempDir(), "user.toml")
	if err := os.WriteFile(user, []byte(userEntry(id, title)), 0o644); err != nil {
		t.Fatal(err)
	}
	return t.TempDir(), user
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
	emb, _ := zoo.Embedded()
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
	if _, _, err := OpenIndex(context.Background(), IndexOptions{Load: zoo.LoadOptions{Extra: []string{user, second}}, CacheDir: cache}); err == nil || !strings.Contains(err.Error(), second) {
		t.Fatalf("deleted catalog: %v", err)
	}
}

// The racy check: a source whose stat matches but whose bytes differ from
// what was indexed is caught while the file is young.
func TestIndexRacyFileIsHashed(t *testing.T) {
	isolate(t)
	cache, user := userCatalog(t, "90001_A", "alpha")
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
	c, _ := zoo.Embedded()
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
	cache, user := userCatalog(t, "90001_A", "alpha")
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ix, _, err := OpenIndex(context.Background(), IndexOptions{Load: zoo.LoadOptions{Extra: []string{user}}, CacheDir: cache})
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
	t.Setenv(zoo.CatalogEnv, a)

	cat, srcs, err := zoo.LoadWith(context.Background(), zoo.LoadOptions{Extra: []string{b}})
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	for _, s := range srcs {
		froms = append(froms, s.From)
	}
	if want := []string{zoo.FromEmbedded, zoo.FromConfigDir, zoo.FromEnv, zoo.FromFlag}; !reflect.DeepEqual(froms, want) {
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
