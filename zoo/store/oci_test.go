package store

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"medzoo/internal/testregistry"
	"medzoo/oci"
)

// pushTestModel pushes a small model to reg and returns what was pushed.
func pushTestModel(t *testing.T, reg *testregistry.Registry) (*oci.Pushed, []byte) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("ZOO_REGISTRY_AUTH", reg.Auth())
	dir := t.TempDir()
	module := make([]byte, 300000)
	rand.Read(module)
	for name, b := range map[string][]byte{"model.pt": module, "LICENSE": []byte("MIT\n"), "README.md": []byte("# m\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := oci.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	c.PlainHTTP = true
	ref, err := oci.ParseRef("oci://" + reg.Host + "/lab/m:1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Push(context.Background(), oci.Model{Dir: dir, ID: "90001_M", Config: []byte("[[model]]\n"),
		Files: []string{"model.pt", "LICENSE", "README.md"}}, ref)
	if err != nil {
		t.Fatal(err)
	}
	return p, module
}

func TestFetchOCI(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	p, module := pushTestModel(t, reg)
	art := Artifact{Name: "90001_M", URL: p.Pinned, SHA256: p.Module.SHA256(), Size: p.Module.Size, Format: FormatTorchScript}

	// Without plain HTTP the store uses HTTPS, and says what to do.
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Fetch(context.Background(), art); err == nil || !strings.Contains(err.Error(), "ZOO_REGISTRY_PLAIN_HTTP") {
		t.Errorf("plain registry over HTTPS: %v", err)
	}
	assertNothingCached(t, s)

	// Concurrent fetches of one artifact end with one good copy.
	s.RegistryPlainHTTP = true
	var wg sync.WaitGroup
	paths := make([]string, 6)
	errs := make([]error, 6)
	for i := range paths {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			paths[i], errs[i] = (&Store{Dir: s.Dir, RegistryPlainHTTP: true}).Fetch(context.Background(), art)
		}(i)
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != s.blobPath(p.Module.SHA256()) {
			t.Fatalf("fetch %d: %q, %v", i, paths[i], errs[i])
		}
	}
	if got, _ := os.ReadFile(paths[0]); string(got) != string(module) {
		t.Error("cached module differs from the pushed one")
	}
	// Offline: from the cache, with the registry gone.
	reg.Kill()
	off := &Store{Dir: s.Dir, Offline: true}
	if path, err := off.Fetch(context.Background(), art); err != nil || path != paths[0] {
		t.Errorf("offline fetch: %q, %v", path, err)
	}
	if _, err := (&Store{Dir: t.TempDir(), Offline: true}).Fetch(context.Background(), art); !errors.Is(err, ErrOffline) {
		t.Errorf("offline fetch of an uncached artifact: %v", err)
	}
}

func TestFetchOCIRefusals(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	p, _ := pushTestModel(t, reg)
	s := &Store{Dir: t.TempDir(), RegistryPlainHTTP: true}
	ctx := context.Background()
	// A tag in a catalog is refused, with the fix.
	tag := Artifact{Name: "m", URL: "oci://" + reg.Host + "/lab/m:1.0.0", SHA256: p.Module.SHA256()}
	if _, err := s.Fetch(ctx, tag); err == nil || !strings.Contains(err.Error(), "pins the manifest digest") {
		t.Errorf("tag url: %v", err)
	}
	// A catalog sha256 that is not the module layer's.
	wrong := Artifact{Name: "m", URL: p.Pinned, SHA256: strings.Repeat("0", 64)}
	if _, err := s.Fetch(ctx, wrong); !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong sha256: %v", err)
	}
	// A tampered blob in the registry.
	blob := reg.BlobPath(p.Module.Digest)
	b, _ := os.ReadFile(blob)
	b[0] ^= 1
	os.WriteFile(blob, b, 0o644)
	art := Artifact{Name: "m", URL: p.Pinned, SHA256: p.Module.SHA256(), Size: p.Module.Size}
	if _, err := s.Fetch(ctx, art); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Errorf("tampered blob: %v", err)
	}
	assertNothingCached(t, s)
}

func assertNothingCached(t *testing.T, s *Store) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(s.Dir, "blobs"))
	if len(ents) != 0 {
		t.Errorf("blobs/ holds %d entries after a failed fetch", len(ents))
	}
}
