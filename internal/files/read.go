package files

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// OpenRegular opens path for reading (an input image, a catalog, a module)
// and refuses anything but a regular
// file, naming what it is. The open does not block (O_NONBLOCK where the
// system has it), so a FIFO named f.png is refused instead of hanging the
// reader until something writes to it. Symbolic links are followed: a link
// to a regular file is read like the file.
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
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
	}
	return "not a plain file"
}
