package cli

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/internal/envconfig"
	"medzoo/internal/progress"
	"medzoo/oci"
	"medzoo/zoo/store"
)

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "download a model's artifact into the cache and verify its checksum",
		UsageText: "zoo pull ID|oci://HOST[:PORT]/REPO:TAG|oci://HOST/REPO@sha256:HEX [-o DIR] [--plain-http] [--allow-unpinned] [--max-download SIZE] [--json]",
		Description: "The artifact is stored under the cache directory by its sha256, so it is fetched once and\n" +
			"then works offline. medigan's packages publish no checksum: --allow-unpinned downloads them\n" +
			"anyway and pins the digest seen on first use, so later fetches must match it.\n" +
			"A download stops at the size the catalog declares, and at most at --max-download\n" +
			"($" + store.EnvMaxDownload + ", default 4GiB); one that receives nothing for $" + store.EnvStallTimeout + "\n" +
			"(default 2m) is abandoned. Nothing partial is ever left in the cache.\n" +
			"An oci:// reference (see zoo push) is resolved to its manifest digest, verified, and its model.pt\n" +
			"cached like any artifact; zoo prints the pinned [model.artifact] for a catalog. -o DIR also writes\n" +
			"the whole model directory (a new or empty DIR: nothing is overwritten). --plain-http: only for a\n" +
			"registry on this machine.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "allow-unpinned", Usage: "fetch an artifact whose catalog entry pins no sha256, pinning it on first use"},
			&cli.StringFlag{Name: "max-download", Usage: "largest download accepted, e.g. 500MB or 8GiB (default $" + store.EnvMaxDownload + ", else 4GiB)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "oci:// only: also write the model directory `DIR` (new or empty)"},
			&cli.BoolFlag{Name: "plain-http", Usage: "oci:// only: HTTP instead of HTTPS, for a registry on 127.0.0.1, ::1 or localhost"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			limit, err := maxDownloadFlag(c)
			if err != nil {
				return err
			}
			if strings.HasPrefix(c.Args().First(), oci.Scheme) {
				return runPullOCI(c, limit)
			}
			for _, f := range []string{"output", "plain-http"} {
				if c.IsSet(f) {
					return usagef("--%s is for oci:// references; a model id is pulled as its catalog says", f)
				}
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

// runPullOCI pulls an oci:// reference: the manifest is resolved and
// checked, the module fetched into the store by the pinned url (so it is
// verified and cached like any artifact, and later works offline), and
// with -o the model directory written.
func runPullOCI(c *cli.Context, limit int64) error {
	if c.NArg() != 1 {
		return usagef("pull takes one reference, got %d arguments", c.NArg())
	}
	ref, err := oci.ParseRef(c.Args().First())
	if err != nil {
		return usagef("%v", err)
	}
	client, err := ociClient(c, ref)
	if err != nil {
		return err
	}
	st, err := newStore(c)
	if err != nil {
		return err
	}
	st.MaxDownloadBytes = limit
	st.RegistryPlainHTTP = c.Bool("plain-http")
	if st.Offline {
		return fmt.Errorf("offline mode is on (--offline or %s), so %s cannot be resolved; "+
			"a catalog entry with its pinned url works offline once cached", envconfig.EnvOffline, ref)
	}
	if client.MaxModuleBytes, err = envconfig.MaxDownload(); err != nil {
		return err
	}
	if limit > 0 {
		client.MaxModuleBytes = limit
	}
	art, err := client.Resolve(c.Context, ref)
	if err != nil {
		return err
	}
	mod := art.Module()
	id := art.Annotations[oci.AnnotationModelID]
	if id == "" {
		id = ref.Repo
	}
	e := &env{store: st}
	path, err := fetch(c, e, store.Artifact{Name: id, URL: art.Pinned.String(), SHA256: mod.SHA256(), Size: mod.Size, Format: store.FormatTorchScript})
	if err != nil {
		return err
	}
	out := c.String("output")
	if out != "" {
		done := blobProgress(c, client, "pull")
		err = client.WriteDir(c.Context, art, out, map[string]string{mod.SHA256(): path})
		done()
		if err != nil {
			return err
		}
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, map[string]any{"model": id, "ref": ref.String(), "url": art.Pinned.String(),
			"digest": art.Digest, "path": path, "sha256": mod.SHA256(), "size": mod.Size, "dir": out, "layers": art.Layers})
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%s: %s\ndigest %s\n", id, path, art.Digest)
	if out != "" {
		fmt.Fprintf(w, "model directory: %s\n", out)
	}
	fmt.Fprintf(w, "catalog entry (pinned):\n%s", artifactTOML(art.Pinned.String(), mod))
	return nil
}
