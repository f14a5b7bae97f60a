// Package shard splits a run of N samples (or N images to evaluate) into M
// contiguous parts, so that M processes on a cluster (Slurm array tasks,
// Kubernetes Indexed Job pods) each make one part and the parts together
// are exactly the single-process run: sample i depends only on (model,
// seed, i, inputs), never on who computes it.
package shard

import (
	"fmt"
	"strconv"
	"strings"

	"medzoo/internal/envconfig"
)

// MaxShards bounds M: more parts than this are no cluster job anyone runs,
// and the bound keeps every per-shard table small.
const MaxShards = 1 << 16

// Shard is part K (0-based) of M. The zero value, M = 0, is no sharding.
type Shard struct {
	K, M int
}

// None reports whether s is the zero value: the whole run in one process.
func (s Shard) None() bool { return s.M == 0 }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.M) }

// Parse reads a --shard value, "K/M" with 0 <= K < M.
func Parse(text string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(text), "/")
	k, err1 := strconv.Atoi(a)
	m, err2 := strconv.Atoi(b)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("--shard %q is not K/M: give the 0-based shard and the number of shards, e.g. --shard 0/4 .. 3/4", text)
	case m < 1 || m > MaxShards:
		return Shard{}, fmt.Errorf("--shard %q: the number of shards must be 1 to %d", text, MaxShards)
	case k < 0 || k >= m:
		return Shard{}, fmt.Errorf("--shard %q: shards are numbered 0 to %d (0-based), not %d", text, m-1, k)
	}
	return Shard{K: k, M: m}, nil
}

// FromEnv returns the shard a cluster engine gives this process (see
// envconfig.EngineShard) and the variables that gave it; ok false when no
// engine set one.
func FromEnv() (s Shard, source string, ok bool, err error) {
	k, m, source, ok, err := envconfig.EngineShard()
	if err != nil || !ok {
		return Shard{}, "", false, err
	}
	if m > MaxShards {
		return Shard{}, "", false, fmt.Errorf("%s gives %d shards, more than %d; give --shard K/M", source, m, MaxShards)
	}
	return Shard{K: k, M: m}, source, true, nil
}

// Range returns the shard's indices [start, end) of 0..n-1. The n indices
// are cut into blocks of block (the model's compute block, so that no block
// is computed by two shards; 1 for work without blocks) and the blocks
// dealt out contiguously and as evenly as possible: shard k gets blocks
// [k·B/M, (k+1)·B/M) of B. With more shards than blocks some shards are
// empty, start == end. The zero Shard is the whole range.
func (s Shard) Range(n, block int) (start, end int) {
	if s.None() || n <= 0 {
		return 0, max(n, 0)
	}
	block = max(block, 1)
	blocks := (n + block - 1) / block
	// k·blocks fits in an int64: both are bounded (MaxShards, n/block).
	first := int(int64(s.K) * int64(blocks) / int64(s.M))
	last := int(int64(s.K+1) * int64(blocks) / int64(s.M))
	return min(first*block, n), min(last*block, n)
}
