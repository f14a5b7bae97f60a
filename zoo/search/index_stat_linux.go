package search

import (
	"os"
	"syscall"
)

// statExtra returns a file's change time, inode and device: a file
// replaced by another of the same size and modification time still has a
// new inode or change time.
func statExtra(fi os.FileInfo) (ctimeNS int64, ino, dev uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	return st.Ctim.Sec*1e9 + st.Ctim.Nsec, st.Ino, uint64(st.Dev)
}
