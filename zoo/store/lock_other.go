//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"context"
	"sync"
)

// On systems without flock the store serialises fetches only within one
// process. Downloads still land in tmp/ and are renamed into place after
// verification, so concurrent processes cannot corrupt an entry; at worst
// both download it.
const locksAcrossProcesses = false

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

func lockFile(ctx context.Context, path string) (func(), error) {
	c := keyChan(path)
	select {
	case c <- struct{}{}:
		return func() { <-c }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func tryLockFile(path string) (func(), bool) {
	c := keyChan(path)
	select {
	case c <- struct{}{}:
		return func() { <-c }, true
	default:
		return nil, false
	}
}
