// Package files does the file operations that several of zoo's packages
// need done the same careful way: write a file so that readers see the old
// content or the new, never half of it, and never through a link someone
// planted; open a file for appending the same way; hash one.
package files

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// NotRegularError says a path zoo was to write is a link, a directory or a
// special file. zoo refuses it rather than write through it or replace it:
// a link planted in an output directory must not make zoo overwrite its
// target (as root, /etc/passwd), and replacing it silently would hide that.
type NotRegularError struct {
	Path string
	What string // "a symbolic link to /etc/passwd", "a directory", ...
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file: zoo never writes through links or over special files; remove it, or choose another location", e.Path, e.What)
}

// CheckRegular returns nil when path does not exist or is a regular file,
// and a *NotRegularError naming what it is otherwise.
func CheckRegular(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case os.IsNotExist(err):
		return nil
	case err != nil:
		return err
	case fi.Mode().IsRegular():
		return nil
	}
	return &NotRegularError{Path: path, What: Describe(path, fi.Mode())}
}

// Describe is Kind, with a link's target: what the entry at path (of
// mode, as Lstat or a directory listing reports it) is, for messages.
func Describe(path string, mode fs.FileMode) string {
	if mode&fs.ModeSymlink != 0 {
		if target, err := os.Readlink(path); err == nil {
			return "a symbolic link to " + target
		}
	}
	return Kind(mode)
}

// WriteAtomic creates or replaces path with what write writes, through a
// temporary file in the same directory (created if missing, opened with
// O_EXCL) and a rename. On any error the old file is untouched and no
// temporary file is left. A path that is a link, a directory or a special
// file is refused (NotRegularError); even if one appears between the check
// and the rename, the rename replaces the entry and never writes through it.
func WriteAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := CheckRegular(path); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempMarker+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes it 0600
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// tempMarker is in the names of WriteAtomic's temporary files:
// .NAME.tmp123456 beside NAME.
const tempMarker = ".tmp"

// IsTemp reports whether name is one of WriteAtomic's temporary files,
// which a process killed mid-write (SIGKILL) leaves behind.
func IsTemp(name string) bool {
	i := strings.LastIndex(name, tempMarker)
	if !strings.HasPrefix(name, ".") || i < 1 {
		return false
	}
	digits := name[i+len(tempMarker):]
	if digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// WriteAtomicBytes is WriteAtomic for data in memory.
func WriteAtomicBytes(path string, data []byte) error {
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// OpenAppend opens path for reading and appending (a manifest or log),
// creating it if missing, and refuses (NotRegularError) a link or special
// file.
func OpenAppend(path string) (*os.File, error) {
	return openNoFollow(path, os.O_RDWR|os.O_CREATE, 0o644)
}

// OpenNoFollow opens path for reading only if it is a regular file, not
// through a link (for caches zoo itself filled).
func OpenNoFollow(path string) (*os.File, error) {
	return openNoFollow(path, os.O_RDONLY, 0)
}

// openNoFollow opens path with flag, refusing what is not a regular file:
// O_NOFOLLOW makes the open fail on a link (and an open of a directory for
// writing fails), O_NONBLOCK keeps a FIFO from blocking it, and the opened
// file is checked to be regular, naming what it is otherwise.
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	if checkBeforeOpen {
		if err := CheckRegular(path); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, flag|noFollow|nonBlock, perm)
	if err != nil {
		if cerr := CheckRegular(path); cerr != nil {
			return nil, cerr // a link, a directory, a special file
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &NotRegularError{Path: path, What: Describe(path, fi.Mode())}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// SHA256 is the lower-case hex sha256 of the file at path.
func SHA256(path string) (string, error) {
	sum, _, err := SHA256Size(path)
	return sum, err
}

// SHA256Size is the lower-case hex sha256 and the size of the file at
// path, read once.
func SHA256Size(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return SHA256Of(f)
}

// SHA256Of is the lower-case hex sha256 of what r holds, and its length.
func SHA256Of(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
