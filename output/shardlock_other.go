//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package output

import (
	"context"
	"path/filepath"

	"medzoo/internal/files"
)

// lockDir, where directories cannot be flocked, is files.Lock on the
// absolute path of dir: it excludes this process's goroutines only, as
// files.Lock does on these systems; shards run on Linux clusters.
func lockDir(ctx context.Context, dir string) (func(), error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return files.Lock(ctx, filepath.Join(abs, ".zoo-shards.lock"))
}
