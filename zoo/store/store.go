// Package store makes an artifact (a model file, a package archive or a
// remote catalog) available on local disk, verified, in a cache addressed
// by its sha256 (see Store for the layout). It knows nothing of catalogs:
// callers describe what to fetch with an Artifact.
//
// Fetching goes through github.com/hashicorp/go-getter/v2 rather than v1:
// v2's root module leaves the S3 and GCS getters (and with them the AWS and
// Google Cloud SDKs) to separate modules, so the zoo binary does not carry
// those SDKs, whereas importing v1 links them all in. Only go-getter's http(s)
// and file getters are enabled; its decompressors are switched off, because
// archives are unpacked here with the checks in unpack.go, and its "magic"
// URL syntax (?checksum=, ?archive=, //subdir, getter::) never sees a
// catalog URL (see exactGetter).
package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	getter "github.com/hashicorp/go-getter/v2"

	"medzoo/internal/bytesize"
	"medzoo/internal/envconfig"
	"medzoo/internal/files"
	"medzoo/oci"
)

// Limits and timeouts used when the corresponding Store field is zero.
const (
	DefaultMaxUnpackedBytes int64 = 8 << 30 // 8 GiB
	DefaultMaxUnpackedFiles       = 100000
	// DefaultStallTimeout aborts a download that receives no bytes for this
	// long, so a dead connection does not hang `zoo pull` forever when the
	// caller's context has no deadline. It bounds silence, not total time:
	// a slow but live download of a large archive is never cut off.
	DefaultStallTimeout = envconfig.DefaultStallTimeout
	// DefaultMaxDownloadBytes caps a download whose catalog entry declares
	// no size, and any declared size, so a server that never stops sending
	// cannot fill the disk. Artifacts are megabytes to a few hundred
	// megabytes; 4 GiB leaves room for the largest packages.
	DefaultMaxDownloadBytes = envconfig.DefaultMaxDownload
	// maxRedirects is how many redirects a download follows, as many as
	// net/http's default.
	maxRedirects = 10
)

// Environment variables that set a Store's limits when its fields are zero.
const (
	EnvMaxDownload  = envconfig.EnvMaxDownload  // a size: 4GiB, 500MB, 1048576
	EnvStallTimeout = envconfig.EnvStallTimeout // a Go duration: 30s, 2m
)

// Errors that Fetch wraps, for callers that react to the kind of failure
// (errors.Is). The messages themselves are written for people.
var (
	// ErrOffline: the artifact is not cached and the store may not use the
	// network.
	ErrOffline = errors.New("artifact not cached and offline")
	// ErrUnpinned: the catalog gives no sha256 and AllowUnpinned is off.
	ErrUnpinned = errors.New("artifact has no pinned checksum")
	// ErrChecksum: the bytes (or their size) differ from what the catalog or
	// pin says.
	ErrChecksum = errors.New("artifact checksum mismatch")
	// ErrUnsafeArchive: an archive was refused by the unpacking checks.
	ErrUnsafeArchive = errors.New("unsafe archive")
	// ErrTooLarge: a download was stopped at its declared size or at the
	// download limit.
	ErrTooLarge = errors.New("download too large")
	// ErrUnsafeCache: an entry of the cache directory is a symbolic link or
	// not the kind of file it should be, so zoo will not write through it.
	ErrUnsafeCache = errors.New("unsafe cache entry")
)

// FormatTorchScript is the artifact format of a TorchScript module. A
// TorchScript file is itself a zip archive, so the store must know it not
// to unpack one (see isArchive).
const FormatTorchScript = "torchscript"

// Artifact is one file to fetch: what a catalog entry's artifact section
// says, plus who asks for it.
type Artifact struct {
	// Name is who needs the artifact (a model id, "catalog"), for messages
	// and progress.
	Name string
	// URL is anything the store can fetch: https://, http://, file://, a
	// plain path, or bundled://NAME for files embedded in the binary.
	URL string
	// SHA256 is the lower-case hex digest of the file at URL; empty when
	// not known (Fetch then needs AllowUnpinned).
	SHA256 string
	// Size in bytes, enforced exactly when > 0.
	Size int64
	// Format is the catalog's artifact format (FormatTorchScript, …).
	Format string
	// Path is the file inside an archive to use.
	Path string
	// Source is the catalog file that names the artifact: a relative plain
	// path URL resolves against its directory ("" or a non-file: the
	// working directory).
	Source string
}

// Store is the local artifact cache. Its layout under Dir:
//
//	blobs/sha256-<hex>        verified artifact files, named by their digest
//	unpacked/sha256-<hex>/    zip artifacts, unpacked once
//	pins/<sha256 of url>      digests pinned on first use (AllowUnpinned)
//	locks/<key>.lock          flock files serialising work on one key
//	tmp/<key>.<random>        downloads and unpacks in progress
//
// Everything lands in tmp/ (same filesystem) and is renamed into place only
// once complete and verified, so an entry under blobs/ or unpacked/ is
// always whole: a killed process leaves at most a stray tmp/ entry, which
// the next fetch removes once it can take that entry's lock (proof that
// its owner is gone). Work on one key happens under an flock on its lock
// file, and the cache is re-checked after the lock is taken, so processes
// and goroutines fetching the same artifact at once end with one download
// and one good copy. Lock files are never deleted: removing one while
// another process waits on it would let two owners in.
//
// A Store must not be copied after first use.
type Store struct {
	Dir string // cache root
	// Offline forbids network access: Fetch of an artifact that is not
	// cached fails with ErrOffline, and the store's HTTP transport refuses
	// to dial. file:// URLs, plain paths and bundled:// still work.
	Offline bool
	// AllowUnpinned lets Fetch download artifacts whose catalog sha256 is
	// empty: the digest of the first download is pinned (pins/) and later
	// fetches, also after a cache wipe of blobs/, are verified against it.
	AllowUnpinned bool
	// Bundled holds the files of bundled://NAME artifacts (models embedded
	// in the binary). May be nil.
	Bundled fs.FS
	// Progress, if set, is called during downloads, copies and unpacking
	// with the model ID, the bytes done and the total (-1 if unknown). Calls
	// are throttled to a few per second plus a final one with done == total
	// (when known); they come from the fetching goroutine.
	Progress func(name string, done, total int64)

	// MaxUnpackedBytes bounds the total uncompressed size of an archive
	// (0: DefaultMaxUnpackedBytes). MaxUnpackedFiles bounds its number of
	// entries (0: DefaultMaxUnpackedFiles).
	MaxUnpackedBytes int64
	MaxUnpackedFiles int
	// StallTimeout aborts a download that receives nothing for this long
	// (0: $ZOO_STALL_TIMEOUT, else DefaultStallTimeout; negative: never).
	StallTimeout time.Duration
	// MaxDownloadBytes stops a download whose body grows past it, and
	// refuses one whose declared size or Content-Length is larger (0:
	// $ZOO_MAX_DOWNLOAD, else DefaultMaxDownloadBytes). A catalog size,
	// when given, is enforced exactly on top of it.
	MaxDownloadBytes int64
	// RegistryPlainHTTP fetches oci:// artifacts from a registry on this
	// machine (127.0.0.1, ::1, localhost) over plain HTTP; so does
	// $ZOO_REGISTRY_PLAIN_HTTP. Either is ignored for any other host, which
	// is always reached over HTTPS: plain HTTP there would expose the
	// login, and a catalog must not be able to turn TLS off.
	RegistryPlainHTTP bool

	transportOnce sync.Once
	transport     http.RoundTripper
}

// NewStore returns a store rooted at dir. Offline starts as OfflineFromEnv(),
// so ZOO_OFFLINE=1 holds for every user of the library; callers add their
// own flag on top (s.Offline = s.Offline || flag).
func NewStore(dir string) *Store {
	return &Store{Dir: dir, Offline: OfflineFromEnv()}
}

// DefaultCacheDir returns $ZOO_CACHE if set, else <user cache dir>/medzoo
// (~/.cache/medzoo on Linux).
func DefaultCacheDir() (string, error) { return envconfig.CacheDir() }

// OfflineFromEnv reports whether ZOO_OFFLINE asks for offline mode
// (1, true, yes or on, in any case). A value it does not understand counts
// as on: this cannot report it, and offline is the safe side
// (envconfig.Offline reports it).
func OfflineFromEnv() bool {
	offline, _ := envconfig.Offline()
	return offline
}

// maxDownload is the download limit: the field, else $ZOO_MAX_DOWNLOAD,
// else the default.
func (s *Store) maxDownload() (int64, error) {
	if s.MaxDownloadBytes > 0 {
		return s.MaxDownloadBytes, nil
	}
	return envconfig.MaxDownload()
}

// stallTimeout is the field, else $ZOO_STALL_TIMEOUT, else the default.
func (s *Store) stallTimeout() (time.Duration, error) {
	if s.StallTimeout != 0 {
		return s.StallTimeout, nil
	}
	return envconfig.StallTimeout()
}

// formatBytes writes a byte count for people: exact bytes, and a binary
// unit once it is large.
func formatBytes(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d bytes (%s)", n, bytesize.Human(n))
}

// Fetch makes the artifact available locally and verified, and returns
// the path of the usable file: the file itself, or for a zip archive the
// file at Artifact.Path inside the unpacked directory (the directory itself
// when Path is empty). Path is ignored for artifacts that are not archives.
//
// A blob already in the cache is checked before its first use in this
// process: its size always, and its sha256 by hashing it once per process.
// Artifacts are megabytes to a few hundred megabytes and sha256 runs at
// hundreds of MB/s, so this costs at most about a second, and it catches a
// cache damaged on disk or edited by hand. Unpacked archives are trusted
// once present: they are only ever renamed into place whole, from a
// verified blob.
func (s *Store) Fetch(ctx context.Context, art Artifact) (string, error) {
	a := &art
	if err := s.checkDir(); err != nil {
		return "", err
	}
	src, err := parseArtifactSource(a)
	if err != nil {
		return "", err
	}
	want, err := s.expected(a, src)
	if err != nil {
		return "", err
	}
	if want.digest == "" {
		if !s.AllowUnpinned {
			return "", &storeError{kind: ErrUnpinned, msg: fmt.Sprintf(
				"model %s: the catalog pins no sha256 checksum for %s, so zoo cannot verify what it downloads; "+
					"to fetch it anyway and pin the digest of this first download (later fetches are checked against it), "+
					"run again with --allow-unpinned", a.Name, src)}
		}
		if src.remote() && s.Offline {
			return "", s.offlineError(a, src)
		}
		if want, err = s.fetchUnpinned(ctx, a, src); err != nil {
			return "", err
		}
	} else if _, err := s.ensureBlobUnlessUnpacked(ctx, a, src, want); err != nil {
		return "", err
	}
	return s.finish(ctx, a, src, want.digest)
}

// Cached returns the path Fetch would return, without fetching, and whether
// it is present. It never touches the network and does not hash (Fetch
// does, once per process). The path is "" when the digest is not known yet
// (an unpinned artifact never fetched).
func (s *Store) Cached(art Artifact) (string, bool) {
	a := &art
	if s.Dir == "" {
		return "", false
	}
	src, err := parseArtifactSource(a)
	if err != nil {
		return "", false
	}
	want, err := s.expected(a, src)
	if err != nil || want.digest == "" {
		return "", false
	}
	dir := s.unpackedPath(want.digest)
	if dirExists(dir) {
		p, err := pathInside(dir, a.Path)
		if err != nil {
			return "", false
		}
		return p, pathExists(p)
	}
	blob := s.blobPath(want.digest)
	fi, err := os.Lstat(blob)
	present := err == nil && fi.Mode().IsRegular() && (want.size <= 0 || fi.Size() == want.size)
	if !present {
		if isArchive(a, src, "") {
			p, err := pathInside(dir, a.Path)
			if err != nil {
				return "", false
			}
			return p, false
		}
		return blob, false
	}
	if isArchive(a, src, blob) {
		// The blob is here but not unpacked: Fetch would unpack it without
		// the network, but the usable path is not there yet.
		p, err := pathInside(dir, a.Path)
		if err != nil {
			return "", false
		}
		return p, false
	}
	return blob, true
}

// ---- what to expect ----

// expectation is the digest (and size) an artifact must have.
type expectation struct {
	digest  string // lower-case hex; "" if not known yet
	size    int64  // 0 if unknown
	pinFile string // set when digest comes from a pin, for messages
}

func (s *Store) expected(a *Artifact, src artifactSource) (expectation, error) {
	e := expectation{size: a.Size}
	if strings.TrimSpace(a.SHA256) != "" {
		d, err := ParseDigest(a.SHA256)
		if err != nil {
			return e, fmt.Errorf("model %s: catalog sha256 %q: %w", a.Name, a.SHA256, err)
		}
		e.digest = d
		return e, nil
	}
	p, ok, err := s.readPin(src.raw)
	if err != nil {
		return e, fmt.Errorf("model %s: %w", a.Name, err)
	}
	if ok {
		e.digest, e.pinFile = p.SHA256, s.pinPath(src.raw)
	}
	return e, nil
}

// ParseDigest normalises a sha256 digest (hex, any case, optional "sha256:"
// prefix) to lower-case hex, or says why it is not one.
func ParseDigest(s string) (string, error) {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	if len(s) != 64 {
		return "", fmt.Errorf("not a sha256 digest: want 64 hex digits, have %d characters", len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", errors.New("not a sha256 digest: not hexadecimal")
	}
	return s, nil
}

// ---- layout ----

func (s *Store) checkDir() error {
	if s.Dir == "" {
		return errors.New("artifact store has no cache directory (set ZOO_CACHE)")
	}
	return nil
}

func (s *Store) blobPath(d string) string     { return filepath.Join(s.Dir, "blobs", "sha256-"+d) }
func (s *Store) unpackedPath(d string) string { return filepath.Join(s.Dir, "unpacked", "sha256-"+d) }
func (s *Store) tmpDir() string               { return filepath.Join(s.Dir, "tmp") }
func (s *Store) lockPath(key string) string   { return filepath.Join(s.Dir, "locks", key+".lock") }
func (s *Store) pinPath(rawURL string) string {
	return filepath.Join(s.Dir, "pins", digestOfBytes([]byte(rawURL)))
}

func digestKey(d string) string     { return "sha256-" + d }
func urlKey(rawURL string) string   { return "url-" + digestOfBytes([]byte(rawURL)) }
func digestOfBytes(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
func pathExists(p string) bool      { _, err := os.Stat(p); return err == nil }

// dirExists reports a real directory at p. A symbolic link does not count,
// even to a directory: a cache entry is only ever made by renaming a
// directory into place, so a link there was planted.
func dirExists(p string) bool { fi, err := os.Lstat(p); return err == nil && fi.IsDir() }

// mkdirs creates the store's subdirectories. The cache root may be a
// symbolic link (a cache moved to another disk), but nothing inside it may:
// downloads, unpacks and locks are written into these directories, and a
// planted link would send them anywhere.
func (s *Store) mkdirs(sub ...string) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	for _, d := range sub {
		p := filepath.Join(s.Dir, d)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			err = os.Mkdir(p, 0o755)
			if errors.Is(err, fs.ErrExist) { // made by another process meanwhile
				fi, err = os.Lstat(p)
			} else if err == nil {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("artifact store: %w", err)
		}
		if !fi.IsDir() {
			return unsafeCacheEntry(p, fi, "directory")
		}
	}
	return nil
}

// unsafeCacheEntry refuses a cache entry that is not what zoo made there.
func unsafeCacheEntry(p string, fi fs.FileInfo, want string) error {
	what := files.Kind(fi.Mode())
	return &storeError{kind: ErrUnsafeCache, msg: fmt.Sprintf(
		"artifact store: %s is %s, not a %s; zoo never writes through links or odd files in its cache, "+
			"so it stopped; remove it (rm %s) and run again", p, what, want, p)}
}

// lock takes the flock for key, creating the store directories it needs.
func (s *Store) lock(ctx context.Context, key string) (func(), error) {
	if err := s.mkdirs("locks", "tmp", "blobs"); err != nil {
		return nil, err
	}
	unlock, err := files.Lock(ctx, s.lockPath(key))
	if err != nil {
		return nil, fmt.Errorf("artifact store: waiting for lock %s: %w", s.lockPath(key), err)
	}
	return unlock, nil
}

// sweepTmp removes leftovers of killed processes from tmp/. An entry
// belongs to the key before its first dot; it is removed when that key's
// lock is free (or held by us), since a live owner would hold it.
func (s *Store) sweepTmp(held string) {
	ents, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(s.tmpDir(), e.Name())
		if key, _, ok := strings.Cut(e.Name(), "."); ok && key != "" && key == held && files.LocksAcrossProcesses {
			os.RemoveAll(p) // ours: the caller holds its lock
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if release, ok := s.claimTmp(e.Name(), fi.ModTime()); ok {
			os.RemoveAll(p)
			release()
		}
	}
}

// ---- blobs ----

// fileStamp identifies a file version for the per-process verified set.
type fileStamp struct {
	size  int64
	mtime time.Time
}

// verified records blobs hashed (or written) by this process, keyed by path,
// so each is hashed at most once per process while it stays unchanged.
var verifiedBlobs sync.Map

func stampOf(fi os.FileInfo) fileStamp { return fileStamp{fi.Size(), fi.ModTime()} }

func markVerified(p string) {
	if fi, err := os.Stat(p); err == nil {
		verifiedBlobs.Store(p, stampOf(fi))
	}
}

// checkBlob reports whether a good blob for want is at p; problem explains
// a bad one ("" when the blob is simply missing).
func (s *Store) checkBlob(p string, want expectation) (ok bool, problem string) {
	fi, err := os.Lstat(p) // a link is not a blob, whatever it points at
	if err != nil {
		return false, ""
	}
	if !fi.Mode().IsRegular() {
		return false, "is " + files.Kind(fi.Mode()) + ", not a regular file"
	}
	if want.size > 0 && fi.Size() != want.size {
		return false, fmt.Sprintf("has %d bytes, the catalog says %d", fi.Size(), want.size)
	}
	if st, ok := verifiedBlobs.Load(p); ok && st.(fileStamp) == stampOf(fi) {
		return true, ""
	}
	got, _, err := hashFileSHA256(p, nil)
	if err != nil {
		return false, err.Error()
	}
	if got != want.digest {
		return false, fmt.Sprintf("has sha256 %s", got)
	}
	verifiedBlobs.Store(p, stampOf(fi))
	return true, ""
}

// ensureBlobUnlessUnpacked makes sure the blob for want.digest is cached,
// unless the archive is already unpacked (the blob is then not needed).
func (s *Store) ensureBlobUnlessUnpacked(ctx context.Context, a *Artifact, src artifactSource, want expectation) (string, error) {
	if dirExists(s.unpackedPath(want.digest)) {
		return "", nil
	}
	return s.ensureBlob(ctx, a, src, want)
}

func (s *Store) ensureBlob(ctx context.Context, a *Artifact, src artifactSource, want expectation) (string, error) {
	blob := s.blobPath(want.digest)
	ok, problem := s.checkBlob(blob, want)
	if ok {
		return blob, nil
	}
	if src.remote() && s.Offline {
		if problem != "" {
			return "", &storeError{kind: ErrOffline, msg: fmt.Sprintf(
				"model %s: the cached copy %s is damaged (it %s, want sha256 %s) and offline mode is on, so it cannot be downloaded again; "+
					"run `zoo pull %s` while online, or copy a good cache directory into $ZOO_CACHE",
				a.Name, blob, problem, want.digest, a.Name)}
		}
		return "", s.offlineError(a, src)
	}
	key := digestKey(want.digest)
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Someone else may have fetched it while we waited for the lock.
	if ok, problem = s.checkBlob(blob, want); ok {
		return blob, nil
	}
	if problem != "" {
		// Damaged entry (disk trouble, manual edit): replace it.
		if err := os.Remove(blob); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("model %s: removing damaged cache entry %s: %w", a.Name, blob, err)
		}
	}
	s.sweepTmp(key)
	tmp, err := os.MkdirTemp(s.tmpDir(), key+".")
	if err != nil {
		return "", fmt.Errorf("artifact store: %w", err)
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, "blob")
	got, n, err := s.download(ctx, a, src, file)
	if err != nil {
		return "", err
	}
	if err := checkDownload(a, src, want, got, n); err != nil {
		return "", err
	}
	if err := commitBlob(file, blob); err != nil {
		return "", fmt.Errorf("model %s: %w", a.Name, err)
	}
	return blob, nil
}

// checkDownload compares what arrived with what was expected.
func checkDownload(a *Artifact, src artifactSource, want expectation, got string, n int64) error {
	if want.size > 0 && n != want.size {
		return &storeError{kind: ErrChecksum, msg: fmt.Sprintf(
			"model %s: %s gave %d bytes, the catalog says %d (sha256 %s); nothing was cached",
			a.Name, src, n, want.size, got)}
	}
	if want.digest != "" && got != want.digest {
		from := "the catalog"
		if want.pinFile != "" {
			from = "the pin recorded on first download (" + want.pinFile + "; delete it to re-pin)"
		}
		return &storeError{kind: ErrChecksum, msg: fmt.Sprintf(
			"model %s: checksum mismatch for %s: expected sha256 %s from %s, got %s (%d bytes); "+
				"the file changed upstream or was altered in transit; nothing was cached",
			a.Name, src, want.digest, from, got, n)}
	}
	return nil
}

// commitBlob makes a verified temp file durable and moves it into place.
func commitBlob(file, blob string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Chmod(file, 0o644); err != nil {
		return err
	}
	if err := os.Rename(file, blob); err != nil {
		return err
	}
	markVerified(blob)
	return nil
}

// fetchUnpinned downloads an artifact with no known digest, stores it under
// the digest it turns out to have, and pins that digest to the URL.
func (s *Store) fetchUnpinned(ctx context.Context, a *Artifact, src artifactSource) (expectation, error) {
	want := expectation{size: a.Size}
	ukey := urlKey(src.raw)
	unlock, err := s.lock(ctx, ukey)
	if err != nil {
		return want, err
	}
	defer unlock()
	// Another process may have pinned it while we waited.
	if p, ok, err := s.readPin(src.raw); err != nil {
		return want, fmt.Errorf("model %s: %w", a.Name, err)
	} else if ok {
		want.digest, want.pinFile = p.SHA256, s.pinPath(src.raw)
		_, err := s.ensureBlobUnlessUnpacked(ctx, a, src, want)
		return want, err
	}
	s.sweepTmp(ukey)
	tmp, err := os.MkdirTemp(s.tmpDir(), ukey+".")
	if err != nil {
		return want, fmt.Errorf("artifact store: %w", err)
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, "blob")
	got, n, err := s.download(ctx, a, src, file)
	if err != nil {
		return want, err
	}
	if err := checkDownload(a, src, want, got, n); err != nil {
		return want, err
	}
	want.digest = got
	// Lock order is always url key, then digest key; digest-key holders
	// never take a url key, so this cannot deadlock.
	dunlock, err := s.lock(ctx, digestKey(got))
	if err != nil {
		return want, err
	}
	blob := s.blobPath(got)
	if ok, _ := s.checkBlob(blob, want); !ok {
		os.Remove(blob)
		if err := commitBlob(file, blob); err != nil {
			dunlock()
			return want, fmt.Errorf("model %s: %w", a.Name, err)
		}
	}
	dunlock()
	if err := s.writePin(a, src.raw, got); err != nil {
		return want, fmt.Errorf("model %s: recording pin: %w", a.Name, err)
	}
	want.pinFile = s.pinPath(src.raw)
	return want, nil
}

// ---- pins ----

// pin is the JSON record of a digest pinned on first use.
type pin struct {
	URL      string    `json:"url"`
	SHA256   string    `json:"sha256"`
	Model    string    `json:"model,omitempty"`
	PinnedAt time.Time `json:"pinned_at"`
}

func (s *Store) readPin(rawURL string) (pin, bool, error) {
	var p pin
	b, err := os.ReadFile(s.pinPath(rawURL))
	if errors.Is(err, fs.ErrNotExist) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, false, fmt.Errorf("pin file %s is damaged (%v); delete it to pin again", s.pinPath(rawURL), err)
	}
	if p.URL != rawURL {
		return p, false, fmt.Errorf("pin file %s is for %s, not %s; delete it to pin again", s.pinPath(rawURL), p.URL, rawURL)
	}
	d, err := ParseDigest(p.SHA256)
	if err != nil {
		return p, false, fmt.Errorf("pin file %s: %v; delete it to pin again", s.pinPath(rawURL), err)
	}
	p.SHA256 = d
	return p, true, nil
}

func (s *Store) writePin(a *Artifact, rawURL, digest string) error {
	if err := s.mkdirs("pins"); err != nil {
		return err
	}
	b, err := json.MarshalIndent(pin{URL: rawURL, SHA256: digest, Model: a.Name, PinnedAt: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	return files.WriteAtomicBytes(s.pinPath(rawURL), append(b, '\n'))
}

// ---- archives ----

// finish turns a cached blob into the usable path: itself, or for a zip the
// Path inside its unpacked directory (unpacking it first if needed).
func (s *Store) finish(ctx context.Context, a *Artifact, src artifactSource, digest string) (string, error) {
	dir := s.unpackedPath(digest)
	if !dirExists(dir) {
		blob := s.blobPath(digest)
		if !isArchive(a, src, blob) {
			return blob, nil
		}
		if err := s.unpack(ctx, a, src, digest); err != nil {
			return "", err
		}
	}
	p, err := pathInside(dir, a.Path)
	if err != nil {
		return "", fmt.Errorf("model %s: %w", a.Name, err)
	}
	if !pathExists(p) {
		return "", fmt.Errorf("model %s: the archive %s has no %q; it holds %s",
			a.Name, src, a.Path, listSomeFiles(dir, 8))
	}
	return p, nil
}

func (s *Store) unpack(ctx context.Context, a *Artifact, src artifactSource, digest string) error {
	key := digestKey(digest)
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	dir := s.unpackedPath(digest)
	if dirExists(dir) {
		return nil
	}
	if err := s.mkdirs("unpacked"); err != nil {
		return err
	}
	if fi, err := os.Lstat(dir); err == nil {
		// Not a real directory (dirExists said so): a planted link or file.
		// Removing it removes only the entry, never what a link points at.
		if err := os.Remove(dir); err != nil {
			return unsafeCacheEntry(dir, fi, "directory")
		}
	}
	s.sweepTmp(key)
	tmp, err := os.MkdirTemp(s.tmpDir(), key+".unpack-")
	if err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	defer os.RemoveAll(tmp)
	prog := s.progress(a.Name, -1)
	err = unpackZip(ctx, s.blobPath(digest), tmp, unpackOptions{
		label:    src.String(),
		maxBytes: s.MaxUnpackedBytes,
		maxFiles: s.MaxUnpackedFiles,
		progress: prog,
	})
	if err != nil {
		return fmt.Errorf("model %s: %w; nothing was unpacked into the cache", a.Name, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("model %s: %w", a.Name, err)
	}
	return nil
}

// pathInside joins an archive-relative slash path to dir, refusing paths
// that would leave it.
func pathInside(dir, rel string) (string, error) {
	if rel == "" {
		return dir, nil
	}
	local := filepath.FromSlash(rel)
	if !filepath.IsLocal(local) {
		return "", fmt.Errorf("artifact path %q must be a relative path inside the archive", rel)
	}
	return filepath.Join(dir, local), nil
}

// listSome names up to n files under dir, for "no such file" messages.
func listSomeFiles(dir string, n int) string {
	var names []string
	total := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		total++
		if len(names) < n {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if total == 0 {
		return "no files"
	}
	sort.Strings(names)
	s := strings.Join(names, ", ")
	if total > len(names) {
		s += fmt.Sprintf(", … (%d files in all)", total)
	}
	return s
}

// isArchive decides whether an artifact is unpacked. A TorchScript file is
// itself a zip archive, so zip bytes alone do not make an archive: a
// TorchScript artifact is unpacked only when the catalog names a Path inside
// it; other formats (medigan's .zip packages) also when the name or the
// bytes say zip. blob "" means the bytes are not here to look at.
func isArchive(a *Artifact, src artifactSource, blob string) bool {
	if a.Path != "" {
		return true
	}
	if a.Format == FormatTorchScript {
		return false
	}
	return src.zipByName() || (blob != "" && hasZipMagic(blob))
}

func hasZipMagic(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	// Local file header, or end of central directory of an empty archive.
	return string(b[:]) == "PK\x03\x04" || string(b[:]) == "PK\x05\x06"
}

// ---- sources ----

type sourceKind int

const (
	srcHTTP sourceKind = iota
	srcFile
	srcBundled
	srcOCI
)

// artifactSource is a parsed Artifact.URL.
type artifactSource struct {
	kind sourceKind
	raw  string   // as in the catalog, for messages and pins
	u    *url.URL // srcHTTP
	path string   // srcFile: absolute path; srcBundled: name in Store.Bundled
	ref  oci.Ref  // srcOCI
}

func (s artifactSource) remote() bool { return s.kind == srcHTTP || s.kind == srcOCI }

// String is the URL for messages, with any password redacted.
func (s artifactSource) String() string {
	if s.u != nil {
		return s.u.Redacted()
	}
	return s.raw
}

// zipByName reports a .zip name, ignoring any ?query (Zenodo's ?download=1).
func (s artifactSource) zipByName() bool {
	name := s.path
	if s.kind == srcHTTP {
		name = s.u.Path
	}
	return strings.EqualFold(path.Ext(filepath.ToSlash(name)), ".zip")
}

// parseSource classifies a.URL. A relative plain path is taken
// relative to the directory of the catalog file the entry came from (so a
// catalog can sit beside its models), or to the working directory for
// entries without a catalog file.
func parseArtifactSource(a *Artifact) (artifactSource, error) {
	raw := strings.TrimSpace(a.URL)
	src := artifactSource{raw: raw}
	if raw == "" {
		return src, fmt.Errorf("model %s has no artifact url", a.Name)
	}
	if name, ok := strings.CutPrefix(raw, "bundled://"); ok {
		if !fs.ValidPath(name) || name == "." {
			return src, fmt.Errorf("model %s: bad bundled artifact name %q", a.Name, name)
		}
		src.kind, src.path = srcBundled, name
		return src, nil
	}
	if strings.HasPrefix(strings.ToLower(raw), oci.Scheme) {
		ref, err := oci.ParseRef(raw)
		if err != nil {
			return src, fmt.Errorf("model %s: artifact url: %w", a.Name, err)
		}
		if ref.Digest == "" {
			return src, fmt.Errorf("model %s: artifact url %q names a tag, which can be moved to other bytes; "+
				"a catalog pins the manifest digest: url = \"oci://%s/%s@sha256:…\" (zoo pull %s prints it)",
				a.Name, raw, ref.Host, ref.Repo, raw)
		}
		src.kind, src.ref = srcOCI, ref
		return src, nil
	}
	if i := strings.Index(raw, "://"); i > 0 {
		u, err := url.Parse(raw)
		if err != nil {
			return src, fmt.Errorf("model %s: bad artifact url %q: %v", a.Name, raw, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "http", "https":
			if u.Host == "" {
				return src, fmt.Errorf("model %s: artifact url %q has no host", a.Name, raw)
			}
			src.kind, src.u = srcHTTP, u
			return src, nil
		case "file":
			if u.Host != "" && u.Host != "localhost" {
				return src, fmt.Errorf("model %s: artifact url %q: a file URL needs an absolute path (file:///path)", a.Name, raw)
			}
			if !filepath.IsAbs(filepath.FromSlash(u.Path)) {
				return src, fmt.Errorf("model %s: artifact url %q: a file URL needs an absolute path (file:///path)", a.Name, raw)
			}
			src.kind, src.path = srcFile, filepath.Clean(filepath.FromSlash(u.Path))
			return src, nil
		default:
			return src, fmt.Errorf("model %s: artifact url %q: unsupported scheme %q (zoo fetches https://, http://, oci://, file://, bundled:// and plain paths)",
				a.Name, raw, u.Scheme)
		}
	}
	p := filepath.FromSlash(raw)
	if !filepath.IsAbs(p) {
		base := ""
		if a.Source != "" {
			if fi, err := os.Stat(a.Source); err == nil && fi.Mode().IsRegular() {
				base = filepath.Dir(a.Source)
			}
		}
		p = filepath.Join(base, p)
		abs, err := filepath.Abs(p)
		if err != nil {
			return src, fmt.Errorf("model %s: artifact path %q: %v", a.Name, raw, err)
		}
		p = abs
	}
	src.kind, src.path = srcFile, filepath.Clean(p)
	return src, nil
}

func (s *Store) offlineError(a *Artifact, src artifactSource) error {
	pull := a.Name
	if strings.TrimSpace(a.SHA256) == "" {
		pull += " --allow-unpinned" // the pull the hint names must not stop at ErrUnpinned
	}
	return &storeError{kind: ErrOffline, msg: fmt.Sprintf(
		"model %s is not in the cache (%s) and offline mode is on (--offline or ZOO_OFFLINE), so %s was not downloaded; "+
			"run `zoo pull %s` while online, or copy a zoo cache directory that holds it into $ZOO_CACHE",
		a.Name, s.Dir, src, pull)}
}

// ---- downloading ----

// download fetches src into file (which must not exist), returning the
// sha256 and size of what was written. Nothing under blobs/ is touched.
func (s *Store) download(ctx context.Context, a *Artifact, src artifactSource, file string) (digest string, n int64, err error) {
	switch src.kind {
	case srcBundled:
		return s.copyBundled(ctx, a, src, file)
	case srcFile:
		return s.copyFile(ctx, a, src, file)
	case srcOCI:
		return s.downloadOCI(ctx, a, src, file)
	default:
		return s.downloadHTTP(ctx, a, src, file)
	}
}

func (s *Store) copyBundled(ctx context.Context, a *Artifact, src artifactSource, file string) (string, int64, error) {
	if s.Bundled == nil {
		return "", 0, fmt.Errorf("model %s: artifact %s is bundled, but this zoo build has no bundled files", a.Name, src)
	}
	in, err := s.Bundled.Open(src.path)
	if err != nil {
		return "", 0, fmt.Errorf("model %s: bundled artifact %s: %w", a.Name, src, err)
	}
	defer in.Close()
	total := int64(-1)
	if fi, err := in.Stat(); err == nil && fi.Mode().IsRegular() {
		total = fi.Size()
	}
	out, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, fmt.Errorf("artifact store: %w", err)
	}
	h := sha256.New()
	prog := s.progress(a.Name, total)
	n, err := io.Copy(io.MultiWriter(out, h), &ctxProgressReader{ctx: ctx, r: in, progress: prog})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("model %s: copying bundled artifact %s: %w; nothing was cached", a.Name, src, err)
	}
	prog.done(n)
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// copyFile copies a local file with go-getter's file getter, then hashes
// the copy (go-getter reports no progress for local copies, so the hashing
// pass drives Progress).
func (s *Store) copyFile(ctx context.Context, a *Artifact, src artifactSource, file string) (string, int64, error) {
	fi, err := os.Stat(src.path)
	if err != nil {
		return "", 0, fmt.Errorf("model %s: artifact file %s: %w", a.Name, src, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("model %s: artifact %s is not a regular file", a.Name, src)
	}
	if a.Size > 0 && fi.Size() != a.Size {
		// Checked before copying, so a wrong (or endless) file costs nothing.
		return "", 0, &storeError{kind: ErrChecksum, msg: fmt.Sprintf(
			"model %s: %s has %d bytes, the catalog says %d; nothing was cached", a.Name, src, fi.Size(), a.Size)}
	}
	g := &exactGetter{Getter: new(getter.FileGetter), u: &url.URL{Scheme: "file", Path: filepath.ToSlash(src.path)}}
	req := &getter.Request{
		Src:     "file:///artifact",
		Dst:     file,
		GetMode: getter.ModeFile,
		Copy:    true, // never symlink the cache entry to the source
	}
	if _, err := newGetterClient(g).Get(ctx, req); err != nil {
		return "", 0, fmt.Errorf("model %s: copying %s: %w; nothing was cached", a.Name, src, err)
	}
	d, n, err := hashFileSHA256(file, s.progress(a.Name, fi.Size()))
	if err != nil {
		return "", 0, fmt.Errorf("model %s: %w", a.Name, err)
	}
	return d, n, nil
}

// remoteRun is how every download from a server begins (remoteStart): its
// size limit, and a context that watchdog cancels when the other end sends
// nothing for stall. The download resets watchdog (nil when the stall
// timeout is off) on every chunk, and calls stop when done.
type remoteRun struct {
	ctx      context.Context
	limit    int64
	stall    time.Duration
	watchdog *time.Timer
	stop     func()
}

// remoteStart refuses a download in offline mode (callers check first;
// this is the last line of defence) and sets up its limit and watchdog;
// who ("server", "registry") names the other end in the stall error.
func (s *Store) remoteStart(ctx context.Context, a *Artifact, src artifactSource, who string) (*remoteRun, error) {
	if s.Offline {
		return nil, s.offlineError(a, src)
	}
	limit, err := s.downloadLimit(a, src)
	if err != nil {
		return nil, err
	}
	stall, err := s.stallTimeout()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	r := &remoteRun{ctx: ctx, limit: limit, stall: stall, stop: func() { cancel(nil) }}
	if stall > 0 {
		r.watchdog = time.AfterFunc(stall, func() {
			cancel(fmt.Errorf("the %s sent nothing for %s (%s sets this limit)", who, stall, EnvStallTimeout))
		})
		r.stop = func() { r.watchdog.Stop(); cancel(nil) }
	}
	return r, nil
}

func (s *Store) downloadHTTP(ctx context.Context, a *Artifact, src artifactSource, file string) (string, int64, error) {
	run, err := s.remoteStart(ctx, a, src, "server")
	if err != nil {
		return "", 0, err
	}
	defer run.stop()
	ctx, limit, stall, watchdog := run.ctx, run.limit, run.stall, run.watchdog

	rec := &recordingTransport{base: s.httpTransport()}
	redirects := &redirectPolicy{}
	hg := &getter.HttpGetter{
		Client: &http.Client{Transport: rec, CheckRedirect: redirects.check},
		// The temp file is always new, so a HEAD probe for range resumption
		// would only cost a round trip.
		DoNotCheckHeadFirst:   true,
		XTerraformGetDisabled: true,
		Header:                http.Header{"User-Agent": {"medzoo (zoo artifact store)"}},
		// ReadTimeout and HeadFirstTimeout stay zero: go-getter's ReadTimeout
		// bounds the whole body, which would kill large downloads. ctx and
		// the stall watchdog bound time instead.
	}
	tee := &hashingTracker{h: sha256.New(), prog: s.progress(a.Name, -1), size: a.Size,
		limit: limit, watchdog: watchdog, stall: stall}
	req := &getter.Request{
		// A stand-in without query or path: see exactGetter.
		Src:              src.u.Scheme + "://" + src.u.Host + "/artifact",
		Dst:              file,
		GetMode:          getter.ModeFile,
		ProgressListener: tee,
	}
	_, err = newGetterClient(&exactGetter{Getter: hg, u: src.u}).Get(ctx, req)
	if err != nil {
		return "", 0, s.httpError(ctx, a, src, rec, redirects, tee, err)
	}
	if !tee.used {
		// go-getter skipped the body (nothing to read); hash what is there.
		return hashFileSHA256(file, nil)
	}
	if tee.n < rec.contentLength() {
		return "", 0, fmt.Errorf("model %s: downloading %s: the connection closed after %d of %d bytes; nothing was cached",
			a.Name, src, tee.n, rec.contentLength())
	}
	tee.prog.done(tee.n)
	return hex.EncodeToString(tee.h.Sum(nil)), tee.n, nil
}

// downloadOCI fetches the TorchScript layer of the artifact whose
// manifest src pins. The manifest is verified against that digest, the
// layer's digest and size against the catalog's before any of it is read,
// and the bytes against the digest as they arrive (by oci.FetchLayer, and
// again by the caller, as for every download).
func (s *Store) downloadOCI(ctx context.Context, a *Artifact, src artifactSource, file string) (string, int64, error) {
	run, err := s.remoteStart(ctx, a, src, "registry")
	if err != nil {
		return "", 0, err
	}
	defer run.stop()
	ctx, stall, watchdog := run.ctx, run.stall, run.watchdog
	c, err := oci.NewClient()
	if err != nil {
		return "", 0, fmt.Errorf("model %s: %w", a.Name, err)
	}
	plain, err := envconfig.RegistryPlainHTTP()
	if err != nil {
		return "", 0, err
	}
	c.PlainHTTP = (plain || s.RegistryPlainHTTP) && src.ref.Loopback()
	c.Transport = s.httpTransport()
	c.MaxModuleBytes = run.limit
	art, err := c.Resolve(ctx, src.ref)
	if err != nil {
		return "", 0, fmt.Errorf("model %s: %w; nothing was cached", a.Name, err)
	}
	mod := art.Module()
	if want, _ := ParseDigest(a.SHA256); want != "" && mod.SHA256() != want {
		return "", 0, &storeError{kind: ErrChecksum, msg: fmt.Sprintf(
			"model %s: checksum mismatch for %s: its %s layer is sha256:%s, the catalog says %s; nothing was downloaded",
			a.Name, src, mod.Name, mod.SHA256(), want)}
	}
	if a.Size > 0 && mod.Size != a.Size {
		return "", 0, &storeError{kind: ErrChecksum, msg: fmt.Sprintf(
			"model %s: %s: its %s layer is %s, the catalog says %s; nothing was downloaded",
			a.Name, src, mod.Name, formatBytes(mod.Size), formatBytes(a.Size))}
	}
	prog := s.progress(a.Name, mod.Size)
	c.Progress = func(_ string, done, _ int64) {
		if watchdog != nil {
			watchdog.Reset(stall)
		}
		prog.report(done)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, fmt.Errorf("artifact store: %w", err)
	}
	got, err := c.FetchLayer(ctx, art, mod, files.WritebackWriter(f))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && context.Cause(ctx) != nil {
			err = fmt.Errorf("%w: %v", err, context.Cause(ctx))
		}
		return "", 0, fmt.Errorf("model %s: %w; nothing was cached", a.Name, err)
	}
	prog.done(mod.Size)
	return got, mod.Size, nil
}

// downloadLimit is the most bytes a download of m may bring: its declared
// size, which must itself be within the store's download limit, or that
// limit when no size is declared.
func (s *Store) downloadLimit(a *Artifact, src artifactSource) (int64, error) {
	limit, err := s.maxDownload()
	if err != nil {
		return 0, err
	}
	if a.Size > limit {
		return 0, &storeError{kind: ErrTooLarge, msg: fmt.Sprintf(
			"model %s: the catalog says %s is %s, more than the download limit of %s; nothing was downloaded; "+
				"if you trust this catalog, raise the limit with --max-download or %s",
			a.Name, src, formatBytes(a.Size), formatBytes(limit), EnvMaxDownload)}
	}
	if a.Size > 0 {
		return a.Size, nil
	}
	return limit, nil
}

// httpError turns a go-getter failure into a message for people. The
// checks go from the most specific cause to the least: a refusal of our
// own (size, redirect), then the server's status, then a stall or
// cancellation, then a short body.
func (s *Store) httpError(ctx context.Context, a *Artifact, src artifactSource, rec *recordingTransport,
	redirects *redirectPolicy, tee *hashingTracker, err error) error {
	prefix := fmt.Sprintf("model %s: downloading %s", a.Name, src)
	if tee.refused != nil {
		return &storeError{kind: ErrTooLarge, msg: fmt.Sprintf("%s: %v; nothing was cached", prefix, tee.refused)}
	}
	if redirects.refused != nil {
		return fmt.Errorf("%s: %v; nothing was cached", prefix, redirects.refused)
	}
	if code, status := rec.status(); code != 0 && (code < 200 || code > 299) {
		hint := ""
		switch {
		case code == http.StatusNotFound || code == http.StatusGone:
			hint = " (the file is not at that address; the catalog entry may be out of date)"
		case code == http.StatusTooManyRequests || code >= 500:
			hint = " (a problem on the server's side; try again later)"
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			hint = " (the server refuses access)"
		case code >= 300 && code <= 399:
			hint = " (a redirect without a usable Location header)"
		}
		return fmt.Errorf("%s: the server answered HTTP %s%s; nothing was cached", prefix, status, hint)
	}
	if cause := context.Cause(ctx); cause != nil {
		got := ""
		if tee.n > 0 {
			got = fmt.Sprintf(" after %d bytes", tee.n)
		}
		return fmt.Errorf("%s: stopped%s: %w; nothing was cached", prefix, got, cause)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) && rec.contentLength() > 0 {
		return fmt.Errorf("%s: the connection closed after %d of %d bytes (%w); nothing was cached",
			prefix, tee.n, rec.contentLength(), err)
	}
	return fmt.Errorf("%s: %w; nothing was cached", prefix, err)
}

// redirectPolicy is the download client's CheckRedirect. net/http would
// follow a loop ten times and then report only "stopped after 10
// redirects", and fail on a file:// Location with a protocol error that
// go-getter turns into the last status, "HTTP 302 Found". This says what
// happened instead, and remembers it for httpError.
type redirectPolicy struct {
	refused error
}

func (p *redirectPolicy) check(req *http.Request, via []*http.Request) error {
	from := via[len(via)-1].URL
	switch {
	case req.URL.Scheme != "http" && req.URL.Scheme != "https":
		p.refused = fmt.Errorf("refused a redirect from %s to %s: only http(s) redirects are followed",
			from.Redacted(), req.URL.Redacted())
	case visited(req.URL, via):
		p.refused = fmt.Errorf("redirect loop after %d redirects: %s sends the download back to %s, where it has been already",
			len(via), from.Redacted(), req.URL.Redacted())
	case len(via) > maxRedirects:
		p.refused = fmt.Errorf("gave up after %d redirects, the last from %s to %s", maxRedirects,
			from.Redacted(), req.URL.Redacted())
	default:
		return nil
	}
	return p.refused
}

func visited(u *url.URL, via []*http.Request) bool {
	for _, r := range via {
		if r.URL.String() == u.String() {
			return true
		}
	}
	return false
}

func newGetterClient(g getter.Getter) *getter.Client {
	return &getter.Client{
		Getters: []getter.Getter{g},
		// Non-nil and empty: go-getter must not unpack anything itself.
		Decompressors:   map[string]getter.Decompressor{},
		DisableSymlinks: true,
	}
}

// exactGetter hands go-getter's getter the catalog URL exactly as written.
// go-getter reads "magic" parts of a source string (?checksum=, which may
// even fetch a checksum file; ?archive=; ?filename=; a //subdir; a forced
// "getter::" prefix) and re-encodes the query. Catalog URLs are opaque
// (Zenodo's ?download=1, signed URLs, paths with odd characters), so
// Client.Get is given a neutral stand-in with none of those, and GetFile
// puts the real URL back before the wrapped getter uses it.
type exactGetter struct {
	getter.Getter
	u *url.URL
}

func (g *exactGetter) GetFile(ctx context.Context, req *getter.Request) error {
	u := *g.u
	*req.URL() = u
	return g.Getter.GetFile(ctx, req)
}

// httpTransport is the store's own transport, built once. Its dialer
// refuses while the store is offline, so no code path can open a socket
// in offline mode even by mistake.
func (s *Store) httpTransport() http.RoundTripper {
	s.transportOnce.Do(func() {
		var t *http.Transport
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			t = dt.Clone()
		} else {
			t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
		}
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if s.Offline {
				return nil, fmt.Errorf("offline mode: refusing to connect to %s", addr)
			}
			return d.DialContext(ctx, network, addr)
		}
		t.DialTLSContext = nil
		// One download per connection. Keeping connections idle buys
		// nothing here, and an idle connection on which a server sends
		// more than its Content-Length makes net/http log "Unsolicited
		// response received on idle HTTP channel" with the raw bytes to
		// stderr.
		t.DisableKeepAlives = true
		// net/http accepts 10 MiB of response headers by default; a file
		// server needs a few KiB (a signed redirect URL at most).
		t.MaxResponseHeaderBytes = 1 << 20
		s.transport = t
	})
	return s.transport
}

// recordingTransport remembers the last response's status and length, which
// go-getter's errors do not carry.
type recordingTransport struct {
	base   http.RoundTripper
	mu     sync.Mutex
	code   int
	stat   string
	length int64
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		t.mu.Lock()
		t.code, t.stat, t.length = resp.StatusCode, resp.Status, resp.ContentLength
		t.mu.Unlock()
	}
	return resp, err
}

func (t *recordingTransport) status() (int, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.code, t.stat
}

func (t *recordingTransport) contentLength() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.length
}

// hashingTracker is go-getter's progress listener: it sees every byte that
// go-getter writes to the temp file, so it hashes them as they stream by,
// reports progress and feeds the stall watchdog.
//
// It also enforces the size: a Content-Length that disagrees with the
// catalog's size, or exceeds the limit, is refused before any byte is
// read, and a body is cut off as soon as it passes the limit (for servers
// that send no length, or send more than they announced).
type hashingTracker struct {
	h        hash.Hash
	n        int64
	used     bool
	prog     *fetchProgress
	size     int64 // catalog size (0: none); also the total when the server sends no length
	limit    int64 // most bytes accepted: size when given, else the download limit
	refused  error // why the body was refused, for httpError
	watchdog *time.Timer
	stall    time.Duration
}

func (t *hashingTracker) TrackProgress(_ string, current, total int64, stream io.ReadCloser) io.ReadCloser {
	t.used = true
	t.h.Reset()
	t.n = 0
	if why := t.checkLength(total - current); why != nil {
		t.refused = why
		return &trackedBody{t: t, rc: stream}
	}
	if total <= 0 && t.size > 0 {
		total = t.size
	} else if total <= 0 {
		total = -1
	}
	t.prog.total = total
	t.prog.report(0)
	return &trackedBody{t: t, rc: stream}
}

// checkLength judges the Content-Length the server announced (-1: none).
func (t *hashingTracker) checkLength(length int64) error {
	switch {
	case length < 0:
		return nil
	case t.size > 0 && length != t.size:
		return fmt.Errorf("the server announces %s (Content-Length), but the catalog says %s", formatBytes(length), formatBytes(t.size))
	case length > t.limit:
		return fmt.Errorf("the server announces %s (Content-Length), more than the download limit of %s "+
			"(raise it with --max-download or %s if you expect a file this large)", formatBytes(length), formatBytes(t.limit), EnvMaxDownload)
	}
	return nil
}

type trackedBody struct {
	t  *hashingTracker
	rc io.ReadCloser
}

func (b *trackedBody) Read(p []byte) (int, error) {
	if b.t.refused != nil {
		return 0, b.t.refused
	}
	// Never read more than one byte past the limit: that byte proves the
	// body too long, and nothing beyond it reaches the disk.
	// (limit - n is never negative here, and this form cannot overflow
	// when the limit is math.MaxInt64.)
	if room := b.t.limit - b.t.n; room < int64(len(p))-1 {
		p = p[:room+1]
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		b.t.h.Write(p[:n])
		b.t.n += int64(n)
		if b.t.watchdog != nil {
			b.t.watchdog.Reset(b.t.stall)
		}
		b.t.prog.report(b.t.n)
	}
	if b.t.n > b.t.limit {
		b.t.refused = b.t.tooLong()
		return n, b.t.refused
	}
	return n, err
}

// tooLong says why a body that passed the limit was cut off.
func (t *hashingTracker) tooLong() error {
	if t.size > 0 {
		return fmt.Errorf("the server sent more than the %s the catalog declares, so the download was stopped", formatBytes(t.size))
	}
	return fmt.Errorf("the server sent more than the download limit of %s, so the download was stopped "+
		"(raise it with --max-download or %s if you expect a file this large)", formatBytes(t.limit), EnvMaxDownload)
}

func (b *trackedBody) Close() error { return b.rc.Close() }

// ---- small helpers ----

// progress throttles Store.Progress calls.
type fetchProgress struct {
	fn    func(string, int64, int64)
	name  string
	total int64
	last  time.Time
}

func (s *Store) progress(name string, total int64) *fetchProgress {
	return &fetchProgress{fn: s.Progress, name: name, total: total}
}

func (p *fetchProgress) report(done int64) {
	if p == nil || p.fn == nil {
		return
	}
	if now := time.Now(); done == 0 || now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.fn(p.name, done, p.total)
	}
}

// done makes the final call, so a progress bar ends at 100%.
func (p *fetchProgress) done(n int64) {
	if p == nil || p.fn == nil {
		return
	}
	if p.total < 0 {
		p.total = n
	}
	p.fn(p.name, n, p.total)
}

// ctxProgressReader stops a copy when ctx ends and reports progress.
type ctxProgressReader struct {
	ctx      context.Context
	r        io.Reader
	n        int64
	progress *fetchProgress
}

func (r *ctxProgressReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	r.progress.report(r.n)
	return n, err
}

// hashFile returns the sha256 and size of the file at p.
func hashFileSHA256(p string, prog *fetchProgress) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	sum, n, err := files.SHA256Of(bufio.NewReaderSize(&ctxProgressReader{ctx: context.Background(), r: f, progress: prog}, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", p, err)
	}
	prog.done(n)
	return sum, n, nil
}

// storeError is an error with a message for people and a kind for code.
type storeError struct {
	kind error
	msg  string
}

func (e *storeError) Error() string        { return e.msg }
func (e *storeError) Is(target error) bool { return target == e.kind }
