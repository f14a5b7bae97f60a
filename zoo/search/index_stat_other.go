//go:build !linux

package search

import "os"

// statExtra: size and modification time only (plus the racy-file check).
func statExtra(os.FileInfo) (int64, uint64, uint64) { return 0, 0, 0 }
