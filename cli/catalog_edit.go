package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"medzoo/zoo"
)

// embeddedName names the built-in catalog on zoo catalog diff's line: the
// name its entries carry as their source everywhere else (zoo catalog
// list, messages). A file of that name is ./embedded.
const embeddedName = zoo.EmbeddedSource

// verbFlags are the catalog command's flags that only some verbs take:
// given to another verb they are a usage error, not silently ignored.
var verbFlags = map[string][]string{
	"to": {"add"}, "replace": {"add"}, "create": {"add"},
	"strict": {"validate"}, "load": {"validate"},
}

// checkVerbFlags refuses the flags set on c that verb does not take.
func checkVerbFlags(c *cli.Context, verb string) error {
	for _, name := range c.FlagNames() {
		if takers, ok := verbFlags[name]; ok && c.IsSet(name) && !slices.Contains(takers, verb) {
			return usagef("--%s is for zoo catalog %s, not catalog %s", name, strings.Join(takers, ", "), verb)
		}
	}
	return nil
}

// catalogAdd is zoo catalog add FILE --to CATALOG: the entry of FILE
// merged into CATALOG's text (zoo.AddEntry).
func catalogAdd(c *cli.Context, args []string) error {
	if err := checkVerbFlags(c, "add"); err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("catalog add takes one entry file, got %d arguments; e.g. zoo catalog add mymodel/model.toml --to zoo.toml", len(args))
	}
	to := c.String("to")
	if to == "" {
		return usagef("catalog add needs --to CATALOG, the catalog file to add the entry to (e.g. --to zoo.toml)")
	}
	res, err := zoo.AddEntry(args[0], to, zoo.AddOptions{Replace: c.Bool("replace"), Create: c.Bool("create")})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	what := "added"
	switch {
	case res.Replaced:
		what = "replaced"
	case res.Created:
		what = "added to a new catalog"
	}
	fmt.Fprintf(c.App.Writer, "%s:%d: model %s %s\n", res.Catalog, res.Line, res.ID, what)
	return nil
}

type diffReport struct {
	Old   string `json:"old"`
	New   string `json:"new"`
	Equal bool   `json:"equal"`
	zoo.CatalogDiff
}

// catalogDiff is zoo catalog diff A B. It exits like diff(1): 0 when the
// catalogs define the same models, 1 when they differ, 2 when one cannot
// be read or parsed (or zoo was called wrongly).
func catalogDiff(c *cli.Context, args []string) error {
	if err := checkVerbFlags(c, "diff"); err != nil {
		return err
	}
	if len(args) != 2 {
		return usagef("catalog diff takes two catalogs, old and new, got %d arguments; e.g. zoo catalog diff %s zoo.toml", len(args), embeddedName)
	}
	var cats [2]*zoo.Catalog
	for i, name := range args {
		cat, err := readDiffSide(name)
		if err != nil {
			// Exit 2, as diff(1) does when it has nothing to compare.
			return usageError{err}
		}
		cats[i] = cat
	}
	d := zoo.Diff(cats[0], cats[1])
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, diffReport{args[0], args[1], d.Equal(), d}); err != nil {
			return err
		}
	} else {
		printDiff(c, d)
		if d.Equal() {
			fmt.Fprintf(c.App.Writer, "%s and %s define the same %d %s\n", args[0], args[1], len(cats[1].Models), plural(len(cats[1].Models), "model", "models"))
		}
	}
	if !d.Equal() {
		return fmt.Errorf("the catalogs differ: %d added, %d removed, %d changed", len(d.Added), len(d.Removed), len(d.Changed))
	}
	return nil
}

// readDiffSide reads one side of catalog diff: the built-in catalog by
// its name, else a file.
func readDiffSide(name string) (*zoo.Catalog, error) {
	if name == embeddedName {
		return zoo.Embedded()
	}
	data, err := zoo.ReadCatalogFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("catalog %s does not exist: name a catalog file, or %s for the built-in catalog", name, embeddedName)
	}
	if err != nil {
		return nil, err
	}
	return zoo.Parse(data, name)
}

func printDiff(c *cli.Context, d zoo.CatalogDiff) {
	w := c.App.Writer
	for _, e := range d.Removed {
		fmt.Fprintf(w, "- %s (%s:%d)\n", e.ID, e.Source, e.Line)
	}
	for _, e := range d.Added {
		fmt.Fprintf(w, "+ %s (%s:%d)\n", e.ID, e.Source, e.Line)
	}
	for _, m := range d.Changed {
		fmt.Fprintf(w, "~ %s (%s:%d)\n", m.ID, m.Source, m.Line)
		for _, f := range m.Fields {
			fmt.Fprintf(w, "    %s: %s → %s\n", f.Key, showValue(f.Old), showValue(f.New))
		}
	}
}

// showValue prints a field's value as the catalog writes it (strings
// quoted, arrays in brackets), cut to a line; JSON has it whole.
func showValue(v any) string {
	if v == nil {
		return "(not set)"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(b.String())
	if r := []rune(s); len(r) > 100 {
		s = string(r[:97]) + "…"
	}
	return s
}
