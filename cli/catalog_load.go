//go:build !notorch

package cli

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/urfave/cli/v2"

	"medzoo/loader"
	"medzoo/zoo"
)

// checkByLoading fetches m's artifact, runs one compute block (made-up
// mid-range images for image inputs) and checks what comes back against
// the signature. The loader already refuses wrong shapes and counts; here
// the values are checked too: within the declared range, and the same on
// a second run with the same seed (a module that draws random numbers must
// say so, or zoo would claim reproducibility it does not have).
func checkByLoading(c *cli.Context, e *env, m *zoo.Model) []string {
	path, err := fetch(c, e, m.StoreArtifact())
	if err != nil {
		return []string{err.Error()}
	}
	gen, err := loader.Open(m, path, "auto")
	if err != nil {
		return []string{err.Error()}
	}
	defer gen.Close()
	opt := loader.Options{Seed: 1}
	if gen.TakesInput() {
		dir, err := os.MkdirTemp("", "zoo-validate-")
		if err != nil {
			return []string{err.Error()}
		}
		defer os.RemoveAll(dir)
		for i, in := range gen.ImageInputs() {
			files, err := midRangeInputs(filepath.Join(dir, fmt.Sprint(i)), in, gen.Block())
			if err != nil {
				return []string{err.Error()}
			}
			if i == 0 {
				opt.Inputs = files
			} else {
				if opt.NamedInputs == nil {
					opt.NamedInputs = map[string][]string{}
				}
				opt.NamedInputs[in.Name] = files
			}
		}
	}
	n := gen.Block()
	first, err := gen.Generate(c.Context, 0, n, opt)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for oi, spec := range m.Signature.Outputs {
		if spec.Post != nil || spec.Range == [2]float64{} || spec.Kind == zoo.KindLabel {
			continue
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, s := range first {
			for _, v := range s.Outputs[oi].Data {
				lo, hi = min(lo, float64(v)), max(hi, float64(v))
			}
		}
		slack := 1e-3 * (spec.Range[1] - spec.Range[0])
		if lo < spec.Range[0]-slack || hi > spec.Range[1]+slack {
			problems = append(problems, fmt.Sprintf("output %q has values in [%.4g, %.4g], outside its declared range [%g, %g]: fix range (writers map the range onto pixel values, so values outside it are clipped)",
				spec.Name, lo, hi, spec.Range[0], spec.Range[1]))
		}
	}
	again, err := gen.Generate(c.Context, 0, n, opt)
	if err != nil {
		return append(problems, err.Error())
	}
	for i := range first {
		for oi := range first[i].Outputs {
			if !slices.Equal(first[i].Outputs[oi].Data, again[i].Outputs[oi].Data) {
				if m.Signature.Stochastic {
					return append(problems, "the module is declared stochastic, but two runs of the same block with the same seed differ: its randomness does not come from LibTorch's generator, so zoo cannot make it repeat")
				}
				return append(problems, "two runs of the same block with the same seed differ: the module draws random numbers inside forward; declare stochastic = true in [model.signature] (zoo then seeds LibTorch per block and says so in provenance)")
			}
		}
	}
	return problems
}

// midRangeInputs writes n NPY images of the input's size at the middle of
// its range.
func midRangeInputs(dir string, in zoo.TensorSpec, n int) ([]string, error) {
	data := make([]float32, in.Channels*in.Height*in.Width)
	for i := range data {
		data[i] = float32((in.Range[0] + in.Range[1]) / 2)
	}
	return writeNPYs(dir, n, in.Channels, in.Height, in.Width, func(int) []float32 { return data })
}
