//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// locksAcrossProcesses: locks here exclude other processes too, so sweepTmp
// may treat a free lock as proof that a tmp/ entry's owner is gone.
const locksAcrossProcesses = true

// lockFile takes an exclusive flock on path, waiting until it is free or
// ctx ends. flock locks belong to the open file description, so they
// exclude other goroutines of this process as well as other processes, and
// the kernel drops them when a process dies: a killed fetch never leaves a
// stale lock behind. The wait polls with LOCK_NB so that ctx can stop it.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	// O_NOFOLLOW: a link planted at a lock's name must not make zoo create
	// or open a file elsewhere.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errors.New("it is a symbolic link; zoo never writes through links in its cache: remove it and run again")
	}
	if err != nil {
		return nil, err
	}
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

// tryLockFile takes the lock on path only if it is free right now. It
// never creates the lock file: no lock file means no owner.
func tryLockFile(path string) (unlock func(), ok bool) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
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
