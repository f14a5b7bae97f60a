package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"medzoo/k8sjob"
	"medzoo/output"
	"medzoo/zoo"
)

// zoo k8s prints manifests and runs no model: bin/zoo answers it without
// LibTorch, taking the compute block the shards align to from the catalog.
func k8sCommand() *cli.Command {
	return &cli.Command{
		Name:  "k8s",
		Usage: "print a Kubernetes Indexed Job that runs zoo generate or zoo evaluate as M shards",
		UsageText: "zoo k8s generate ID -n N --completions M --image IMAGE --pvc CLAIM [--output-path /data/out] [--input PATH-IN-VOLUME]\n" +
			"      [--seed S] [--format " + strings.Join(output.FormatNames(), "|") + "] [--condition NAME=VALUE]... [COMMON] [--json]\n" +
			"   zoo k8s evaluate REAL FAKE --completions M --image IMAGE --pvc CLAIM [--output-path /data/eval] [-n N] [--seed S]\n" +
			"      [--condition NAME=VALUE]... [--metrics LIST] [--features NAME|FILE.pt] [--protocol P]\n" +
			"      [--normalize MODE] [--resize MODE] [COMMON] [--json]\n" +
			"   COMMON: [--parallelism P] [--gpus 0|1] [--cpus C] [--memory SIZE] [--name NAME] [--namespace NS] [--backoff-limit-per-index B]",
		Description: "Prints, on stdout, a batch/v1 Job with completionMode Indexed: pod k of M runs the image's zoo with\n" +
			"--shard $(JOB_COMPLETION_INDEX)/M (Kubernetes expands the index), so the M pods make the run's\n" +
			"contiguous, compute-block-aligned shards (zoo generate --shard). The image is the one Dockerfile.cuda\n" +
			"builds. Every pod mounts the PersistentVolumeClaim --pvc (ReadWriteMany: all shards write into it) at\n" +
			"the top directory of --output-path (/data for /data/out); --input and evaluate's folders are paths in\n" +
			"that volume. Pods run as uid/gid 65532 with a read-only root filesystem, no privilege escalation, no\n" +
			"capabilities and the runtime's seccomp profile; /cache (zoo's cache) and /tmp are emptyDirs.\n" +
			"With --gpus 1 each pod asks for nvidia.com/gpu: 1 and runs --device cuda; --cpus C asks for C cores\n" +
			"and runs --threads C. A failed pod is retried --backoff-limit-per-index times (default 3) and continues\n" +
			"its own shard (--resume); a usage error (exit 2) is not retried, an evicted pod not counted.\n\n" +
			"generate: the last shard to finish joins the shards' manifests into DIR/manifest.jsonl, the same\n" +
			"bytes as one process's run, so no further job is needed. evaluate: shard k writes\n" +
			"OUT/part-k.zev; once the Job is complete, zoo evaluate merge OUT/part-*.zev gives the metric card.\n" +
			"--json prints the Job as JSON instead of YAML.\n\n" +
			"Examples:\n" +
			"   zoo k8s generate 101 -n 100000 --completions 50 --gpus 1 --image reg.example.org/medzoo:cuda --pvc zoo-data | kubectl apply -f -\n" +
			"   zoo k8s evaluate /data/real 101 -n 20000 --completions 8 --image reg.example.org/medzoo:cuda --pvc zoo-data | kubectl apply -f -",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "n", Aliases: []string{"num-samples"}, Usage: "generate: number of samples (required); evaluate: images to generate when REAL or FAKE is a model id"},
			&cli.IntFlag{Name: "completions", Usage: "number of shards `M`, one pod each"},
			&cli.StringFlag{Name: "image", Usage: "the container `IMAGE` (built by Dockerfile.cuda; entrypoint zoo)"},
			&cli.IntFlag{Name: "parallelism", Usage: "pods at once (default min(M, 16))"},
			&cli.IntFlag{Name: "gpus", Usage: "GPUs per pod: 0 or 1 (1: nvidia.com/gpu and --device cuda)"},
			&cli.IntFlag{Name: "cpus", Value: 2, Usage: "CPU cores requested and allowed per pod, and zoo's --threads (0: no CPU request)"},
			&cli.StringFlag{Name: "memory", Value: "4Gi", Usage: "memory requested and allowed per pod, a Kubernetes quantity (`SIZE`: 8Gi, 512Mi; empty: none)"},
			&cli.StringFlag{Name: "pvc", Usage: "the PersistentVolumeClaim (ReadWriteMany) every pod mounts, `CLAIM`"},
			&cli.StringFlag{Name: "output-path", Usage: "generate: the run directory in the pods (default /data/out); evaluate: where the partial results go (default /data/eval)"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "generate, image-to-image models: input images, a path in the claim's volume (`PATH-IN-VOLUME`)"},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed (as zoo generate and zoo evaluate)"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "generate: output format: " + strings.Join(output.FormatNames(), ", ") + " (default png)"},
			&cli.StringSliceFlag{Name: "condition", Aliases: []string{"c"}, Usage: "fix a condition, `NAME=VALUE` (repeatable)"},
			&cli.StringFlag{Name: "metrics", Usage: "evaluate: comma-separated metrics (zoo evaluate --metrics; default fid,kid,prdc)"},
			&cli.StringFlag{Name: "features", Usage: "evaluate: the feature extractor (zoo evaluate --features), a built-in name or FILE.pt in the volume"},
			&cli.StringFlag{Name: "protocol", Usage: "evaluate: zoo evaluate --protocol (" + strings.Join(evaluateProtocols, ", ") + ")"},
			&cli.StringFlag{Name: "normalize", Usage: "evaluate: zoo evaluate --normalize (none, minmax, window:C,W)"},
			&cli.StringFlag{Name: "resize", Usage: "evaluate: zoo evaluate --resize (bilinear, nearest, none)"},
			&cli.StringFlag{Name: "name", Usage: "the Job's `NAME` (default zoo-MODEL-seed-S, or zoo-eval-...)"},
			&cli.StringFlag{Name: "namespace", Usage: "the Job's namespace `NS` (default: kubectl's)"},
			&cli.IntFlag{Name: "backoff-limit-per-index", Value: k8sjob.DefaultBackoffLimitPerIndex, Usage: "retries of one shard before it counts as failed"},
			&cli.BoolFlag{Name: "json", Usage: "print the Job as JSON instead of YAML"},
		},
		Action: func(c *cli.Context) error {
			sub := c.Args().First()
			for _, f := range []string{"input", "format"} {
				if c.IsSet(f) && sub != "generate" {
					return usagef("--%s is for zoo k8s generate", f)
				}
			}
			for _, f := range []string{"metrics", "features", "protocol", "normalize", "resize"} {
				if c.IsSet(f) && sub != "evaluate" {
					return usagef("--%s is for zoo k8s evaluate", f)
				}
			}
			return runVerb(c, k8sVerbs())
		},
	}
}

func k8sVerbs() []verb {
	return []verb{
		{names: []string{"generate", "gen"}, usage: "generate ID", run: k8sGenerate},
		{names: []string{"evaluate"}, usage: "evaluate REAL FAKE", run: k8sEvaluate},
	}
}

func k8sGenerate(c *cli.Context, args []string) error {
	if len(args) != 1 {
		return usagef("k8s generate takes one model id, got %d arguments; e.g. zoo k8s generate 101 -n 1000 --completions 4 --image IMAGE --pvc CLAIM", len(args))
	}
	if n := c.Int("n"); n < 1 {
		return usagef("k8s generate needs -n N, the number of samples (1 or more): every shard computes its range of it")
	}
	e, err := loadEnv(c)
	if err != nil {
		return err
	}
	m, err := runnableModel(e, args[0], "model")
	if err != nil {
		return err
	}
	outDir := c.String("output-path")
	if outDir == "" {
		outDir = "/data/out"
	}
	mount, err := k8sjob.MountFor(outDir)
	if err != nil {
		return usageError{err}
	}
	g := k8sjob.Generate{Model: m.ID, N: c.Int("n"), Output: outDir, Seed: c.Uint64("seed"), Format: c.String("format"), Conditions: c.StringSlice("condition")}
	if g.Format != "" && !slices.Contains(output.FormatNames(), g.Format) {
		return usagef("--format %q: give one of %s", g.Format, strings.Join(output.FormatNames(), ", "))
	}
	if err := checkConditions(m, g.Conditions); err != nil {
		return err
	}
	sig := m.Signature
	switch {
	case len(sig.Inputs) > 0:
		return usagef("model %s takes several image inputs (%d); zoo k8s passes only --input: run zoo generate --named-input in a Job of your own", m.ID, len(sig.ImageInputs()))
	case sig.Input != nil && !c.IsSet("input"):
		return usagef("model %s is image-to-image: give --input, its input images as a path in the claim's volume (e.g. %s/in)", m.ID, mount)
	case sig.Input == nil && c.IsSet("input"):
		return usagef("model %s takes no input images (it is %s): leave out --input", m.ID, m.Function)
	case sig.Input != nil:
		if g.Input, err = k8sjob.InVolume(mount, c.String("input"), "--input"); err != nil {
			return usageError{err}
		}
	}
	// Shards are whole compute blocks: more shards than blocks would leave
	// pods with nothing to do.
	block := sig.ComputeBlock()
	if blocks := (g.N + block - 1) / block; c.Int("completions") > blocks {
		return usagef("--completions %d is more than the run's %d compute blocks of %d samples (model %s), so some shards would be empty: give --completions %d or less, or a larger -n",
			c.Int("completions"), blocks, block, m.ID, blocks)
	}
	annotations := map[string]string{
		"medzoo/model":   m.ID,
		"medzoo/samples": strconv.Itoa(g.N),
		"medzoo/block":   strconv.Itoa(block),
	}
	return printK8sJob(c, m, "generate", k8sjob.Name("zoo", modelNumber(m), "seed", strconv.FormatUint(g.Seed, 10)), mount, annotations, g.Args())
}

func k8sEvaluate(c *cli.Context, args []string) error {
	if len(args) != 2 {
		return usagef("k8s evaluate takes REAL and FAKE (folders in the claim's volume or model ids), got %d arguments", len(args))
	}
	outDir := c.String("output-path")
	if outDir == "" {
		outDir = "/data/eval"
	}
	mount, err := k8sjob.MountFor(outDir)
	if err != nil {
		return usageError{err}
	}
	e, err := loadEnv(c)
	if err != nil {
		return err
	}
	if err := checkConditions(nil, c.StringSlice("condition")); err != nil {
		return err
	}
	ev := k8sjob.Evaluate{PartialDir: outDir}
	var fake *zoo.Model
	for i, role := range []string{"REAL", "FAKE"} {
		set, m, err := evaluateSet(e, mount, args[i], role)
		if err != nil {
			return err
		}
		if m != nil {
			if err := checkConditions(m, c.StringSlice("condition")); err != nil {
				return err
			}
			fake = m
		}
		if i == 0 {
			ev.Real = set
		} else {
			ev.Fake = set
		}
	}
	if c.IsSet("n") {
		if c.Int("n") < 1 {
			return usagef("-n %d: give the number of images to generate, 1 or more", c.Int("n"))
		}
		ev.Flags = append(ev.Flags, "-n", strconv.Itoa(c.Int("n")))
	}
	ev.Flags = append(ev.Flags, "--seed", strconv.FormatUint(c.Uint64("seed"), 10))
	for _, cond := range c.StringSlice("condition") {
		ev.Flags = append(ev.Flags, "--condition", cond)
	}
	// A pod would only fail at start on a protocol zoo has not: refused here.
	if p := c.String("protocol"); c.IsSet("protocol") && !slices.Contains(evaluateProtocols, p) {
		return usagef("--protocol %q: want one of %s", p, strings.Join(evaluateProtocols, ", "))
	}
	for _, f := range []string{"metrics", "features", "protocol", "normalize", "resize"} {
		if c.IsSet(f) {
			ev.Flags = append(ev.Flags, "--"+f, c.String(f))
		}
	}
	what := "folder"
	annotations := map[string]string{"medzoo/real": ev.Real, "medzoo/fake": ev.Fake,
		"medzoo/merge": "zoo evaluate merge " + ev.PartialFile("*")}
	if fake != nil {
		what = modelNumber(fake)
		annotations["medzoo/model"] = fake.ID
	}
	return printK8sJob(c, fake, "evaluate", k8sjob.Name("zoo-eval", what, "seed", strconv.FormatUint(c.Uint64("seed"), 10)), mount, annotations, ev.Args())
}

// evaluateSet is REAL or FAKE as the pods see it: a model id resolved in
// the catalog (its full id), else a folder in the claim's volume. A pod
// cannot look at this machine's files, so a word that is neither a model
// id nor written as a path ("real/", "/data/real") is refused here.
func evaluateSet(e *env, mount, arg, role string) (string, *zoo.Model, error) {
	if strings.Contains(arg, "/") {
		p, err := k8sjob.InVolume(mount, arg, role)
		return p, nil, usageErrOrNil(err)
	}
	if _, rerr := e.catalog.Resolve(arg); rerr != nil {
		return "", nil, usagef("%s %q is neither a model id (%v) nor a folder: write a folder in the claim's volume as %s/%s or %s/", role, arg, rerr, mount, arg, arg)
	}
	m, err := runnableModel(e, arg, role)
	if err != nil {
		return "", nil, err
	}
	if m.Signature.Input != nil {
		return "", nil, usagef("%s %s is an image-to-image model: generate its images with zoo k8s generate --input, then evaluate the folder", role, m.ID)
	}
	return m.ID, m, nil
}

func usageErrOrNil(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// runnableModel resolves id and refuses, before any pod starts, a model
// zoo cannot run.
func runnableModel(e *env, id, role string) (*zoo.Model, error) {
	m, err := e.catalog.Resolve(id)
	if err != nil {
		return nil, usageError{err}
	}
	switch {
	case m.Artifact.Format != zoo.FormatTorchScript:
		return nil, usagef("%s %s cannot run in zoo: its artifact is %q, not TorchScript (zoo info %s says more; zoo import converts medigan packages)", role, m.ID, m.Artifact.Format, m.ID)
	case m.Signature == nil || len(m.Signature.Outputs) == 0:
		return nil, usagef("%s %s cannot run in zoo: its catalog entry declares no signature outputs; add [[model.signature.outputs]]", role, m.ID)
	}
	return m, nil
}

// checkConditions checks NAME=VALUE pairs against m's conditions (only
// the syntax when m is nil), so that a typo is a usage error here rather
// than M pods failing.
func checkConditions(m *zoo.Model, raw []string) error {
	conds, err := parseConditions(raw)
	if err != nil || m == nil {
		return err
	}
	for name, value := range conds {
		i := slices.IndexFunc(m.Signature.Conditions, func(c zoo.Condition) bool { return c.Name == name })
		if i < 0 {
			names := make([]string, len(m.Signature.Conditions))
			for j, c := range m.Signature.Conditions {
				names[j] = c.Name
			}
			if len(names) == 0 {
				return usagef("--condition %s: model %s takes no conditions", name, m.ID)
			}
			return usagef("--condition %s: model %s has no condition %q; its conditions: %s", name, m.ID, name, strings.Join(names, ", "))
		}
		c := m.Signature.Conditions[i]
		if c.IsFloat() {
			if _, err := strconv.ParseFloat(value, 64); err != nil {
				return usagef("--condition %s=%s: %s is a number", name, value, name)
			}
		} else if !slices.Contains(c.Values, value) {
			return usagef("--condition %s=%s: give one of %s", name, value, strings.Join(c.Values, ", "))
		}
	}
	return nil
}

// modelNumber is the leading number of a model id (00101 of
// 00101_DCGAN_MRI_COLIN27_DEMO), for short Job names.
func modelNumber(m *zoo.Model) string {
	number, _, _ := strings.Cut(m.ID, "_")
	return number
}

// printK8sJob builds the Job of the command line args (component
// "generate" or "evaluate"; m the model, if any) and prints it.
func printK8sJob(c *cli.Context, m *zoo.Model, component, defaultName, mount string, annotations map[string]string, args []string) error {
	name := c.String("name")
	if name == "" {
		name = defaultName
	}
	labels := map[string]string{"app.kubernetes.io/component": component, "medzoo/seed": strconv.FormatUint(c.Uint64("seed"), 10)}
	if m != nil && k8sjob.LabelValue(m.ID) {
		labels["medzoo/model"] = m.ID
	}
	job, err := k8sjob.Build(k8sjob.Spec{
		Name: name, Namespace: c.String("namespace"), Image: c.String("image"),
		Completions: c.Int("completions"), Parallelism: c.Int("parallelism"),
		BackoffLimitPerIndex: c.Int("backoff-limit-per-index"),
		GPUs:                 c.Int("gpus"), CPUs: c.Int("cpus"), Memory: c.String("memory"),
		Claim: c.String("pvc"), Mount: mount,
		Labels: labels, Annotations: annotations, Args: args,
	})
	if err != nil {
		return usageError{err}
	}
	b, err := k8sjob.Encode(job, c.Bool("json"))
	if err != nil {
		return fmt.Errorf("encoding the Job: %w", err)
	}
	_, err = c.App.Writer.Write(b)
	return err
}
