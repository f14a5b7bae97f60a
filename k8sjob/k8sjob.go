// Package k8sjob builds the Kubernetes Indexed Job that runs one zoo
// command as M shards: pod k of the Job runs `zoo ... --shard k/M`, and
// because sample i depends only on (model, seed, i, inputs) the M pods
// together make exactly what one process would. The Job is plain
// k8s.io/api batch/v1 types, printed as YAML or JSON for `kubectl apply -f -`;
// nothing here talks to a cluster.
package k8sjob

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"medzoo/internal/envconfig"
)

// Where the image Dockerfile.cuda builds keeps things: its entrypoint is
// zoo, its ZOO_CACHE /cache.
const (
	ContainerName = "zoo"
	CacheDir      = "/cache"
	// TmpDir is an emptyDir because the root filesystem is read-only and
	// LibTorch and zoo write scratch files there.
	TmpDir = "/tmp"
	// NonRootID is the user and group the pods run as: the "nonroot" id of
	// distroless images, which owns nothing in the image.
	NonRootID = 65532
)

// Defaults and bounds of the Job's knobs.
const (
	DefaultParallelism          = 16
	DefaultBackoffLimitPerIndex = 3
	// MaxBackoffLimitPerIndex keeps a broken index from retrying for days.
	MaxBackoffLimitPerIndex = 100
	// MaxCompletions is Kubernetes' own bound on an Indexed Job with a
	// per-index backoff limit (and below shard.MaxShards).
	MaxCompletions = 100_000
	// MaxCPUs bounds --cpus: no node has more cores than this.
	MaxCPUs = 1024
)

// ShardIndex is Kubernetes' $(VAR) reference to a pod's completion index:
// the kubelet expands it in args from the variable the Job controller sets
// in every container of an Indexed Job.
const ShardIndex = "$(" + envconfig.EnvJobIndex + ")"

// ShardArg is the --shard value of the Job's pods: $(JOB_COMPLETION_INDEX)/M.
func ShardArg(m int) string { return ShardIndex + "/" + strconv.Itoa(m) }

// Volume names in the pod spec.
const (
	volumeData  = "data"
	volumeCache = "cache"
	volumeTmp   = "tmp"
)

// Spec is what the Job runs and on what.
type Spec struct {
	Name      string // the Job's name, an RFC 1123 label
	Namespace string // "" leaves it to kubectl's context
	Image     string // an image built by Dockerfile.cuda
	// Completions is M, the number of shards.
	Completions int
	// Parallelism is how many pods run at once; 0 means
	// min(Completions, DefaultParallelism).
	Parallelism int
	// BackoffLimitPerIndex is how often one index is retried.
	BackoffLimitPerIndex int
	GPUs                 int    // nvidia.com/gpu per pod: 0 or 1
	CPUs                 int    // cores requested and allowed per pod, and zoo's --threads; 0: no CPU request
	Memory               string // memory requested and allowed per pod, a Kubernetes quantity ("8Gi"); "": none
	// Claim is the PersistentVolumeClaim every pod mounts at Mount; all
	// shards write into it, so it must be ReadWriteMany.
	Claim string
	Mount string // an absolute directory (see MountFor)
	// Labels go on the Job and its pods, besides app.kubernetes.io/*.
	Labels map[string]string
	// Annotations go on the Job.
	Annotations map[string]string
	// Args is the zoo command line without the shard, device and threads,
	// which Build appends from Completions, GPUs and CPUs.
	Args []string
}

// reservedDirs are the image's own top-level directories: a claim mounted
// on one of them would hide zoo (/opt/medzoo) or the system beneath it.
var reservedDirs = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/lib": true, "/lib64": true,
	"/opt": true, "/proc": true, "/root": true, "/run": true, "/sbin": true, "/sys": true, "/usr": true,
	"/var": true, CacheDir: true, TmpDir: true,
}

// MountFor is where the claim is mounted for an output directory p: its
// top-level directory (/data for /data/out), so that the output is a
// directory inside the volume and other paths of the run (inputs) can lie
// in the same volume. p must be absolute, at least two levels deep, and
// not under one of the image's own directories.
func MountFor(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("--output-path %q is not absolute: give the directory in the pods, e.g. /data/out (the claim is mounted at /data)", p)
	}
	clean := path.Clean(p)
	if clean != p && clean+"/" != p {
		return "", fmt.Errorf("--output-path %q is not a clean path: give %s", p, clean)
	}
	parts := strings.Split(strings.TrimPrefix(clean, "/"), "/")
	mount := "/" + parts[0]
	if reservedDirs[mount] {
		return "", fmt.Errorf("--output-path %s lies under %s, which the image itself uses: give a path under another directory, e.g. /data/out", p, mount)
	}
	if len(parts) < 2 {
		return "", fmt.Errorf("--output-path %s is a volume's root (the claim is mounted there): give a directory inside it, e.g. %s/out", p, mount)
	}
	return mount, nil
}

// InVolume turns a path in the volume mounted at mount into the path the
// pods see: a relative path is taken inside the volume, an absolute one
// must lie in it. what names the flag or argument, for the message.
func InVolume(mount, p, what string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%s is empty: give a path in the volume, e.g. %s/in", what, mount)
	}
	full := path.Clean(p)
	if !path.IsAbs(p) {
		full = path.Join(mount, p)
	}
	if !strings.HasPrefix(full, mount+"/") {
		return "", fmt.Errorf("%s %s is not in the claim's volume, mounted at %s: give a path in it, e.g. %s/in", what, p, mount, mount)
	}
	return full, nil
}

// CheckName checks a Kubernetes object name (what: "--name") against RFC
// 1123's label rules, which Jobs need: their name is also a label of
// their pods.
func CheckName(what, name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("%s %q is not a valid Kubernetes name: %s", what, name, strings.Join(errs, "; "))
	}
	return nil
}

// labelValue is Kubernetes' syntax of a label's value.
var labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)

// LabelValue reports whether v can be a label's value (at most 63 of
// [A-Za-z0-9-_.], alphanumeric at both ends). Values that cannot are kept
// as annotations instead.
func LabelValue(v string) bool { return len(v) <= 63 && labelValue.MatchString(v) }

// Name is a default Job name from its parts (zoo, the model's number,
// seed-S): lower-cased, every other character a dash, at most 63 long.
func Name(parts ...string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.Join(parts, "-")) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}

// Build checks s and returns its Job.
func Build(s Spec) (*batchv1.Job, error) {
	if err := CheckName("--name", s.Name); err != nil {
		return nil, err
	}
	if s.Namespace != "" {
		if err := CheckName("--namespace", s.Namespace); err != nil {
			return nil, err
		}
	}
	switch {
	case strings.TrimSpace(s.Image) == "" || strings.ContainsAny(s.Image, " \t\n"):
		return nil, fmt.Errorf("--image %q: give the image Dockerfile.cuda builds, e.g. registry.example.org/medzoo:cuda", s.Image)
	case s.Completions < 1 || s.Completions > MaxCompletions:
		return nil, fmt.Errorf("--completions %d is out of range: give the number of shards, 1 to %d", s.Completions, MaxCompletions)
	case s.Parallelism < 0 || s.Parallelism > s.Completions:
		return nil, fmt.Errorf("--parallelism %d is out of range: give 1 to --completions (%d) pods at once, or 0 for min(%d, %d)", s.Parallelism, s.Completions, s.Completions, DefaultParallelism)
	case s.BackoffLimitPerIndex < 0 || s.BackoffLimitPerIndex > MaxBackoffLimitPerIndex:
		return nil, fmt.Errorf("--backoff-limit-per-index %d is out of range: give 0 to %d retries of one shard", s.BackoffLimitPerIndex, MaxBackoffLimitPerIndex)
	case s.GPUs < 0 || s.GPUs > 1:
		return nil, fmt.Errorf("--gpus %d: give 0 or 1; a zoo process uses one GPU, so for more GPUs raise --completions and --parallelism", s.GPUs)
	case s.CPUs < 0 || s.CPUs > MaxCPUs:
		return nil, fmt.Errorf("--cpus %d is out of range: give 1 to %d cores per pod, or 0 for no CPU request", s.CPUs, MaxCPUs)
	case s.Claim == "":
		return nil, fmt.Errorf("--pvc is missing: give the PersistentVolumeClaim (ReadWriteMany) that all shards write into")
	}
	if errs := validation.IsDNS1123Subdomain(s.Claim); len(errs) > 0 {
		return nil, fmt.Errorf("--pvc %q is not a valid claim name: %s", s.Claim, strings.Join(errs, "; "))
	}
	if !path.IsAbs(s.Mount) || reservedDirs[path.Clean(s.Mount)] {
		return nil, fmt.Errorf("mount path %q: give an absolute directory that is none of the image's own", s.Mount)
	}
	resources, err := s.resources()
	if err != nil {
		return nil, err
	}
	parallelism := s.Parallelism
	if parallelism == 0 {
		parallelism = min(s.Completions, DefaultParallelism)
	}
	labels := map[string]string{"app.kubernetes.io/name": "medzoo", "app.kubernetes.io/managed-by": "zoo"}
	for k, v := range s.Labels {
		labels[k] = v
	}
	args := append(append([]string(nil), s.Args...), "--shard", ShardArg(s.Completions))
	if s.GPUs > 0 {
		args = append(args, "--device", "cuda")
	}
	if s.CPUs > 0 {
		args = append(args, "--threads", strconv.Itoa(s.CPUs))
	}
	indexed := batchv1.IndexedCompletion
	nonRoot := int64(NonRootID)
	// A failed index does not stop the others: what they made stays in the
	// volume, and the same Job applied again (zoo's --resume) redoes only
	// what is missing.
	maxFailed := int32(s.Completions)
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: s.Namespace, Labels: labels, Annotations: s.Annotations,
		},
		Spec: batchv1.JobSpec{
			CompletionMode:       &indexed,
			Completions:          ptr(int32(s.Completions)),
			Parallelism:          ptr(int32(parallelism)),
			BackoffLimitPerIndex: ptr(int32(s.BackoffLimitPerIndex)),
			MaxFailedIndexes:     &maxFailed,
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				// Exit 2 is a usage error: the same command fails the same
				// way, so retrying it only burns GPU time.
				{Action: batchv1.PodFailurePolicyActionFailIndex, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr(ContainerName), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{2}}},
				// A pod evicted or preempted (spot GPUs) did nothing wrong:
				// its retry does not count, and --resume keeps its work.
				{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
					{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr(true), RunAsUser: &nonRoot, RunAsGroup: &nonRoot, FSGroup: &nonRoot,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  ContainerName,
						Image: s.Image,
						// No command: the image's entrypoint is zoo.
						Args: args,
						Env: []corev1.EnvVar{
							// With JOB_COMPLETION_INDEX, which the Job controller
							// sets, zoo's default shard even without --shard.
							{Name: envconfig.EnvShardCount, Value: strconv.Itoa(s.Completions)},
							{Name: envconfig.EnvCache, Value: CacheDir},
							// The uid has no passwd entry: HOME points at the
							// writable scratch for anything that looks there.
							{Name: "HOME", Value: TmpDir},
						},
						Resources: resources,
						VolumeMounts: []corev1.VolumeMount{
							{Name: volumeData, MountPath: path.Clean(s.Mount)},
							{Name: volumeCache, MountPath: CacheDir},
							{Name: volumeTmp, MountPath: TmpDir},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr(false),
							ReadOnlyRootFilesystem:   ptr(true),
							RunAsNonRoot:             ptr(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: volumeData, VolumeSource: corev1.VolumeSource{
							PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: s.Claim}}},
						// Each pod fetches and verifies the model into its own
						// cache: the artifact is small next to the run.
						{Name: volumeCache, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: volumeTmp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
	return job, nil
}

// resources are the container's requests and limits: equal, so that a
// pod's thread count matches the cores it is given (Guaranteed QoS when
// both CPU and memory are set).
func (s Spec) resources() (corev1.ResourceRequirements, error) {
	list := corev1.ResourceList{}
	if s.CPUs > 0 {
		list[corev1.ResourceCPU] = *resource.NewQuantity(int64(s.CPUs), resource.DecimalSI)
	}
	if s.Memory != "" {
		q, err := resource.ParseQuantity(s.Memory)
		if err != nil || q.Sign() <= 0 {
			return corev1.ResourceRequirements{}, fmt.Errorf("--memory %q is not a memory size: give a Kubernetes quantity such as 8Gi or 512Mi", s.Memory)
		}
		list[corev1.ResourceMemory] = q
	}
	limits := list.DeepCopy()
	if s.GPUs > 0 {
		// Extended resources are limits only (a request, if any, must equal it).
		limits["nvidia.com/gpu"] = *resource.NewQuantity(int64(s.GPUs), resource.DecimalSI)
	}
	var r corev1.ResourceRequirements
	if len(list) > 0 {
		r.Requests = list
	}
	if len(limits) > 0 {
		r.Limits = limits
	}
	return r, nil
}

// Encode prints job as YAML, or as indented JSON.
func Encode(job *batchv1.Job, asJSON bool) ([]byte, error) {
	if asJSON {
		b, err := json.MarshalIndent(job, "", "  ")
		return append(b, '\n'), err
	}
	return yaml.Marshal(job)
}

// Generate is a `zoo generate` run to shard.
type Generate struct {
	Model      string // the model's full id
	N          int
	Output     string // the run directory in the pods
	Seed       uint64
	Format     string   // "" for zoo's default
	Conditions []string // NAME=VALUE
	Input      string   // image-to-image models: the inputs in the pods
}

// Args is the zoo command line of every shard, without --shard: --resume,
// so that a pod retried after a failure continues its range rather than
// starting over, and the shards share one run directory.
func (g Generate) Args() []string {
	args := []string{"generate", g.Model, "-n", strconv.Itoa(g.N), "-o", g.Output, "--seed", strconv.FormatUint(g.Seed, 10), "--resume"}
	if g.Format != "" {
		args = append(args, "--format", g.Format)
	}
	for _, c := range g.Conditions {
		args = append(args, "--condition", c)
	}
	if g.Input != "" {
		args = append(args, "--input", g.Input)
	}
	return args
}

// Evaluate is a `zoo evaluate` run to shard.
type Evaluate struct {
	Real, Fake string // folders in the pods, or model ids
	// PartialDir is where shard k writes part-k.zev, for zoo evaluate merge.
	PartialDir string
	// Flags are evaluate's own flags, passed as they are (--metrics fid).
	Flags []string
}

// PartialFile is the partial result shard index (a number, or ShardIndex)
// writes.
func (e Evaluate) PartialFile(index string) string {
	return path.Join(e.PartialDir, "part-"+index+".zev")
}

// Args is the zoo command line of every shard, without --shard.
func (e Evaluate) Args() []string {
	args := []string{"evaluate", e.Real, e.Fake}
	args = append(args, e.Flags...)
	return append(args, "--partial", e.PartialFile(ShardIndex))
}

func ptr[T any](v T) *T { return &v }
