package slurm

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Quote gives one shell word that sh reads back as the value itself.
func TestQuoteRoundTrips(t *testing.T) {
	values := []string{"plain", "", "with space", "it's", `"dq"`, "$HOME", "`id`", "a\nb", "*.zev", "--x=1", "ünï", `back\slash`, "'", "a;b|c&d"}
	line := CommandLine(stringsToAny(values)...)
	out, err := exec.Command("sh", "-c", `eval "set -- $0"; for a in "$@"; do printf '%s\0' "$a"; done`, line).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(values) {
		t.Fatalf("sh read %d words from %s, want %d: %q", len(got), line, len(values), got)
	}
	for i := range values {
		if got[i] != values[i] {
			t.Errorf("word %d: sh read %q, want %q (line %s)", i, got[i], values[i], line)
		}
	}
	if Quote("plain/path-1.x") != "plain/path-1.x" || Quote("a b") != "'a b'" {
		t.Errorf("Quote: %s %s", Quote("plain/path-1.x"), Quote("a b"))
	}
}

func stringsToAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestScript(t *testing.T) {
	j := Job{Name: "zoo-gen", Tasks: 4, CPUsPerTask: 8, GPUsPerTask: 1, Partition: "gpu", Time: "2:00:00",
		Chdir: "/work/my runs", Output: "/work/my runs/out/slurm/logs/%A_%a.out", Error: "/x/%A_%a.err",
		Env:     []string{"OMP_NUM_THREADS=8"},
		Command: []any{"/opt/zoo/bin/zoo", "generate", "101", "-o", "/work/my runs/out", "--shard", TaskID + "/4"}}
	s, err := j.Script()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#!/bin/sh\n", "#SBATCH --job-name=zoo-gen\n", "#SBATCH --array=0-3\n", "#SBATCH --cpus-per-task=8\n",
		"#SBATCH --gpus-per-task=1\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=2:00:00\n",
		"#SBATCH --chdir=\"/work/my runs\"\n", "#SBATCH --output=\"/work/my runs/out/slurm/logs/%A_%a.out\"\n",
		"#SBATCH --error=/x/%A_%a.err\n", "set -eu\n", "export OMP_NUM_THREADS=8\n",
		"exec /opt/zoo/bin/zoo generate 101 -o '/work/my runs/out' --shard \"$SLURM_ARRAY_TASK_ID\"/4\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	// sh parses it, and every #SBATCH line comes before the first command,
	// where sbatch stops reading them.
	f := t.TempDir() + "/j.sbatch"
	os.WriteFile(f, []byte(s), 0o644)
	if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v %s", err, out)
	}
	seenCommand := false
	for _, line := range strings.Split(s, "\n")[1:] {
		if strings.HasPrefix(line, "#SBATCH") && seenCommand {
			t.Errorf("#SBATCH line after a command: %s", line)
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			seenCommand = true
		}
	}

	one, err := Job{Command: []any{"true"}, Then: "echo done"}.Script()
	if err != nil || strings.Contains(one, "--array") || strings.Contains(one, "exec") || !strings.HasSuffix(one, "true\necho done\n") {
		t.Errorf("a job without tasks: %v\n%s", err, one)
	}
}

func TestScriptRefuses(t *testing.T) {
	ok := Job{Tasks: 2, Command: []any{"true"}}
	for frag, j := range map[string]Job{
		"1 to 65536":       {Tasks: MaxTasks + 1, Command: ok.Command},
		"partition":        {Partition: "gpu a", Command: ok.Command},
		"job name":         {Name: "x\ny", Command: ok.Command},
		"time limit":       {Time: "2 hours", Command: ok.Command},
		"no command":       {Tasks: 2},
		"double quote":     {Output: `/a"b`, Command: ok.Command},
		"not NAME=VALUE":   {Env: []string{"1X=2"}, Command: ok.Command},
		"neither a string": {Command: []any{3}},
		"CPUs per task":    {CPUsPerTask: -1, Command: ok.Command},
	} {
		if _, err := j.Script(); err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("%+v: %v, want an error saying %q", j, err, frag)
		}
	}
	for _, tm := range []string{"30", "30:00", "2:00:00", "1-12", "1-12:00:00", "UNLIMITED"} {
		if _, err := (Job{Time: tm, Command: ok.Command}).Script(); err != nil {
			t.Errorf("--time %s: %v", tm, err)
		}
	}
}

// The parser reads squeue output recorded on the test cluster
// (internal/testslurm): a 4-task array just submitted with two jobs that
// depend on it, and the same later, two tasks done, one running and one
// cancelled while pending (so squeue lists it no more).
func TestParseSqueue(t *testing.T) {
	read := func(name string) []Task {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := ParseSqueue(string(b))
		if err != nil {
			t.Fatal(err)
		}
		return tasks
	}
	sub := read("squeue-submitted.txt")
	if len(sub) != 6 || sub[0] != (Task{ID: "1_0", ArrayJob: "1", ArrayTask: 0, State: "PENDING", Reason: "None"}) ||
		sub[4] != (Task{ID: "2", ArrayJob: "2", ArrayTask: -1, State: "PENDING", Reason: "Dependency"}) {
		t.Fatalf("submitted: %+v", sub)
	}
	if s := Summarize("1", sub, 4); s.States["PENDING"] != 4 || s.Done || len(s.Unlisted) != 0 || s.String() != "4 tasks: 4 PENDING" {
		t.Errorf("summary: %+v %s", s, s)
	}
	later := read("squeue-partly-done.txt")
	s := Summarize("1", later, 4)
	if s.States["COMPLETED"] != 2 || s.States["RUNNING"] != 1 || s.Done || len(s.Unlisted) != 1 || s.Unlisted[0] != 3 {
		t.Errorf("summary: %+v", s)
	}
	if s.Tasks[2].ArrayTask != 2 {
		t.Errorf("not sorted by task: %+v", s.Tasks)
	}
	if !strings.HasPrefix(s.String(), "3 tasks: 2 COMPLETED, 1 RUNNING; 1 not listed") {
		t.Errorf("summary line: %s", s)
	}
	for _, bad := range []string{"1_0|1|1|0|PENDING", "1_x|1|1|x|PENDING|None", "a|a|a|N/A|PENDING|None"} {
		if _, err := ParseSqueue(bad); err == nil {
			t.Errorf("ParseSqueue(%q) took it", bad)
		}
	}
}
