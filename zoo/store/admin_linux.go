package store

import (
	"os"
	"syscall"
	"time"
)

// accessTime is when the file was last read, as far as the filesystem
// records it (see CacheEntry.Used).
func accessTime(fi os.FileInfo) time.Time {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.ModTime()
	}
	return time.Unix(st.Atim.Sec, st.Atim.Nsec)
}
