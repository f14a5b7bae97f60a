package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"

	"medzoo/internal/envconfig"
	"medzoo/internal/files"
	"medzoo/internal/progress"
	"medzoo/share"
	"medzoo/zenodo"
	"medzoo/zoo"
)

func publishCommand() *cli.Command {
	return &cli.Command{
		Name:      "publish",
		Usage:     "publish a model directory on Zenodo with a DOI, and write its ready catalog entry",
		UsageText: "zoo publish DIR --zenodo [--sandbox] [--draft] [-o ENTRY.toml] [--force] [--device auto|cpu|cuda:N] [--threads T] [--json]",
		Description: "DIR is a model directory, checked as zoo pack checks it (zoo validate's checks: the module is run,\n" +
			"so publish needs LibTorch); nothing goes to Zenodo while a problem is left. publish packs it (the same reproducible\n" +
			"zip) and, through Zenodo's REST deposition API, creates a deposition, uploads the zip, describes it\n" +
			"(title, creators from authors, description from the entry and README.md, licence from the SPDX id,\n" +
			"keywords from tags, modality and organ, the paper DOIs as related identifiers, version) and publishes\n" +
			"it as a software record. It prints the DOI, the record and file URLs and the zip's sha256, and writes\n" +
			"ENTRY.toml (default: DIR.zenodo.toml beside the directory): the model's catalog entry whose artifact\n" +
			"is the file on Zenodo, ready for zoo catalog add or --catalog.\n" +
			"The access token comes from $ZENODO_TOKEN (create one in Zenodo's account settings, Applications,\n" +
			"with the scopes deposit:write and deposit:actions); it is never printed. --sandbox publishes on\n" +
			"sandbox.zenodo.org (which needs its own token) to try it out; $ZOO_ZENODO_URL names another server\n" +
			"(a self-hosted Zenodo or InvenioRDM). --draft stops before publishing: review the draft on Zenodo\n" +
			"and publish it there; the entry's file URL works once it is published.\n\n" +
			"Example:\n" +
			"   ZENODO_TOKEN=… zoo publish mymodel/ --zenodo --sandbox --draft",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "zenodo", Usage: "publish on Zenodo (the only target yet; required)"},
			&cli.BoolFlag{Name: "sandbox", Usage: "use sandbox.zenodo.org, Zenodo's test instance"},
			&cli.BoolFlag{Name: "draft", Usage: "upload and describe, but leave the deposition a draft"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the catalog entry `FILE` to write (default DIR.zenodo.toml)"},
			&cli.BoolFlag{Name: "force", Usage: "replace the entry file if it exists"},
			deviceFlag(),
			threadsFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: sharingAction(runPublish),
	}
}

// runPublish publishes the model directory that check passes
// (checkedForSharing in the LibTorch build, as for pack and push).
func runPublish(c *cli.Context, check func(dir string) (*share.Model, error)) error {
	if c.NArg() != 1 {
		return usagef("publish takes one model directory, got %d arguments; e.g. zoo publish mymodel/ --zenodo", c.NArg())
	}
	if !c.Bool("zenodo") {
		return usagef("publish needs a target: --zenodo (Zenodo is the only one yet); e.g. zoo publish DIR --zenodo --sandbox")
	}
	dir := c.Args().First()
	base, err := zenodoURL(c.Bool("sandbox"))
	if err != nil {
		return err
	}
	token := envconfig.ZenodoToken()
	if token == "" {
		return fmt.Errorf("ZENODO_TOKEN is not set: create an access token at %s/account/settings/applications/tokens/new/ "+
			"with the scopes deposit:write and deposit:actions, then export ZENODO_TOKEN=<the token> and run zoo publish again",
			strings.TrimSuffix(base, "/api"))
	}
	out := c.String("output")
	if out == "" {
		out = defaultEntryPath(dir)
	}
	// Refused before anything goes to Zenodo, so that no record is made
	// whose entry then has nowhere to go.
	if err := checkOutputBeside(c, out, dir, "the entry"); err != nil {
		return err
	}
	m, err := check(dir)
	if err != nil {
		return err
	}
	card, err := share.ReadText(dir, share.CardFile)
	if err != nil {
		return err
	}
	md, err := zenodo.EntryMetadata(m.Entry, card)
	if err != nil {
		return err
	}

	zipPath, digest, size, err := packTemp(m)
	if err != nil {
		return err
	}
	defer os.Remove(zipPath)
	md.Notes = "Shared with zoo publish (medzoo). The archive's sha256: " + digest + "."

	client := zenodo.New(base, token)
	client.Notify = func(msg string) { fmt.Fprintln(c.App.ErrWriter, msg) }
	var mu sync.Mutex
	var bar *progress.Bar
	client.Progress = func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if bar == nil {
			bar = progress.New(c.App.ErrWriter, "upload "+archiveName(m.Entry), "B", total, 0, c.Bool("quiet"))
		}
		bar.Set(done)
	}
	res, err := client.Publish(c.Context, zenodo.Upload{Path: zipPath, Name: archiveName(m.Entry), Metadata: md, Draft: c.Bool("draft")})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}

	entry := *m.Entry
	entry.Artifact = zoo.Artifact{URL: res.FileURL, SHA256: digest, Format: zoo.FormatTorchScript, Path: share.ModuleFile, Size: size}
	if err := writeEntry(out, entry, res); err != nil {
		return fmt.Errorf("%v\nThe model is on Zenodo all the same: DOI %s, file %s, sha256 %s (%d bytes); write the entry with -o elsewhere "+
			"or by hand", err, res.DOI, res.FileURL, digest, size)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, struct {
			*zenodo.Result
			SHA256 string `json:"sha256"`
			Entry  string `json:"entry"`
		}{res, digest, out})
	}
	w := c.App.Writer
	if res.Published {
		fmt.Fprintf(w, "published on Zenodo: DOI %s\n", res.DOI)
	} else {
		fmt.Fprintf(w, "draft on Zenodo, not published (reserved DOI %s): review and publish it at %s\n", res.DOI, res.DraftURL)
	}
	fmt.Fprintf(w, "record  %s\nfile    %s\nsha256  %s (%d bytes)\nentry   %s\n", res.RecordURL, res.FileURL, digest, size, out)
	if !res.Published {
		fmt.Fprintln(w, "The record and file URLs work once the draft is published.")
	}
	return nil
}

// zenodoURL is the API to use: $ZOO_ZENODO_URL, else zenodo.org or its
// sandbox.
func zenodoURL(sandbox bool) (string, error) {
	u, err := envconfig.ZenodoURL()
	switch {
	case err != nil:
		return "", err
	case u != "" && sandbox:
		return "", usagef("--sandbox and %s=%s both name a server: unset one", envconfig.EnvZenodoURL, u)
	case u != "":
		return u, nil
	case sandbox:
		return envconfig.ZenodoSandboxURL, nil
	}
	return envconfig.ZenodoURLDefault, nil
}

// defaultEntryPath is DIR.zenodo.toml beside the directory: inside it, the
// entry would be an extra file, which a model directory must not hold.
func defaultEntryPath(dir string) string {
	clean := filepath.Clean(dir)
	if b := filepath.Base(clean); b == "." || b == ".." || b == string(filepath.Separator) {
		if abs, err := filepath.Abs(clean); err == nil {
			clean = abs
		}
	}
	return clean + ".zenodo.toml"
}

// archiveName is the zip's name on Zenodo, ID-VERSION.zip, in characters
// every file system and URL keeps as they are.
func archiveName(m *zoo.Model) string {
	name := m.ID
	if m.Version != "" {
		name += "-" + m.Version
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
	return name + ".zip"
}

// packTemp packs m into a temporary file and returns it with its sha256
// and size.
func packTemp(m *share.Model) (path, digest string, size int64, err error) {
	f, err := os.CreateTemp("", "zoo-publish-*.zip")
	if err != nil {
		return "", "", 0, err
	}
	a, err := m.PackSummed(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", 0, fmt.Errorf("packing %s: %w", m.Dir, err)
	}
	return f.Name(), a.SHA256, a.Size, nil
}

// writeEntry writes the published model's catalog entry, checked to parse
// as a catalog, atomically.
func writeEntry(path string, m zoo.Model, res *zenodo.Result) error {
	var b bytes.Buffer
	state := "Published"
	if !res.Published {
		state = "A draft (its file URL works once it is published)"
	}
	fmt.Fprintf(&b, "# %s on Zenodo by zoo publish: DOI %s, record %s\n", state, res.DOI, res.RecordURL)
	fmt.Fprintf(&b, "# Add it to a catalog (zoo catalog add %s --to CATALOG.toml), or use it as one (zoo --catalog %s pull %s).\n\n",
		filepath.Base(path), filepath.Base(path), m.ID)
	err := toml.NewEncoder(&b).Encode(struct {
		Schema int         `toml:"schema"`
		Model  []zoo.Model `toml:"model"`
	}{zoo.SchemaVersion, []zoo.Model{m}})
	if err != nil {
		return err
	}
	if _, err := zoo.Parse(b.Bytes(), path); err != nil {
		return fmt.Errorf("the entry would not be a valid catalog: %w", err)
	}
	return files.WriteAtomicBytes(path, b.Bytes())
}
