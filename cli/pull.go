package cli

import (
	"fmt"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/internal/envconfig"
	"medzoo/internal/progress"
	"medzoo/zoo/store"
)

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "download a model's artifact into the cache and verify its checksum",
		UsageText: "zoo pull ID [--allow-unpinned] [--max-download SIZE] [--json]",
		Description: "The artifact is stored under the cache directory by its sha256, so it is fetched once and\n" +
			"then works offline. medigan's packages publish no checksum: --allow-unpinned downloads them\n" +
			"anyway and pins the digest seen on first use, so later fetches must match it.\n" +
			"A download stops at the size the catalog declares, and at most at --max-download\n" +
			"($" + store.EnvMaxDownload + ", default 4GiB); one that receives nothing for $" + store.EnvStallTimeout + "\n" +
			"(default 2m) is abandoned. Nothing partial is ever left in the cache.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "allow-unpinned", Usage: "fetch an artifact whose catalog entry pins no sha256, pinning it on first use"},
			&cli.StringFlag{Name: "max-download", Usage: "largest download accepted, e.g. 500MB or 8GiB (default $" + store.EnvMaxDownload + ", else 4GiB)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			limit, err := maxDownloadFlag(c)
			if err != nil {
				return err
			}
			e, m, err := loadModel(c)
			if err != nil {
				return err
			}
			e.store.AllowUnpinned = c.Bool("allow-unpinned")
			e.store.MaxDownloadBytes = limit
			path, err := fetch(c, e, m.StoreArtifact())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]any{"model": m.ID, "path": path, "sha256": m.Artifact.SHA256, "url": m.Artifact.URL})
			}
			fmt.Fprintf(c.App.Writer, "%s: %s\n", m.ID, path)
			if !m.Runnable() {
				fmt.Fprintf(c.App.Writer, "note: this is the original Python package; zoo can store it but not run it (zoo info %s)\n", m.ID)
			}
			return nil
		},
	}
}

// maxDownloadFlag reads --max-download (0 when not given: the store then
// uses $ZOO_MAX_DOWNLOAD or its default).
func maxDownloadFlag(c *cli.Context) (int64, error) {
	if !c.IsSet("max-download") {
		return 0, nil
	}
	n, err := envconfig.ParseSize(c.String("max-download"))
	if err != nil {
		return 0, usagef("--max-download: %v", err)
	}
	return n, nil
}

// fetch gets a model's artifact with a progress bar on stderr.
func fetch(c *cli.Context, e *env, a store.Artifact) (string, error) {
	var (
		mu  sync.Mutex
		bar *progress.Bar
	)
	start := time.Now()
	e.store.Progress = func(name string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		// Work that ends within half a second (copying a bundled model,
		// re-hashing a cached one) shows no bar at all.
		if bar == nil {
			if time.Since(start) < 500*time.Millisecond {
				return
			}
			bar = progress.New(c.App.ErrWriter, "pull "+a.Name, "B", total, 0, c.Bool("quiet"))
		}
		bar.SetTotal(total)
		bar.Set(done)
	}
	path, err := e.store.Fetch(c.Context, a)
	if bar != nil {
		bar.Finish()
	}
	return path, err
}
