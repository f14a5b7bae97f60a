package cli

import (
	"fmt"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"medzoo/internal/bytesize"
	"medzoo/internal/envconfig"
	"medzoo/internal/progress"
	"medzoo/oci"
	"medzoo/share"
)

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "push a model directory to an OCI registry as a verified artifact",
		UsageText: "zoo push DIR oci://HOST[:PORT]/REPO:TAG [--plain-http] [--device auto|cpu|cuda:N] [--threads T] [--json]",
		Description: "DIR is a model directory (see zoo pack), checked first by zoo validate's checks (the module is\n" +
			"run, so push needs LibTorch); nothing is sent while a problem is left. It travels as one OCI artifact\n" +
			"(" + oci.ArtifactType + "): model.toml is its config, model.pt, LICENSE, README.md and the samples\n" +
			"are layers. Blobs go first and the tag last, so a failed push never leaves a tagged half model;\n" +
			"run it again and it sends only what the registry lacks. It prints the manifest digest and the\n" +
			"pinned url a catalog uses: url = \"oci://HOST/REPO@sha256:…\".\n" +
			"Login: $" + envconfig.EnvRegistryAuth + " (USER:PASSWORD, or HOST=USER:PASSWORD,…) or the docker config file\n" +
			"($" + envconfig.EnvDockerConfig + "/config.json, docker login). HTTPS always, except --plain-http to a registry\n" +
			"on this machine (127.0.0.1, ::1, localhost).\n\n" +
			"Example:\n" +
			"   zoo push mymodel/ oci://registry.example.org/lab/mri-gan:1.0.0",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "plain-http", Usage: "HTTP instead of HTTPS, for a registry on 127.0.0.1, ::1 or localhost only"},
			deviceFlag(),
			threadsFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: sharingAction(runPush),
	}
}

// runPush pushes the model directory that check passes: validate.ForPack
// in the LibTorch build (registry_torch.go), so that only a model that
// runs as its entry says leaves the machine. The reference is checked
// before the module is run, so a typo costs no model run.
func runPush(c *cli.Context, check func(dir string) (*share.Model, error)) error {
	if c.NArg() != 2 {
		return usagef("push takes a model directory and a reference, got %d arguments; e.g. zoo push mymodel/ oci://registry.example.org/lab/model:1.0.0", c.NArg())
	}
	ref, err := oci.ParseRef(c.Args().Get(1))
	if err != nil {
		return usagef("%v", err)
	}
	if ref.Tag == "" {
		return usagef("push needs a tag to push to (oci://%s/%s:1.0.0); the digest is what the push prints", ref.Host, ref.Repo)
	}
	client, err := ociClient(c, ref)
	if err != nil {
		return err
	}
	m, err := check(c.Args().First())
	if err != nil {
		return err
	}
	om := oci.Model{Dir: m.Dir, ID: m.Entry.ID, Version: m.Entry.Version, License: m.Entry.License, Sums: map[string]oci.Sum{}}
	for _, f := range m.Files {
		if f.Name == share.EntryFile {
			continue // the config, not a layer
		}
		om.Files = append(om.Files, f.Name)
		om.Sums[f.Name] = oci.Sum{SHA256: f.SHA256, Size: f.Size}
	}
	om.Config = m.EntryText
	done := blobProgress(c, client, "push")
	p, err := client.Push(c.Context, om, ref)
	done()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, map[string]any{"model": m.Entry.ID, "ref": ref.String(), "pushed": p})
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%s → %s\ndigest %s\n", m.Entry.ID, ref, p.Digest)
	fmt.Fprintf(w, "sent %d of %d blobs (%s); %d already in the registry (%s)\n", p.Blobs-p.Skipped, p.Blobs,
		bytesize.Human(p.Bytes), p.Skipped, bytesize.Human(p.SkippedBytes))
	fmt.Fprintf(w, "catalog entry:\n%s", artifactTOML(p.Pinned, p.Module))
	return nil
}

// artifactTOML is the [model.artifact] table that pins a pushed model.
func artifactTOML(pinned string, module oci.Layer) string {
	return fmt.Sprintf("  [model.artifact]\n  url = %q\n  sha256 = %q\n  size = %d\n  format = \"torchscript\"\n",
		pinned, module.SHA256(), module.Size)
}

// ociClient is a registry client with the command's --plain-http, which is
// refused at once for a host that is not this machine.
func ociClient(c *cli.Context, ref oci.Ref) (*oci.Client, error) {
	if c.Bool("plain-http") && !ref.Loopback() {
		return nil, usagef("--plain-http is allowed only for a registry on this machine (127.0.0.1, ::1, localhost), not %s: "+
			"over the network it would send the login and the model unencrypted; drop --plain-http and use HTTPS", ref.Host)
	}
	client, err := oci.NewClient()
	if err != nil {
		return nil, err
	}
	client.PlainHTTP = c.Bool("plain-http")
	return client, nil
}

// blobProgress shows one bar per blob on stderr; the returned func ends
// the last one.
func blobProgress(c *cli.Context, client *oci.Client, verb string) func() {
	var (
		mu   sync.Mutex
		bar  *progress.Bar
		name string
	)
	client.Progress = func(n string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if n != name || bar == nil {
			if bar != nil {
				bar.Finish()
			}
			name = n
			bar = progress.New(c.App.ErrWriter, verb+" "+strings.TrimPrefix(n, "./"), "B", total, 0, c.Bool("quiet"))
		}
		bar.Set(done)
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if bar != nil {
			bar.Finish()
		}
	}
}
