package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/internal/envconfig"
	"medzoo/output"
	"medzoo/zoo"
	"medzoo/zoo/search"
)

func searchCommand() *cli.Command {
	return &cli.Command{
		Name:    "search",
		Aliases: []string{"find"},
		Usage:   "find models by what they are and rank them by a metric",
		UsageText: "zoo search [TERMS...] [--modality M] [--organ O] [--arch A] [--dataset D] [--license L]\n" +
			"   [--function noise-to-image|image-to-image] [--min-size N] [--with-mask] [--conditional]\n" +
			"   [--where KEY=VALUE]... [--op and|or|xor] [--rank-by METRIC [--asc|--desc] [--skip-missing]]\n" +
			"   [--limit K] [--json] [--explain] [--rebuild-index] [--generate N -o DIR [generate flags]]",
		Description: "TERMS are matched, ignoring case, against every descriptive field (id, title, modality, organ,\n" +
			"what it generates above architecture, data set, tags and prose), with the field's synonyms\n" +
			"(MMG = mammography = mammogram, CXR = chest x-ray, MR = MRI = magnetic resonance; MRI also finds\n" +
			"T1/T2/FLAIR; polyp also finds endoscopy), word stems and small typos (mamography). A quoted phrase\n" +
			"(\"chest x-ray\") must match within one field. By default every term must match (--op and); --op or\n" +
			"needs one, --op xor exactly one.\n\n" +
			"--rank-by orders by a metric in the direction zoo's metric registry gives it (FID, KID: lower is\n" +
			"better; FID_ratio, SSIM, PSNR, Dice, AUC, F1: higher; visual Turing tests: closest to 0.5);\n" +
			"--asc/--desc override it. Values from different feature extractors are never ranked together,\n" +
			"and differing reference sets, image counts or sources are pointed out. Models without the metric\n" +
			"come last (--skip-missing drops them).\n\n" +
			"--where KEY OP VALUE looks up any catalog key (license, modality, architecture, dataset_type,\n" +
			"artifact.format, metrics.FID.extractor, a metric name): = matches ignoring case and synonyms,\n" +
			"== exactly (ignoring case), != is not =, ~ contains, < <= > >= compare numbers (FID<100).\n\n" +
			"--generate N -o DIR generates N images with the top hit that zoo can run (zoo generate's flags\n" +
			"apply); the ranked list goes to stderr.\n\n" +
			"Examples:\n" +
			"   zoo search mammography mass --rank-by FID\n" +
			"   zoo search \"chest x-ray\" --min-size 512\n" +
			"   zoo search --where license=MIT --rank-by FID_RADIMAGENET --skip-missing\n" +
			"   zoo search brain --modality MRI --function image-to-image --json\n" +
			"   zoo search mammography --rank-by FID --generate 100 -o out/",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "modality", Aliases: []string{"m"}, Usage: "only models of this `MODALITY` (repeat: any of them)"},
			&cli.StringSliceFlag{Name: "organ", Usage: "only models of this `ORGAN`"},
			&cli.StringSliceFlag{Name: "arch", Aliases: []string{"architecture"}, Usage: "only this `ARCHITECTURE` (DCGAN, CycleGAN, ...)"},
			&cli.StringSliceFlag{Name: "dataset", Usage: "only models trained on this `DATASET`"},
			&cli.StringSliceFlag{Name: "license", Usage: "only models under this `LICENSE`"},
			&cli.StringFlag{Name: "function", Usage: "noise-to-image or image-to-image"},
			&cli.IntFlag{Name: "min-size", Usage: "only models whose images are at least `N` pixels wide and high"},
			&cli.BoolFlag{Name: "with-mask", Usage: "only models that generate segmentation masks with their images"},
			&cli.BoolFlag{Name: "conditional", Usage: "only models that take a condition (class, age, ...)"},
			&cli.StringSliceFlag{Name: "where", Aliases: []string{"w"}, Usage: "`KEY=VALUE` lookup (also ==, !=, ~, <, <=, >, >=; repeatable, all must hold)"},
			&cli.StringFlag{Name: "op", Value: "and", Usage: "how TERMS combine: and, or, xor"},
			&cli.StringFlag{Name: "rank-by", Aliases: []string{"r"}, Usage: "rank by `METRIC` (FID, SSIM, CLF.trained_on_real_and_fake.f1, turing_test.AUC, ...)"},
			&cli.BoolFlag{Name: "asc", Usage: "list the smallest metric values first"},
			&cli.BoolFlag{Name: "desc", Usage: "list the largest metric values first"},
			&cli.BoolFlag{Name: "skip-missing", Usage: "leave out models without the --rank-by metric"},
			&cli.IntFlag{Name: "limit", Aliases: []string{"k"}, Value: 20, Usage: "show at most `K` models (0: all)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "explain", Usage: "show how terms were read and why each model matched"},
			&cli.BoolFlag{Name: "rebuild-index", Usage: "rebuild the cached search index"},
			&cli.IntFlag{Name: "generate", Usage: "generate `N` images with the top runnable hit"},
			// zoo generate's flags, for --generate.
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `DIR` for --generate"},
			&cli.Uint64Flag{Name: "seed", Usage: "--generate: random seed"},
			&cli.IntFlag{Name: "batch-size", Aliases: []string{"b"}, Usage: "--generate: samples per forward step", Action: checkBatchSize},
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "--generate: auto, cpu, cuda or cuda:N"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "png", Usage: "--generate: " + strings.Join(output.FormatNames(), ", ")},
			&cli.IntFlag{Name: "threads", Usage: "--generate: LibTorch intra-op threads", Action: checkThreads},
			&cli.StringSliceFlag{Name: "condition", Aliases: []string{"c"}, Usage: "--generate: fix a condition, `NAME=VALUE`"},
			&cli.BoolFlag{Name: "resume", Usage: "--generate: continue a stopped run in DIR"},
			&cli.BoolFlag{Name: "force", Usage: "--generate: write into a non-empty DIR"},
		},
		Action: searchAction,
	}
}

// searchOutput is what `zoo search --json` prints.
type searchOutput struct {
	Query searchQueryJSON `json:"query"`
	*search.Results
	Models int `json:"catalog_models"`
}

type searchQueryJSON struct {
	Terms       []string `json:"terms,omitempty"`
	Op          string   `json:"op"`
	Modality    []string `json:"modality,omitempty"`
	Organ       []string `json:"organ,omitempty"`
	Arch        []string `json:"arch,omitempty"`
	Dataset     []string `json:"dataset,omitempty"`
	License     []string `json:"license,omitempty"`
	Function    string   `json:"function,omitempty"`
	MinSize     int      `json:"min_size,omitempty"`
	WithMask    bool     `json:"with_mask,omitempty"`
	Conditional bool     `json:"conditional,omitempty"`
	Where       []string `json:"where,omitempty"`
	RankBy      string   `json:"rank_by,omitempty"`
	Order       string   `json:"order,omitempty"`
	SkipMissing bool     `json:"skip_missing,omitempty"`
	Limit       int      `json:"limit"`
}

func searchAction(c *cli.Context) error {
	if c.IsSet("generate") {
		// Generating needs LibTorch: the whole command goes to its LibTorch
		// implementation (in bin/zoo, to zoo-torch) now rather than search
		// twice.
		return runTorch(c)
	}
	return runSearch(c, nil)
}

// runSearch is zoo search; with --generate it then generates with the top
// runnable hit through generateModel (nil without --generate).
func runSearch(c *cli.Context, generateModel generateFunc) error {
	started := time.Now()
	// ZOO_SEARCH_TIMING: how long opening the index, querying and printing
	// took (stderr), for benchmarks that want the search apart from the
	// process start-up.
	timing, err := envconfig.SearchTiming()
	if err != nil {
		return err
	}
	if c.Bool("asc") && c.Bool("desc") {
		return usagef("--asc and --desc contradict each other: choose one")
	}
	q := search.Query{
		Terms: c.Args().Slice(), Op: c.String("op"),
		Modality: c.StringSlice("modality"), Organ: c.StringSlice("organ"), Arch: c.StringSlice("arch"),
		Dataset: c.StringSlice("dataset"), License: c.StringSlice("license"), Function: c.String("function"),
		MinSize: c.Int("min-size"), WithMask: c.Bool("with-mask"), Conditional: c.Bool("conditional"),
		Where: c.StringSlice("where"), RankBy: c.String("rank-by"), SkipMissing: c.Bool("skip-missing"),
		Limit: c.Int("limit"),
		// The engine names parameters plainly; here they are flags.
		ParamName: func(p string) string { return "--" + p },
	}
	if c.Bool("asc") {
		q.Order = "asc"
	} else if c.Bool("desc") {
		q.Order = "desc"
	}
	gen := c.IsSet("generate")
	if gen {
		if c.Int("generate") <= 0 {
			return usagef("--generate must be at least 1, got %d", c.Int("generate"))
		}
		if c.String("output") == "" {
			return usagef("--generate needs an output directory: -o DIR")
		}
	} else if c.IsSet("output") {
		return usagef("-o is for --generate N: add it, or use zoo generate")
	}
	display := q.Limit
	if gen {
		q.Limit = 0 // choose from every hit; show display of them
	}

	ix, st, err := openSearchIndex(c)
	if err != nil {
		return err
	}
	defer ix.Close()
	opened := time.Now()
	res, err := ix.Search(q)
	searched := time.Now()
	if timing {
		defer func() {
			fmt.Fprintf(c.App.ErrWriter, "search-timing open_us=%d query_us=%d print_us=%d total_us=%d cached=%v\n",
				opened.Sub(started).Microseconds(), searched.Sub(opened).Microseconds(), time.Since(searched).Microseconds(),
				time.Since(started).Microseconds(), st.Cached)
		}()
	}
	if err != nil {
		var qe *search.QueryError
		if errors.As(err, &qe) {
			return usageError{err}
		}
		return err
	}
	if c.Bool("explain") && !c.Bool("json") {
		fmt.Fprintf(c.App.ErrWriter, "index: %d models, %s in %s\n", ix.Len(), indexWhere(st), st.Duration.Round(1e5))
	}

	if !gen {
		if c.Bool("json") {
			return printJSON(c.App.Writer, searchOutput{Query: queryJSON(q), Results: res, Models: ix.Len()})
		}
		printSearch(c.App.Writer, res, c.Bool("explain"))
		return nil
	}

	// find, rank, then generate with the top hit zoo can run.
	shown := *res
	if display > 0 && len(shown.Hits) > display {
		shown.Hits = shown.Hits[:display]
	}
	if !c.Bool("quiet") {
		printSearch(c.App.ErrWriter, &shown, c.Bool("explain"))
	}
	if len(res.Hits) == 0 {
		return fmt.Errorf("no model matches the search: nothing generated")
	}
	top := res.Hits[0]
	pickID := top.ID
	if !top.Runnable {
		for _, h := range res.Hits[1:] {
			if h.Runnable {
				pickID = h.ID
				break
			}
		}
		if pickID == top.ID {
			return fmt.Errorf("the top hit %s is an original Python package that zoo cannot run, and no other hit is runnable; "+
				"add --where artifact.format=torchscript to search runnable models only (zoo info %s)", top.ID, top.ID)
		}
		fmt.Fprintf(c.App.ErrWriter, "note: the top hit %s is an original Python package zoo cannot run; generating with %s, the best runnable hit\n", top.ID, pickID)
	} else {
		fmt.Fprintf(c.App.ErrWriter, "generating with the top hit %s\n", pickID)
	}
	return generateModel(c, c.Int("generate"), func(e *env) (*zoo.Model, error) {
		m := e.catalog.Get(pickID)
		if m == nil {
			return nil, fmt.Errorf("model %s vanished from the catalog between search and generate; run the search again", pickID)
		}
		return m, nil
	})
}

// openSearchIndex opens the cached index of the catalogs this run uses.
func openSearchIndex(c *cli.Context) (*search.Index, search.IndexStatus, error) {
	st, err := newStore(c)
	if err != nil {
		return nil, search.IndexStatus{}, err
	}
	return search.OpenIndex(c.Context, search.IndexOptions{
		Load:     catalogOptions(c, st),
		CacheDir: st.Dir,
		Rebuild:  c.Bool("rebuild-index"),
	})
}

func indexWhere(st search.IndexStatus) string {
	if st.Cached {
		return "read from " + st.Path
	}
	if st.Path != "" {
		return "built (" + st.Reason + ") and cached in " + st.Path
	}
	return "built in memory (" + st.Reason + ")"
}

func queryJSON(q search.Query) searchQueryJSON {
	op := strings.ToLower(q.Op)
	if op == "" {
		op = "and"
	}
	return searchQueryJSON{
		Terms: q.Terms, Op: op, Modality: q.Modality, Organ: q.Organ, Arch: q.Arch, Dataset: q.Dataset,
		License: q.License, Function: q.Function, MinSize: q.MinSize, WithMask: q.WithMask, Conditional: q.Conditional,
		Where: q.Where, RankBy: q.RankBy, Order: q.Order, SkipMissing: q.SkipMissing, Limit: q.Limit,
	}
}

// printSearch writes the result table and notes.
func printSearch(w io.Writer, res *search.Results, explain bool) {
	if explain {
		for _, t := range res.Terms {
			via := ""
			if len(t.Via) > 0 {
				via = "; also " + strings.Join(t.Via, ", ")
			}
			fmt.Fprintf(w, "term %q: %d models%s\n", t.Term, t.Matches, via)
		}
	}
	if len(res.Hits) == 0 {
		fmt.Fprintln(w, "no models match")
		printNotes(w, res.Notes)
		return
	}
	ri := res.Metric
	if ri != nil {
		rule := ri.Rule
		if rule == "catalog" {
			rule = "as the catalog states"
		} else {
			rule = "registry rule " + rule
		}
		fmt.Fprintf(w, "ranked by %s: %s is better (%s); listed %s\n\n", ri.Name, betterWords(ri), rule, orderWords(ri.Order))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "RANK\tID\tRUNS\tTITLE\tMODALITY\tSIZE"
	if ri != nil {
		head += "\t" + strings.ToUpper(metricHeader(ri)) + "\tPROVENANCE"
	} else if hasScores(res) {
		head += "\tSCORE"
	}
	fmt.Fprintln(tw, head)
	group := 0
	inMissing := false
	for _, h := range res.Hits {
		if ri != nil {
			// A separator's text is its line's last cell, not tab-ended,
			// so tabwriter does not widen the ID column to fit it.
			switch {
			case h.Metric != nil && h.Metric.Group != group:
				group = h.Metric.Group
				g := ri.Groups[group]
				fmt.Fprintf(tw, "\t-- %s computed with %s (%d): not comparable with the values above --\n", ri.Name, orUnstated(g.Extractor), g.Count)
			case h.Metric == nil && !inMissing:
				inMissing = true
				fmt.Fprintf(tw, "\t-- no %s value --\n", ri.Name)
			}
		}
		row := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", h.Rank, h.ID, runsWord(h.Runnable, h.Demo), clip(h.Title, 48), first(h.Modality), hitSize(h))
		switch {
		case ri != nil && h.Metric != nil:
			row += "\t" + formatValue(h.Metric) + "\t" + provenance(h.Metric)
		case ri != nil:
			row += "\t-\t"
		case hasScores(res):
			row += "\t" + strconv.FormatFloat(h.Score, 'f', 2, 64)
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	if explain {
		fmt.Fprintln(w, "\nwhy:")
		for _, h := range res.Hits {
			if len(h.Matched) > 0 {
				fmt.Fprintf(w, "  %d %s: %s\n", h.Rank, h.ID, strings.Join(h.Matched, "; "))
			}
		}
	}
	if res.Total > len(res.Hits) {
		fmt.Fprintf(w, "\n%d of %d models shown (--limit 0 shows all). zoo info ID for details. %s\n", len(res.Hits), res.Total, runsLegend)
	} else {
		fmt.Fprintf(w, "\n%d %s. zoo info ID for details. %s\n", res.Total, plural(res.Total, "model", "models"), runsLegend)
	}
	printNotes(w, res.Notes)
}

func printNotes(w io.Writer, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func hasScores(res *search.Results) bool {
	for _, h := range res.Hits {
		if h.Score != 0 {
			return true
		}
	}
	return false
}

func metricHeader(ri *search.RankInfo) string {
	if len(ri.Metrics) == 1 {
		return ri.Metrics[0]
	}
	return ri.Name
}

func betterWords(ri *search.RankInfo) string {
	switch ri.Better {
	case "target":
		return fmt.Sprintf("closest to %g", ri.Target)
	case "unknown":
		return "unknown which"
	}
	return ri.Better
}

func orderWords(order string) string {
	switch order {
	case "asc":
		return "smallest first"
	case "desc":
		return "largest first"
	}
	return order
}

func orUnstated(s string) string {
	if s == "" {
		return "an unstated extractor"
	}
	return s
}

func hitSize(h search.Hit) string {
	if h.Width == 0 || h.Height == 0 {
		return "-"
	}
	if h.Depth > 0 {
		return fmt.Sprintf("%dx%dx%d", h.Width, h.Height, h.Depth)
	}
	return fmt.Sprintf("%dx%d", h.Width, h.Height)
}

func formatValue(m *search.HitMetric) string {
	v := strconv.FormatFloat(m.Value, 'g', 6, 64)
	if !strings.EqualFold(m.Name, "") && strings.Contains(m.Name, ".reader") {
		v += " (" + m.Name[strings.LastIndexByte(m.Name, '.')+1:] + ")"
	}
	return v
}

// provenance says how a value was obtained, briefly.
func provenance(m *search.HitMetric) string {
	var parts []string
	parts = append(parts, orUnstatedWord(m.Source, "source unstated"))
	if m.Extractor != "" {
		parts = append(parts, m.Extractor)
	}
	if m.Images > 0 {
		parts = append(parts, fmt.Sprintf("%d images", m.Images))
	}
	if m.Reference != "" {
		parts = append(parts, "vs "+m.Reference)
	}
	return strings.Join(parts, "; ")
}

func orUnstatedWord(s, alt string) string {
	if strings.TrimSpace(s) == "" {
		return alt
	}
	return s
}
