package main_test

// End-to-end test of sharded evaluation: zoo evaluate of a folder pair in
// one process against the same evaluation in 3 shards (--shard K/3
// --partial) joined by zoo evaluate merge.

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvaluateShardsMerge(t *testing.T) {
	ex := resnetExtractor(t)
	work := t.TempDir()
	env := []string{"ZOO_CACHE=" + filepath.Join(work, "cache"), "ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real, fake := filepath.Join(work, "real"), filepath.Join(work, "fake")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "10", "--seed", "1", "-o", real, "-q"))
	mustOK(t, zoo(t, env, "generate", "101", "-n", "8", "--seed", "2", "-o", fake, "-q"))
	args := []string{"evaluate", real, fake, "--features", ex, "--metrics", "fid,kid,prdc,memorization", "--no-cache"}

	var whole cardJSON
	r := mustOK(t, zoo(t, env, append(args, "--json")...))
	if err := json.Unmarshal([]byte(r.stdout), &whole); err != nil {
		t.Fatal(err)
	}

	parts := filepath.Join(work, "parts")
	os.MkdirAll(parts, 0o755)
	var files []string
	for _, k := range []string{"0", "1", "2"} {
		p := filepath.Join(parts, k+".part")
		files = append(files, p)
		r := mustOK(t, zoo(t, env, append(args, "--shard", k+"/3", "--partial", p)...))
		if !strings.Contains(r.stdout, "shard "+k+"/3") {
			t.Errorf("shard %s: %s", k, r.stdout)
		}
	}
	cardFile := filepath.Join(work, "card.json")
	r = mustOK(t, zoo(t, env, "evaluate", "merge", files[2], files[0], files[1], "--card", cardFile, "--json"))
	var merged cardJSON
	if err := json.Unmarshal([]byte(r.stdout), &merged); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(cardFile); err != nil || !json.Valid(data) {
		t.Errorf("--card: %v", err)
	}
	if merged.Real.Images != 10 || merged.Fake.Images != 8 || merged.Real.Fingerprint != whole.Real.Fingerprint || merged.Extractor.SHA256 != whole.Extractor.SHA256 {
		t.Errorf("merged sets %+v %+v, extractor %+v", merged.Real, merged.Fake, merged.Extractor)
	}
	if len(merged.Results) != len(whole.Results) {
		t.Fatalf("merged results %+v, whole %+v", merged.Results, whole.Results)
	}
	for i, m := range merged.Results {
		w := whole.Results[i]
		if m.Metric == "FID" {
			if math.Abs(m.Value-w.Value) > 1e-9*math.Abs(w.Value) || w.Value <= 0 {
				t.Errorf("FID: merged %v, one process %v", m.Value, w.Value)
			}
			continue
		}
		if m.Metric != w.Metric || m.Value != w.Value {
			t.Errorf("%s: merged %v, one process %s %v", m.Metric, m.Value, w.Metric, w.Value)
		}
	}
	r = mustOK(t, zoo(t, env, "evaluate", "merge", files[0], files[1], files[2]))
	if !strings.Contains(r.stdout, "merged from 3 shards") || !strings.Contains(r.stdout, "FID") {
		t.Errorf("text card:\n%s", r.stdout)
	}

	// A missing shard is named, with its images and how to make it.
	wantFail(t, zoo(t, env, "evaluate", "merge", files[0], files[2]), 1,
		"shard 1/3 (real images 3..5, fake images 2..4)", "--shard 1/3 --partial", "--features "+ex)
	wantFail(t, zoo(t, env, "evaluate", "merge", files[0], files[0], files[1], files[2]), 1, "given twice")
	pngs, _ := filepath.Glob(filepath.Join(real, "*.png"))
	wantFail(t, zoo(t, env, "evaluate", "merge", files[0], pngs[0]), 1, "not a partial evaluation file")
	wantFail(t, zoo(t, env, "evaluate", "merge"), 2, "partial files of every shard")
	wantFail(t, zoo(t, env, "evaluate", "merge", files[0], "--metrics", "kid"), 2, "takes no --metrics")
	wantFail(t, zoo(t, env, append(args, "--shard", "1/3")...), 2, "--shard needs --partial")
	wantFail(t, zoo(t, env, append(args, "--shard", "3/3", "--partial", files[0])...), 2, "numbered 0 to 2")
	wantFail(t, zoo(t, env, append(args, "--partial", files[0])...), 2, "--partial needs --shard")
	// The shard from a Slurm array task.
	slurm := append(env, "SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=3", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=2")
	p := filepath.Join(parts, "slurm.part")
	if r := mustOK(t, zoo(t, slurm, append(args, "--partial", p)...)); !strings.Contains(r.stdout, "shard 1/3") {
		t.Errorf("shard from Slurm: %s", r.stdout)
	}
}
