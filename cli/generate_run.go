//go:build !notorch

package cli

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/imagein"
	"medzoo/internal/files"
	"medzoo/internal/pipeline"
	"medzoo/internal/progress"
	"medzoo/internal/shard"
	"medzoo/internal/version"
	"medzoo/loader"
	"medzoo/output"
	"medzoo/torch"
	"medzoo/zoo"
)

// runGenerate implements generateFunc.
func runGenerate(c *cli.Context, n int, pick func(*env) (*zoo.Model, error)) error {
	dir := c.String("output")
	switch {
	case n <= 0:
		return usagef("-n must be at least 1, got %d", n)
	case dir == "":
		return usagef("generate needs an output directory: -o DIR")
	case c.Bool("resume") && c.Bool("force"):
		return usagef("--resume and --force contradict each other: choose one")
	case c.Int("batch-size") < 0:
		return usagef("--batch-size must be positive")
	}
	enc, err := output.Lookup(c.String("format"))
	if err != nil {
		return usageError{err}
	}
	format := strings.ToLower(c.String("format"))
	for _, flag := range []string{"stack", "gzip"} {
		if c.Bool(flag) && format != "nifti" {
			return usagef("--%s works with --format nifti only (the format is %s); add --format nifti, or drop --%s", flag, format, flag)
		}
	}
	if c.Bool("gzip") {
		enc = output.NIfTIGzip()
	}
	sh, err := shardFromFlagOrEnv(c)
	if err != nil {
		return err
	}
	if !sh.None() && c.Bool("stack") {
		return usagef("--stack writes one volume per output, which shards cannot fill at the same time: drop --stack, or --shard (and unset the cluster's array variables)")
	}
	conds, err := parseConditions(c.StringSlice("condition"))
	if err != nil {
		return err
	}
	started := time.Now()
	m, gen, err := openModel(c, pick)
	if err != nil {
		return err
	}
	defer gen.Close()
	if err := gen.ValidateConditions(conds); err != nil {
		return usageError{err}
	}
	if c.Bool("stack") {
		if err := stackable(m, conds); err != nil {
			return err
		}
	}
	inputDir := c.String("input")
	var inputs []string
	var digest string
	switch {
	case gen.TakesInput() && inputDir == "":
		in := gen.ImageInputs()[0]
		return usagef("model %s is image-to-image: give it input images with --input DIR (PNG, NPY or DICOM files of %dx%d with %d channel(s), one sample each)",
			m.ID, in.Width, in.Height, in.Channels)
	case !gen.TakesInput() && inputDir != "":
		return usagef("model %s makes images from noise and takes no --input; image-to-image models do (zoo search image-to-image)", m.ID)
	case inputDir != "":
		if inputs, err = imagein.List(inputDir); err != nil {
			return usageError{err}
		}
		// The digest covers every input, not just the first n, so a resume
		// may ask for more samples but not see other files.
		digest = inputsDigest(inputs)
		if !c.IsSet("n") {
			n = len(inputs)
		} else if n > len(inputs) {
			return usagef("-n %d asks for more samples than --input %s holds images (%d): image-to-image models make one sample per input", n, inputDir, len(inputs))
		}
		inputs = inputs[:n]
		if err := uniqueStems(inputs); err != nil {
			return usageError{err}
		}
		if err := gen.CheckInputs(inputs); err != nil {
			return usageError{err}
		}
	}

	opt := loader.Options{Seed: c.Uint64("seed"), Conditions: conds, Inputs: inputs}
	if err := namedInputs(c, gen, &opt, len(inputs)); err != nil {
		return err
	}
	if p := c.String("latents"); p != "" {
		if opt.Latent, err = latentsFrom(p, gen, n); err != nil {
			return usageError{err}
		}
	}

	var outNames []string
	for _, o := range m.Signature.Outputs {
		outNames = append(outNames, o.Name)
	}
	mode := output.Fresh
	if c.Bool("resume") {
		mode = output.Resume
	} else if c.Bool("force") {
		mode = output.Force
	}
	info := output.RunInfo{
		Model: m.ID, Version: m.Version, SHA256: m.Artifact.SHA256, Seed: c.Uint64("seed"), N: n,
		Format: format, Outputs: outNames, Conditions: conds, Generator: version.Generator(),
		Input: inputDir, InputsDigest: digest, Stack: c.Bool("stack"), Gzip: c.Bool("gzip"),
	}
	var run *output.Run
	if sh.None() {
		run, err = output.Open(dir, info, mode)
	} else {
		// Shards split the compute blocks, so no block is computed twice.
		run, err = output.OpenShard(c.Context, dir, info, output.NewShardPart(sh, n, gen.Block()), mode)
		if errors.Is(err, output.ErrMerged) {
			return generateMerged(c, m, dir, sh, n)
		}
	}
	if err != nil {
		return err
	}
	if run.Part != nil && run.Start == run.End {
		fmt.Fprintf(c.App.ErrWriter, "note: shard %s has no samples: %d samples are %d compute blocks of %d, fewer than %d shards; it writes its empty part\n",
			sh, n, (n+gen.Block()-1)/gen.Block(), gen.Block(), sh.M)
	}
	defer run.Close()
	var stack *output.Stack
	if c.Bool("stack") {
		var outs []output.StackOutput
		for _, o := range m.Signature.Outputs {
			outs = append(outs, output.StackOutput{Name: o.Name, Channels: o.Channels, Height: o.Height, Width: o.Width})
		}
		if stack, err = output.OpenStack(run, outs, c.Bool("gzip")); err != nil {
			run.Abandon()
			return err
		}
		defer stack.Close()
	}

	size := run.End - run.Start // the run, or this shard's part of it
	bar := progress.New(c.App.ErrWriter, "generate "+m.ID, "images", int64(size), int64(run.Done), c.Bool("quiet"))
	origin := pipeline.Origin{Model: m, Seed: c.Uint64("seed"), Conditions: conds, InputsDigest: digest}
	w := &pipeline.Writer{Run: run, Enc: enc, Origin: origin, Stack: stack, Written: func() { bar.Add(1) }}
	if p := c.String("latents"); p != "" {
		sum, err := files.SHA256(p)
		if err != nil {
			return err
		}
		w.Origin.Latents = filepath.Base(p) + " sha256 " + sum
	}
	genErr := w.Write(c.Context, func(ctx context.Context) iter.Seq2[loader.Sample, error] {
		return gen.Samples(ctx, run.Start+run.Done, size-run.Done, c.Int("batch-size"), opt)
	})
	bar.Finish()
	if cerr := run.Close(); genErr == nil {
		genErr = cerr
	}
	if stack != nil && genErr == nil {
		// Every sample is committed: the volumes get their final names.
		genErr = stack.Finish()
	}
	var merged *output.MergeReport
	if run.Part != nil && genErr == nil {
		merged, genErr = run.FinishShard(c.Context)
	}
	done := run.Committed()
	if genErr != nil && done == 0 {
		// Nothing to resume: leave a directory that was empty empty, so
		// the rerun after a fix is not refused as non-empty.
		if stack != nil {
			stack.Discard()
		}
		run.Abandon()
	}
	if genErr != nil {
		if errors.Is(genErr, context.Canceled) {
			in := ""
			if inputDir != "" {
				in = " --input " + inputDir
			}
			if format != "png" {
				in += " --format " + format
			}
			for _, flag := range []string{"stack", "gzip"} {
				if c.Bool(flag) {
					in += " --" + flag
				}
			}
			if !sh.None() {
				in += " --shard " + sh.String()
			}
			return fmt.Errorf("interrupted after %d of %d samples; continue with: zoo generate %s -n %d -o %s --seed %d%s --resume",
				done, size, m.ID, n, dir, c.Uint64("seed"), in)
		}
		return fmt.Errorf("%w (%d of %d samples written; --resume continues)", genErr, done, size)
	}
	secs := time.Since(started).Seconds()
	sum := generateSummary{
		Model: m.ID, Version: m.Version, SHA256: m.Artifact.SHA256, Device: gen.Device, Dir: dir,
		Format: strings.ToLower(c.String("format")), Seed: c.Uint64("seed"), Requested: n,
		Generated: done - run.Done, Resumed: run.Done, Seconds: secs, ImagesPerSec: float64(done-run.Done) / secs,
		Manifest: filepath.Join(dir, output.ManifestFile), Input: inputDir,
	}
	if run.Part != nil {
		sum.Shard, sum.Start, sum.End, sum.Merged = sh.String(), &run.Start, &run.End, merged != nil
		if merged == nil {
			sum.Manifest = filepath.Join(dir, output.ShardManifestFile(sh.K, sh.M))
		}
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, sum)
	}
	if run.Part != nil {
		fmt.Fprintf(c.App.Writer, "shard %s: wrote %d samples of %s (%s) to %s (%.1f images/s on %s)\n",
			sh, sum.Generated, m.ID, run.Part.Indices(), dir, sum.ImagesPerSec, gen.Device)
		if merged != nil {
			fmt.Fprintf(c.App.Writer, "every shard is done: merged %d shards into %s (shards recorded in %s)\n", sh.M, sum.Manifest, filepath.Join(dir, output.ShardsFile))
		} else {
			fmt.Fprintf(c.App.Writer, "other shards are not done yet: the last one to finish merges them (or zoo manifest merge %s)\n", dir)
		}
		return nil
	}
	fmt.Fprintf(c.App.Writer, "wrote %d samples of %s to %s (%.1f images/s on %s; manifest %s)\n",
		sum.Generated, m.ID, dir, sum.ImagesPerSec, gen.Device, sum.Manifest)
	if m.Demo {
		fmt.Fprintln(c.App.Writer, "note: this is a demonstration model; its images are synthetic and not for clinical use")
	}
	return nil
}

// generateMerged answers a shard rerun with --resume whose run is merged
// already (a requeued array task): nothing left to make.
func generateMerged(c *cli.Context, m *zoo.Model, dir string, sh shard.Shard, n int) error {
	fmt.Fprintf(c.App.ErrWriter, "note: %s already holds the run merged from its shards (%s); shard %s has nothing left to do\n", dir, output.ShardsFile, sh)
	if c.Bool("json") {
		return printJSON(c.App.Writer, generateSummary{
			Model: m.ID, Version: m.Version, SHA256: m.Artifact.SHA256, Dir: dir, Format: strings.ToLower(c.String("format")),
			Seed: c.Uint64("seed"), Requested: n, Manifest: filepath.Join(dir, output.ManifestFile), Input: c.String("input"),
			Shard: sh.String(), Merged: true,
		})
	}
	return nil
}

// stackable refuses --stack for a model whose samples would lie in
// different planes: a volume has one orientation, so a plane given by a
// condition must be fixed for the run.
func stackable(m *zoo.Model, conds map[string]string) error {
	for _, o := range m.Signature.Outputs {
		if pc := o.PlaneCondition; pc != "" && conds[pc] == "" {
			return usagef("--stack writes one volume of one orientation, but model %s's samples take their plane from condition %s, which this run mixes; fix it with --condition %s=VALUE (zoo info %s lists the values), or drop --stack",
				m.ID, pc, pc, m.ID)
		}
	}
	return nil
}

// inputsDigest is output.InputsDigest of the inputs' base names ("" for none).
func inputsDigest(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return output.InputsDigest(names)
}

// uniqueStems refuses inputs whose outputs would share a file name
// (ct_1.png and ct_1.dcm both give ct_1.png).
func uniqueStems(paths []string) error {
	seen := map[string]string{}
	for _, p := range paths {
		b := filepath.Base(p)
		stem := strings.TrimSuffix(b, filepath.Ext(b))
		if other, ok := seen[stem]; ok {
			return fmt.Errorf("inputs %s and %s would give outputs of the same name (%s.*); rename one", other, b, stem)
		}
		seen[stem] = b
	}
	return nil
}

// modelArg picks the model the command's argument names.
func modelArg(c *cli.Context) func(*env) (*zoo.Model, error) {
	return func(e *env) (*zoo.Model, error) { return e.resolve(c) }
}

// openModel loads the catalogs, picks a model from them and opens its
// generator: how every command that runs one model starts.
func openModel(c *cli.Context, pick func(*env) (*zoo.Model, error)) (*zoo.Model, *loader.Generator, error) {
	e, err := loadEnv(c)
	if err != nil {
		return nil, nil, err
	}
	m, err := pick(e)
	if err != nil {
		return nil, nil, err
	}
	gen, err := openGenerator(c, e, m)
	if err != nil {
		return nil, nil, err
	}
	return m, gen, nil
}

// openGenerator fetches a runnable model's artifact and loads it with the
// command's --threads and --device.
func openGenerator(c *cli.Context, e *env, m *zoo.Model) (*loader.Generator, error) {
	if !m.Runnable() {
		return nil, notRunnable(e, m)
	}
	path, err := fetch(c, e, m.StoreArtifact())
	if err != nil {
		return nil, err
	}
	if c.IsSet("threads") {
		if err := torch.SetThreads(c.Int("threads")); err != nil {
			return nil, err
		}
	}
	return loader.Open(m, path, c.String("device"))
}

// notRunnable is loader.NotRunnableError with what this machine lacks:
// offline, an import needs the package in the cache or a local copy.
func notRunnable(e *env, m *zoo.Model) error {
	err := loader.NotRunnableError(m)
	if m.Artifact.Format != zoo.FormatPythonPackage || !e.store.Offline {
		return err
	}
	if _, ok := e.store.Cached(m.StoreArtifact()); ok {
		return fmt.Errorf("%w. You are offline, but the package is in the cache, so zoo import %s works offline", err, m.ID)
	}
	return fmt.Errorf("%w. You are offline (--offline or ZOO_OFFLINE) and the package is not in the cache (%s): import it once while online, or copy its zip here and run zoo import --package ZIP --id %s",
		err, e.store.Dir, m.ID)
}

// namedInputs reads --named-input NAME=DIR for models with several image
// inputs: one file per --input file, in name order.
func namedInputs(c *cli.Context, gen *loader.Generator, opt *loader.Options, n int) error {
	for _, kv := range c.StringSlice("named-input") {
		name, dir, ok := strings.Cut(kv, "=")
		if !ok || name == "" || dir == "" {
			return usagef("--named-input wants NAME=DIR, got %q", kv)
		}
		files, err := imagein.List(dir)
		if err != nil {
			return usageError{err}
		}
		if len(files) < n {
			return usagef("--named-input %s holds %d images, fewer than the %d samples of --input", kv, len(files), n)
		}
		files = files[:n]
		if err := gen.CheckNamedInputs(name, files); err != nil {
			return usageError{err}
		}
		if opt.NamedInputs == nil {
			opt.NamedInputs = map[string][]string{}
		}
		opt.NamedInputs[name] = files
	}
	return nil
}

// latentsFrom reads --latents: a float32 NPY of shape (N, latent...) whose
// row i is sample i's latent (what zoo import recorded from a package, or
// latents from another tool).
func latentsFrom(path string, gen *loader.Generator, n int) (func(int, []float32), error) {
	if gen.LatentSize() == 0 {
		return nil, fmt.Errorf("--latents: model %s takes no latent", gen.Model.ID)
	}
	arr, err := readNPYArray(path)
	if err != nil {
		return nil, fmt.Errorf("--latents %s: %w", path, err)
	}
	latent, err := latentRows(arr, gen)
	if err != nil {
		return nil, fmt.Errorf("--latents %s: %w", path, err)
	}
	if arr.rows() < n {
		return nil, fmt.Errorf("--latents %s holds %d latents, fewer than -n %d", path, arr.rows(), n)
	}
	return latent, nil
}
