package oci

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"medzoo/internal/testregistry"
)

func TestParseRef(t *testing.T) {
	good := map[string]Ref{
		"oci://127.0.0.1:5000/lab/mri-gan:1.0.0":  {Host: "127.0.0.1:5000", Repo: "lab/mri-gan", Tag: "1.0.0"},
		"oci://ghcr.io/a/b_c__d.e:v1":             {Host: "ghcr.io", Repo: "a/b_c__d.e", Tag: "v1"},
		"oci://[::1]:5000/m@sha256:" + hex64("a"): {Host: "[::1]:5000", Repo: "m", Digest: "sha256:" + hex64("a")},
		"oci://localhost/m:_x":                    {Host: "localhost", Repo: "m", Tag: "_x"},
	}
	for s, want := range good {
		got, err := ParseRef(s)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		if err == nil && got.String() != s {
			t.Errorf("ParseRef(%q).String() = %q", s, got.String())
		}
	}
	bad := map[string]string{
		"oci://127.0.0.1/lab/modèle:1":                      "not printable ASCII",
		"oci://127.0.0.1/lab/m:１":                           "not printable ASCII",
		"oci://127.0.0.1/lab/../etc:1":                      "path traversal",
		"oci://127.0.0.1/Lab/M:1":                           "upper-case",
		"oci://127.0.0.1/lab/m:.hidden":                     "a TAG is",
		"oci://127.0.0.1/lab/m:" + strings.Repeat("a", 129): "a TAG is",
		"oci://127.0.0.1/lab/m":                             "no :TAG",
		"oci://127.0.0.1/lab/m@sha256:abc":                  "a digest is",
		"oci://user:pw@127.0.0.1/m:1":                       "user name",
		"https://127.0.0.1/m:1":                             "does not start with oci://",
		"oci://127.0.0.1:99999/m:1":                         "port",
		"oci://127.0.0.1/m:1?x=1":                           "?",
		"oci://127.0.0.1/lab//m:1":                          "OCI grammar",
		"oci://127.0.0.1/-m:1":                              "OCI grammar",
		"oci:///m:1":                                        "no host",
	}
	for s, want := range bad {
		_, err := ParseRef(s)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), refGrammar) {
			t.Errorf("ParseRef(%q) = %v; want an error with %q and the grammar", s, err, want)
		}
	}
}

func hex64(seed string) string { return strings.Repeat(seed, 64/len(seed)+1)[:64] }

// modelDir writes a model directory with a module of moduleSize random
// bytes and, if sampleSize > 0, one sample of that many bytes.
func modelDir(t *testing.T, moduleSize, sampleSize int) Model {
	t.Helper()
	dir := t.TempDir()
	put := func(name string, b []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	module := make([]byte, moduleSize)
	rand.Read(module)
	put(ModuleFile, module)
	put(LicenseFile, []byte("CC-BY-4.0\n"))
	put(CardFile, []byte("# a model\nSynthetic images only.\n"))
	m := Model{Dir: dir, ID: "90001_TEST", Version: "1.0.0", License: "CC-BY-4.0",
		Config: []byte("[[model]]\nid = \"90001_TEST\"\n"), Files: []string{ModuleFile, LicenseFile, CardFile}}
	if sampleSize > 0 {
		s := make([]byte, sampleSize)
		rand.Read(s)
		put("samples/a.png", s)
		m.Files = append(m.Files, "samples/a.png")
	}
	return m
}

func client(t *testing.T, r *testregistry.Registry) *Client {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no logins from the machine
	t.Setenv("ZOO_REGISTRY_AUTH", r.Auth())
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	c.PlainHTTP = true
	return c
}

func mustRef(t *testing.T, s string) Ref {
	t.Helper()
	r, err := ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPushPullTag(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	c := client(t, reg)
	ctx := context.Background()
	m := modelDir(t, 1<<20, 1000)
	ref := mustRef(t, "oci://"+reg.Host+"/lab/test-model:1.0.0")
	p, err := c.Push(ctx, m, ref)
	if err != nil {
		t.Fatal(err)
	}
	if p.Blobs != 4 || p.Skipped != 0 || !strings.HasPrefix(p.Pinned, "oci://"+reg.Host+"/lab/test-model@sha256:") {
		t.Errorf("first push: %+v", p)
	}
	a, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != p.Digest || string(a.Config) != string(m.Config) || a.Annotations[AnnotationModelID] != m.ID ||
		a.Annotations[AnnotationVersion] != "1.0.0" || a.Annotations[AnnotationLicense] != "CC-BY-4.0" {
		t.Errorf("resolved %+v, pushed %+v", a, p)
	}
	if a.Module() != p.Module || a.Module().MediaType != TorchScriptMediaType {
		t.Errorf("module layer %+v, pushed %+v", a.Module(), p.Module)
	}
	out := filepath.Join(t.TempDir(), "pulled")
	if err := c.WriteDir(ctx, a, out, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range append(m.Files, "model.toml") {
		want, _ := os.ReadFile(filepath.Join(m.Dir, filepath.FromSlash(name)))
		if name == "model.toml" {
			want = m.Config
		}
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("pulled %s differs (%v)", name, err)
		}
	}
	// Never over an existing directory with files.
	if err := c.WriteDir(ctx, a, out, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("WriteDir over a model: %v", err)
	}

	// The same model under a second tag: the same manifest, nothing re-sent.
	p2, err := c.Push(ctx, m, mustRef(t, "oci://"+reg.Host+"/lab/test-model:stable"))
	if err != nil {
		t.Fatal(err)
	}
	if p2.Digest != p.Digest || p2.Skipped != p2.Blobs || p2.Bytes != 0 {
		t.Errorf("second tag: %+v, first %+v", p2, p)
	}
	// And pinned by digest.
	a2, err := c.Resolve(ctx, mustRef(t, p.Pinned))
	if err != nil || a2.Digest != p.Digest {
		t.Errorf("resolve by digest: %v, %v", a2, err)
	}
}

func TestWrongPassword(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	c := client(t, reg)
	ref := mustRef(t, "oci://"+reg.Host+"/lab/m:1")
	if _, err := c.Push(context.Background(), modelDir(t, 1000, 0), ref); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ZOO_REGISTRY_AUTH", reg.Host+"="+reg.User+":wrong-password")
	c, _ = NewClient()
	c.PlainHTTP = true
	_, err := c.Resolve(context.Background(), ref)
	if err == nil || !strings.Contains(err.Error(), "refused the login") || !strings.Contains(err.Error(), "ZOO_REGISTRY_AUTH") ||
		strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("wrong password: %v", err)
	}
	t.Setenv("ZOO_REGISTRY_AUTH", "")
	c, _ = NewClient()
	c.PlainHTTP = true
	if _, err := c.Resolve(context.Background(), ref); err == nil || !strings.Contains(err.Error(), "has none for") {
		t.Errorf("no login: %v", err)
	}
}

func TestTamperedBlob(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	c := client(t, reg)
	ctx := context.Background()
	ref := mustRef(t, "oci://"+reg.Host+"/lab/m:1")
	p, err := c.Push(ctx, modelDir(t, 100000, 0), ref)
	if err != nil {
		t.Fatal(err)
	}
	blob := reg.BlobPath(p.Module.Digest)
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff // same size, other bytes
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FetchLayer(ctx, a, a.Module(), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") || !strings.Contains(err.Error(), p.Module.Digest) {
		t.Errorf("tampered blob: %v", err)
	}
	out := filepath.Join(t.TempDir(), "m")
	if err := c.WriteDir(ctx, a, out, nil); err == nil {
		t.Error("WriteDir of a tampered artifact succeeded")
	}
	if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed WriteDir left %s: %v", out, err)
	}
}

// A registry that dies during a large upload: the push fails, the tag does
// not exist, and a push to the restarted registry finishes, skipping the
// blobs that were complete.
func TestPushRegistryDiesMidUpload(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	c := client(t, reg)
	ctx := context.Background()
	m := modelDir(t, 24<<20, 24<<20) // model.pt goes first, then the sample
	var once sync.Once
	c.Progress = func(name string, done, total int64) {
		if name == "samples/a.png" && done > 8<<20 {
			once.Do(reg.Kill)
		}
	}
	ref := mustRef(t, "oci://"+reg.Host+"/lab/big:1")
	if _, err := c.Push(ctx, m, ref); err == nil {
		t.Fatal("push to a registry that died succeeded")
	}
	reg.Restart()
	c.Progress = nil
	if _, err := c.Resolve(ctx, ref); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("after a failed push the tag resolves: %v", err)
	}
	p, err := c.Push(ctx, m, ref)
	if err != nil {
		t.Fatal(err)
	}
	if p.SkippedBytes < 24<<20 || p.Bytes < 24<<20 {
		t.Errorf("resumed push: %+v; want model.pt skipped and the sample sent", p)
	}
	if _, err := c.Resolve(ctx, ref); err != nil {
		t.Error(err)
	}
}

func TestPlainHTTPOnlyLoopback(t *testing.T) {
	t.Setenv("ZOO_REGISTRY_AUTH", "")
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	c.PlainHTTP = true
	for _, s := range []string{"oci://10.1.2.3:5000/m:1", "oci://registry.example.org/m:1", "oci://127.0.0.1.nip.io/m:1"} {
		_, err := c.Resolve(context.Background(), mustRef(t, s))
		if err == nil || !strings.Contains(err.Error(), "plain HTTP is allowed only for a registry on this machine") {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// TLS is the default: a TLS registry whose certificate is not trusted is
// refused with the fix, and one that is trusted works without PlainHTTP.
func TestTLS(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{TLS: true})
	c := client(t, reg)
	c.PlainHTTP = false
	ref := mustRef(t, "oci://"+reg.Host+"/lab/m:1")
	m := modelDir(t, 1000, 0)
	if _, err := c.Push(context.Background(), m, ref); err == nil || !strings.Contains(err.Error(), "SSL_CERT_FILE") {
		t.Errorf("untrusted certificate: %v", err)
	}
	pem, err := os.ReadFile(reg.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	if _, err := c.Push(context.Background(), m, ref); err != nil {
		t.Fatal(err)
	}
	// A plain-HTTP client against it fails, naming nothing secret.
	c.PlainHTTP = true
	if _, err := c.Resolve(context.Background(), ref); err == nil {
		t.Error("plain HTTP to a TLS registry worked")
	}
}

// Push takes the caller's digests as they are (share.Open's, so a large
// module is not read twice); the registry checks them against the bytes,
// so a file changed since it was hashed is refused, and the tag is not
// made.
func TestPushKnownSums(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	c := client(t, reg)
	ctx := context.Background()
	m := modelDir(t, 1<<16, 0)
	m.Sums = map[string]Sum{}
	for _, name := range m.Files {
		d, n, err := hashFile(filepath.Join(m.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		m.Sums[name] = Sum{d, n}
	}
	ref := mustRef(t, "oci://"+reg.Host+"/lab/sums:1")
	if _, err := c.Push(ctx, m, ref); err != nil {
		t.Fatalf("push with the right sums: %v", err)
	}
	// The module changes after it was hashed (same size).
	module := filepath.Join(m.Dir, ModuleFile)
	b, _ := os.ReadFile(module)
	b[0] ^= 0xff
	os.WriteFile(module, b, 0o644)
	// m.Sums still holds the old digest; another repository has no blob
	// of it, so the changed bytes are sent and checked.
	ref2 := mustRef(t, "oci://"+reg.Host+"/lab/sums-changed:1")
	if _, err := c.Push(ctx, m, ref2); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("a module whose bytes are not its digest: %v", err)
	}
	if _, err := c.Resolve(ctx, ref2); err == nil {
		t.Error("the failed push left a tag")
	}
}

// The docker config file's login (docker login writes it) is used when
// ZOO_REGISTRY_AUTH is unset; a wrong one there is refused naming the file.
func TestDockerConfigLogin(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	ctx := context.Background()
	m := modelDir(t, 1000, 0)
	ref := mustRef(t, "oci://"+reg.Host+"/lab/docker-login:1")
	for _, tc := range []struct {
		password string
		ok       bool
	}{{reg.Password, true}, {"not-the-password-x9", false}} {
		dir := t.TempDir()
		auth := base64.StdEncoding.EncodeToString([]byte(reg.User + ":" + tc.password))
		config := `{"auths": {"` + reg.Host + `": {"auth": "` + auth + `"}}}`
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DOCKER_CONFIG", dir)
		t.Setenv("ZOO_REGISTRY_AUTH", "")
		c, err := NewClient()
		if err != nil {
			t.Fatal(err)
		}
		c.PlainHTTP = true
		_, err = c.Push(ctx, m, ref)
		switch {
		case tc.ok && err != nil:
			t.Errorf("push with the docker config's login: %v", err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) || strings.Contains(err.Error(), tc.password)):
			t.Errorf("push with a wrong docker login: %v", err)
		}
	}
}
