package slurm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"medzoo/internal/testslurm"
)

// waitTasks polls squeue until done says the tasks are where the test
// wants them, failing after a minute.
func waitTasks(t *testing.T, c Client, done func([]Task) bool, ids ...string) []Task {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		tasks, err := c.Jobs(context.Background(), ids...)
		if err != nil {
			t.Fatal(err)
		}
		if done(tasks) {
			return tasks
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs %v still at %+v after a minute", ids, tasks)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func find(tasks []Task, id string) Task {
	for _, t := range tasks {
		if t.ID == id {
			return t
		}
	}
	return Task{}
}

// On a real cluster: a 4-task array (its files in a directory with a space)
// runs to completion, the job that depends on it waits for it and then
// sees every task's file, and a running task that is cancelled is
// CANCELLED while the rest of its array runs on.
func TestOnCluster(t *testing.T) {
	testslurm.Start(t)
	ctx := context.Background()
	var c Client
	dir := filepath.Join(t.TempDir(), "my runs")
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	submit := func(name string, j Job, options ...string) string {
		t.Helper()
		s, err := j.Script()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := c.Submit(ctx, f, options...)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	array := submit("array.sbatch", Job{Name: "zoo-test", Tasks: 4, CPUsPerTask: 1, Chdir: dir,
		Output: filepath.Join(logs, "%A_%a.out"), Error: filepath.Join(logs, "%A_%a.err"), Env: []string{"GREETING=hello world"},
		Command: []any{"sh", "-c", `sleep 1; echo "$GREETING" > "task-$SLURM_ARRAY_TASK_ID"`}})
	merge := submit("merge.sbatch", Job{Name: "zoo-test-merge", Chdir: dir, Output: filepath.Join(logs, "%j.out"),
		Command: []any{"sh", "-c", `for k in 0 1 2 3; do test -s "task-$k" || exit 1; done; touch merged`}}, AfterOK(array))

	tasks, err := c.Jobs(ctx, array, merge)
	if err != nil {
		t.Fatal(err)
	}
	if m := find(tasks, merge); m.State != "PENDING" || m.Reason != "Dependency" {
		t.Errorf("the merge job right after submission: %+v, want PENDING for its Dependency", m)
	}
	if s := Summarize(array, tasks, 4); len(s.Tasks)+len(s.Unlisted) != 4 || len(s.Unlisted) != 0 {
		t.Errorf("the array right after submission: %+v", s)
	}
	tasks = waitTasks(t, c, func(tasks []Task) bool {
		return Summarize(array, tasks, 4).Done && Terminal(find(tasks, merge).State)
	}, array, merge)
	if s := Summarize(array, tasks, 4); s.States["COMPLETED"] != 4 {
		t.Errorf("the array: %s", s)
	}
	if m := find(tasks, merge); m.State != "COMPLETED" {
		t.Errorf("the merge job: %+v (its log: %s)", m, filepath.Join(logs, merge+".out"))
	}
	if _, err := os.Stat(filepath.Join(dir, "merged")); err != nil {
		t.Errorf("the merge job left no file: %v", err)
	}
	for k := 0; k < 4; k++ {
		if b, _ := os.ReadFile(filepath.Join(dir, "task-"+string(rune('0'+k)))); string(b) != "hello world\n" {
			t.Errorf("task %d wrote %q", k, b)
		}
		if _, err := os.Stat(filepath.Join(logs, array+"_"+string(rune('0'+k))+".out")); err != nil {
			t.Errorf("task %d: no log: %v", k, err)
		}
	}

	long := submit("long.sbatch", Job{Tasks: 2, CPUsPerTask: 1, Chdir: dir, Output: "/dev/null", Command: []any{"sleep", "300"}})
	waitTasks(t, c, func(tasks []Task) bool { return find(tasks, long+"_0").State == "RUNNING" }, long)
	if err := c.Cancel(ctx, long+"_0"); err != nil {
		t.Fatal(err)
	}
	tasks = waitTasks(t, c, func(tasks []Task) bool { return find(tasks, long+"_0").State == "CANCELLED" }, long)
	if s := Summarize(long, tasks, 2); s.Done || s.States["CANCELLED"] != 1 {
		t.Errorf("after cancelling task 0: %s", s)
	}
	if err := c.Cancel(ctx, long); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Jobs(ctx, "999999"); err == nil {
		t.Error("squeue knew job 999999")
	}
}
