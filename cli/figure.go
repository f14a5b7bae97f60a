package cli

import (
	"github.com/urfave/cli/v2"
)

func gridCommand() *cli.Command {
	return &cli.Command{
		Name:      "grid",
		Usage:     "draw a grid of samples into one PNG (masks beside their images, a row per condition value)",
		UsageText: "zoo grid ID [-n 16] [--seed S] [--condition NAME=VALUE] [--cols C] -o grid.png",
		Description: "Noise-to-image models: n samples. Image+mask models: each image with its mask beside it.\n" +
			"Conditional models: one row per condition value, the same latents down each column (fix a\n" +
			"value with --condition to get a plain grid). Image-to-image models: --input DIR, each input\n" +
			"beside its outputs. The PNG says it is synthetic and carries the provenance.\n\n" +
			"Examples:\n" +
			"   zoo grid 101 -n 64 -o grid.png\n" +
			"   zoo grid 102 -n 8 -o planes.png            # 3 rows: axial, coronal, sagittal\n" +
			"   zoo grid 104 --input docs/models/00104_inputs -o masks_to_t1.png",
		Flags: append(figureFlags(),
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
		UsageText: "zoo interpolate ID --from SEED --to SEED [--steps K] [--condition NAME=VALUE] -o walk.png",
		Description: "The endpoints are sample 0 of each seed (what zoo generate --seed makes first); the\n" +
			"steps between follow the great circle between them (slerp), which keeps the latents at the\n" +
			"norm Gaussian samples have. Conditional models hold each condition at the given value (or\n" +
			"its first value). Image+mask models draw masks beside their images.\n\n" +
			"Example:\n" +
			"   zoo interpolate 101 --from 1 --to 2 --steps 8 -o walk.png",
		Flags: append(figureFlags(),
			&cli.Uint64Flag{Name: "from", Usage: "seed of the first endpoint"},
			&cli.Uint64Flag{Name: "to", Value: 1, Usage: "seed of the last endpoint"},
			&cli.IntFlag{Name: "steps", Value: 8, Usage: "images along the walk, endpoints included (2..256)", Action: intBetween("--steps", 2, 256, "images along the walk, endpoints included")},
		),
		Action: runTorch,
	}
}

func figureFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the PNG `FILE` to write"},
		&cli.Uint64Flag{Name: "seed", Usage: "latent seed"},
		&cli.StringSliceFlag{Name: "condition", Aliases: []string{"c"}, Usage: "`NAME=VALUE` for a conditional model (repeatable)"},
		&cli.StringFlag{Name: "device", Value: "auto", Usage: "auto, cpu, cuda or cuda:N"},
		&cli.IntFlag{Name: "threads", Usage: "LibTorch intra-op threads (default: one per CPU core)", Action: checkThreads},
		&cli.BoolFlag{Name: "force", Usage: "overwrite the output file"},
	}
}
