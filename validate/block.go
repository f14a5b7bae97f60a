package validate

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"medzoo/loader"
	"medzoo/output"
	"medzoo/zoo"
)

// OutputRange is how one output's values of a block fall against the range
// its signature declares.
type OutputRange struct {
	Name     string     `json:"name"`
	Declared [2]float64 `json:"declared"`
	Min      float64    `json:"min"`
	Max      float64    `json:"max"`
	Values   int        `json:"values"`
	Outside  int        `json:"outside"`
	Fraction float64    `json:"fraction_outside"`
}

// Problem says what is wrong with the values, "" when nothing is.
func (r OutputRange) Problem() string {
	if r.Outside == 0 {
		return ""
	}
	return fmt.Sprintf("output %q has %.3g%% of its values (%d of %d) outside its declared range [%g, %g] (they span [%.4g, %.4g]): "+
		"fix range in its [[model.signature.outputs]] to what the module returns (writers map the range onto pixel values and clip what falls outside), or clamp the module's output",
		r.Name, 100*r.Fraction, r.Outside, r.Values, r.Declared[0], r.Declared[1], r.Min, r.Max)
}

// BlockCheck is what running one compute block twice with the same seed
// found: the samples of the first run, each checked output's range, and
// whether the second run gave the same bytes.
type BlockCheck struct {
	Samples []loader.Sample
	Ranges  []OutputRange
	// Differs is "" when both runs agree, else the problem with its fix.
	Differs string
}

// CheckBlock runs block 0 of gen (made-up mid-range images for image
// inputs) twice with seed and compares what comes back with the
// signature. The loader already refuses wrong shapes, counts and
// non-finite values (its error is returned); here the values are checked
// too: within the declared range, and the same bytes on the second run (a
// module that keeps state or draws its own random numbers would make zoo
// claim a reproducibility it does not have). zoo catalog validate --load
// and zoo validate both call it.
func CheckBlock(ctx context.Context, gen *loader.Generator, seed uint64) (*BlockCheck, error) {
	opt, cleanup, err := blockOptions(gen, 1)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	opt.Seed = seed
	m := gen.Model
	n := gen.Block()
	first, err := gen.Generate(ctx, 0, n, opt)
	if err != nil {
		return nil, err
	}
	bc := &BlockCheck{Samples: first}
	for oi, spec := range m.Signature.Outputs {
		if spec.Post != nil || spec.Range == [2]float64{} || spec.Kind == zoo.KindLabel {
			continue // pixels after a package's post-processing, or labels: no value range to hold
		}
		r := OutputRange{Name: spec.Name, Declared: spec.Range, Min: math.Inf(1), Max: math.Inf(-1)}
		// A value a rounding away from the bound is inside: tanh's 1 in
		// float32 is not above 1, but a ULP of slack keeps it from mattering.
		slack := 1e-3 * (spec.Range[1] - spec.Range[0])
		for _, s := range first {
			for _, v := range s.Outputs[oi].Data {
				x := float64(v)
				r.Min, r.Max = min(r.Min, x), max(r.Max, x)
				r.Values++
				if x < spec.Range[0]-slack || x > spec.Range[1]+slack {
					r.Outside++
				}
			}
		}
		if r.Values > 0 {
			r.Fraction = float64(r.Outside) / float64(r.Values)
		}
		bc.Ranges = append(bc.Ranges, r)
	}
	again, err := gen.Generate(ctx, 0, n, opt)
	if err != nil {
		return nil, err
	}
	for i := range first {
		for oi := range first[i].Outputs {
			a, b := first[i].Outputs[oi].Data, again[i].Outputs[oi].Data
			if slices.Equal(a, b) {
				continue
			}
			diff := 0
			for k := range a {
				if a[k] != b[k] {
					diff++
				}
			}
			what := fmt.Sprintf("not deterministic: two runs of block 0 (%d samples) with seed %d differ (output %q of sample %d: %d of %d values)",
				n, seed, m.Signature.Outputs[oi].Name, first[i].Index, diff, len(a))
			if m.Signature.Stochastic {
				bc.Differs = what + ": the module is declared stochastic, and zoo seeds LibTorch's generator before each block, so it keeps state between calls (a counter, a cache, a buffer it updates) or takes its randomness elsewhere; make forward a function of its inputs and LibTorch's generator only"
			} else {
				bc.Differs = what + ": the module keeps state between calls (a counter, a cache, a buffer it updates) or draws random numbers inside forward; make forward a pure function of its inputs, or, if it draws with torch.randn and the like, declare stochastic = true in [model.signature] (zoo then seeds LibTorch per block and says so in provenance)"
			}
			return bc, nil
		}
	}
	return bc, nil
}

// blockOptions are loader options that cover blocks compute blocks of gen:
// for image inputs, made-up images at the middle of each input's range
// (written once, listed again for every block). cleanup removes them.
func blockOptions(gen *loader.Generator, blocks int) (loader.Options, func(), error) {
	var opt loader.Options
	if !gen.TakesInput() {
		return opt, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "zoo-validate-")
	if err != nil {
		return opt, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	for i, in := range gen.ImageInputs() {
		one, err := midRangeInputs(filepath.Join(dir, fmt.Sprint(i)), in, gen.Block())
		if err != nil {
			cleanup()
			return opt, nil, err
		}
		var paths []string
		for range blocks {
			paths = append(paths, one...)
		}
		if i == 0 {
			opt.Inputs = paths
			continue
		}
		if opt.NamedInputs == nil {
			opt.NamedInputs = map[string][]string{}
		}
		opt.NamedInputs[in.Name] = paths
	}
	return opt, cleanup, nil
}

// midRangeInputs writes n NPY images of the input's size at the middle of
// its range.
func midRangeInputs(dir string, in zoo.TensorSpec, n int) ([]string, error) {
	data := make([]float32, in.Channels*in.Height*in.Width) // sizes checked by loader.Open
	for i := range data {
		data[i] = float32((in.Range[0] + in.Range[1]) / 2)
	}
	return output.WriteNPYs(dir, n, in.Channels, in.Height, in.Width, func(int) []float32 { return data })
}

// Problems are the check's problems in words, as zoo catalog validate
// --load lists them.
func (bc *BlockCheck) Problems() []string {
	var out []string
	for _, r := range bc.Ranges {
		if p := r.Problem(); p != "" {
			out = append(out, p)
		}
	}
	if bc.Differs != "" {
		out = append(out, bc.Differs)
	}
	return out
}
