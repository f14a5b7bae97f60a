package main_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"medzoo/internal/shard"
)

// strictJob decodes zoo k8s's stdout into a batch/v1 Job, refusing any
// field the type does not have (what kubectl's strict validation does).
func strictJob(t *testing.T, stdout string, isJSON bool) *batchv1.Job {
	t.Helper()
	js := []byte(stdout)
	if !isJSON {
		var err error
		if js, err = yaml.YAMLToJSON(js); err != nil {
			t.Fatalf("YAMLToJSON: %v\n%s", err, stdout)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var job batchv1.Job
	if err := dec.Decode(&job); err != nil {
		t.Fatalf("strict decoding: %v\n%s", err, stdout)
	}
	return &job
}

func argAfter(args []string, flag string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}

// TestK8sGenerateManifest: bin/zoo (no LibTorch) prints Indexed Jobs for a
// noise model and an image-to-image one whose pods, run as zoo generate
// will run them, make samples 0..N-1 once each into the claim's volume.
func TestK8sGenerateManifest(t *testing.T) {
	for _, tc := range []struct {
		id    string
		extra []string
		n, m  int
		block int // the catalog's compute block
		gpus  int
	}{
		{"101", nil, 1000, 6, 16, 1},
		{"101", []string{"--json"}, 50, 4, 16, 0},
		{"104", []string{"--input", "/data/masks"}, 100, 3, 16, 1},
	} {
		args := append([]string{"k8s", "generate", tc.id, "-n", strconv.Itoa(tc.n), "--completions", strconv.Itoa(tc.m),
			"--image", "reg.example.org/medzoo:cuda", "--pvc", "zoo-data", "--gpus", strconv.Itoa(tc.gpus), "--seed", "3"}, tc.extra...)
		r := zoo(t, nil, args...)
		if r.code != 0 {
			t.Fatalf("zoo %v: exit %d\n%s", args, r.code, r.stderr)
		}
		job := strictJob(t, r.stdout, strings.Contains(strings.Join(tc.extra, " "), "--json"))
		if *job.Spec.CompletionMode != batchv1.IndexedCompletion || int(*job.Spec.Completions) != tc.m || job.Spec.BackoffLimitPerIndex == nil {
			t.Errorf("%s: spec %+v", tc.id, job.Spec)
		}
		ctr := job.Spec.Template.Spec.Containers[0]
		cargs := ctr.Args
		if cargs[0] != "generate" || !strings.HasPrefix(cargs[1], "00"+tc.id+"_") || argAfter(cargs, "--seed") != "3" {
			t.Errorf("%s: args %v", tc.id, cargs)
		}
		made := make([]int, tc.n)
		for k := 0; k < tc.m; k++ {
			s, err := shard.Parse(strings.ReplaceAll(argAfter(cargs, "--shard"), "$(JOB_COMPLETION_INDEX)", strconv.Itoa(k)))
			if err != nil {
				t.Fatal(err)
			}
			start, end := s.Range(tc.n, tc.block)
			for i := start; i < end; i++ {
				made[i]++
			}
		}
		for i, c := range made {
			if c != 1 {
				t.Fatalf("%s: sample %d made by %d pods", tc.id, i, c)
			}
		}
		// The output (and input) lie under the mount of the claim.
		var mount string
		for _, v := range job.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "zoo-data" {
				for _, vm := range ctr.VolumeMounts {
					if vm.Name == v.Name {
						mount = vm.MountPath
					}
				}
			}
		}
		for _, flag := range []string{"-o", "--input"} {
			if p := argAfter(cargs, flag); p != "" && (mount == "" || !strings.HasPrefix(p, mount+"/")) {
				t.Errorf("%s: %s %s is not in the claim zoo-data, mounted at %q", tc.id, flag, p, mount)
			}
		}
		gpu, ok := ctr.Resources.Limits["nvidia.com/gpu"]
		if ok != (tc.gpus > 0) || ok && gpu.Value() != int64(tc.gpus) || (argAfter(cargs, "--device") == "cuda") != (tc.gpus > 0) {
			t.Errorf("%s: %d GPUs: limits %v, args %v", tc.id, tc.gpus, ctr.Resources.Limits, cargs)
		}
		psc, csc := job.Spec.Template.Spec.SecurityContext, ctr.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
			csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || *csc.AllowPrivilegeEscalation {
			t.Errorf("%s: security contexts %+v %+v", tc.id, psc, csc)
		}
	}
}

func TestK8sEvaluateManifest(t *testing.T) {
	r := zoo(t, nil, "k8s", "evaluate", "/data/real", "101", "-n", "2000", "--completions", "4", "--image", "medzoo:cuda", "--pvc", "zoo-data", "--metrics", "fid", "--protocol", "clean-fid")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	args := strictJob(t, r.stdout, false).Spec.Template.Spec.Containers[0].Args
	if args[0] != "evaluate" || args[1] != "/data/real" || args[2] != "00101_DCGAN_MRI_COLIN27_DEMO" ||
		argAfter(args, "--partial") != "/data/eval/part-$(JOB_COMPLETION_INDEX).zev" || argAfter(args, "--shard") != "$(JOB_COMPLETION_INDEX)/4" ||
		argAfter(args, "--metrics") != "fid" || argAfter(args, "-n") != "2000" || argAfter(args, "--protocol") != "clean-fid" {
		t.Errorf("args %v", args)
	}
}

// Bad input is a usage error (exit 2) naming the problem, before any pod runs.
func TestK8sBadFlags(t *testing.T) {
	base := []string{"--image", "medzoo:cuda", "--pvc", "zoo-data"}
	for _, tc := range []struct {
		args []string
		frag string
	}{
		{[]string{"generate", "101", "-n", "100", "--completions", "0"}, "--completions 0"},
		{[]string{"generate", "101", "--completions", "2"}, "needs -n"},
		{[]string{"generate", "101", "-n", "100", "--completions", "100"}, "compute blocks"},
		{[]string{"generate", "nosuch", "-n", "100", "--completions", "2"}, "nosuch"},
		{[]string{"generate", "104", "-n", "100", "--completions", "2"}, "give --input"},
		{[]string{"generate", "101", "-n", "100", "--completions", "2", "--input", "/data/in"}, "leave out --input"},
		{[]string{"generate", "101", "-n", "100", "--completions", "2", "--name", "Zoo_Run"}, "RFC 1123"},
		{[]string{"generate", "101", "-n", "100", "--completions", "2", "--output-path", "out"}, "not absolute"},
		{[]string{"generate", "101", "-n", "100", "--completions", "2", "--format", "gif"}, "--format"},
		{[]string{"generate", "102", "-n", "100", "--completions", "2", "--condition", "plane=oblique"}, "axial"},
		{[]string{"generate", "101", "-n", "100", "--completions", "2", "--gpu", "1"}, "gpu"},
		{[]string{"evaluate", "real", "101", "--completions", "2"}, "neither a model id"},
		{[]string{"evaluate", "/data/real", "101", "--completions", "2", "--input", "/data/x"}, "for zoo k8s generate"},
		{[]string{"evaluate", "/data/real", "101", "--completions", "2", "--protocol", "clean"}, "torch-fidelity"},
		{[]string{"generate", "101", "-n", "100", "--completions", "2", "--protocol", "zoo"}, "for zoo k8s evaluate"},
		{[]string{"scale", "101"}, "no subcommand"},
	} {
		args := append(append([]string{"k8s"}, tc.args...), base...)
		r := zoo(t, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.frag) || r.stdout != "" {
			t.Errorf("zoo %v: exit %d, stderr %q, stdout %q; want exit 2 naming %q", args, r.code, r.stderr, r.stdout, tc.frag)
		}
	}
	// Without --pvc the shards would share no directory.
	r := zoo(t, nil, "k8s", "generate", "101", "-n", "100", "--completions", "2", "--image", "medzoo:cuda", "--json")
	var failure struct{ Error string }
	if r.code != 2 || json.Unmarshal([]byte(r.stdout), &failure) != nil || !strings.Contains(failure.Error, "--pvc") {
		t.Errorf("no --pvc, --json: exit %d, stdout %q", r.code, r.stdout)
	}
}
