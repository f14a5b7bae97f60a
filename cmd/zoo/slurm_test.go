package main_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"medzoo/internal/testslurm"
	"medzoo/slurm"
)

// zoo slurm generate on a real one-node cluster: 4 array tasks fill one
// run directory (a path with a space) with their shards, the merge job
// runs after them, zoo slurm status follows it to the end, and the run is
// the one a single process makes, byte for byte.
//
// It needs zoo generate --shard and zoo manifest merge (issue 14's CLI
// contract).
func TestSlurmGenerateSharded(t *testing.T) {
	testslurm.Start(t) // sets SLURM_CONF, which zoo and its tasks inherit
	base := t.TempDir()
	env := []string{"ZOO_OFFLINE=1", "ZOO_CACHE=" + filepath.Join(base, "cache")}
	single, sharded := filepath.Join(base, "single"), filepath.Join(base, "sharded run")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "40", "-o", single, "--seed", "5"))

	r := mustOK(t, zoo(t, env, "slurm", "generate", "101", "-n", "40", "-o", sharded, "--seed", "5", "--tasks", "4", "--cpus-per-task", "1", "--json"))
	var jobs struct {
		ArrayJob string `json:"array_job"`
		MergeJob string `json:"merge_job"`
		Tasks    int    `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &jobs); err != nil || jobs.ArrayJob == "" || jobs.MergeJob == "" || jobs.Tasks != 4 {
		t.Fatalf("zoo slurm generate --json: %v %s", err, r.stdout)
	}
	for _, f := range []string{"generate.sbatch", "merge.sbatch", "jobs.json"} {
		if _, err := os.Stat(filepath.Join(sharded, "slurm", f)); err != nil {
			t.Fatal(err)
		}
	}

	deadline := time.Now().Add(3 * time.Minute)
	var st slurmStatus
	for {
		st = readSlurmStatus(t, env, sharded)
		// A failed task leaves the merge job pending for ever.
		if st.Array.Done && st.Merge != nil && (slurm.Terminal(st.Merge.State) || st.Merge.Reason == "DependencyNeverSatisfied") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after 3 minutes: %+v", st)
		}
		time.Sleep(time.Second)
	}
	if st.Array.States["COMPLETED"] != 4 || st.Merge.State != "COMPLETED" {
		logs, _ := filepath.Glob(filepath.Join(sharded, "slurm", "logs", "*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", filepath.Base(l), b)
		}
		t.Fatalf("status: %+v, merge %+v", st.Array, st.Merge)
	}
	text := mustOK(t, zoo(t, env, "slurm", "status", jobs.ArrayJob)).stdout
	if !strings.Contains(text, "4 tasks: 4 COMPLETED") {
		t.Errorf("zoo slurm status %s: %s", jobs.ArrayJob, text)
	}

	// zoo-shards.json says which array task made each shard.
	var recorded struct {
		Shards []struct {
			K    int
			Host string
			Job  string
		} `json:"shards"`
	}
	if b, err := os.ReadFile(filepath.Join(sharded, "zoo-shards.json")); err != nil || json.Unmarshal(b, &recorded) != nil || len(recorded.Shards) != 4 {
		t.Fatalf("zoo-shards.json: %v %s", err, b)
	}
	for _, s := range recorded.Shards {
		if want := fmt.Sprintf("slurm:%s_%d", jobs.ArrayJob, s.K); s.Job != want || s.Host == "" {
			t.Errorf("zoo-shards.json: shard %d was made by job %q on host %q; want job %s and a host", s.K, s.Job, s.Host, want)
		}
	}
	for _, f := range []string{"manifest.jsonl", "zoo-run.json"} {
		if a, b := sha256File(t, filepath.Join(single, f)), sha256File(t, filepath.Join(sharded, f)); a != b {
			t.Errorf("%s differs from the single-process run's", f)
		}
	}
	for _, rec := range readManifest(t, single) {
		for _, f := range rec.Files {
			if sha256File(t, filepath.Join(single, f)) != sha256File(t, filepath.Join(sharded, f)) {
				t.Errorf("%s differs from the single-process run's", f)
			}
		}
	}
}

// Mistakes are usage errors that name the fix, and nothing is submitted.
func TestSlurmUsage(t *testing.T) {
	dir := t.TempDir()
	wantFail(t, zoo(t, nil, "slurm", "generate", "101", "-o", dir), 2, "--tasks M")
	wantFail(t, zoo(t, nil, "slurm", "generate", "101", "--tasks", "4"), 2, "-o DIR")
	wantFail(t, zoo(t, nil, "slurm", "generate", "101", "-o", dir, "--tasks", "4", "--time", "2 hours", "--dry-run"), 2, "time limit")
	wantFail(t, zoo(t, nil, "slurm", "evaluate", "-o", dir, "--tasks", "2", "--", "real", "fake", "--shard", "0/2"), 2, "leave it out")
	wantFail(t, zoo(t, nil, "slurm", "evaluate", "-o", dir, "--tasks", "2", "--", "real"), 2, "REAL FAKE")
	wantFail(t, zoo(t, nil, "slurm", "status", filepath.Join(dir, "nothing")), 1, "neither a job id")
	wantFail(t, zoo(t, nil, "slurm", "launch"), 2, `no subcommand "launch"`)
	r := mustOK(t, zoo(t, nil, "slurm", "generate", "101", "-n", "8", "-o", filepath.Join(dir, "a b"), "--tasks", "3", "--dry-run"))
	if !strings.Contains(r.stdout, "#SBATCH --array=0-2") || !strings.Contains(r.stdout, `--shard "$SLURM_ARRAY_TASK_ID"/3`) {
		t.Errorf("dry run:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "a b")); err == nil {
		t.Error("--dry-run wrote the run directory")
	}
}

// A task cancelled with scancel while it runs leaves its shard part-done
// and the merge job waiting for ever; submitting the same zoo slurm
// command again reruns every task, the finished shards return at once,
// the cancelled one continues its own range only (no file written before
// the cancel is written again), and the merged run is the single-process
// one, byte for byte.
func TestSlurmCancelledTaskResumes(t *testing.T) {
	testslurm.Start(t)
	base := t.TempDir()
	env := []string{"ZOO_OFFLINE=1", "ZOO_CACHE=" + filepath.Join(base, "cache")}
	single, sharded := filepath.Join(base, "single"), filepath.Join(base, "sharded")
	const n = "640" // 40 blocks of 16: 160 samples a shard, several seconds on one thread
	mustOK(t, zoo(t, env, "generate", "101", "-n", n, "-o", single, "--seed", "9", "-q"))
	submit := func() (array, merge string) {
		r := mustOK(t, zoo(t, env, "slurm", "generate", "101", "-n", n, "-o", sharded, "--seed", "9", "--tasks", "4", "--cpus-per-task", "1", "--json"))
		var jobs struct {
			ArrayJob string `json:"array_job"`
			MergeJob string `json:"merge_job"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &jobs); err != nil || jobs.ArrayJob == "" {
			t.Fatalf("zoo slurm generate --json: %v %s", err, r.stdout)
		}
		return jobs.ArrayJob, jobs.MergeJob
	}
	waitFor := func(what string, ok func(slurmStatus) bool) slurmStatus {
		deadline := time.Now().Add(4 * time.Minute)
		for {
			st := readSlurmStatus(t, env, sharded)
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 4 minutes: %+v %+v", what, st.Array, st.Merge)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	part := filepath.Join(sharded, "manifest.shard-1-of-4.jsonl")
	lines := func() int {
		b, _ := os.ReadFile(part)
		return strings.Count(string(b), "\n")
	}

	array, merge := submit()
	deadline := time.Now().Add(4 * time.Minute)
	for lines() < 16 {
		if time.Now().After(deadline) {
			t.Fatal("shard 1 never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command("scancel", array+"_1").CombinedOutput(); err != nil {
		t.Fatalf("scancel: %v %s", err, out)
	}
	st := waitFor("the other tasks", func(st slurmStatus) bool { return st.Array.Done })
	if st.Array.States["CANCELLED"] != 1 || st.Array.States["COMPLETED"] != 3 {
		t.Fatalf("after scancel: %+v", st.Array.States)
	}
	if st.Merge == nil || st.Merge.State != "PENDING" {
		t.Fatalf("the merge job should wait for the cancelled task: %+v", st.Merge)
	}
	done := lines()
	if done >= 160 {
		t.Fatalf("shard 1 finished (%d samples) before it was cancelled: nothing to resume", done)
	}
	if _, err := os.Stat(filepath.Join(sharded, "manifest.jsonl")); err == nil {
		t.Fatal("merged with a shard missing")
	}
	// The files before the rerun, and when they were written.
	before := map[string]time.Time{}
	entries, _ := os.ReadDir(sharded)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && strings.HasSuffix(e.Name(), ".png") {
			before[e.Name()] = fi.ModTime()
		}
	}
	if out, err := exec.Command("scancel", merge).CombinedOutput(); err != nil {
		t.Fatalf("scancel the waiting merge job: %v %s", err, out)
	}

	submit()
	st = waitFor("the rerun", func(st slurmStatus) bool {
		// Terminal, not merely past RUNNING: a job is COMPLETING for a
		// moment after its script exits.
		return st.Array.Done && st.Merge != nil && slurm.Terminal(st.Merge.State)
	})
	if st.Array.States["COMPLETED"] != 4 || st.Merge.State != "COMPLETED" {
		t.Fatalf("rerun: %+v, merge %+v", st.Array.States, st.Merge)
	}
	for name, mod := range before {
		fi, err := os.Stat(filepath.Join(sharded, name))
		if err != nil || !fi.ModTime().Equal(mod) {
			t.Errorf("%s was written again by the rerun (%v)", name, err)
		}
	}
	plain := withoutSlurm(t, sharded)
	a, b := dirDigest(t, single), dirDigest(t, plain)
	for name, sum := range a {
		if b[name] != sum {
			t.Errorf("%s differs from the single-process run's", name)
		}
	}
	if len(a) != len(b) {
		t.Errorf("%d files, the single-process run has %d", len(b), len(a))
	}
}

// withoutSlurm is a copy of a run directory without what zoo slurm and the
// shards' merge add beside the run (DIR/slurm/, zoo-shards.json), for
// comparing with a single-process run.
func withoutSlurm(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "zoo-shards.json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// zoo slurm evaluate on the real cluster: 3 array tasks evaluate their
// shards of a folder pair, the dependent merge job writes the card, and
// it equals one process's card (FID within 1e-9, the others exactly).
func TestSlurmEvaluateSharded(t *testing.T) {
	testslurm.Start(t)
	ex := resnetExtractor(t)
	work := t.TempDir()
	env := []string{"ZOO_OFFLINE=1", "ZOO_CACHE=" + filepath.Join(work, "cache"), "ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real, fake := filepath.Join(work, "real"), filepath.Join(work, "fake")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "10", "--seed", "1", "-o", real, "-q"))
	mustOK(t, zoo(t, env, "generate", "101", "-n", "8", "--seed", "2", "-o", fake, "-q"))
	eval := []string{real, fake, "--features", ex, "--metrics", "fid,kid,prdc,memorization", "--no-cache"}
	var whole cardJSON
	r := mustOK(t, zoo(t, env, append(append([]string{"evaluate"}, eval...), "--json")...))
	if err := json.Unmarshal([]byte(r.stdout), &whole); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(work, "sharded eval")
	mustOK(t, zoo(t, env, append([]string{"slurm", "evaluate", "-o", out, "--tasks", "3", "--cpus-per-task", "1", "--json", "--"}, eval...)...))
	deadline := time.Now().Add(4 * time.Minute)
	var st slurmStatus
	for {
		st = readSlurmStatus(t, env, out)
		if st.Array.Done && st.Merge != nil && slurm.Terminal(st.Merge.State) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after 4 minutes: %+v %+v", st.Array, st.Merge)
		}
		time.Sleep(500 * time.Millisecond)
	}
	data, err := os.ReadFile(filepath.Join(out, "card.json"))
	if st.Array.States["COMPLETED"] != 3 || st.Merge.State != "COMPLETED" || err != nil {
		logs, _ := filepath.Glob(filepath.Join(out, "slurm", "logs", "*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", filepath.Base(l), b)
		}
		t.Fatalf("status %+v, merge %+v, card: %v", st.Array.States, st.Merge, err)
	}
	var merged cardJSON
	if err := json.Unmarshal(data, &merged); err != nil {
		t.Fatal(err)
	}
	if len(merged.Results) != len(whole.Results) || len(whole.Results) == 0 {
		t.Fatalf("merged results %+v, one process %+v", merged.Results, whole.Results)
	}
	for i, m := range merged.Results {
		w := whole.Results[i]
		if m.Metric != w.Metric {
			t.Fatalf("result %d: %s, one process %s", i, m.Metric, w.Metric)
		}
		if m.Metric == "FID" && math.Abs(m.Value-w.Value) <= 1e-9*math.Abs(w.Value) {
			continue
		}
		if m.Value != w.Value {
			t.Errorf("%s: merged on Slurm %v, one process %v", m.Metric, m.Value, w.Value)
		}
	}
}

// slurmStatus is what the tests read of zoo slurm status --json.
type slurmStatus struct {
	Array struct {
		States map[string]int `json:"states"`
		Done   bool           `json:"done"`
	} `json:"array"`
	Merge *struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"merge"`
}

// readSlurmStatus runs zoo slurm status DIR --json once.
func readSlurmStatus(t *testing.T, env []string, dir string) slurmStatus {
	t.Helper()
	var st slurmStatus
	r := mustOK(t, zoo(t, env, "slurm", "status", dir, "--json"))
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("zoo slurm status --json: %v %s", err, r.stdout)
	}
	return st
}
