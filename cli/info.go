package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"medzoo/zoo"
	"medzoo/zoo/store"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Aliases:   []string{"ls"},
		Usage:     "list the models in the catalog",
		UsageText: "zoo list [--runnable] [--json]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "runnable", Usage: "only models zoo can run (TorchScript)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("list takes no arguments (use zoo info ID for one model)")
			}
			e, err := loadEnv(c)
			if err != nil {
				return err
			}
			var models []*zoo.Model
			for i := range e.catalog.Models {
				m := &e.catalog.Models[i]
				if c.Bool("runnable") && !m.Runnable() {
					continue
				}
				models = append(models, m)
			}
			if c.Bool("json") {
				var out []map[string]any
				for _, m := range models {
					v, err := modelMap(m, e.store)
					if err != nil {
						return err
					}
					out = append(out, v)
				}
				return printJSON(c.App.Writer, out)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tRUNS\tMODALITY\tORGAN\tSIZE\tTITLE")
			for _, m := range models {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, runsLabel(m), first(m.Modality), first(m.Organ), size(m), clip(m.Title, 60))
			}
			tw.Flush()
			fmt.Fprintf(c.App.Writer, "\n%d models; `zoo info ID` for details. %s\n", len(models), runsLegend)
			return nil
		},
	}
}

func runsLabel(m *zoo.Model) string { return runsWord(m.Runnable(), m.Demo) }

// runsWord is the RUNS column of zoo list and zoo search: one rule for
// both, so they never disagree about a model.
func runsWord(runnable, demo bool) string {
	switch {
	case runnable && demo:
		return "demo"
	case runnable:
		return "yes"
	}
	return "pkg"
}

// runsLegend explains the RUNS column under the tables that have one.
const runsLegend = "RUNS: yes = TorchScript runnable here, demo = demonstration model, pkg = original Python package (not runnable)."

func first(v []string) string {
	if s := firstOr(v); s != "" {
		return s
	}
	return "-"
}

func size(m *zoo.Model) string {
	if m.Width == 0 || m.Height == 0 {
		return "-"
	}
	if m.Depth > 0 {
		return fmt.Sprintf("%dx%dx%d", m.Width, m.Height, m.Depth)
	}
	return fmt.Sprintf("%dx%d", m.Width, m.Height)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// modelMap renders a model with its catalog (TOML) key names, for JSON
// output that reads like the catalog, plus where it comes from and whether
// its artifact is cached.
func modelMap(m *zoo.Model, st *store.Store) (map[string]any, error) {
	out, err := m.Map()
	if err != nil {
		return nil, err
	}
	if path, ok := st.Cached(m.StoreArtifact()); ok {
		out["cached"] = path
	}
	return out, nil
}

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "show everything the catalog knows about a model",
		UsageText: "zoo info ID [--json]",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			e, m, err := loadModel(c)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				v, err := modelMap(m, e.store)
				if err != nil {
					return err
				}
				return printJSON(c.App.Writer, v)
			}
			printInfo(c.App.Writer, m, e.store)
			return nil
		},
	}
}

func printInfo(w io.Writer, m *zoo.Model, st *store.Store) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if strings.TrimSpace(v) != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	list := func(v []string) string { return strings.Join(v, ", ") }
	row("id", m.ID)
	row("title", m.Title)
	row("version", m.Version)
	if m.Demo {
		row("status", "DEMONSTRATION model trained by medzoo: not a clinical or research model")
	}
	row("modality", list(m.Modality))
	row("organ", list(m.Organ))
	row("generates", list(m.Generates))
	row("function", m.Function)
	row("architecture", m.Architecture)
	row("size", size(m))
	row("dataset", list(m.Dataset))
	row("license", m.License)
	row("authors", list(m.Authors))
	row("publication", m.Publication)
	row("doi", list(m.DOI))
	row("year", m.Year)
	row("catalog", fmt.Sprintf("%s:%d", m.Source, m.Line))
	row("artifact", m.Artifact.URL)
	row("format", m.Artifact.Format)
	if m.Artifact.SHA256 != "" {
		row("sha256", m.Artifact.SHA256)
	} else {
		row("sha256", "(none published: zoo pull needs --allow-unpinned)")
	}
	if path, ok := st.Cached(m.StoreArtifact()); ok {
		row("cached", path)
	} else if m.Artifact.SHA256 == "" {
		row("cached", "no (zoo pull "+m.ID+" --allow-unpinned)")
	} else {
		row("cached", "no (zoo pull "+m.ID+")")
	}
	if m.Runnable() {
		row("runs in zoo", "yes (TorchScript)")
	} else {
		row("runs in zoo", "no: original Python package; needs a TorchScript export")
	}
	if s := m.Signature; s != nil {
		if len(s.Latent) > 0 {
			dist := s.Distribution
			if dist == "" {
				dist = "normal"
			}
			row("latent", fmt.Sprintf("%v (%s)", s.Latent, dist))
		}
		for _, cnd := range s.Conditions {
			if cnd.IsFloat() {
				row("condition", fmt.Sprintf("%s: a number (default %g)", cnd.Name, cnd.Default))
				continue
			}
			row("condition", cnd.Name+": "+list(cnd.Values))
		}
		for _, in := range s.ImageInputs() {
			row("input", specString(in))
		}
		for _, o := range s.Outputs {
			row("output", specString(o))
			if o.Post != nil || o.Source != "" {
				row("  post-processing", zoo.DescribeOutput(o))
			}
		}
		for _, a := range s.Args {
			row("forward argument", fmt.Sprintf("%s = %g (%s)", a.Name, a.Value, a.Type))
		}
		if s.Batch > 0 {
			row("compute block", fmt.Sprint(s.Batch))
		}
		if s.Stochastic {
			row("reproducible", "per compute block: the module draws random numbers inside forward, seeded per (seed, block)")
		}
	}
	for _, o := range m.Overlays {
		row("overlay", o)
	}
	if imp := m.Imported; imp != nil {
		row("imported", fmt.Sprintf("%s by zoo %s from %s", imp.Date, imp.ZooVersion, imp.Package))
		row("import ran", imp.Generate)
		row("import sandbox", imp.Sandbox)
		row("import python", fmt.Sprintf("python %s, torch %s", imp.Python, imp.Torch))
		row("exported with", fmt.Sprintf("%s; max |TorchScript - eager| = %g (bit-identical: %v)", imp.Export, imp.MaxAbsDiff, imp.BitIdentical))
		row("compute block why", imp.Block)
		switch {
		case imp.PixelIdentical:
			row("pixel check", fmt.Sprintf("pixel-identical: %d package images, %d values, all equal", imp.Images, imp.Pixels))
		case imp.Images > 0:
			row("pixel check", fmt.Sprintf("NOT identical: %d of %d values equal over %d images", imp.PixelsEqual, imp.Pixels, imp.Images))
		default:
			row("pixel check", "not made")
		}
		for _, u := range imp.Unexpressed {
			row("not reproduced", u)
		}
		for _, wn := range imp.Warnings {
			row("import note", wn)
		}
	}
	if u := m.Upstream; u != nil {
		row("upstream package", u.Package)
		row("upstream checkpoint", u.ModelFile)
		row("upstream imports", list(u.Dependencies))
		if u.LatentSize > 0 {
			row("upstream latent", fmt.Sprint(u.LatentSize))
		}
	}
	if t := m.Training; t != nil {
		row("trained on", t.DataSource)
		row("data license", t.DataLicense)
		row("training command", t.Command)
		if t.Epochs > 0 {
			row("epochs", fmt.Sprint(t.Epochs))
		}
		row("training time", t.WallTime)
		if t.Parameters > 0 {
			row("parameters", fmt.Sprint(t.Parameters))
		}
	}
	names := make([]string, 0, len(m.Metrics))
	for k := range m.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		mt := m.Metrics[k]
		how := []string{mt.Direction + " is better", mt.Source}
		if mt.Extractor != "" {
			how = append(how, mt.Extractor)
		}
		if mt.Images > 0 {
			how = append(how, fmt.Sprintf("%d images", mt.Images))
		}
		row("metric "+k, fmt.Sprintf("%g  (%s)", mt.Value, strings.Join(how, "; ")))
	}
	tw.Flush()
	if m.Description != "" {
		fmt.Fprintf(w, "\n%s\n", m.Description)
	}
}

func specString(s zoo.TensorSpec) string {
	out := fmt.Sprintf("%s: %s, %d channel(s), %dx%d, values in [%g, %g]", s.Name, s.Kind, s.Channels, s.Width, s.Height, s.Range[0], s.Range[1])
	if p := zoo.DescribePhysical(s); len(p) > 0 {
		out += "; " + strings.Join(p, "; ")
	}
	return out
}

func firstOr(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
