package files

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f.txt")
	if err := WriteAtomicBytes(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	// A failed write leaves the old content and no temporary file.
	err := WriteAtomic(p, func(w io.Writer) error {
		w.Write([]byte("half"))
		return errors.New("disk full")
	})
	if err == nil {
		t.Fatal("the writer's error was lost")
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Errorf("after a failed write: %q", b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	// A symbolic link is refused, named, and neither it nor its target changes.
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	err = WriteAtomicBytes(link, []byte("new"))
	var nr *NotRegularError
	if !errors.As(err, &nr) || nr.Path != link || nr.What != "a symbolic link to "+target {
		t.Fatalf("writing over a link: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the write followed the link: target now %q", b)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced")
	}
	// So are a directory and a FIFO.
	if err := WriteAtomicBytes(filepath.Join(dir, "sub"), nil); !errors.As(err, &nr) || nr.What != "a directory" {
		t.Errorf("writing over a directory: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomicBytes(fifo, nil); !errors.As(err, &nr) || nr.What != "a FIFO (named pipe)" {
		t.Errorf("writing over a FIFO: %v", err)
	}
	if sum, err := SHA256(p); err != nil || sum != "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed" {
		t.Errorf("SHA256 = %s, %v", sum, err)
	}
}

func TestOpenAppend(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log")
	os.WriteFile(p, []byte("one\n"), 0o644)
	f, err := OpenAppend(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Seek(0, io.SeekEnd)
	f.Write([]byte("two\n"))
	f.Close()
	if b, _ := os.ReadFile(p); string(b) != "one\ntwo\n" {
		t.Errorf("appended: %q", b)
	}
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	var nr *NotRegularError
	if _, err := OpenAppend(link); !errors.As(err, &nr) {
		t.Errorf("opening a link: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o644)
	if _, err := OpenAppend(fifo); !errors.As(err, &nr) {
		t.Errorf("opening a FIFO: %v", err) // and it did not block
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("target changed: %q", b)
	}
}

func TestIsTemp(t *testing.T) {
	dir := t.TempDir()
	tmp, _ := os.CreateTemp(dir, ".00001.png"+tempMarker+"*")
	tmp.Close()
	for name, want := range map[string]bool{filepath.Base(tmp.Name()): true, ".a.png.tmp": false, "a.png.tmp1": false,
		".a.png.tmpx1": false, "00001.png": false, ".manifest.jsonl.tmp42": true} {
		if IsTemp(name) != want {
			t.Errorf("IsTemp(%q) = %v", name, !want)
		}
	}
}
