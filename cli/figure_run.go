//go:build !notorch

package cli

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/figure"
	"medzoo/imagein"
	"medzoo/internal/files"
	"medzoo/internal/pipeline"
	"medzoo/loader"
	"medzoo/zoo"
)

// figureSetup checks the output path and opens the model.
func figureSetup(c *cli.Context) (*zoo.Model, *loader.Generator, map[string]string, error) {
	out := c.String("output")
	if out == "" {
		return nil, nil, nil, usagef("%s needs an output file: -o FILE.png", c.Command.Name)
	}
	if !strings.EqualFold(filepath.Ext(out), ".png") {
		return nil, nil, nil, usagef("-o %s: figures are PNG files; name it .png", out)
	}
	if err := files.CheckRegular(out); err != nil {
		return nil, nil, nil, usagef("-o: %v", err)
	}
	if _, err := os.Stat(out); err == nil && !c.Bool("force") {
		return nil, nil, nil, usagef("-o %s exists; --force overwrites it", out)
	}
	conds, err := parseConditions(c.StringSlice("condition"))
	if err != nil {
		return nil, nil, nil, err
	}
	m, gen, err := openModel(c, modelArg(c))
	if err != nil {
		return nil, nil, nil, err
	}
	if err := gen.ValidateConditions(conds); err != nil {
		gen.Close()
		return nil, nil, nil, usageError{err}
	}
	return m, gen, conds, nil
}

func runGrid(c *cli.Context) error {
	started := time.Now()
	n := c.Int("n")
	if n < 1 || n > 1024 {
		return usagef("-n %d: a grid holds 1 to 1024 samples", n)
	}
	m, gen, conds, err := figureSetup(c)
	if err != nil {
		return err
	}
	defer gen.Close()
	opt := loader.Options{Seed: c.Uint64("seed"), Conditions: conds}
	var rows [][]figure.Cell
	var labels []string // one per row when the rows are per condition
	var what string
	switch {
	case gen.TakesInput():
		if rows, what, err = inputGrid(c, m, gen, n, opt); err != nil {
			return err
		}
	case rowCondition(m, conds) != nil:
		cond := rowCondition(m, conds)
		var perValue [][]loader.Sample
		for _, v := range cond.Values {
			rowOpt := opt
			rowOpt.Conditions = map[string]string{cond.Name: v}
			for k, val := range conds {
				rowOpt.Conditions[k] = val
			}
			samples, err := gen.Generate(c.Context, 0, n, rowOpt)
			if err != nil {
				return err
			}
			perValue = append(perValue, samples)
		}
		rows, labels = figure.Grid(perValue)
		what = fmt.Sprintf("grid of samples 0-%d, one row per %s (%s)", n-1, cond.Name, strings.Join(cond.Values, ", "))
	default:
		samples, err := gen.Generate(c.Context, 0, n, opt)
		if err != nil {
			return err
		}
		cols := c.Int("cols")
		if cols <= 0 {
			cols = int(math.Ceil(math.Sqrt(float64(n))))
		}
		rows, labels = figure.Grid(figure.Rows(samples, cols))
		what = fmt.Sprintf("grid of samples 0-%d", n-1)
	}
	seed, drawn := c.Uint64("seed"), n
	if gen.TakesInput() {
		drawn = len(rows) // one row per input, and there may be fewer than -n
	}
	return writeFigure(c, m, rows, labels, figureSummary{Device: gen.Device, Seed: &seed, N: drawn, Conditions: conds,
		Input: c.String("input"), Figure: what}, started)
}

// rowCondition is the first condition the user did not fix: a grid gives
// it one row per value.
func rowCondition(m *zoo.Model, fixed map[string]string) *zoo.Condition {
	for i, cd := range m.Signature.Conditions {
		if _, ok := fixed[cd.Name]; !ok {
			return &m.Signature.Conditions[i]
		}
	}
	return nil
}

// inputGrid draws each input of an image-to-image model beside its outputs,
// one sample per row.
func inputGrid(c *cli.Context, m *zoo.Model, gen *loader.Generator, n int, opt loader.Options) ([][]figure.Cell, string, error) {
	dir := c.String("input")
	if dir == "" {
		return nil, "", usagef("model %s is image-to-image: give it inputs with --input DIR", m.ID)
	}
	files, err := imagein.List(dir)
	if err != nil {
		return nil, "", usageError{err}
	}
	files = files[:min(n, len(files))]
	if err := gen.CheckInputs(files); err != nil {
		return nil, "", usageError{err}
	}
	opt.Inputs = files
	samples, err := gen.Generate(c.Context, 0, len(files), opt)
	if err != nil {
		return nil, "", err
	}
	spec := gen.ImageInputs()[0]
	var rows [][]figure.Cell
	for i, s := range samples {
		data, err := imagein.Load(files[i], spec, m.ID)
		if err != nil {
			return nil, "", err
		}
		rows = append(rows, []figure.Cell{{loader.Output{Spec: spec, Data: data}}, figure.Cell(s.Outputs)})
	}
	return rows, fmt.Sprintf("%d inputs from %s (left) and their outputs (right)", len(files), dir), nil
}

func runInterpolate(c *cli.Context) error {
	started := time.Now()
	steps := c.Int("steps")
	if steps < 2 || steps > 256 {
		return usagef("--steps %d: want 2 to 256 images along the walk", steps)
	}
	m, gen, conds, err := figureSetup(c)
	if err != nil {
		return err
	}
	defer gen.Close()
	if gen.TakesInput() || gen.LatentSize() == 0 {
		return usagef("model %s has no latent space to walk (it maps input images); zoo grid --input shows it", m.ID)
	}
	from, to := c.Uint64("from"), c.Uint64("to")
	a := make([]float32, gen.LatentSize())
	b := make([]float32, gen.LatentSize())
	loader.FillLatent(a, from, 0, m.Signature.Distribution)
	loader.FillLatent(b, to, 0, m.Signature.Distribution)
	// Conditions stay fixed along the walk: the given value, else the first.
	fixed := map[string]string{}
	for _, cd := range m.Signature.Conditions {
		fixed[cd.Name] = cd.Values[0]
		if v, ok := conds[cd.Name]; ok {
			fixed[cd.Name] = v
		}
	}
	opt := loader.Options{Conditions: fixed, Latent: func(i int, dst []float32) {
		figure.Slerp(a, b, float64(i)/float64(steps-1), dst)
	}}
	samples, err := gen.Generate(c.Context, 0, steps, opt)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("latent walk (slerp) from seed %d to seed %d, sample 0 of each, %d steps", from, to, steps)
	if len(fixed) > 0 {
		what += fmt.Sprintf(", conditions %v", fixed)
	}
	rows, labels := figure.Grid([][]loader.Sample{samples})
	return writeFigure(c, m, rows, labels, figureSummary{Device: gen.Device, From: &from, To: &to, N: steps,
		Conditions: fixed, Figure: what}, started)
}

// writeFigure composes rows, labelled with labels (nil: none), and writes
// the PNG atomically (temporary file, then rename), so a failed run leaves
// no half-written figure. sum says what the rows show; writeFigure
// completes it for --json.
func writeFigure(c *cli.Context, m *zoo.Model, rows [][]figure.Cell, labels []string, sum figureSummary, started time.Time) error {
	what := sum.Figure
	png, size, err := pipeline.Origin{Model: m, Seed: c.Uint64("seed")}.Figure(rows, labels, 0, what)
	if err != nil {
		return err
	}
	out := c.String("output")
	if err := files.WriteAtomicBytes(out, png); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "wrote %s (%dx%d): %s\n", out, size.X, size.Y, what)
	if !c.Bool("json") {
		return nil
	}
	sum.Model, sum.Version, sum.SHA256 = m.ID, m.Version, m.Artifact.SHA256
	sum.File, sum.Width, sum.Height, sum.Rows = out, size.X, size.Y, len(rows)
	sum.Seconds = time.Since(started).Seconds()
	return printJSON(c.App.Writer, sum)
}
