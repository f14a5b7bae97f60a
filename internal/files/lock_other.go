//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package files

import (
	"context"
	"path/filepath"
	"sync"
)

// On systems without flock, Lock serialises only within one process. The
// store's downloads still land in tmp/ and are renamed into place after
// verification, so concurrent processes cannot corrupt an entry; at worst
// both download it.
const LocksAcrossProcesses = false

var (
	locksMu sync.Mutex
	locks   = map[string]chan struct{}{}
)

func keyChan(path string) chan struct{} {
	locksMu.Lock()
	defer locksMu.Unlock()
	c, ok := locks[path]
	if !ok {
		c = make(chan struct{}, 1)
		locks[path] = c
	}
	return c
}

// Lock takes the in-process lock for path, waiting until it is free or ctx
// ends.
func Lock(ctx context.Context, path string) (func(), error) {
	c := keyChan(path)
	select {
	case c <- struct{}{}:
		return func() { <-c }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LockDir takes the in-process lock for the directory dir (by its
// absolute path), waiting until it is free or ctx ends.
func LockDir(ctx context.Context, dir string) (func(), error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return Lock(ctx, abs)
}

// TryLock takes the lock for path only if it is free right now.
func TryLock(path string) (func(), bool) {
	c := keyChan(path)
	select {
	case c <- struct{}{}:
		return func() { <-c }, true
	default:
		return nil, false
	}
}
