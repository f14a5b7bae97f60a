//go:build !linux

package store

import (
	"os"
	"time"
)

// accessTime: the modification time, where zoo does not read access times.
func accessTime(fi os.FileInfo) time.Time { return fi.ModTime() }
