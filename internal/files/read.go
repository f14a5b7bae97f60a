package files

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// OpenRegular opens path for reading (an input image, a catalog, a module)
// and refuses anything but a regular
// file, naming what it is. The open does not block (O_NONBLOCK where the
// system has it), so a FIFO named f.png is refused instead of hanging the
// reader until something writes to it. Symbolic links are followed: a link
// to a regular file is read like the file.
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("is %s, not a regular file", Kind(st.Mode()))}
	}
	return f, nil
}

// TooLargeError is a file over the size its reader accepts.
type TooLargeError struct {
	Path  string
	Size  int64 // the bytes seen: the file's size, or more than Limit when it grew while read
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is %d bytes, more than the %d bytes zoo reads from it", e.Path, e.Size, e.Limit)
}

// ReadRegular reads a whole file through OpenRegular, refusing one over
// limit bytes (TooLargeError) before reading it, and never reading more
// than one byte past the limit should it grow meanwhile.
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, path, limit)
}

// ReadNoFollow is ReadRegular through OpenNoFollow: for files zoo itself
// wrote into its cache, which a link there must not redirect.
func ReadNoFollow(path string, limit int64) ([]byte, error) {
	f, err := OpenNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, path, limit)
}

// readLimited reads all of f, refusing it (TooLargeError) when its size is
// over limit, and never reading more than one byte past the limit.
func readLimited(f *os.File, path string, limit int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, &TooLargeError{Path: path, Size: st.Size(), Limit: limit}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{Path: path, Size: int64(len(data)), Limit: limit}
	}
	return data, nil
}

// CheckReadable refuses a directory entry that is not a regular file (or a
// symbolic link to one), without opening it: Stat follows links and never
// blocks on a FIFO.
func CheckReadable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("is %s, not a regular file", Kind(st.Mode()))}
	}
	return nil
}

// Kind names a file type for messages.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	}
	return "not a plain file"
}
