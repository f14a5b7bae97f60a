package shard

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Shard{"0/1": {0, 1}, "3/4": {3, 4}, " 2/8 ": {2, 8}} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, frag := range map[string]string{
		"4/4": "numbered 0 to 3", "-1/4": "numbered 0 to 3", "1/0": "1 to", "1": "not K/M", "a/b": "not K/M",
		"0/100000": "1 to 65536", "": "not K/M",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("Parse(%q): %v, want an error saying %q", in, err, frag)
		}
	}
}

// TestRangeCoversExactly: for many (n, block, M), the shards' ranges are
// contiguous, start on block boundaries, and together cover 0..n-1 once.
func TestRangeCoversExactly(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 100, 1000, 12345} {
		for _, block := range []int{1, 4, 16, 64} {
			for _, m := range []int{1, 2, 3, 4, 7, 16, 100} {
				next := 0
				for k := 0; k < m; k++ {
					start, end := Shard{k, m}.Range(n, block)
					if start != next || end < start || end > n {
						t.Fatalf("n %d block %d: shard %d/%d is [%d, %d), want it to start at %d", n, block, k, m, start, end, next)
					}
					if start%block != 0 && start != n {
						t.Fatalf("n %d block %d: shard %d/%d starts at %d, inside a block", n, block, k, m, start)
					}
					next = end
				}
				if next != n {
					t.Fatalf("n %d block %d M %d: shards end at %d", n, block, m, next)
				}
			}
		}
	}
	if s, e := (Shard{}).Range(10, 16); s != 0 || e != 10 {
		t.Fatalf("no shard: [%d, %d)", s, e)
	}
	// Even: 100 blocks of 16 over 4 shards are 25 blocks each.
	if s, e := (Shard{1, 4}).Range(1600, 16); s != 400 || e != 800 {
		t.Fatalf("shard 1/4 of 1600: [%d, %d)", s, e)
	}
}

func TestFromEnv(t *testing.T) {
	clear := func() {
		for _, v := range []string{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX", "ZOO_SHARD_COUNT"} {
			t.Setenv(v, "")
		}
	}
	clear()
	if _, _, ok, err := FromEnv(); ok || err != nil {
		t.Fatalf("no engine: ok %v, %v", ok, err)
	}
	cases := []struct {
		env  map[string]string
		want Shard
		frag string
	}{
		{map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_MAX": "7"}, Shard{1, 4}, "SLURM_ARRAY_TASK_MIN"},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"}, Shard{2, 3}, "SLURM_ARRAY_TASK_COUNT"},
		{map[string]string{"JOB_COMPLETION_INDEX": "0", "ZOO_SHARD_COUNT": "8"}, Shard{0, 8}, "JOB_COMPLETION_INDEX"},
		// Slurm wins over Kubernetes: a pod never has Slurm's variables.
		{map[string]string{"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2", "JOB_COMPLETION_INDEX": "1", "ZOO_SHARD_COUNT": "2"}, Shard{0, 2}, "SLURM"},
	}
	for _, c := range cases {
		clear()
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		got, source, ok, err := FromEnv()
		if err != nil || !ok || got != c.want || !strings.Contains(source, c.frag) {
			t.Errorf("%v: %v from %q, ok %v, %v; want %v", c.env, got, source, ok, err, c.want)
		}
	}
	for _, env := range []map[string]string{
		{"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"},
		{"SLURM_ARRAY_TASK_ID": "1"},
		{"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"},
		{"JOB_COMPLETION_INDEX": "3"},
		{"JOB_COMPLETION_INDEX": "3", "ZOO_SHARD_COUNT": "3"},
	} {
		clear()
		for k, v := range env {
			t.Setenv(k, v)
		}
		if _, _, ok, err := FromEnv(); ok || err == nil || !strings.Contains(err.Error(), "--shard") {
			t.Errorf("%v: ok %v, %v; want an error naming --shard", env, ok, err)
		}
	}
}
