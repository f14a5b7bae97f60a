//go:build !notorch

package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"medzoo/evaluate"
	"medzoo/features"
	"medzoo/internal/bytesize"
	"medzoo/internal/files"
	"medzoo/internal/progress"
	"medzoo/internal/shard"
	"medzoo/loader"
	"medzoo/torch"
	"medzoo/zoo"
	"medzoo/zoo/store"
)

func runEvaluate(c *cli.Context) error {
	if c.Args().First() == "merge" {
		return runEvaluateMerge(c, c.Args().Tail())
	}
	if c.IsSet("card") {
		return usagef("--card is for zoo evaluate merge; a single evaluation prints its card (--json for JSON)")
	}
	sh, partial, err := evaluateShard(c)
	if err != nil {
		return err
	}
	if c.NArg() != 2 {
		return usagef("evaluate takes REAL and FAKE (folders of images or model ids), got %d arguments", c.NArg())
	}
	mets, err := evaluate.ParseMetrics(c.String("metrics"))
	if err != nil {
		return usageError{err}
	}
	norm, err := features.ParseNormalization(c.String("normalize"))
	if err != nil {
		return usageError{err}
	}
	proto, err := features.ParseProtocol(c.String("protocol"))
	if err != nil {
		return usageError{err}
	}
	if proto.Reference() && c.IsSet("resize") {
		return usagef("--resize is zoo's own protocol's; --protocol %s resizes as %s does: leave --resize out, or use --protocol zoo", proto, proto)
	}
	// A reference's metric defaults, unless the user set them.
	defaults := evaluate.DefaultsFor(proto)
	kidSubsets, kidSize, prdcK := defaults.KIDSubsets, defaults.KIDSubsetSize, defaults.PRDCK
	if c.IsSet("kid-subsets") {
		kidSubsets = c.Int("kid-subsets")
	}
	if c.IsSet("kid-subset-size") {
		kidSize = c.Int("kid-subset-size")
	}
	if c.IsSet("prdc-k") {
		prdcK = c.Int("prdc-k")
	}
	if r := c.String("resize"); r != "" && r != "bilinear" && r != "nearest" && r != "none" {
		return usagef("--resize %q: want bilinear, nearest or none", r)
	}
	if c.Int("batch-size") <= 0 || c.Int("n") < 2 {
		return usagef("--batch-size must be positive and -n at least 2")
	}
	conds, err := parseConditions(c.StringSlice("condition"))
	if err != nil {
		return err
	}
	e, err := loadEnv(c)
	if err != nil {
		return err
	}
	if c.IsSet("threads") {
		if err := torch.SetThreads(c.Int("threads")); err != nil {
			return err
		}
	}
	var closers []func() error
	defer func() {
		for _, f := range closers {
			f()
		}
	}()
	openSet := func(arg, role string) (evaluate.Set, *zoo.Model, error) {
		if st, err := os.Stat(arg); err == nil && st.IsDir() {
			f, err := evaluate.OpenFolder(arg, role)
			return f, nil, usageErr(err)
		}
		m, rerr := e.catalog.Resolve(arg)
		if rerr != nil {
			return nil, nil, usagef("%s %q is neither a folder nor a model id: %v", role, arg, rerr)
		}
		gen, err := openGenerator(c, e, m)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, gen.Close)
		if gen.TakesInput() {
			return nil, nil, usagef("%s %s is an image-to-image model: generate its images with zoo generate --input, then evaluate the folder", role, m.ID)
		}
		if err := gen.ValidateConditions(conds); err != nil {
			return nil, nil, usageError{err}
		}
		return &evaluate.Generated{Model: m, Digest: m.Artifact.SHA256, Gen: gen, N: c.Int("n"),
			Opt: loader.Options{Seed: c.Uint64("seed"), Conditions: conds}, Output: c.String("output")}, m, nil
	}
	real, _, err := openSet(c.Args().Get(0), "REAL")
	if err != nil {
		return err
	}
	fake, fakeModel, err := openSet(c.Args().Get(1), "FAKE")
	if err != nil {
		return err
	}
	if c.Bool("record") && fakeModel == nil {
		return usagef("--record needs FAKE to be a model id: the result is recorded as that model's measured metric")
	}
	ex, err := openExtractor(c, e)
	if err != nil {
		return err
	}
	closers = append(closers, ex.Close)
	prep := features.Prep{Spec: ex.Spec, Normalize: norm, Protocol: proto}
	if r := c.String("resize"); r != "" {
		prep.Spec.Resize = r
	}
	cacheDir := e.store.Dir
	if c.Bool("no-cache") {
		cacheDir = ""
	}
	var (
		mu  sync.Mutex
		bar *progress.Bar
		cur string
	)
	opt := evaluate.Options{
		Real: real, Fake: fake, Extractor: ex, Prep: prep, Metrics: mets,
		Batch: c.Int("batch-size"), Skip: c.Bool("skip-unreadable"), CacheDir: cacheDir, Seed: c.Uint64("seed"),
		KIDSubsets: kidSubsets, KIDSubsetSize: kidSize, PRDCK: prdcK,
		Progress: func(set string, done, total int) {
			mu.Lock()
			defer mu.Unlock()
			if set != cur {
				if bar != nil {
					bar.Finish()
				}
				cur = set
				bar = progress.New(c.App.ErrWriter, "features "+set, "img", int64(total), 0, c.Bool("quiet") || c.Bool("json"))
			}
			bar.Set(int64(done))
		},
	}
	if partial != "" {
		res, err := evaluate.RunPartial(c.Context, opt, sh, partial, commandWithoutShard(c))
		if bar != nil {
			bar.Finish()
		}
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c.App.Writer, res)
		}
		fmt.Fprintf(c.App.Writer, "shard %s: real images %d..%d, fake images %d..%d: %d+%d feature rows in %s (%s)\n",
			res.Shard, res.Real[0], res.Real[1], res.Fake[0], res.Fake[1], res.Rows[0], res.Rows[1], res.File, bytesize.Human(res.Bytes))
		return nil
	}
	card, err := evaluate.Run(c.Context, opt)
	if bar != nil {
		bar.Finish()
	}
	if card != nil && err != nil {
		// Every asked metric failed after extraction: the card says why
		// for each one, and the command fails.
		printCard(c, card)
		return err
	}
	if err != nil {
		return err
	}
	if c.Bool("record") {
		dir, err := zoo.ConfigDir()
		if err != nil {
			return err
		}
		path, err := evaluate.Record(fakeModel, card, dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.ErrWriter, "recorded %d metrics of %s in %s (zoo search --rank-by FID uses them)\n", len(card.CatalogMetrics()), fakeModel.ID, path)
	}
	return printCard(c, card)
}

// printCard prints the card as --json asks.
func printCard(c *cli.Context, card *evaluate.Card) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, card)
	}
	card.WriteText(c.App.Writer)
	return nil
}

// evaluateShard reads --shard and --partial: a shard is only evaluated
// into a partial file, and --partial without --shard takes the shard a
// cluster engine gives (Slurm array, Kubernetes Indexed Job).
func evaluateShard(c *cli.Context) (shard.Shard, string, error) {
	partial := c.String("partial")
	if c.IsSet("shard") && partial == "" {
		return shard.Shard{}, "", usagef("--shard needs --partial PART: a shard's results are a part of the card, written for zoo evaluate merge")
	}
	if partial == "" {
		return shard.Shard{}, "", nil
	}
	if c.Bool("record") {
		return shard.Shard{}, "", usagef("--record needs the whole card: record from a single zoo evaluate, not from a shard")
	}
	if c.IsSet("shard") {
		sh, err := shard.Parse(c.String("shard"))
		return sh, partial, usageErr(err)
	}
	sh, _, ok, err := shard.FromEnv()
	if err != nil {
		return sh, "", usageError{err}
	}
	if !ok {
		return sh, "", usagef("--partial needs --shard K/M (or a Slurm array task or Kubernetes Indexed Job, which give it)")
	}
	return sh, partial, nil
}

// commandWithoutShard is the evaluation's command line without --shard and
// --partial, for a merge to say how to make a missing shard.
func commandWithoutShard(c *cli.Context) string {
	args := os.Args[1:]
	out := []string{"zoo"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && (name == "shard" || name == "partial") {
			i++ // its value
			continue
		}
		if strings.HasPrefix(a, "-") && (strings.HasPrefix(name, "shard=") || strings.HasPrefix(name, "partial=")) {
			continue
		}
		out = append(out, shellQuote(a))
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runEvaluateMerge is zoo evaluate merge PART...: the card of the shards'
// partial files. Options of the evaluation come from the parts; giving
// them again would only invite a mismatch.
func runEvaluateMerge(c *cli.Context, parts []string) error {
	if len(parts) == 0 {
		return usagef("evaluate merge takes the partial files of every shard: zoo evaluate merge PART... [--card FILE] [--json]")
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if name != "card" && name != "json" && c.IsSet(name) {
			return usagef("evaluate merge takes no --%s: the parts say how they were evaluated", name)
		}
	}
	card, err := evaluate.Merge(parts)
	if card == nil {
		return err
	}
	if path := c.String("card"); path != "" {
		data, err := json.MarshalIndent(card, "", "  ")
		if err != nil {
			return err
		}
		if err := files.WriteAtomicBytes(path, append(data, '\n')); err != nil {
			return fmt.Errorf("--card %s: %w", path, err)
		}
	}
	if perr := printCard(c, card); perr != nil {
		return perr
	}
	return err // every metric failed: after the card, which says why
}

func usageErr(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// openExtractor resolves --features: a TorchScript file with its spec file
// beside it, or a built-in extractor fetched (and verified) by the store.
func openExtractor(c *cli.Context, e *env) (*features.Extractor, error) {
	name := c.String("features")
	var (
		spec features.Spec
		path string
		err  error
	)
	if strings.HasSuffix(name, ".pt") || fileExists(name) {
		path = name
		if !fileExists(path) {
			return nil, usagef("--features %s: no such file", path)
		}
		if spec, err = features.LoadSpec(strings.TrimSuffix(path, ".pt") + ".toml"); err != nil {
			return nil, usageError{err}
		}
	} else {
		builtin, err := features.Builtin()
		if err != nil {
			return nil, err
		}
		var names []string
		found := false
		for _, s := range builtin {
			names = append(names, s.Name)
			if s.Name == name {
				spec, found = s, true
			}
		}
		if !found {
			return nil, usagef("--features %q: not a built-in extractor (%s) nor a .pt file", name, strings.Join(names, ", "))
		}
		if spec.URL == "" {
			return nil, fmt.Errorf("extractor %s has no download: make it with\n  %s", spec.Name, spec.Export)
		}
		a := store.Artifact{Name: extractorIDPrefix + spec.Name, URL: spec.URL, SHA256: spec.SHA256, Format: store.FormatTorchScript}
		e.store.AllowUnpinned = c.Bool("allow-unpinned")
		if path, err = fetch(c, e, a); err != nil {
			return nil, fmt.Errorf("feature extractor %s: %w\n(or give a local copy: --features FILE.pt with FILE.toml; %s)", spec.Name, err, spec.Export)
		}
	}
	sum, err := files.SHA256(path)
	if err != nil {
		return nil, err
	}
	if spec.SHA256 != "" && !strings.EqualFold(spec.SHA256, sum) {
		return nil, fmt.Errorf("feature extractor %s: %s has sha256 %s, its spec says %s: the file is not the one the spec describes", spec.Name, path, sum, spec.SHA256)
	}
	return features.Open(spec, path, sum, c.String("device"))
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
