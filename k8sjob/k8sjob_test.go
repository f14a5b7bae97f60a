package k8sjob

import (
	"bytes"
	"encoding/json"
	"path"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"medzoo/internal/shard"
	"medzoo/zoo"
)

// decodeStrict reads a printed manifest as the API server's strict field
// validation does: every field must be one of batch/v1 Job's.
func decodeStrict(t *testing.T, manifest []byte, isJSON bool) *batchv1.Job {
	t.Helper()
	js := manifest
	if !isJSON {
		var err error
		if js, err = yaml.YAMLToJSON(manifest); err != nil {
			t.Fatalf("YAMLToJSON: %v\n%s", err, manifest)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var job batchv1.Job
	if err := dec.Decode(&job); err != nil {
		t.Fatalf("strict decoding into batch/v1 Job: %v\n%s", err, manifest)
	}
	return &job
}

// flagValue is the value after flag in args ("" when absent).
func flagValue(args []string, flag string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}

func hasArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

// checkJob is the project's own reading of the Job: what each pod runs, as
// zoo will run it.
func checkJob(t *testing.T, job *batchv1.Job, n, block, m int, claim string, gpus int) {
	t.Helper()
	spec := job.Spec
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		t.Errorf("apiVersion %q kind %q", job.APIVersion, job.Kind)
	}
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed", spec.CompletionMode)
	}
	if spec.Completions == nil || int(*spec.Completions) != m {
		t.Errorf("completions %v, want %d", spec.Completions, m)
	}
	if spec.Parallelism == nil || int(*spec.Parallelism) != min(m, DefaultParallelism) {
		t.Errorf("parallelism %v, want %d", spec.Parallelism, min(m, DefaultParallelism))
	}
	if spec.BackoffLimitPerIndex == nil || *spec.BackoffLimitPerIndex != DefaultBackoffLimitPerIndex || spec.MaxFailedIndexes == nil {
		t.Errorf("backoffLimitPerIndex %v maxFailedIndexes %v", spec.BackoffLimitPerIndex, spec.MaxFailedIndexes)
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	if len(ctr.Command) != 0 {
		t.Errorf("command %v replaces the image's entrypoint zoo", ctr.Command)
	}
	args := ctr.Args

	// The M pods' shards, as `zoo generate --shard` reads them, cover
	// 0..n-1 exactly once.
	if got := flagValue(args, "-n"); got != strconv.Itoa(n) {
		t.Errorf("-n %q, want %d", got, n)
	}
	made := make([]int, n)
	for k := 0; k < m; k++ {
		value := strings.ReplaceAll(flagValue(args, "--shard"), "$(JOB_COMPLETION_INDEX)", strconv.Itoa(k))
		s, err := shard.Parse(value)
		if err != nil || s != (shard.Shard{K: k, M: m}) {
			t.Fatalf("pod %d: --shard %q is %v, %v", k, value, s, err)
		}
		start, end := s.Range(n, block)
		for i := start; i < end; i++ {
			made[i]++
		}
	}
	for i, c := range made {
		if c != 1 {
			t.Fatalf("sample %d is made by %d pods", i, c)
		}
	}
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	if env["ZOO_SHARD_COUNT"] != strconv.Itoa(m) {
		t.Errorf("ZOO_SHARD_COUNT %q, want %d", env["ZOO_SHARD_COUNT"], m)
	}

	// The paths the args write and read lie in the claim's volume.
	claims := map[string]string{}
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	inClaim := func(p string) string {
		for _, vm := range ctr.VolumeMounts {
			if c, ok := claims[vm.Name]; ok && strings.HasPrefix(p, strings.TrimSuffix(vm.MountPath, "/")+"/") {
				return c
			}
		}
		return ""
	}
	for _, flag := range []string{"-o", "--input"} {
		if p := flagValue(args, flag); p != "" && inClaim(p) != claim {
			t.Errorf("%s %s is in no mount of claim %q (mounts %v, claims %v)", flag, p, claim, ctr.VolumeMounts, claims)
		}
	}
	if !hasArg(args, "--resume") {
		t.Errorf("args %v lack --resume: a retried pod would redo its shard", args)
	}

	// GPUs: the limit and the device zoo uses go together.
	q, ok := ctr.Resources.Limits["nvidia.com/gpu"]
	if gpus > 0 && (!ok || q.Value() != int64(gpus)) || gpus == 0 && ok {
		t.Errorf("nvidia.com/gpu limit %v (set %v), want %d", q.String(), ok, gpus)
	}
	if hasArg(args, "cuda") != (gpus > 0) {
		t.Errorf("args %v: --device cuda with %d GPUs", args, gpus)
	}

	// Not root, nothing to escalate to, nothing to write outside volumes.
	psc, csc := pod.SecurityContext, ctr.SecurityContext
	if psc == nil || csc == nil {
		t.Fatalf("security contexts %v %v", psc, csc)
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.RunAsGroup == nil || *psc.RunAsGroup == 0 || psc.FSGroup == nil ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context %+v", csc)
	}
}

func model(t *testing.T, id string) *zoo.Model {
	t.Helper()
	cat, err := zoo.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := cat.Resolve(id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A noise model and an image-to-image one, with and without a GPU, over
// sizes that do and do not fill the last block.
func TestJobDecodesStrictlyAndCoversTheRun(t *testing.T) {
	for _, tc := range []struct {
		id, input string
		n, m      int
	}{
		{"101", "", 1000, 7},
		{"101", "", 17, 2},
		{"104", "/data/in", 300, 4},
		{"104", "masks", 33, 3},
	} {
		m := model(t, tc.id)
		if (m.Signature.Input != nil) != (tc.input != "") {
			t.Fatalf("%s: the catalog changed: image input %v", m.ID, m.Signature.Input)
		}
		block := m.Signature.ComputeBlock()
		for _, gpus := range []int{0, 1} {
			out := "/data/run-" + tc.id
			mount, err := MountFor(out)
			if err != nil {
				t.Fatal(err)
			}
			g := Generate{Model: m.ID, N: tc.n, Output: out, Seed: 7, Format: "png"}
			if tc.input != "" {
				if g.Input, err = InVolume(mount, tc.input, "--input"); err != nil {
					t.Fatal(err)
				}
			}
			job, err := Build(Spec{Name: Name("zoo", tc.id, "seed", "7"), Image: "reg.example.org/medzoo:cuda",
				Completions: tc.m, BackoffLimitPerIndex: DefaultBackoffLimitPerIndex, GPUs: gpus, CPUs: 4, Memory: "8Gi",
				Claim: "zoo-data", Mount: mount, Args: g.Args()})
			if err != nil {
				t.Fatal(err)
			}
			for _, asJSON := range []bool{false, true} {
				b, err := Encode(job, asJSON)
				if err != nil {
					t.Fatal(err)
				}
				got := decodeStrict(t, b, asJSON)
				checkJob(t, got, tc.n, block, tc.m, "zoo-data", gpus)
				args := got.Spec.Template.Spec.Containers[0].Args
				if flagValue(args, "--threads") != "4" || got.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().Value() != 4 {
					t.Errorf("threads %q and CPU request %v, want 4 and 4", flagValue(args, "--threads"), got.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu())
				}
				if tc.input == "masks" && flagValue(args, "--input") != "/data/masks" {
					t.Errorf("--input %q: a relative path is in the volume", flagValue(args, "--input"))
				}
			}
		}
	}
}

func TestEvaluateArgs(t *testing.T) {
	ev := Evaluate{Real: "/data/real", Fake: "00101_DCGAN_MRI_COLIN27_DEMO", PartialDir: "/data/eval", Flags: []string{"--metrics", "fid"}}
	job, err := Build(Spec{Name: "zoo-eval", Image: "medzoo:cuda", Completions: 3, Claim: "zoo-data", Mount: "/data", Args: ev.Args()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Encode(job, false)
	args := decodeStrict(t, b, false).Spec.Template.Spec.Containers[0].Args
	want := []string{"evaluate", "/data/real", "00101_DCGAN_MRI_COLIN27_DEMO", "--metrics", "fid",
		"--partial", "/data/eval/part-$(JOB_COMPLETION_INDEX).zev", "--shard", "$(JOB_COMPLETION_INDEX)/3"}
	if strings.Join(args, " ") != strings.Join(want, " ") {
		t.Errorf("args\n%v\nwant\n%v", args, want)
	}
	if got := path.Dir(flagValue(args, "--partial")); !strings.HasPrefix(got, "/data/") {
		t.Errorf("partial results in %s, outside the volume", got)
	}
}

func TestBuildRefuses(t *testing.T) {
	good := Spec{Name: "zoo-1", Image: "medzoo:cuda", Completions: 4, Claim: "zoo-data", Mount: "/data", Args: []string{"generate"}}
	if _, err := Build(good); err != nil {
		t.Fatal(err)
	}
	for frag, edit := range map[string]func(*Spec){
		"not a valid Kubernetes name": func(s *Spec) { s.Name = "Zoo_1" },
		"--namespace":                 func(s *Spec) { s.Namespace = "a.b" },
		"--image":                     func(s *Spec) { s.Image = " " },
		"--completions 0":             func(s *Spec) { s.Completions = 0 },
		"--parallelism 5":             func(s *Spec) { s.Parallelism = 5 },
		"--backoff-limit-per-index":   func(s *Spec) { s.BackoffLimitPerIndex = -1 },
		"--gpus 2":                    func(s *Spec) { s.GPUs = 2 },
		"--cpus -1":                   func(s *Spec) { s.CPUs = -1 },
		"--memory":                    func(s *Spec) { s.Memory = "lots" },
		"--pvc is missing":            func(s *Spec) { s.Claim = "" },
		"not a valid claim name":      func(s *Spec) { s.Claim = "Zoo Data" },
		"mount path":                  func(s *Spec) { s.Mount = "/opt" },
	} {
		s := good
		edit(&s)
		if _, err := Build(s); err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("%s: %v", frag, err)
		}
	}
}

func TestMountForAndInVolume(t *testing.T) {
	for p, want := range map[string]string{"/data/out": "/data", "/mnt/zoo/run1": "/mnt", "/data/out/": "/data"} {
		if got, err := MountFor(p); err != nil || got != want {
			t.Errorf("MountFor(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	for p, frag := range map[string]string{"data/out": "not absolute", "/data": "volume's root", "/opt/out": "image itself",
		"/cache/x": "image itself", "/data/../etc/x": "not a clean path", "/tmp/x": "image itself"} {
		if _, err := MountFor(p); err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("MountFor(%q): %v, want %q", p, err, frag)
		}
	}
	for p, want := range map[string]string{"in": "/data/in", "/data/a/b": "/data/a/b", "a/../b": "/data/b"} {
		if got, err := InVolume("/data", p, "--input"); err != nil || got != want {
			t.Errorf("InVolume(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{"/etc/passwd", "../x", "/data", "/database/x", ""} {
		if got, err := InVolume("/data", p, "--input"); err == nil {
			t.Errorf("InVolume(%q) = %q, want an error", p, got)
		}
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"zoo 00101 seed 0": "zoo-00101-seed-0",
		"zoo-eval Folder":  "zoo-eval-folder",
		strings.Repeat("a", 70) + " seed 18446744073709551615": strings.Repeat("a", 63),
		"zoo __x__": "zoo-x",
	} {
		got := Name(strings.Fields(in)...)
		if got != want || CheckName("name", got) != nil {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
	for v, ok := range map[string]bool{"00101_DCGAN_MRI_COLIN27_DEMO": true, "": true, "_x": false, strings.Repeat("a", 64): false, "a/b": false} {
		if LabelValue(v) != ok {
			t.Errorf("LabelValue(%q) = %v", v, !ok)
		}
	}
}
