package files

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.png")
	os.WriteFile(file, []byte("x"), 0o644)
	link := filepath.Join(dir, "link.png")
	os.Symlink(file, link)
	for _, p := range []string{file, link} {
		f, err := OpenRegular(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f.Close()
	}
	if _, err := OpenRegular(dir); err == nil || !strings.Contains(err.Error(), "is a directory, not a regular file") {
		t.Fatalf("directory: %v", err)
	}
	fifo := filepath.Join(dir, "f.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs:", err)
	}
	// Without O_NONBLOCK this open blocks until a writer comes.
	if _, err := OpenRegular(fifo); err == nil || !strings.Contains(err.Error(), "f.png") || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("FIFO: %v", err)
	}
	if err := CheckReadable(fifo); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("CheckReadable(FIFO): %v", err)
	}
}
