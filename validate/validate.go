// Package validate checks a shareable model directory (package share) by
// running it: everything share.Open checks, then the module loaded as the
// catalog loads it, one compute block run twice (the same bytes), finite
// outputs inside their declared ranges, a licence, and a model card with
// its required sections. It measures images/s and peak memory and draws a
// sample grid. zoo validate prints its Report; zoo pack (and whatever
// publishes a model) calls Pack-ready checks through ForPack. It also
// writes the skeleton of a new model directory (Init, zoo init).
package validate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"medzoo/loader"
	"medzoo/share"
	"medzoo/torch"
	"medzoo/zoo"
)

// Options choose how the module runs and what validate writes.
type Options struct {
	Device  string // "auto", "cpu", "cuda:N"; "" is auto
	Threads int    // LibTorch's intra-op threads; 0 leaves its default
	Seed    uint64 // the seed of the checked block and of the grid
	// Grid is the sample grid's path; "" is DIR/samples/grid.png. NoGrid
	// skips it (zoo pack checks but writes nothing into the directory).
	Grid   string
	NoGrid bool
	// CacheDir, if set, receives a validation record when the directory
	// passes (share.RecordValidated).
	CacheDir string
	// Blocks is how many compute blocks the images/s figure times; 0 is
	// DefaultBlocks.
	Blocks int
}

// DefaultBlocks is how many compute blocks are timed for images/s: enough
// to smooth a first call's warm-up, few enough for a big model on a CPU.
const DefaultBlocks = 3

// GridSamples is how many samples the grid shows (4 by 4).
const GridSamples = 16

// Check is one line of the report: a check and whether it passed.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Problem is one problem: the file of the model directory it is in, the
// line when one applies, and what is wrong with its fix.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	return zoo.Problem{Source: p.File, Line: p.Line, Message: p.Message}.String()
}

// Figures are what validate measured. The figures describe this machine
// and are never pass/fail.
type Figures struct {
	Device       string  `json:"device"`
	Threads      int     `json:"threads,omitempty"`
	Images       int     `json:"images"`
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_sec"`
	// PeakRSS is the process's peak resident memory (getrusage), module
	// and LibTorch included: what a machine running it needs.
	PeakRSS int64 `json:"peak_rss_bytes"`
}

// Report is what Run found.
type Report struct {
	Dir      string        `json:"dir"`
	Model    string        `json:"model,omitempty"` // the entry's id
	Valid    bool          `json:"valid"`
	Checks   []Check       `json:"checks"`
	Ranges   []OutputRange `json:"ranges,omitempty"`
	Figures  *Figures      `json:"figures,omitempty"`
	Grid     string        `json:"grid,omitempty"` // the PNG written, if any
	Problems []Problem     `json:"problems"`

	// Shared is the directory as share.Open read it (nil when it has
	// problems): what ForPack packs, the very bytes that were checked.
	Shared *share.Model `json:"-"`
}

func (r *Report) check(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) problem(file string, line int, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// Error lists the problems as share.ProblemsError does, so that zoo pack's
// refusal reads the same whether share or validate found them.
func (r *Report) Error() error {
	if len(r.Problems) == 0 {
		return nil
	}
	pe := &share.ProblemsError{Dir: r.Dir}
	for _, p := range r.Problems {
		pe.Problems = append(pe.Problems, zoo.Problem{Source: p.File, Line: p.Line, Message: p.Message})
	}
	return pe
}

// Run validates the model directory dir. Problems of the directory are in
// the Report (Valid false); the error is for what stops validate itself
// (dir is not a directory, the grid cannot be written, ctx is done).
func Run(ctx context.Context, dir string, opts Options) (*Report, error) {
	r := &Report{Dir: dir, Problems: []Problem{}}
	m, err := share.Open(dir)
	var pe *share.ProblemsError
	switch {
	case errors.As(err, &pe):
		for _, p := range pe.Problems {
			r.problem(p.Source, p.Line, "%s", p.Message)
		}
		r.check("files", false, "%d problem(s) in the layout, the entry or its digests", len(pe.Problems))
	case err != nil:
		return nil, err
	default:
		r.Shared = m
		r.Model = m.Entry.ID
		r.check("files", true, "model.pt, model.toml, LICENSE, README.md%s; the entry parses and names model.pt's sha256 and size", samplesNote(m))
	}
	texts(dir, r, pe)
	if m != nil {
		if err := run(ctx, dir, m, opts, r); err != nil {
			return nil, err
		}
	} else {
		r.check("run", false, "not run: fix the problems of the directory first")
	}
	r.Valid = len(r.Problems) == 0
	if r.Valid {
		record(dir, opts, r)
	}
	return r, nil
}

// record notes in the cache that the directory passed (share.RecordValidated),
// so that zoo pack, push and publish of these very bytes need not run the
// module again. A grid just written changed samples/, so the directory is
// read again for the record (and for r.Shared). Failing to record costs
// only a second run later: it is not an error of validate.
func record(dir string, opts Options, r *Report) {
	if r.Grid != "" {
		m, err := share.Open(dir)
		if err != nil {
			return // changed under us: no record, the next command checks again
		}
		r.Shared = m
	}
	if opts.CacheDir != "" {
		_ = share.RecordValidated(opts.CacheDir, r.Shared)
	}
}

func samplesNote(m *share.Model) string {
	n := 0
	for _, f := range m.Files {
		if strings.HasPrefix(f.Name, share.SamplesDir+"/") {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d sample(s)", n)
}

// ForPack is what must pass before a model directory leaves this machine
// (zoo pack, and anything that pushes or publishes it): Run without the
// grid, so that the directory is only read. It returns the checked
// directory, or the problems as a *share.ProblemsError.
func ForPack(ctx context.Context, dir string, opts Options) (*share.Model, *Report, error) {
	opts.NoGrid = true
	r, err := Run(ctx, dir, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := r.Error(); err != nil {
		return nil, r, err
	}
	return r.Shared, r, nil
}

// run loads the module and runs its checks and measures.
func run(ctx context.Context, dir string, m *share.Model, opts Options, r *Report) error {
	entry := m.Entry
	toml := m.EntryText
	sigLine := func(key ...string) int {
		return zoo.KeyLine(toml, append([]string{"model", "#0", "signature"}, key...)...)
	}
	if !entry.Runnable() {
		r.problem(share.EntryFile, zoo.KeyLine(toml, "model", "#0"), "the entry declares no [model.signature], so zoo cannot run model.pt: add it (latent, and one [[model.signature.outputs]] per output; zoo init --from model.pt fills it)")
		r.check("load", false, "no signature")
		return nil
	}
	if opts.Threads > 0 {
		if err := torch.SetThreads(opts.Threads); err != nil {
			return err
		}
	}
	device := opts.Device
	if device == "" {
		device = "auto"
	}
	gen, err := loader.Open(entry, filepath.Join(dir, share.ModuleFile), device)
	if err != nil {
		r.problem(share.ModuleFile, 0, "does not load: %v", err)
		r.check("load", false, "%v", err)
		return nil
	}
	defer gen.Close()
	r.check("load", true, "TorchScript on %s", gen.Device)

	bc, err := CheckBlock(ctx, gen, opts.Seed)
	var nf *loader.NonFiniteError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &nf):
		r.problem(share.EntryFile, sigLine("outputs", fmt.Sprint("#", nf.OutputIndex)), "%v: make forward return finite values (look for a division by zero, a log of 0, a NaN in the weights)", err)
		r.check("finite", false, "a NaN or an infinity in block 0")
		return nil
	case err != nil:
		line := sigLine("latent")
		if len(entry.Signature.Latent) == 0 {
			line = sigLine()
		}
		r.problem(share.EntryFile, line, "running block 0 fails: %v; make [model.signature] (latent, conditions, inputs, outputs) what the module takes and returns (zoo init --from model.pt probes it)", err)
		r.check("run", false, "block 0 fails")
		return nil
	}
	r.check("run", true, "block 0: %d samples, shapes as declared", len(bc.Samples))
	r.check("finite", true, "no NaN or infinity")
	r.Ranges = bc.Ranges
	rangesOK := true
	for i, rg := range bc.Ranges {
		if p := rg.Problem(); p != "" {
			rangesOK = false
			r.problem(share.EntryFile, sigLine("outputs", fmt.Sprint("#", outputIndex(entry, rg.Name, i)), "range"), "%s", p)
		}
	}
	r.check("ranges", rangesOK, "%s", rangesDetail(bc.Ranges))
	if bc.Differs != "" {
		r.problem(share.ModuleFile, 0, "%s", bc.Differs)
		r.check("deterministic", false, "two runs of block 0 differ")
		return nil
	}
	r.check("deterministic", true, "two runs of block 0 with seed %d give the same bytes", opts.Seed)

	if r.Figures, err = measure(ctx, gen, opts); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.problem(share.ModuleFile, 0, "timing %d more blocks fails: %v", blocks(opts), err)
		r.check("measure", false, "%v", err)
		return nil
	}
	if opts.NoGrid {
		return nil
	}
	path := opts.Grid
	if path == "" {
		path = filepath.Join(dir, share.SamplesDir, "grid.png")
	}
	if err := writeGrid(ctx, gen, opts.Seed, path); err != nil {
		return fmt.Errorf("sample grid %s: %w", path, err)
	}
	r.Grid = path
	r.check("grid", true, "%s: %d samples, seed %d", path, GridSamples, opts.Seed)
	return nil
}

// outputIndex is the position of the output name in the signature (ranges
// skip some outputs, so their index is not it).
func outputIndex(m *zoo.Model, name string, fallback int) int {
	for i, o := range m.Signature.Outputs {
		if o.Name == name {
			return i
		}
	}
	return fallback
}

func rangesDetail(rs []OutputRange) string {
	if len(rs) == 0 {
		return "no output declares a value range"
	}
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s in [%.4g, %.4g], %.3g%% outside [%g, %g]", r.Name, r.Min, r.Max, 100*r.Fraction, r.Declared[0], r.Declared[1]))
	}
	return strings.Join(parts, "; ")
}

func blocks(opts Options) int {
	if opts.Blocks > 0 {
		return opts.Blocks
	}
	return DefaultBlocks
}

// measure times blocks(opts) compute blocks after the first (which the
// checks already ran, so LibTorch is warm) and reads the peak RSS.
func measure(ctx context.Context, gen *loader.Generator, opts Options) (*Figures, error) {
	k := blocks(opts)
	opt, cleanup, err := blockOptions(gen, 1+k)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	opt.Seed = opts.Seed
	q := gen.Block()
	start := time.Now()
	samples, err := gen.Generate(ctx, q, k*q, opt)
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	f := &Figures{Device: gen.Device, Images: len(samples), Seconds: secs, PeakRSS: peakRSS()}
	if secs > 0 {
		f.ImagesPerSec = float64(len(samples)) / secs
	}
	if n, err := torch.Threads(); err == nil {
		f.Threads = n
	}
	return f, nil
}
