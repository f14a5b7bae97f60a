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
	"sync/atomic"
	"testing"

	"medzoo/internal/envconfig"
	"medzoo/zoo/store"
)

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
	st := store.NewStore(cache)
	load := func(extra ...string) (*Catalog, []CatalogSource, error) {
		return LoadWith(context.Background(), LoadOptions{Extra: extra, Store: st})
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
	st.Offline = true
	before := hits.Load()
	if _, _, err := load(spec); err != nil {
		t.Fatalf("offline with the catalog cached: %v", err)
	}
	if hits.Load() != before {
		t.Error("a cached remote catalog was fetched again")
	}
	// Not cached and offline: an error saying what to do.
	_, _, err = load(srv.URL + "/other.toml#sha256=" + strings.Repeat("a", 64))
	if err == nil || !errors.Is(err, store.ErrOffline) || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("offline uncached: %v", err)
	}
	st.Offline = false
	// A checksum is required, and checked.
	for _, bad := range []string{srv.URL + "/cat.toml", srv.URL + "/cat.toml#md5=abc", srv.URL + "/cat.toml#sha256=xyz"} {
		if _, _, err := load(bad); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// (A fresh cache: the one above holds these bytes under this digest.)
	_, _, err = LoadWith(context.Background(), LoadOptions{Extra: []string{srv.URL + "/tampered.toml#sha256=" + digest}, Store: store.NewStore(t.TempDir())})
	if err == nil || !errors.Is(err, store.ErrChecksum) {
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
	got := envconfig.SplitCatalogList(os.Getenv(CatalogEnv))
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
