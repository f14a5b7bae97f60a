//go:build !notorch

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"medzoo/internal/bytesize"
	"medzoo/internal/files"
	"medzoo/share"
	"medzoo/validate"
)

func runValidate(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("validate takes one model directory, got %d arguments; e.g. zoo validate mymodel/", c.NArg())
	}
	dir := c.Args().First()
	cache, err := cacheDir(c)
	if err != nil {
		return err
	}
	opts := validate.Options{Device: c.String("device"), Threads: c.Int("threads"), Seed: c.Uint64("seed"),
		Grid: c.String("grid"), NoGrid: c.Bool("no-grid"), CacheDir: cache}
	switch {
	case opts.NoGrid && opts.Grid != "":
		return usagef("--grid and --no-grid contradict each other: choose one")
	case opts.Grid != "" && !strings.EqualFold(filepath.Ext(opts.Grid), ".png"):
		return usagef("--grid %s: the grid is a PNG file; name it .png", opts.Grid)
	case opts.Grid != "":
		if err := files.CheckRegular(opts.Grid); err != nil {
			return usagef("--grid: %v", err)
		}
	}
	r, err := validate.Run(c.Context, dir, opts)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, r); err != nil {
			return err
		}
	} else {
		printReport(c.App.Writer, r)
	}
	if !r.Valid {
		return fmt.Errorf("%s: %d problem(s); fix them and run zoo validate %s again", dir, len(r.Problems), dir)
	}
	return nil
}

func printReport(w io.Writer, r *validate.Report) {
	for _, ck := range r.Checks {
		state := "ok     "
		if !ck.OK {
			state = "PROBLEM"
		}
		fmt.Fprintf(w, "%s %-13s %s\n", state, ck.Name, ck.Detail)
	}
	if f := r.Figures; f != nil {
		fmt.Fprintf(w, "figures: %.1f images/s on %s (%d images in %.2f s", f.ImagesPerSec, f.Device, f.Images, f.Seconds)
		if f.Threads > 0 {
			fmt.Fprintf(w, ", %d threads", f.Threads)
		}
		fmt.Fprintf(w, "); peak RSS %s\n", bytesize.Human(f.PeakRSS))
	}
	if r.Grid != "" {
		fmt.Fprintf(w, "grid: %s\n", r.Grid)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "%d problem(s):\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		return
	}
	fmt.Fprintf(w, "%s is valid: zoo pack %s -o %s.zip\n", r.Dir, r.Dir, r.Model)
}

func runInit(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("init takes one directory, got %d arguments; e.g. zoo init mymodel/ --from generator.pt", c.NArg())
	}
	if id := c.String("id"); c.IsSet("id") {
		if err := validate.CheckID(id); err != nil {
			return usagef("--id: %v", err)
		}
	}
	if from := c.String("from"); from != "" {
		if _, err := os.Stat(from); err != nil {
			return usagef("--from: %v", err)
		}
	}
	dir := c.Args().First()
	res, err := validate.Init(dir, validate.InitOptions{From: c.String("from"), ID: c.String("id"), Force: c.Bool("force")})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s in %s (model %s)\n", strings.Join(res.Files, ", "), dir, res.ID)
	if p := res.Probe; p != nil {
		if p.Latent != nil {
			var outs []string
			for _, o := range p.Outputs {
				outs = append(outs, fmt.Sprintf("%s %v in [%.3g, %.3g]", o.Name, o.Shape[1:], o.Min, o.Max))
			}
			fmt.Fprintf(c.App.Writer, "probed model.pt: latent %v -> %s; check [model.signature]\n", p.Latent, strings.Join(outs, ", "))
		} else {
			fmt.Fprintf(c.App.Writer, "could not find model.pt's input; write [model.signature] by hand. Tried:\n")
			for _, t := range p.Tried {
				fmt.Fprintf(c.App.Writer, "  %s\n", t)
			}
		}
	}
	fmt.Fprintf(c.App.Writer, "next: fill the TODOs in %s, then zoo validate %s\n", filepath.Join(dir, share.EntryFile), dir)
	return nil
}

// checkedForSharing is what must pass before a model leaves the machine
// (zoo pack, push, publish): zoo validate's checks without the grid, with
// the command's --device and --threads. It returns the checked directory,
// whose files are the very bytes that were checked.
func checkedForSharing(c *cli.Context) func(dir string) (*share.Model, error) {
	return func(dir string) (*share.Model, error) {
		cache, err := cacheDir(c)
		if err != nil {
			return nil, err
		}
		m, _, err := validate.ForPack(c.Context, dir, validate.Options{Device: c.String("device"), Threads: c.Int("threads"), CacheDir: cache})
		var pe *share.ProblemsError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w\nzoo validate %s shows every check", err, dir)
		}
		return m, err
	}
}
