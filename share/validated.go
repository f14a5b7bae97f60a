package share

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"medzoo/internal/files"
	"medzoo/internal/version"
)

// A validation record says that zoo validate's checks passed on a model
// directory's exact bytes: the file in CACHE/validated/ named after the
// sha256 of the directory's manifest (every file's name and digest). zoo
// pack, push and publish look for it so that a model checked once is not
// run again, and so that they need no LibTorch then: a push right after
// zoo validate starts in milliseconds, not in the second LibTorch takes
// to load. Any change to any file changes the manifest, and so misses the
// record; a record from another zoo version does not count, since the
// checks may have changed.
//
// The record is the author's own convenience, not a guarantee to anyone
// else: whoever receives the model verifies digests, and can run zoo
// validate themselves.
type validationRecord struct {
	Manifest  string    `json:"manifest_sha256"`
	Model     string    `json:"model"`
	Zoo       string    `json:"zoo_version"`
	Validated time.Time `json:"validated"`
}

// recordsDir is the cache subdirectory of validation records.
const recordsDir = "validated"

// maxRecordBytes bounds the read of a record (a few hundred bytes).
const maxRecordBytes = 4 << 10

func (m *Model) manifestDigest() string {
	h := sha256.Sum256(m.Manifest())
	return hex.EncodeToString(h[:])
}

func recordPath(cacheDir string, m *Model) string {
	return filepath.Join(cacheDir, recordsDir, "sha256-"+m.manifestDigest())
}

// ValidatedBefore reports whether zoo validate's checks passed on m's
// exact bytes with this zoo version (a record in cacheDir). Any problem
// reading the record is a no: the checks then run again.
func ValidatedBefore(cacheDir string, m *Model) bool {
	if cacheDir == "" || m == nil || m.Entry == nil {
		return false
	}
	data, err := files.ReadRegular(recordPath(cacheDir, m), maxRecordBytes)
	if err != nil {
		return false
	}
	var r validationRecord
	if json.Unmarshal(data, &r) != nil {
		return false
	}
	return r.Manifest == m.manifestDigest() && r.Zoo == version.Version && r.Model == m.Entry.ID
}

// RecordValidated writes m's validation record into cacheDir. A cache
// that cannot be written costs only a second run of the checks next time,
// so callers may ignore the error.
func RecordValidated(cacheDir string, m *Model) error {
	if cacheDir == "" || m == nil || m.Entry == nil {
		return errors.New("no cache directory or model to record")
	}
	dir := filepath.Join(cacheDir, recordsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return &fs.PathError{Op: "record validation", Path: dir, Err: fs.ErrInvalid}
	}
	data, err := json.Marshal(validationRecord{Manifest: m.manifestDigest(), Model: m.Entry.ID,
		Zoo: version.Version, Validated: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	return files.WriteAtomicBytes(recordPath(cacheDir, m), data)
}
