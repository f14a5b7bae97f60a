package cli

import (
	"github.com/urfave/cli/v2"
)

func gridCommand() *cli.Command {
	return &cli.Command{
		Name:      "grid",
		Usage:     "draw a grid of samples into one PNG (masks beside their images, a row per condition value)",
		UsageText: "zoo grid ID -o FILE.png [-n 16] [--seed S] [--condition NAME=VALUE]... [--cols C] [--input DIR|FILE] [--device auto|cpu|cuda:N] [--threads T] [--force] [--json]",
		Description: "Noise-to-image models: n samples. Image+mask models: each image with its mask beside it.\n" +
			"Conditional models: one row per condition value, the same latents down each column (fix a\n" +
			"value with --condition to get a plain grid). Image-to-image models: --input DIR, each input\n" +
			"beside its outputs. The PNG says it is synthetic and carries the provenance.\n\n" +
			"Examples:\n" +
			"   zoo grid 101 -n 64 -o grid.png\n" +
			"   zoo grid 102 -n 8 -o planes.png            # 3 rows: axial, coronal, sagittal\n" +
			"   zoo grid 104 --input docs/models/00104_inputs -o masks_to_t1.png",
		Flags: append(figureFlags(),
			&cli.Uint64Flag{Name: "seed", Usage: "latent seed: sample i of seed S is zoo generate --seed S's sample i"},
			&cli.IntFlag{Name: "n", Value: 16, Usage: "samples (per row, for conditional models)", Action: intBetween("-n", 1, 1024, "samples in the grid")},
			&cli.IntFlag{Name: "cols", Usage: "columns (default: about √n, or n for one row per condition value)", Action: intBetween("--cols", 0, 1024, "columns of the grid; 0: about √n")},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "input images of an image-to-image model (`DIR` or file)"},
		),
		Action: runTorch,
	}
}

func interpolateCommand() *cli.Command {
	return &cli.Command{
		Name:      "interpolate",
		Usage:     "walk the latent space between two seeds (spherical interpolation) into one PNG",
		UsageText: "zoo interpolate ID -o FILE.png --from SEED --to SEED [--steps K] [--condition NAME=VALUE]... [--device auto|cpu|cuda:N] [--threads T] [--force] [--json]",
		Description: "The endpoints are sample 0 of each seed (what zoo generate --seed makes first); the\n" +
			"steps between follow the great circle between them (slerp), which keeps the latents at the\n" +
			"norm Gaussian samples have. Conditional models hold each condition at the given value (or\n" +
			"its first value). Image+mask models draw masks beside their images. The seeds are --from and\n" +
			"--to: --seed is refused.\n\n" +
			"Example:\n" +
			"   zoo interpolate 101 --from 1 --to 2 --steps 8 -o walk.png",
		Flags: append(figureFlags(),
			&cli.Uint64Flag{Name: "from", Usage: "seed of the first endpoint"},
			&cli.Uint64Flag{Name: "to", Value: 1, Usage: "seed of the last endpoint"},
			&cli.IntFlag{Name: "steps", Value: 8, Usage: "images along the walk, endpoints included (2..256)", Action: intBetween("--steps", 2, 256, "images along the walk, endpoints included")},
			// The endpoints' latents are sample 0 of --from and of --to, so a
			// --seed would have nothing left to choose: refuse it, with the
			// fix, instead of ignoring it (hidden, so help does not offer it).
			&cli.Uint64Flag{Name: "seed", Hidden: true, Action: func(_ *cli.Context, s uint64) error {
				return usagef("interpolate takes no --seed: its endpoints are sample 0 of --from SEED and of --to SEED (e.g. --from %d --to %d)", s, s+1)
			}},
		),
		Action: runTorch,
	}
}

func figureFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the PNG `FILE` to write"},
		&cli.StringSliceFlag{Name: "condition", Aliases: []string{"c"}, Usage: "`NAME=VALUE` for a conditional model (repeatable)"},
		deviceFlag(),
		threadsFlag(),
		&cli.BoolFlag{Name: "force", Usage: "overwrite the output file"},
		&cli.BoolFlag{Name: "json", Usage: "print a JSON summary on stdout"},
	}
}

// figureSummary is what `zoo grid --json` and `zoo interpolate --json`
// print, in the style of generate's summary. Seed is a pointer so that
// interpolate, which has no seed but --from and --to, omits it.
type figureSummary struct {
	Model      string            `json:"model"`
	Version    string            `json:"version,omitempty"`
	SHA256     string            `json:"sha256"`
	Device     string            `json:"device"`
	File       string            `json:"file"`
	Width      int               `json:"width"`
	Height     int               `json:"height"`
	Seed       *uint64           `json:"seed,omitempty"`
	From       *uint64           `json:"from,omitempty"`
	To         *uint64           `json:"to,omitempty"`
	N          int               `json:"n"` // samples drawn (grid: per row for a row per condition value; interpolate: steps)
	Rows       int               `json:"rows"`
	Conditions map[string]string `json:"conditions,omitempty"`
	Input      string            `json:"input,omitempty"`
	Figure     string            `json:"figure"` // what the PNG's provenance says it shows
	Seconds    float64           `json:"seconds"`
}
