//go:build linux || darwin || freebsd || netbsd || openbsd

package search

import (
	"os"
	"syscall"
)

// mapFileAt memory-maps a cache file read-only: opening a large index
// costs no copy, and only the pages a query touches are read. Cache files
// are only ever replaced by rename, never rewritten in place, so a mapping
// stays valid while it is used.
func mapFileAt(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	n := fi.Size()
	if n == 0 || n != int64(int(n)) {
		return nil, nil, errBadIndex
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(n), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some file systems cannot map; read instead.
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, nil, rerr
		}
		return data, func() error { return nil }, nil
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
