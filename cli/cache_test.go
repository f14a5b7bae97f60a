//go:build !notorch

package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"medzoo/features"
	"medzoo/zoo"
	"medzoo/zoo/store"
)

// zoo cache runs in bin/zoo, which has no list of feature extractors: it
// knows an extractor's blob is in use from the pin that the extractor's
// first download writes under extractorIDPrefix. This test downloads one
// the way zoo evaluate does and checks that zoo cache counts it as used.
func TestCacheCountsPinnedExtractorsAsUsed(t *testing.T) {
	data := []byte("a stand-in for a TorchScript feature extractor")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	st := &store.Store{Dir: t.TempDir(), AllowUnpinned: true}
	ex := store.Artifact{Name: extractorIDPrefix + "test", URL: srv.URL + "/ex.pt", Format: store.FormatTorchScript}
	if _, err := st.Fetch(context.Background(), ex); err != nil {
		t.Fatal(err)
	}
	users, err := cacheUsers(&env{catalog: &zoo.Catalog{}, store: st})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.Entries(users)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if len(l.Entries) != 1 || l.Entries[0].Digest != hex.EncodeToString(sum[:]) || !slices.Equal(l.Entries[0].Users, []string{ex.Name}) {
		t.Fatalf("the extractor's entry is not counted as used: %+v", l.Entries)
	}
}

// An extractor with a sha256 in extractors.toml writes no pin, so bin/zoo's
// cache prune would not see that it is in use. This fails when one is
// added, so that zoo cache is taught about it first.
func TestCacheSeesEveryBuiltinExtractor(t *testing.T) {
	specs, err := features.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.URL != "" && s.SHA256 != "" {
			t.Errorf("extractor %s has a sha256, so its download writes no pin and zoo cache prune (cli/cache.go) would remove it", s.Name)
		}
	}
}
