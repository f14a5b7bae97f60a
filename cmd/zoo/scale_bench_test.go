package main_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"medzoo/internal/testslurm"
)

// BenchmarkSlurmThroughput gives docs/scale.md's figures, side by side in
// one run on a real one-node cluster (internal/testslurm):
//
//   - throughput of zoo slurm generate with 2 tasks × 1 thread (submit to
//     merged manifest) against one zoo generate process with 2 threads, for
//     the same N of model 101;
//
//   - Slurm's own cost per task: an array of 16 tasks that run /bin/true,
//     submit to the last task's end, divided by 16.
//
//     go test -run '^$' -bench SlurmThroughput -benchtime 1x ./cmd/zoo
func BenchmarkSlurmThroughput(b *testing.B) {
	cluster := testslurm.Start(b)
	base := b.TempDir()
	env := []string{"ZOO_OFFLINE=1", "ZOO_CACHE=" + filepath.Join(base, "cache")}
	run := func(args ...string) string {
		cmd := exec.Command(zooBin, args...)
		cmd.Env = append(cluster.Env(), env...)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("zoo %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	run("generate", "101", "-n", "16", "-o", filepath.Join(base, "warm"), "-q") // the model into the cache
	ctx := context.Background()
	done := func(jobs ...string) bool {
		out, err := cluster.Run(ctx, "squeue", "-h", "--states=PENDING,RUNNING,CONFIGURING,COMPLETING", "-j", strings.Join(jobs, ","), "-o", "%i")
		return err == nil && strings.TrimSpace(out) == ""
	}
	for i := 0; i < b.N; i++ {
		// Two sizes: Slurm's fixed costs (dispatch, zoo-torch's start, the
		// merge job's dispatch) weigh on the small run, hardly on the large.
		for _, n := range []int{2048, 16384} {
			throughput(b, run, done, base, i, n)
		}
		const tasks = 16
		start := time.Now()
		out, err := cluster.Run(ctx, "sbatch", "--parsable", "--array=0-"+strconv.Itoa(tasks-1), "-o", "/dev/null", "--wrap", "true")
		if err != nil {
			b.Fatal(err)
		}
		for !done(strings.TrimSpace(out)) {
			time.Sleep(50 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds()/tasks, "s/noop-task")
	}
}

// throughput runs n samples of model 101 in one process with 2 threads
// and as 2 Slurm tasks of 1 thread, and reports both rates and their ratio.
func throughput(b *testing.B, run func(...string) string, done func(...string) bool, base string, i, n int) {
	start := time.Now()
	run("generate", "101", "-n", strconv.Itoa(n), "-o", filepath.Join(base, "single"+strconv.Itoa(i)+"-"+strconv.Itoa(n)), "--threads", "2", "-q")
	single := time.Since(start).Seconds()

	dir := filepath.Join(base, "sharded"+strconv.Itoa(i)+"-"+strconv.Itoa(n))
	start = time.Now()
	var jobs struct {
		ArrayJob string `json:"array_job"`
		MergeJob string `json:"merge_job"`
	}
	out := run("slurm", "generate", "101", "-n", strconv.Itoa(n), "-o", dir, "--tasks", "2", "--cpus-per-task", "1", "--json")
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		b.Fatalf("zoo slurm generate --json: %v %s", err, out)
	}
	for !done(jobs.ArrayJob, jobs.MergeJob) {
		time.Sleep(100 * time.Millisecond)
	}
	sharded := time.Since(start).Seconds()

	if _, err := os.Stat(filepath.Join(dir, "manifest.jsonl")); err != nil {
		b.Fatalf("the sharded run was not merged: %v", err)
	}
	size := strconv.Itoa(n)
	b.ReportMetric(float64(n)/single, "img/s-1proc2threads-n"+size)
	b.ReportMetric(float64(n)/sharded, "img/s-slurm2x1-n"+size)
	b.ReportMetric(single/sharded, "ratio-n"+size)
}
