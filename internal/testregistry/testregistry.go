// Package testregistry runs a real OCI registry for tests: Debian's
// docker-registry (the CNCF distribution registry 2.8) on 127.0.0.1 on a
// free port, its storage in a test directory, with htpasswd (bcrypt) auth
// and, when asked, TLS with a self-signed certificate.
package testregistry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Binary is where Debian installs the registry (make test-deps does).
const Binary = "/usr/bin/docker-registry"

// Options choose how the registry runs.
type Options struct {
	TLS     bool   // serve HTTPS with a self-signed certificate for 127.0.0.1
	Storage string // storage directory ("": a new temp directory)
}

// Registry is a running registry.
type Registry struct {
	Host     string // 127.0.0.1:PORT
	User     string
	Password string
	Storage  string // its storage root
	CertFile string // with TLS: the certificate, for SSL_CERT_FILE

	t    testing.TB
	dir  string
	opts Options
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a registry until the test ends. It skips the test, saying
// why, when the registry binary is not installed.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("%s is not installed (Debian package docker-registry; make test-deps installs it)", Binary)
	}
	r := &Registry{t: t, dir: t.TempDir(), opts: opts, User: "alice", Password: "s3cret-pass"}
	r.Storage = opts.Storage
	if r.Storage == "" {
		r.Storage = filepath.Join(r.dir, "storage")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(r.dir, "htpasswd"), r.User+":"+string(hash)+"\n")
	if opts.TLS {
		r.CertFile = filepath.Join(r.dir, "cert.pem")
		selfSigned(t, r.CertFile, filepath.Join(r.dir, "key.pem"))
	}
	r.Host = "127.0.0.1:" + freePort(t)
	r.start()
	t.Cleanup(r.Kill)
	return r
}

// Restart starts the registry again on the same port and storage (after
// Kill).
func (r *Registry) Restart() {
	r.t.Helper()
	r.start()
}

func (r *Registry) start() {
	r.t.Helper()
	tlsConf := ""
	if r.opts.TLS {
		tlsConf = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", r.CertFile, filepath.Join(r.dir, "key.pem"))
	}
	conf := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: medzoo-test-secret
%sauth:
  htpasswd:
    realm: medzoo-test
    path: %s
`, r.Storage, r.Host, tlsConf, filepath.Join(r.dir, "htpasswd"))
	confPath := filepath.Join(r.dir, "config.yml")
	write(r.t, confPath, conf)
	r.cmd = exec.Command(Binary, "serve", confPath)
	logf, err := os.OpenFile(filepath.Join(r.dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); logf.Close(); close(done) }(r.cmd, r.done)
	r.waitReady()
}

// waitReady polls /v2/ until the registry answers (401: it wants a login).
func (r *Registry) waitReady() {
	r.t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			log, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
			r.t.Fatalf("docker-registry exited at start:\n%s", log)
		default:
		}
		resp, err := client.Get(r.Scheme() + "://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("docker-registry on %s did not answer within 20s", r.Host)
}

// Scheme is http or https.
func (r *Registry) Scheme() string {
	if r.opts.TLS {
		return "https"
	}
	return "http"
}

// Auth is the ZOO_REGISTRY_AUTH value for this registry.
func (r *Registry) Auth() string { return r.Host + "=" + r.User + ":" + r.Password }

// Kill stops the registry at once (SIGKILL), as a crash would.
func (r *Registry) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
	default:
		r.cmd.Process.Kill()
		<-r.done
	}
}

// BlobPath is the file in the storage that holds the blob with digest
// (sha256:HEX): a test changes it to play a tampered registry.
func (r *Registry) BlobPath(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(r.Storage, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}

func write(t testing.TB, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// selfSigned writes a certificate for 127.0.0.1 that is its own CA.
func selfSigned(t testing.TB, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "medzoo test registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
}
