package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"medzoo/internal/bytesize"
	"medzoo/internal/files"
	"medzoo/share"

	"github.com/urfave/cli/v2"
)

func packCommand() *cli.Command {
	return &cli.Command{
		Name:      "pack",
		Usage:     "pack a model directory into a reproducible zip archive with a sha256 manifest",
		UsageText: "zoo pack DIR -o FILE.zip [--device auto|cpu|cuda:N] [--threads T] [--force] [--json]",
		Description: "DIR is a model directory: model.pt (TorchScript), model.toml (its one [[model]] catalog entry,\n" +
			"signature included, with [model.artifact] url = \"model.pt\" and the file's sha256 and size),\n" +
			"LICENSE, README.md (the model card) and optionally samples/ (PNG files, at most 256 and 64 MiB).\n" +
			"pack checks all of it and lists every problem with its fix; it packs no links and no extra files.\n" +
			"The archive is the same bytes on every machine (entries sorted, fixed times and modes, stored),\n" +
			"with MANIFEST.sha256 first (check it with sha256sum -c). A catalog uses it as\n" +
			"   [model.artifact]  url = \"FILE.zip\", path = \"model.pt\", sha256 = \"<the archive's sha256>\"\n" +
			"The file is written atomically: never half-written, and an existing one only with --force.\n" +
			"Before packing, pack runs zoo validate's checks (the module run twice, ranges, licence, card)\n" +
			"without writing a grid, and packs nothing while a problem is left.\n\n" +
			"Example:\n" +
			"   zoo pack mymodel/ -o mymodel-1.0.0.zip",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the archive `FILE` to write (.zip)"},
			deviceFlag(),
			threadsFlag(),
			&cli.BoolFlag{Name: "force", Usage: "replace FILE if it exists"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: sharingAction(runPack),
	}
}

// checkOutputBeside refuses, before any work, an output file of pack or
// publish (what it holds: "the archive") inside the model directory, which
// holds no extra files, or one that exists, unless --force.
func checkOutputBeside(c *cli.Context, out, dir, what string) error {
	if inside(out, dir) {
		return usagef("-o %s is inside the model directory %s: write %s elsewhere (a model directory holds no extra files)", out, dir, what)
	}
	if _, err := os.Lstat(out); err == nil && !c.Bool("force") {
		return fmt.Errorf("%s exists: pass --force to replace it, or choose another file with -o", out)
	}
	return nil
}

// inside reports whether path is dir or lies under it.
func inside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func runPack(c *cli.Context, check func(dir string) (*share.Model, error)) error {
	if c.NArg() != 1 {
		return usagef("pack takes one model directory, got %d arguments; e.g. zoo pack mymodel/ -o mymodel.zip", c.NArg())
	}
	dir, out := c.Args().First(), c.String("output")
	if out == "" {
		return usagef("pack needs -o FILE.zip, the archive to write")
	}
	if err := checkOutputBeside(c, out, dir, "the archive"); err != nil {
		return err
	}
	m, err := check(dir)
	if err != nil {
		return err
	}
	var a share.Archive
	err = files.WriteAtomic(out, func(w io.Writer) error {
		var err error
		a, err = m.PackSummed(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, map[string]any{"file": out, "sha256": a.SHA256, "size": a.Size, "entries": a.Entries})
	}
	fmt.Fprintf(c.App.Writer, "%s: %d files, %s (%d bytes)\nsha256 %s\n", out, len(a.Entries), bytesize.Human(a.Size), a.Size, a.SHA256)
	return nil
}
