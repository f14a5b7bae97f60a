//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package files

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// LocksAcrossProcesses says Lock excludes other processes too, so a lock
// that TryLock finds free proves its last owner is gone (the store sweeps
// a killed fetch's leftovers on that proof).
const LocksAcrossProcesses = true

// Lock takes an exclusive flock on the lock file at path (created if
// missing; a link or special file there is refused, NotRegularError),
// waiting until it is free or ctx ends. flock locks belong to the open file
// description, so they exclude other goroutines of this process as well as
// other processes, and the kernel drops them when a process dies: a killed
// zoo never leaves a stale lock behind. The wait polls with LOCK_NB so that
// ctx can stop it.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := openNoFollow(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return lockOpen(ctx, f)
}

// LockDir takes an exclusive flock on the directory dir itself, waiting
// until it is free or ctx ends. Locking the directory, not a lock file in
// it, leaves nothing behind in it (a sharded run's directory then holds
// exactly what a single process's does); the kernel drops the lock of a
// killed process.
func LockDir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return lockOpen(ctx, f)
}

// lockOpen flocks f exclusively, polling with LOCK_NB so that ctx can stop
// the wait; it owns f from then on (closed on failure and by unlock).
func lockOpen(ctx context.Context, f *os.File) (unlock func(), err error) {
	delay := 5 * time.Millisecond
	for {
		err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				flock(f, syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// TryLock takes the lock at path only if it is free right now. It never
// creates the lock file: no lock file means no owner.
func TryLock(path string) (unlock func(), ok bool) {
	f, err := openNoFollow(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, true
	}
	if err != nil {
		return nil, false
	}
	if flock(f, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		f.Close()
		return nil, false
	}
	return func() {
		flock(f, syscall.LOCK_UN)
		f.Close()
	}, true
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
