package cli

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"medzoo/output"
)

func manifestCommand() *cli.Command {
	return &cli.Command{
		Name:      "manifest",
		Usage:     "join the shards of a zoo generate run into one run directory",
		UsageText: "zoo manifest merge DIR [--json]",
		Description: "Shards (zoo generate --shard K/M, or a Slurm array / Kubernetes Indexed Job) fill one DIR, each\n" +
			"with its own zoo-run.shard-K-of-M.json and manifest.shard-K-of-M.jsonl. The last shard to finish\n" +
			"merges them; merge does it on demand (after a crash, or to see what is missing): once every shard\n" +
			"has made its whole range it writes DIR/manifest.jsonl and DIR/zoo-run.json, byte-identical to a\n" +
			"single-process run, records which shard made which indices on which host in DIR/zoo-shards.json,\n" +
			"and removes the shards' files. A shard missing or incomplete is named with the command that\n" +
			"finishes it, and nothing is written. Merging a merged DIR again changes nothing.\n\n" +
			"Example: zoo manifest merge out/",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			return runVerb(c, manifestVerbs())
		},
	}
}

func manifestVerbs() []verb {
	return []verb{{names: []string{"merge"}, usage: "merge DIR", run: runManifestMerge}}
}

func runManifestMerge(c *cli.Context, args []string) error {
	if len(args) != 1 {
		return usagef("manifest merge takes one DIR, the -o DIR the shards wrote into; got %d arguments", len(args))
	}
	rep, err := output.Merge(c.Context, args[0])
	var inc *output.IncompleteError
	if errors.As(err, &inc) && c.Bool("json") {
		// The summary still says what is missing, for scripts that wait.
		printJSON(c.App.Writer, map[string]any{"dir": inc.Dir, "merged": false, "missing": inc.Missing})
	}
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, rep)
	}
	switch {
	case rep.Already:
		fmt.Fprintf(c.App.Writer, "%s is merged already: %d shards of %d samples of %s (%s)\n", rep.Dir, len(rep.Shards), rep.N, rep.Model, rep.Manifest)
	default:
		fmt.Fprintf(c.App.Writer, "merged %d shards of %d samples of %s into %s (shards recorded in %s)\n", len(rep.Shards), rep.N, rep.Model, rep.Manifest, output.ShardsFile)
	}
	return nil
}
