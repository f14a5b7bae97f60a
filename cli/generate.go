package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"medzoo/internal/shard"
	"medzoo/output"
	"medzoo/zoo"
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:      "generate",
		Aliases:   []string{"gen"},
		Usage:     "synthesize images with a model into a directory",
		UsageText: "zoo generate ID -n N -o DIR [--seed S] [--batch-size B] [--device auto|cpu|cuda:N] [--format " + strings.Join(output.FormatNames(), "|") + "] [--condition NAME=VALUE]... [--input DIR|FILE] [--named-input NAME=DIR]... [--latents FILE.npy] [--threads T] [--stack] [--gzip] [--shard K/M] [--resume|--force] [--json]", // formats from the registry: a new writer shows here by itself
		Description: "Sample i depends only on (model, artifact checksum, seed, i, input i): the same bytes whatever the\n" +
			"batch size, and a run stopped half-way continues with --resume exactly where it stopped.\n" +
			"Every file is marked synthetic (PNG text chunks) and DIR/manifest.jsonl lists each sample.\n\n" +
			"Image-to-image models take --input DIR (or one file): PNG (8/16-bit), NPY or DICOM images,\n" +
			"one sample per file in name order; -n defaults to the number of files, and output files are\n" +
			"named after their inputs (ct_012.png, or ct_012_image.png and ct_012_mask.png).\n\n" +
			"With --format nifti, --stack writes the run as one 3-D volume per output (DIR/image.nii: slice k is\n" +
			"sample k, the manifest's slice field), and --gzip writes .nii.gz.\n\n" +
			"--shard K/M makes only shard K (0-based) of M: its block-aligned range of the N samples (or inputs),\n" +
			"into a DIR other shards fill at the same time; the last shard done merges them into the run one\n" +
			"process would have written (zoo manifest merge DIR does it on demand). Without --shard, a Slurm\n" +
			"array task (SLURM_ARRAY_TASK_ID) or Kubernetes Indexed Job pod (JOB_COMPLETION_INDEX with\n" +
			"ZOO_SHARD_COUNT) makes its shard (docs/scale.md).\n\n" +
			"Example: zoo generate 101 -n 1000 -o out/ --seed 1",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "n", Aliases: []string{"num-samples"}, Value: 16, Usage: "number of samples (with --input: one per input file unless given)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `DIR` (created if missing; must be empty unless --resume or --force)"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "random seed; sample i of seed S is always the same"},
			&cli.IntFlag{Name: "batch-size", Aliases: []string{"b"}, Value: 0, Usage: "samples per forward step (rounded up to the model's compute block; default one block)", Action: checkBatchSize},
			deviceFlag(),
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "png", Usage: "output format: " + strings.Join(output.FormatNames(), ", ")},
			threadsFlag(),
			&cli.StringSliceFlag{Name: "condition", Aliases: []string{"c"}, Usage: "fix a condition, `NAME=VALUE` (repeatable); unset conditions are mixed in balance"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "input images for image-to-image models: a `DIR` of .png/.npy/.dcm files (sorted by name) or one file"},
			&cli.StringSliceFlag{Name: "named-input", Usage: "a further image input of models that take several (an inpainting mask), `NAME=DIR`, one file per --input file"},
			&cli.StringFlag{Name: "latents", Usage: "take sample i's latent from row i of `FILE.npy` (float32, shape (N, latent...)) instead of the seed"},
			&cli.BoolFlag{Name: "stack", Usage: "with --format nifti: write the run as one 3-D volume per output, slice k = sample k"},
			&cli.BoolFlag{Name: "gzip", Usage: "with --format nifti: write .nii.gz"},
			&cli.StringFlag{Name: "shard", Usage: "make only shard `K/M` (0-based K of M) of the run; default from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX"},
			&cli.BoolFlag{Name: "resume", Usage: "continue a stopped run in DIR"},
			&cli.BoolFlag{Name: "force", Usage: "write into a non-empty DIR, starting the run over"},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON summary on stdout"},
		},
		Action: runTorch,
	}
}

// generateSummary is what `zoo generate --json` prints.
type generateSummary struct {
	Model        string  `json:"model"`
	Version      string  `json:"version,omitempty"`
	SHA256       string  `json:"sha256"`
	Device       string  `json:"device"`
	Dir          string  `json:"dir"`
	Format       string  `json:"format"`
	Seed         uint64  `json:"seed"`
	Requested    int     `json:"n"`
	Generated    int     `json:"generated"`
	Resumed      int     `json:"resumed_from"`
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_second"`
	Manifest     string  `json:"manifest"`
	Input        string  `json:"input,omitempty"`
	// Shard is set when the run was one shard: its K/M and range, and
	// whether it merged the shards (the last one done does).
	Shard  string `json:"shard,omitempty"`
	Start  *int   `json:"start,omitempty"`
	End    *int   `json:"end,omitempty"`
	Merged bool   `json:"merged,omitempty"`
}

// generateFunc is zoo generate for n samples of the model pick chooses
// from the loaded catalog (zoo search --generate picks its top hit): the
// LibTorch build's runGenerate.
type generateFunc func(c *cli.Context, n int, pick func(*env) (*zoo.Model, error)) error

func parseConditions(raw []string) (map[string]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range raw {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--condition wants NAME=VALUE, got %q", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// shardFromFlagOrEnv is the command's --shard, or else the shard a cluster
// engine gives this process (Slurm array, Kubernetes Indexed Job), noted on
// stderr so that a log says which part a task made; the zero Shard (the
// whole run) when neither is set. A bad value is a usage error.
func shardFromFlagOrEnv(c *cli.Context) (shard.Shard, error) {
	if c.IsSet("shard") {
		s, err := shard.Parse(c.String("shard"))
		if err != nil {
			return shard.Shard{}, usageError{err}
		}
		return s, nil
	}
	s, source, ok, err := shard.FromEnv()
	if err != nil {
		return shard.Shard{}, usageError{err}
	}
	if ok {
		fmt.Fprintf(c.App.ErrWriter, "note: shard %s from %s (--shard overrides it)\n", s, source)
	}
	return s, nil
}
