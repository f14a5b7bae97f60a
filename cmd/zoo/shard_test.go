package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"medzoo/output"
)

// shardsAtOnce runs zoo generate args --shard K/m for every K at the same
// time, as an array job's tasks do, into one directory.
func shardsAtOnce(t *testing.T, cache string, m int, args ...string) {
	t.Helper()
	type proc struct {
		cmd      *exec.Cmd
		out, err *bytes.Buffer
	}
	var procs []proc
	for k := 0; k < m; k++ {
		cmd, out, errb := zooCommand(t, []string{"ZOO_CACHE=" + cache}, append(slices.Clone(args), "--shard", fmt.Sprintf("%d/%d", k, m), "-q")...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, proc{cmd, out, errb})
	}
	for k, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("shard %d/%d: %v\n%s%s", k, m, err, p.out, p.err)
		}
	}
}

// shardsRecorded reads dir's zoo-shards.json, checks it covers 0..n-1 in
// m shards, and removes it: it is the one file a single run lacks.
func shardsRecorded(t *testing.T, dir string, m, n int) {
	t.Helper()
	path := filepath.Join(dir, output.ShardsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sf struct {
		N      int                  `json:"n"`
		Shards []output.ShardRecord `json:"shards"`
	}
	if err := json.Unmarshal(b, &sf); err != nil || sf.N != n || len(sf.Shards) != m {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	next := 0
	for _, s := range sf.Shards {
		if s.Start != next || s.Samples != s.End-s.Start || s.Host == "" {
			t.Fatalf("%s: shard %+v does not follow on from %d", path, s, next)
		}
		next = s.End
	}
	if next != n {
		t.Fatalf("%s: the shards end at %d of %d", path, next, n)
	}
	os.Remove(path)
}

// TestShardsMergeIntoTheSingleRun: 4 shards started at once into one
// directory make, once merged, the single-process run's bytes: for a
// noise model, a conditional one (its balanced condition mix depends on
// the index only) and an image-to-image one (the shards split the inputs;
// 8 inputs are one compute block, so 3 shards are empty).
func TestShardsMergeIntoTheSingleRun(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	for _, args := range [][]string{
		{"generate", "101", "-n", "64", "--seed", "3"},
		{"generate", "102", "-n", "64", "--seed", "4"},
		{"generate", "104", "--input", "../../docs/models/00104_inputs"},
	} {
		sharded, whole := filepath.Join(t.TempDir(), "sharded"), filepath.Join(t.TempDir(), "whole")
		shardsAtOnce(t, cache, 4, append(args, "-o", sharded)...)
		mustOK(t, zoo(t, []string{"ZOO_CACHE=" + cache}, append(args, "-o", whole, "-q")...))
		n := len(readManifest(t, whole))
		shardsRecorded(t, sharded, 4, n)
		sameDirs(t, sharded, whole)
		if a, b := sha256File(t, filepath.Join(sharded, output.RunFile)), sha256File(t, filepath.Join(whole, output.RunFile)); a != b {
			t.Fatalf("%v: the merged %s differs from the single run's", args, output.RunFile)
		}
		if args[1] == "102" {
			planes := map[string]int{}
			for _, r := range readManifest(t, sharded) {
				planes[r.Conditions["plane"]]++
			}
			if len(planes) != 3 {
				t.Fatalf("102's balanced mix gave planes %v", planes)
			}
		}
	}
}

// TestShardKilledAndResumed: a shard killed mid-run (SIGKILL) and rerun
// with --resume continues its own range only, and the merged run is still
// the single run's bytes.
func TestShardKilledAndResumed(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	dir := filepath.Join(t.TempDir(), "sharded")
	args := []string{"generate", "101", "-n", "480", "-o", dir, "--seed", "5"}
	cmd, _, _ := zooCommand(t, []string{"ZOO_CACHE=" + cache}, append(args, "--shard", "1/2", "-q")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, output.ShardManifestFile(1, 2))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if b, err := os.ReadFile(manifest); err == nil && bytes.Count(b, []byte("\n")) >= 20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the shard never reached 20 samples")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	b, _ := os.ReadFile(manifest)
	lines := bytes.Count(b, []byte("\n"))
	if lines >= 240 {
		t.Skip("the shard finished before it could be killed")
	}
	// Shard 0 done first: no merge while shard 1 is incomplete.
	mustOK(t, zoo(t, []string{"ZOO_CACHE=" + cache}, append(args, "--shard", "0/2", "-q")...))
	if _, err := os.Stat(filepath.Join(dir, output.ManifestFile)); err == nil {
		t.Fatal("merged with shard 1 killed")
	}
	wantFail(t, zoo(t, nil, "manifest", "merge", dir), 1, fmt.Sprintf("shard 1/2 (indices 240-479) has %d of 240 samples", lines), "--shard 1/2 --resume")

	r := mustOK(t, zoo(t, []string{"ZOO_CACHE=" + cache}, append(args, "--shard", "1/2", "--resume", "--json")...))
	var sum struct {
		Resumed   int  `json:"resumed_from"`
		Generated int  `json:"generated"`
		Start     int  `json:"start"`
		Merged    bool `json:"merged"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatal(err, r.stdout)
	}
	if sum.Resumed != lines || sum.Generated != 240-lines || sum.Start != 240 || !sum.Merged {
		t.Fatalf("resumed shard: %+v, want it to continue from %d of indices 240-479 and merge", sum, lines)
	}
	whole := filepath.Join(t.TempDir(), "whole")
	mustOK(t, zoo(t, []string{"ZOO_CACHE=" + cache}, "generate", "101", "-n", "480", "-o", whole, "--seed", "5", "-q"))
	// A requeued task of a merged run has nothing to do.
	r = mustOK(t, zoo(t, []string{"ZOO_CACHE=" + cache}, append(args, "--shard", "0/2", "--resume")...))
	if !bytes.Contains([]byte(r.stderr), []byte("nothing left to do")) {
		t.Fatalf("rerun of a merged shard: %s", r.stderr)
	}
	shardsRecorded(t, dir, 2, 480)
	sameDirs(t, dir, whole)
}

// TestShardsFromEnvAndRefusals: the shard a Slurm array task or a
// Kubernetes Indexed Job pod gets from its variables makes the same files
// as --shard; shards of another run, of another shard count or into a
// single-process run's directory are refused, naming the file.
func TestShardsFromEnvAndRefusals(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	env := func(vars ...string) []string { return append([]string{"ZOO_CACHE=" + cache}, vars...) }
	dir, whole := filepath.Join(t.TempDir(), "env"), filepath.Join(t.TempDir(), "whole")
	args := []string{"generate", "101", "-n", "32", "-o", dir, "--seed", "2", "-q"}
	r := mustOK(t, zoo(t, env("SLURM_ARRAY_TASK_ID=8", "SLURM_ARRAY_TASK_MIN=7", "SLURM_ARRAY_TASK_MAX=8"), args...))
	if !bytes.Contains([]byte(r.stderr), []byte("shard 1/2 from SLURM_ARRAY_TASK_ID")) {
		t.Fatalf("no note of the shard from Slurm: %s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, output.ShardRunFile(1, 2))); err != nil {
		t.Fatal(err)
	}
	// A shard of another seed, or of another count, meets shard 1/2's file.
	other := []string{"generate", "101", "-n", "32", "-o", dir, "-q"}
	wantFail(t, zoo(t, env(), append(other, "--seed", "9", "--shard", "0/2")...), 1, output.ShardRunFile(1, 2), "seed")
	wantFail(t, zoo(t, env(), append(other, "--seed", "2", "--shard", "0/4")...), 1, "would overlap", "--shard K/2")
	wantFail(t, zoo(t, env(), "manifest", "merge", dir), 1, "shard 0/2 (indices 0-15) has not started")
	mustOK(t, zoo(t, env("JOB_COMPLETION_INDEX=0", "ZOO_SHARD_COUNT=2"), args...))
	mustOK(t, zoo(t, env(), "generate", "101", "-n", "32", "-o", whole, "--seed", "2", "-q"))
	shardsRecorded(t, dir, 2, 32)
	sameDirs(t, dir, whole)

	wantFail(t, zoo(t, env(), "generate", "101", "-n", "32", "-o", whole, "--seed", "2", "--shard", "0/2", "--resume"), 1, "single-process run", output.RunFile)
	wantFail(t, zoo(t, env(), "generate", "101", "-o", dir, "--shard", "2/2"), 2, "numbered 0 to 1")
	wantFail(t, zoo(t, env("SLURM_ARRAY_TASK_ID=3"), "generate", "101", "-o", dir), 2, "--shard K/M")
	wantFail(t, zoo(t, env(), "generate", "101", "-o", dir, "--format", "nifti", "--stack", "--shard", "0/2"), 2, "--stack")
}
