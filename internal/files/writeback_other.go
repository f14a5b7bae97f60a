//go:build !linux

package files

import "os"

// WritebackWriter is f itself where sync_file_range does not exist: the
// fsync before commit then flushes everything at the end.
func WritebackWriter(f *os.File) *Writeback { return &Writeback{f: f} }

// Writeback is the writer WritebackWriter returns.
type Writeback struct{ f *os.File }

func (w *Writeback) Write(p []byte) (int, error) { return w.f.Write(p) }
