package cli

import (
	"github.com/urfave/cli/v2"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a model directory by running it: entry, determinism, ranges, licence, card; images/s and a sample grid",
		UsageText: "zoo validate DIR [--device auto|cpu|cuda:N] [--threads T] [--seed S] [--grid PATH|--no-grid] [--json]",
		Description: "DIR is a model directory (zoo init makes one). validate checks what zoo pack checks (layout,\n" +
			"model.toml against the catalog schema, model.pt's sha256 and size), then loads model.pt as the\n" +
			"catalog does and runs one compute block twice with the same seed: the outputs must be the same\n" +
			"bytes, finite, and inside their declared ranges (the fraction outside is reported). LICENSE must\n" +
			"hold the licence, README.md (the model card) sections on intended use, training data and\n" +
			"limitations, and say that the images are synthetic; no TODO of zoo init may be left.\n" +
			"It times a few blocks (images/s), reads the peak memory, and writes a sample grid of 16 samples\n" +
			"(default DIR/samples/grid.png, the same bytes every run, so it can be packed).\n" +
			"Every problem is FILE:LINE with its fix. Exit 0: valid; 1: problems; 2: usage.\n\n" +
			"Example:\n" +
			"   zoo validate mymodel/",
		Flags: []cli.Flag{
			deviceFlag(),
			threadsFlag(),
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the checked block and of the grid"},
			&cli.StringFlag{Name: "grid", Usage: "write the sample grid to `PATH` (.png) instead of DIR/samples/grid.png"},
			&cli.BoolFlag{Name: "no-grid", Usage: "write no sample grid"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		},
		Action: runTorch,
	}
}

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "write the skeleton of a model directory to share (model.toml, LICENSE, README.md, model.pt)",
		UsageText: "zoo init DIR [--from MODULE.pt] [--id ID] [--force] [--json]",
		Description: "Writes model.toml (the catalog entry, with comments; what zoo cannot know is TODO), a LICENSE\n" +
			"placeholder and a README.md model card with the sections zoo validate requires. With --from,\n" +
			"copies the TorchScript module to DIR/model.pt, fills its sha256 and size, and probes it: it runs\n" +
			"forward on a batch of made-up latents ([D] or [D, 1, 1], D from the module's errors or common\n" +
			"sizes) and fills [model.signature] from the outputs; if none works it says what it tried.\n" +
			"Existing files are replaced only with --force; nothing is written through a link.\n" +
			"Then: fill the TODOs, zoo validate DIR, zoo pack DIR -o FILE.zip.\n\n" +
			"Example:\n" +
			"   zoo init mymodel/ --from generator.pt --id 00901_DCGAN_CT_LUNG",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the TorchScript `MODULE.pt` to copy to model.pt and probe"},
			&cli.StringFlag{Name: "id", Usage: "the model's catalog `ID` (default: the directory's name)"},
			&cli.BoolFlag{Name: "force", Usage: "replace files that exist"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: runTorch,
	}
}
