package cli

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "make a medigan model runnable: convert its Python package once to verified TorchScript",
		UsageText: "zoo import ID [--allow-unpinned] [--checkpoint FILE] [OPTIONS]\n" +
			"   zoo import --package DIR|ZIP [--id ID] [--checkpoint FILE] [OPTIONS]\n" +
			"   OPTIONS: [--arg KEY=JSON]... [--samples N] [--seed S] [--timeout 10m] [--memory-mb 8192] [--threads T]\n" +
			"   [--no-sandbox] [--accept-mismatch] [--keep DIR] [--json]",
		Description: "medigan publishes each model as a Python package whose generate() zoo never runs when it\n" +
			"generates. zoo import runs that code ONCE, in a sandbox (bubblewrap: no network, the filesystem\n" +
			"read-only but for a scratch directory; else a network namespace) with time and memory limits:\n" +
			"it calls generate() as medigan does, records the generator module and its inputs (latents\n" +
			"included), exports the module to TorchScript (script, else trace), checks it against the eager\n" +
			"module, and works out how the package turns raw outputs into its images. Then zoo generates\n" +
			"from the recorded latents and checks its images are pixel-identical to the package's own.\n" +
			"The result is an overlay in CONFIG/catalogs/imported.toml: the catalog entry keeps its\n" +
			"description and metrics, and becomes runnable (zoo info ID shows the import report).\n\n" +
			"ID fetches the catalog's package (zoo pull; medigan pins no checksum, so the first fetch\n" +
			"needs --allow-unpinned). --package imports a local folder or zip; its metadata.json names the\n" +
			"model (or --id, which also overlays it on a catalog entry).\n\n" +
			"Examples:\n" +
			"   zoo import 5 --allow-unpinned\n" +
			"   zoo import --package ./00005_DCGAN_MMG_MASS_ROI --checkpoint 500.pt\n" +
			"   zoo import --package ./00003 --arg 'image_size=[256,256]' --samples 4",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "package", Aliases: []string{"p"}, Usage: "a local package `DIR` or ZIP instead of the catalog's download"},
			&cli.StringFlag{Name: "id", Usage: "catalog `ID` for the imported model (default: the package's metadata.json key)"},
			&cli.StringFlag{Name: "checkpoint", Usage: "the checkpoint `FILE` (default: the package's model_name+extension inside it)"},
			&cli.GenericFlag{Name: "arg", Value: &repeated{}, Usage: "override a custom argument of generate(), `KEY=JSON` (repeatable), e.g. 'image_size=[256,256]'"},
			&cli.IntFlag{Name: "samples", Value: 16, Usage: "samples the package generates for the capture and the pixel check"},
			&cli.Int64Flag{Name: "seed", Value: 0, Usage: "torch.manual_seed before the package's generate()"},
			&cli.BoolFlag{Name: "no-sandbox", Usage: "run the package code without a sandbox (only for code you trust, where no sandbox works)"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "wall-time limit of the package run", Action: positiveDuration("--timeout")},
			&cli.IntFlag{Name: "memory-mb", Value: 8192, Usage: "address-space limit of the package run, MiB", Action: intBetween("--memory-mb", 256, 1<<22, "MiB of address space for the package run")},
			&cli.IntFlag{Name: "threads", Value: 0, Usage: "torch threads (default: one per CPU core)", Action: checkThreads},
			&cli.BoolFlag{Name: "allow-unpinned", Usage: "fetch a catalog package that pins no sha256, pinning it on first use"},
			&cli.BoolFlag{Name: "accept-mismatch", Usage: "write the entry even if zoo's images differ from the package's (the report says so)"},
			&cli.StringFlag{Name: "keep", Usage: "keep the capture (package images, recorded inputs, zoo's images) in `DIR`"},
			&cli.BoolFlag{Name: "json", Usage: "print the import report as JSON"},
		},
		Action: runTorch,
	}
}

// repeated is a repeatable string flag that, unlike cli.StringSliceFlag,
// does not split values at commas: --arg 'image_size=[256,256]' is one
// value.
type repeated struct{ values []string }

func (r *repeated) Set(v string) error { r.values = append(r.values, v); return nil }
func (r *repeated) String() string     { return strings.Join(r.values, " ") }

// repeatedValues returns the values of a repeated flag.
func repeatedValues(c *cli.Context, name string) []string {
	if r, ok := c.Generic(name).(*repeated); ok {
		return r.values
	}
	return nil
}
