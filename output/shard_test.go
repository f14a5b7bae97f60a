package output

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"medzoo/internal/shard"
)

// sampleRec is sample i with a file of its own (as the pipeline writes).
func sampleRec(t *testing.T, dir string, i int) Record {
	t.Helper()
	name := fmt.Sprintf("%05d.png", i)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprint("sample ", i)), 0o644); err != nil {
		t.Fatal(err)
	}
	return Record{Index: i, Files: map[string]string{"image": name}, Model: "m", SHA256: "s", Seed: 1, Synthetic: true}
}

// makeShard writes shard k of m of a run of n samples (block 4), its
// first `upto` samples of its range (all if upto < 0), and returns its
// merge report.
func makeShard(t *testing.T, dir string, k, m, n, upto int, mode Mode) (*Run, *MergeReport) {
	t.Helper()
	r, err := OpenShard(context.Background(), dir, info(n), NewShardPart(shard.Shard{K: k, M: m}, n, 4), mode)
	if err != nil {
		t.Fatalf("shard %d/%d: %v", k, m, err)
	}
	end := r.End
	if upto >= 0 {
		end = min(r.Start+upto, r.End)
	}
	for i := r.Start + r.Done; i < end; i++ {
		if err := r.Commit(sampleRec(t, dir, i)); err != nil {
			t.Fatal(err)
		}
	}
	if end < r.End {
		r.Close()
		return r, nil
	}
	rep, err := r.FinishShard(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r, rep
}

// single writes the single-process run of n samples.
func single(t *testing.T, n int) string {
	dir := t.TempDir()
	r, err := Open(dir, info(n), Fresh)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		r.Commit(sampleRec(t, dir, i))
	}
	r.Close()
	return dir
}

// sameAsSingle checks dir holds exactly what single(n) holds, and
// ShardsFile.
func sameAsSingle(t *testing.T, dir string, n int) {
	t.Helper()
	want := single(t, n)
	list := func(d string) []string {
		entries, _ := os.ReadDir(d)
		var out []string
		for _, e := range entries {
			if e.Name() != ShardsFile {
				out = append(out, e.Name())
			}
		}
		sort.Strings(out)
		return out
	}
	got, exp := list(dir), list(want)
	if strings.Join(got, " ") != strings.Join(exp, " ") {
		t.Fatalf("merged dir holds %v,\nsingle run %v", got, exp)
	}
	for _, name := range exp {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, _ := os.ReadFile(filepath.Join(want, name))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs from the single run's:\n%s\n%s", name, a, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ShardsFile)); err != nil {
		t.Fatal(err)
	}
}

func TestShardsMergeIntoTheSingleRun(t *testing.T) {
	dir := t.TempDir()
	// 4 shards of 18 samples in blocks of 4 (5 blocks): the last shard is
	// done first, and the merge waits for all.
	for _, k := range []int{3, 1, 0} {
		if _, rep := makeShard(t, dir, k, 4, 18, -1, Fresh); rep != nil {
			t.Fatalf("shard %d merged before shard 2 was done", k)
		}
	}
	_, rep := makeShard(t, dir, 2, 4, 18, -1, Fresh)
	if rep == nil || !rep.Merged || len(rep.Shards) != 4 {
		t.Fatalf("the last shard did not merge: %+v", rep)
	}
	sameAsSingle(t, dir, 18)
	// Merging again changes nothing; a shard rerun with --resume has
	// nothing to do, one without is refused.
	rep, err := Merge(context.Background(), dir)
	if err != nil || !rep.Already {
		t.Fatalf("merge again: %+v, %v", rep, err)
	}
	sameAsSingle(t, dir, 18)
	if _, err := OpenShard(context.Background(), dir, info(18), NewShardPart(shard.Shard{K: 1, M: 4}, 18, 4), Resume); !errors.Is(err, ErrMerged) {
		t.Fatalf("resume into a merged run: %v", err)
	}
	if _, err := OpenShard(context.Background(), dir, info(18), NewShardPart(shard.Shard{K: 1, M: 4}, 18, 4), Fresh); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("fresh shard into a merged run: %v", err)
	}
}

func TestShardRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	makeShard(t, dir, 0, 4, 32, 3, Fresh)
	other := info(32)
	other.Seed = 7
	for _, c := range []struct {
		info RunInfo
		part ShardPart
		mode Mode
		frag string
	}{
		{other, NewShardPart(shard.Shard{K: 1, M: 4}, 32, 4), Fresh, "seed"},
		{info(40), NewShardPart(shard.Shard{K: 1, M: 4}, 40, 4), Fresh, "-n 32, now 40"},
		{info(32), NewShardPart(shard.Shard{K: 1, M: 3}, 32, 4), Fresh, "would overlap"},
		{info(32), NewShardPart(shard.Shard{K: 1, M: 4}, 32, 8), Fresh, "compute block"},
		{info(32), NewShardPart(shard.Shard{K: 0, M: 4}, 32, 4), Fresh, "--resume continues it"},
		{other, NewShardPart(shard.Shard{K: 0, M: 4}, 32, 4), Resume, "--force to restart"},
		{RunInfo{Model: "m", N: 32, Format: "nifti", Stack: true}, NewShardPart(shard.Shard{K: 1, M: 4}, 32, 4), Fresh, "--stack"},
	} {
		_, err := OpenShard(ctx, dir, c.info, c.part, c.mode)
		if err == nil || !strings.Contains(err.Error(), c.frag) {
			t.Errorf("shard %s %+v: %v, want an error saying %q", c.part, c.info, err, c.frag)
		}
	}
	if _, err := Open(dir, info(32), Resume); err == nil || !strings.Contains(err.Error(), "holds shards") {
		t.Errorf("single-process resume into shards: %v", err)
	}
	// A single-process run's directory takes no shards.
	plain := single(t, 8)
	if _, err := OpenShard(ctx, plain, info(8), NewShardPart(shard.Shard{K: 0, M: 2}, 8, 4), Resume); err == nil || !strings.Contains(err.Error(), "single-process run") {
		t.Errorf("shard into a single run: %v", err)
	}
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "notes.txt"), nil, 0o644)
	if _, err := OpenShard(ctx, foreign, info(8), NewShardPart(shard.Shard{K: 0, M: 2}, 8, 4), Fresh); err == nil || !strings.Contains(err.Error(), "holds no zoo run") {
		t.Errorf("shard into a foreign dir: %v", err)
	}
}

func TestShardResumeAndIncompleteMerge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	makeShard(t, dir, 0, 3, 24, -1, Fresh)
	r, _ := makeShard(t, dir, 1, 3, 24, 3, Fresh)
	if r.Start != 8 || r.End != 16 {
		t.Fatalf("shard 1/3 of 24 in blocks of 4 is [%d, %d)", r.Start, r.End)
	}
	// A kill mid-line.
	f, _ := os.OpenFile(filepath.Join(dir, ShardManifestFile(1, 3)), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"index":11,"fi`)
	f.Close()
	_, err := Merge(ctx, dir)
	var inc *IncompleteError
	if !errors.As(err, &inc) || len(inc.Missing) != 2 ||
		!strings.Contains(err.Error(), "shard 1/3 (indices 8-15) has 3 of 8 samples: rerun it with zoo generate m -n 24 -o "+dir+" --seed 1 --shard 1/3 --resume") ||
		!strings.Contains(err.Error(), "shard 2/3 (indices 16-23) has not started") {
		t.Fatalf("merge with shards missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an incomplete merge wrote %s: %v", ManifestFile, err)
	}
	r, _ = makeShard(t, dir, 1, 3, 24, -1, Resume)
	if r.Done != 3 {
		t.Fatalf("resumed shard found %d done, want 3", r.Done)
	}
	// --force restarts only its own part.
	makeShard(t, dir, 2, 3, 24, 2, Fresh)
	if _, rep := makeShard(t, dir, 2, 3, 24, -1, Force); rep == nil {
		t.Fatal("the forced last shard did not merge")
	}
	sameAsSingle(t, dir, 24)
}

// TestMergeAfterCrash: a merge killed after any of its steps leaves a
// state that a rerun of the merge finishes into the same directory.
func TestMergeAfterCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	parts := map[string][]byte{}
	for k := 0; k < 2; k++ {
		r, err := OpenShard(ctx, dir, info(16), NewShardPart(shard.Shard{K: k, M: 2}, 16, 4), Fresh)
		if err != nil {
			t.Fatal(err)
		}
		for i := r.Start; i < r.End; i++ {
			r.Commit(sampleRec(t, dir, i))
		}
		r.Close() // done, not finished: no merge yet
		for _, name := range []string{ShardRunFile(k, 2), ShardManifestFile(k, 2)} {
			parts[name], _ = os.ReadFile(filepath.Join(dir, name))
		}
	}
	if _, err := Merge(ctx, dir); err != nil {
		t.Fatal(err)
	}
	sameAsSingle(t, dir, 16)
	merged := map[string][]byte{}
	for _, name := range []string{ManifestFile, ShardsFile, RunFile} {
		merged[name], _ = os.ReadFile(filepath.Join(dir, name))
	}
	// The merge writes ManifestFile, ShardsFile, RunFile, then removes
	// the parts: killed after `step` of those writes (step 3: while
	// removing), with a temporary file of the next write left behind.
	for step := 0; step <= 3; step++ {
		for name, b := range parts {
			os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		for i, name := range []string{ManifestFile, ShardsFile, RunFile} {
			os.Remove(filepath.Join(dir, name))
			if i < step {
				os.WriteFile(filepath.Join(dir, name), merged[name], 0o644)
			}
		}
		if step == 3 {
			os.Remove(filepath.Join(dir, ShardManifestFile(0, 2)))
		}
		os.WriteFile(filepath.Join(dir, "."+ManifestFile+".tmp123"), []byte("half"), 0o600)
		if _, err := Merge(ctx, dir); err != nil {
			t.Fatalf("merge after a crash at step %d: %v", step, err)
		}
		sameAsSingle(t, dir, 16)
	}
}
