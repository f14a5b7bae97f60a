package files

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.lock")
	// No lock file means no owner, and TryLock does not create one.
	if unlock, ok := TryLock(p); !ok {
		t.Fatal("TryLock of a missing lock file failed")
	} else {
		unlock()
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("TryLock created the lock file: %v", err)
	}
	unlock, err := Lock(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	// Held: another taker waits until its context ends, TryLock fails.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock of a held lock: %v, want the context's deadline", err)
	}
	if _, ok := TryLock(p); ok {
		t.Error("TryLock took a held lock")
	}
	unlock()
	if unlock, ok := TryLock(p); !ok {
		t.Error("TryLock failed on a released lock")
	} else {
		unlock()
	}
}

func TestLockRefusesLink(t *testing.T) {
	if !LocksAcrossProcesses {
		t.Skip("in-process locks open no file")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "x.lock")
	os.Symlink(target, link)
	_, err := Lock(context.Background(), link)
	var nr *NotRegularError
	if !errors.As(err, &nr) || nr.Path != link {
		t.Fatalf("Lock through a link: %v", err)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the link's target was created: %v", err)
	}
	if _, ok := TryLock(link); ok {
		t.Error("TryLock through a link succeeded")
	}
}

// TestLockDir: a held directory lock makes another taker wait until its
// context ends, leaves nothing in the directory, and is free again after
// unlock; a file is not a directory.
func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockDir(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("LockDir of a held directory: %v, want the context's deadline", err)
	}
	unlock()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 && LocksAcrossProcesses {
		t.Errorf("LockDir left %d entries in the directory", len(entries))
	}
	again, err := LockDir(context.Background(), dir)
	if err != nil {
		t.Fatalf("LockDir after unlock: %v", err)
	}
	again()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	if LocksAcrossProcesses {
		if _, err := LockDir(context.Background(), file); err == nil {
			t.Error("LockDir locked a regular file")
		}
	}
}
