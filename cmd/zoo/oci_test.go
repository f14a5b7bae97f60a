package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"medzoo/internal/testregistry"
	catalog "medzoo/zoo"
)

// ociEnv is the environment that logs zoo into reg, with no docker logins
// of the machine's, and a cache the caller chooses.
func ociEnv(t *testing.T, reg *testregistry.Registry, cache string) []string {
	return []string{"ZOO_REGISTRY_AUTH=" + reg.Auth(), "DOCKER_CONFIG=" + t.TempDir(), "ZOO_CACHE=" + cache}
}

type pushOut struct {
	Pushed struct {
		URL     string `json:"url"`
		Digest  string `json:"digest"`
		Skipped int    `json:"skipped"`
		Blobs   int    `json:"blobs"`
		Module  struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		} `json:"module"`
	} `json:"pushed"`
}

func pushDemo(t *testing.T, env []string, dir, ref string, extra ...string) pushOut {
	t.Helper()
	r := mustOK(t, zoo(t, env, append([]string{"push", dir, ref, "--json"}, extra...)...))
	var p pushOut
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("push --json: %v\n%s", err, r.stdout)
	}
	return p
}

func blobCount(t *testing.T, cache string) int {
	ents, _ := os.ReadDir(filepath.Join(cache, "blobs"))
	return len(ents)
}

// TestOCIPushPull: push, pull (bytes equal), a second tag (same digest),
// the pinned url in a catalog (online, then offline), and concurrent pulls
// of one artifact into one cache.
func TestOCIPushPull(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	cache := filepath.Join(t.TempDir(), "cache")
	env := ociEnv(t, reg, cache)
	dir := demoModelDir(t)
	ref := "oci://" + reg.Host + "/lab/demo101:1.0.0"
	p := pushDemo(t, env, dir, ref, "--plain-http")
	if !strings.HasPrefix(p.Pushed.URL, "oci://"+reg.Host+"/lab/demo101@sha256:") || p.Pushed.Skipped != 0 {
		t.Fatalf("push: %+v", p)
	}
	p2 := pushDemo(t, env, dir, "oci://"+reg.Host+"/lab/demo101:stable", "--plain-http")
	if p2.Pushed.Digest != p.Pushed.Digest || p2.Pushed.Skipped != p2.Pushed.Blobs {
		t.Errorf("second tag: %+v, first %+v", p2, p)
	}
	human := mustOK(t, zoo(t, env, "push", dir, ref, "--plain-http"))
	if !strings.Contains(human.stdout, p.Pushed.URL) || !strings.Contains(human.stdout, "[model.artifact]") {
		t.Errorf("push prints no pinned url:\n%s", human.stdout)
	}

	out := filepath.Join(t.TempDir(), "pulled")
	r := mustOK(t, zoo(t, env, "pull", "oci://"+reg.Host+"/lab/demo101:stable", "--plain-http", "-o", out, "--json"))
	var pulled struct {
		URL, Path, SHA256 string
	}
	if err := json.Unmarshal([]byte(r.stdout), &pulled); err != nil {
		t.Fatal(err)
	}
	if pulled.URL != p.Pushed.URL || sha256File(t, pulled.Path) != sha256File(t, filepath.Join(dir, "model.pt")) {
		t.Errorf("pull: %+v; pushed %+v", pulled, p)
	}
	want, got := dirDigest(t, dir), dirDigest(t, out)
	if len(got) != len(want) {
		t.Errorf("pulled directory %v, pushed %v", got, want)
	}
	for name, d := range want {
		if got[name] != d {
			t.Errorf("pulled %s differs", name)
		}
	}
	wantFail(t, zoo(t, env, "pull", ref, "--plain-http", "-o", out), 1, "not empty")

	// The pinned url in a catalog: fetched through the store.
	cat := filepath.Join(t.TempDir(), "lab.toml")
	entry := demoEntry(t, catalog.Artifact{URL: p.Pushed.URL, SHA256: strings.TrimPrefix(p.Pushed.Module.Digest, "sha256:"), Size: p.Pushed.Module.Size})
	os.WriteFile(cat, []byte(entry), 0o644)
	fresh := filepath.Join(t.TempDir(), "cache2")
	catEnv := append(ociEnv(t, reg, fresh), "ZOO_CATALOG="+cat, "ZOO_REGISTRY_PLAIN_HTTP=1")
	mustOK(t, zoo(t, catEnv, "pull", "101"))
	mustOK(t, zoo(t, append(catEnv, "ZOO_OFFLINE=1"), "pull", "101"))
	if n := blobCount(t, fresh); n != 1 {
		t.Errorf("cache holds %d blobs, want 1", n)
	}
	// A tag in a catalog is refused with the fix.
	tagged := demoEntry(t, catalog.Artifact{URL: ref, SHA256: strings.TrimPrefix(p.Pushed.Module.Digest, "sha256:")})
	os.WriteFile(cat, []byte(tagged), 0o644)
	wantFail(t, zoo(t, append(ociEnv(t, reg, t.TempDir()), "ZOO_CATALOG="+cat), "pull", "101"), 1, "pins the manifest digest", "zoo pull "+ref)

	// Concurrent pulls of one artifact: one good copy.
	shared := filepath.Join(t.TempDir(), "cache3")
	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = zoo(t, ociEnv(t, reg, shared), "pull", p.Pushed.URL, "--plain-http", "--json")
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		mustOK(t, r)
	}
	if n := blobCount(t, shared); n != 1 {
		t.Errorf("concurrent pulls left %d blobs, want 1", n)
	}
	ents, _ := os.ReadDir(filepath.Join(shared, "tmp"))
	if len(ents) != 0 {
		t.Errorf("concurrent pulls left %d entries in tmp/", len(ents))
	}
}

func TestOCIWrongPasswordAndTamperedBlob(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	cache := filepath.Join(t.TempDir(), "cache")
	env := ociEnv(t, reg, cache)
	ref := "oci://" + reg.Host + "/lab/demo101:1.0.0"
	p := pushDemo(t, env, demoModelDir(t), ref, "--plain-http")

	bad := []string{"ZOO_REGISTRY_AUTH=" + reg.Host + "=" + reg.User + ":not-the-password", "DOCKER_CONFIG=" + t.TempDir(), "ZOO_CACHE=" + cache}
	r := zoo(t, bad, "pull", ref, "--plain-http")
	wantFail(t, r, 1, "refused the login", "ZOO_REGISTRY_AUTH")
	if strings.Contains(r.stderr, "not-the-password") {
		t.Errorf("the password is printed:\n%s", r.stderr)
	}
	if n := blobCount(t, cache); n != 0 {
		t.Errorf("a refused pull cached %d blobs", n)
	}
	env2 := mustOK(t, zoo(t, bad, "env", "--json"))
	if strings.Contains(env2.stdout, "not-the-password") {
		t.Errorf("zoo env prints the password:\n%s", env2.stdout)
	}

	blob := reg.BlobPath(p.Pushed.Module.Digest)
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x55
	os.WriteFile(blob, b, 0o644)
	wantFail(t, zoo(t, env, "pull", ref, "--plain-http"), 1, "digest mismatch", p.Pushed.Module.Digest)
	if n := blobCount(t, cache); n != 0 {
		t.Errorf("a tampered pull cached %d blobs", n)
	}
}

func TestOCIRefsRefused(t *testing.T) {
	dir := demoModelDir(t)
	for _, ref := range []string{
		"oci://127.0.0.1:5000/lab/modèle:1.0.0",
		"oci://127.0.0.1:5000/lab/../../etc:1",
		"oci://127.0.0.1:5000/Lab/Demo:1",
		"oci://127.0.0.1:5000/lab/demo:-bad",
		"oci://127.0.0.1:5000/lab/demo:１",
	} {
		wantFail(t, zoo(t, nil, "push", dir, ref, "--plain-http"), 2, "bad OCI reference", "oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX]")
		wantFail(t, zoo(t, nil, "pull", ref, "--plain-http"), 2, "bad OCI reference")
	}
	wantFail(t, zoo(t, nil, "push", dir, "oci://registry.example.org/lab/demo:1", "--plain-http"), 2, "only for a registry on this machine")
	wantFail(t, zoo(t, nil, "pull", "oci://10.0.0.1:5000/lab/demo:1", "--plain-http"), 2, "only for a registry on this machine")
	wantFail(t, zoo(t, nil, "pull", "101", "--plain-http"), 2, "for oci:// references")
}

// TLS is the default: zoo trusts the registry's self-signed certificate
// through SSL_CERT_FILE, with no --plain-http.
func TestOCITLS(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{TLS: true})
	cache := filepath.Join(t.TempDir(), "cache")
	env := ociEnv(t, reg, cache)
	ref := "oci://" + reg.Host + "/lab/demo101:1.0.0"
	dir := demoModelDir(t)
	wantFail(t, zoo(t, env, "push", dir, ref), 1, "SSL_CERT_FILE")
	trusted := append(env, "SSL_CERT_FILE="+reg.CertFile)
	pushDemo(t, trusted, dir, ref)
	r := mustOK(t, zoo(t, trusted, "pull", ref))
	if !strings.Contains(r.stdout, "[model.artifact]") {
		t.Errorf("pull output:\n%s", r.stdout)
	}
}
