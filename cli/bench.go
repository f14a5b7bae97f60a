package cli

import (
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure a model's forward-only throughput (no files written)",
		UsageText: "zoo bench ID [-n N] [--batch-size B] [--device D] [--threads T] [--json]",
		Description: "Runs the model like zoo generate but keeps nothing: latents in, tensors out, copied to Go.\n" +
			"This is the ceiling zoo generate can reach on this machine.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "n", Value: 1024, Usage: "samples to time (after one warm-up block)"},
			&cli.IntFlag{Name: "batch-size", Aliases: []string{"b"}, Usage: "samples per forward step (default one compute block)", Action: checkBatchSize},
			deviceFlag(),
			threadsFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: runTorch,
	}
}
