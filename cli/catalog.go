package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"medzoo/zoo"
)

func catalogCommand() *cli.Command {
	return &cli.Command{
		Name:  "catalog",
		Usage: "check, edit and compare catalog files, and list the catalogs zoo reads",
		UsageText: "zoo catalog validate FILE... [--load] [--strict] [--json]\n   zoo catalog list [--json]\n" +
			"   zoo catalog add FILE --to CATALOG [--replace] [--create] [--json]\n   zoo catalog diff OLD NEW [--json]",
		Description: "validate reports every problem of each catalog file as FILE:LINE: message (TOML syntax, unknown\n" +
			"keys, wrong types, missing or invalid fields, duplicate ids), plus warnings where a metric\n" +
			"contradicts zoo's metric registry (a direction, an FID without its feature extractor). It exits 1\n" +
			"when a file has problems (with --strict, warnings too). With --load it also fetches each runnable\n" +
			"entry's artifact, runs one compute block through it and checks the module against the declared\n" +
			"signature: latent shape, conditions, inputs, output shapes, channels and value ranges, and that a\n" +
			"module drawing random numbers inside forward is declared stochastic.\n\n" +
			"list shows the catalogs zoo merges, lowest precedence first; a later catalog's model replaces an\n" +
			"earlier one with the same id:\n" +
			"   1. the built-in catalog\n" +
			"   2. remote catalogs listed in CONFIG/catalogs.toml ([[catalog]] url = \"https://...\", sha256 = \"...\")\n" +
			"   3. CONFIG/catalogs/*.toml, by file name\n" +
			"   4. $ZOO_CATALOG (files or https://...#sha256=HEX, separated by ':')\n" +
			"   5. --catalog FILE or --catalog https://host/file.toml#sha256=HEX (repeatable)\n" +
			"CONFIG is $ZOO_CONFIG_DIR, else the user config directory's medzoo (~/.config/medzoo).\n" +
			"Remote catalogs must carry the sha256 of the file; they are fetched once, verified, kept in the\n" +
			"cache by digest and then read offline.\n\n" +
			"add merges the one [[model]] entry of FILE (a model directory's model.toml) into CATALOG, editing its\n" +
			"text: every comment, entry and byte it does not change stays as it is. FILE must be valid (its problems\n" +
			"are reported as FILE:LINE) and CATALOG too, of the same schema. A new id is appended at the end; an id\n" +
			"CATALOG has is refused unless --replace, which swaps that entry's text from its [[model]] line to its\n" +
			"last key (comments above and after it stay). The result is checked before it is written, atomically\n" +
			"and under CATALOG.lock; CATALOG must exist unless --create, and is never written through a link.\n\n" +
			"diff lists the models NEW adds (+), removes (-) and changes (~) compared with OLD, matched by id\n" +
			"ignoring case, with each changed field by catalog key (artifact.sha256, metrics.FID.value) and its\n" +
			"old → new value. OLD or NEW may be \"embedded\", the built-in catalog (a file of that name is\n" +
			"./embedded). It exits like diff(1): 0 when the catalogs are the same, 1 when they differ, 2 when one\n" +
			"cannot be read or parsed.\n\n" +
			"Example, proposing a model for the built-in catalog:\n" +
			"   zoo catalog add mymodel/model.toml --to zoo.toml && zoo catalog diff embedded zoo.toml",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "strict", Usage: "validate: count warnings as problems"},
			&cli.BoolFlag{Name: "load", Usage: "validate: also load each runnable model and run one block against its signature"},
			&cli.StringFlag{Name: "to", Usage: "add: the catalog `FILE` to add the entry to"},
			&cli.BoolFlag{Name: "replace", Usage: "add: replace the catalog's entry of the same id"},
			&cli.BoolFlag{Name: "create", Usage: "add: start the catalog file if it does not exist"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error { return runVerb(c, catalogVerbs()) },
	}
}

func catalogVerbs() []verb {
	return []verb{
		{names: []string{"validate", "check"}, usage: "validate FILE...", run: catalogValidate},
		{names: []string{"list", "ls", "sources"}, usage: "list", noArgs: "catalog list takes no arguments",
			run: func(c *cli.Context, _ []string) error { return catalogList(c) }},
		{names: []string{"add"}, usage: "add FILE --to CATALOG", run: catalogAdd},
		{names: []string{"diff"}, usage: "diff OLD NEW", run: catalogDiff},
	}
}

type validateReport struct {
	File     string   `json:"file"`
	Models   int      `json:"models"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

func catalogValidate(c *cli.Context, files []string) error {
	if len(files) == 0 {
		return usagef("catalog validate needs one or more catalog files")
	}
	if c.Bool("load") {
		return runTorch(c)
	}
	return validateCatalogs(c, files, nil)
}

// validateCatalogs is zoo catalog validate. loadCheck, when not nil, also
// runs one block of each runnable entry and returns its problems (--load,
// in the LibTorch build: checkByLoading).
func validateCatalogs(c *cli.Context, files []string, loadCheck func(c *cli.Context, e *env, m *zoo.Model) []string) error {
	var e *env
	if loadCheck != nil {
		var err error
		if e, err = loadEnv(c); err != nil {
			return err
		}
	}
	var reports []validateReport
	bad := 0
	firstSeen := map[string]string{} // id -> file:line, across files
	for _, f := range files {
		r := validateReport{File: f}
		data, err := zoo.ReadCatalogFile(f)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", f, errors.Unwrap(err)))
			reports = append(reports, r)
			bad++
			continue
		}
		cat, err := zoo.Parse(data, f)
		var ve *zoo.ValidationError
		switch {
		case errors.As(err, &ve):
			for _, p := range ve.Problems {
				r.Errors = append(r.Errors, p.String())
			}
		case err != nil:
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", f, err))
		default:
			r.Models = len(cat.Models)
			for _, p := range zoo.CatalogWarnings(cat, data) {
				r.Warnings = append(r.Warnings, p.String())
			}
			for i := range cat.Models {
				m := &cat.Models[i]
				if e != nil && m.Runnable() {
					for _, p := range loadCheck(c, e, m) {
						r.Errors = append(r.Errors, fmt.Sprintf("%s:%d: model %s: %s", f, m.Line, m.ID, p))
					}
				}
				k := strings.ToLower(m.ID)
				if at, ok := firstSeen[k]; ok {
					r.Warnings = append(r.Warnings, fmt.Sprintf("%s:%d: model %s is also defined at %s; loaded together, this one replaces it", f, m.Line, m.ID, at))
				} else {
					firstSeen[k] = fmt.Sprintf("%s:%d", f, m.Line)
				}
			}
		}
		if len(r.Errors) > 0 || (c.Bool("strict") && len(r.Warnings) > 0) {
			bad++
		}
		reports = append(reports, r)
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, reports); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			for _, e := range r.Errors {
				fmt.Fprintln(c.App.Writer, e)
			}
			for _, w := range r.Warnings {
				fmt.Fprintln(c.App.Writer, w+" (warning)")
			}
			if len(r.Errors) == 0 {
				fmt.Fprintf(c.App.Writer, "%s: ok, %d %s%s\n", r.File, r.Models, plural(r.Models, "model", "models"), warnCount(len(r.Warnings)))
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d catalog %s %s problems", bad, len(files), plural(len(files), "file", "files"), plural(bad, "has", "have"))
	}
	return nil
}

func warnCount(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d %s)", n, plural(n, "warning", "warnings"))
}

type sourceReport struct {
	Rank int `json:"precedence"`
	zoo.CatalogSource
	Models    int      `json:"models"`
	Overrides []string `json:"overrides,omitempty"` // ids this catalog takes over from earlier ones
	Effective int      `json:"effective"`           // models of this catalog in the merged catalog
}

func catalogList(c *cli.Context) error {
	e, err := loadEnv(c)
	if err != nil {
		return err
	}
	cat, srcs := e.catalog, e.sources
	// Which source defines each id, in order.
	reports := make([]sourceReport, len(srcs))
	bySource := map[string]int{}
	for i, s := range srcs {
		reports[i] = sourceReport{Rank: i + 1, CatalogSource: s}
		bySource[s.Name] = i
	}
	// The merged catalog holds only the winners; what each source defines
	// comes from parsing it again on its own.
	seen := map[string]int{}
	for i, s := range srcs {
		var ids []string
		if s.From == zoo.FromEmbedded {
			emb, err := zoo.Embedded()
			if err != nil {
				return err
			}
			for _, m := range emb.Models {
				ids = append(ids, m.ID)
			}
		} else {
			data, err := zoo.ReadCatalogFile(s.Path)
			if err != nil {
				return err
			}
			one, err := zoo.Parse(data, s.Name)
			if err != nil {
				return err
			}
			for _, m := range one.Models {
				ids = append(ids, m.ID)
			}
		}
		reports[i].Models = len(ids)
		for _, id := range ids {
			k := strings.ToLower(id)
			if prev, ok := seen[k]; ok && prev != i {
				reports[i].Overrides = append(reports[i].Overrides, id)
			}
			seen[k] = i
		}
	}
	for _, m := range cat.Models {
		if i, ok := bySource[m.Source]; ok {
			reports[i].Effective++
		}
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, reports)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tCATALOG\tFROM\tMODELS\tIN USE\tREPLACES")
	for _, r := range reports {
		name := r.Name
		if r.URL != "" {
			name += " (sha256 " + r.SHA256[:12] + "…)"
		}
		rep := "-"
		if len(r.Overrides) > 0 {
			ov := append([]string(nil), r.Overrides...)
			sort.Strings(ov)
			if len(ov) > 3 {
				ov = append(ov[:3], fmt.Sprintf("+%d", len(r.Overrides)-3))
			}
			rep = strings.Join(ov, ", ")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", r.Rank, name, r.From, r.Models, r.Effective, rep)
	}
	tw.Flush()
	fmt.Fprintf(c.App.Writer, "\n%d models in all. Later catalogs win: a model id defined again replaces the earlier entry.\n", len(cat.Models))
	if d, err := zoo.ConfigDir(); err == nil {
		fmt.Fprintf(c.App.Writer, "config dir: %s (catalogs/*.toml, %s)\n", d, zoo.RemoteListFile)
	}
	return nil
}
