// Package loader turns a catalog entry and its fetched artifact into a
// runnable Generator: it builds the module's inputs (deterministic latents,
// condition indices), runs batches through torch, checks what comes back
// against the entry's declared signature, and hands out samples one by one
// like a data loader.
package loader

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"medzoo/imagein"
	"medzoo/torch"
	"medzoo/zoo"
)

// Generator runs one catalog model.
type Generator struct {
	Model  *zoo.Model
	Device string

	sig      *zoo.Signature
	module   *torch.Module
	latentN  int // values per sample latent
	latentSh []int64
}

// Open loads the TorchScript artifact at path for model m on device (a
// string torch.ResolveDevice accepts, "auto" included).
func Open(m *zoo.Model, path, device string) (*Generator, error) {
	if m.Artifact.Format != zoo.FormatTorchScript {
		return nil, NotRunnableError(m)
	}
	if m.Signature == nil || len(m.Signature.Outputs) == 0 {
		return nil, fmt.Errorf("model %s: the catalog entry declares no signature outputs, so zoo cannot check or write what it makes; add [[model.signature.outputs]]", m.ID)
	}
	if in := m.Signature.Input; in != nil && (in.Channels <= 0 || in.Height <= 0 || in.Width <= 0) {
		return nil, fmt.Errorf("model %s: the catalog entry's [model.signature.input] needs channels, height and width", m.ID)
	}
	dev, err := torch.ResolveDevice(device)
	if err != nil {
		return nil, err
	}
	mod, err := torch.Load(path, dev)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.ID, err)
	}
	g := &Generator{Model: m, Device: dev, sig: m.Signature, module: mod, latentN: 1}
	g.latentSh = append([]int64(nil), m.Signature.Latent...)
	for _, d := range g.latentSh {
		g.latentN *= int(d)
	}
	if len(g.latentSh) == 0 {
		g.latentN = 0
	}
	return g, nil
}

// NotRunnableError explains why a catalog model cannot run in zoo and what
// running it would need.
func NotRunnableError(m *zoo.Model) error {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s cannot run in zoo: its artifact is %s", m.ID, describeFormat(m.Artifact.Format))
	if m.Artifact.Format == zoo.FormatPythonPackage {
		b.WriteString(" (the original medigan Python package). zoo never runs Python or pickled code from a package. " +
			"To run it here, its generator must be exported to TorchScript (torch.jit.script or torch.jit.trace) with its weights, " +
			"and a catalog entry added with that file's sha256 and a [model.signature]")
		if u := m.Upstream; u != nil {
			if u.ModelFile != "" {
				fmt.Fprintf(&b, "; the package's checkpoint is %s", u.ModelFile)
			}
			if len(u.Dependencies) > 0 {
				fmt.Fprintf(&b, "; it imports %s", strings.Join(u.Dependencies, ", "))
			}
		}
		b.WriteString(". `zoo pull " + m.ID + " --allow-unpinned` downloads the package for inspection")
	}
	return errors.New(b.String())
}

func describeFormat(f string) string {
	if f == "" {
		return "of no declared format"
	}
	return "in format " + f
}

// Close frees the module.
func (g *Generator) Close() error { return g.module.Close() }

// Options select which samples to make.
type Options struct {
	Seed uint64
	// Conditions fixes condition values by name; a condition not given is
	// mixed in balance over the samples (value = index mod count, in mixed
	// radix over several conditions), like medigan's conditional models.
	Conditions map[string]string
	// Inputs are the input image files of an image-to-image model: sample i
	// reads Inputs[i]. Callers sort them (imagein.List does) so the mapping
	// is deterministic.
	Inputs []string
	// Latent, when set, fills sample index's latent instead of the seeded
	// generator (latent walks, the explorer's sliders). It must be a pure
	// function of index, so results stay independent of batching.
	Latent func(index int, dst []float32)
}

// Output is one declared output of one sample, values in channel-major
// (C, H, W) order.
type Output struct {
	Spec zoo.TensorSpec
	Data []float32
}

// Sample is one generated sample.
type Sample struct {
	Index      int
	Conditions map[string]string // condition name -> value used
	Input      string            // input file name (base name), image-to-image models only
	Outputs    []Output          // in signature order
}

// ValidateConditions checks user-given condition values against the
// signature and returns an error naming the allowed values.
func (g *Generator) ValidateConditions(given map[string]string) error {
	known := map[string]zoo.Condition{}
	var names []string
	for _, c := range g.sig.Conditions {
		known[c.Name] = c
		names = append(names, c.Name)
	}
	for name, v := range given {
		c, ok := known[name]
		if !ok {
			if len(names) == 0 {
				return fmt.Errorf("model %s takes no conditions, got --condition %s=%s", g.Model.ID, name, v)
			}
			return fmt.Errorf("model %s has no condition %q; its conditions: %s", g.Model.ID, name, strings.Join(names, ", "))
		}
		if conditionIndex(c, v) < 0 {
			return fmt.Errorf("condition %s=%q is not allowed for model %s; choose one of: %s", name, v, g.Model.ID, strings.Join(c.Values, ", "))
		}
	}
	return nil
}

func conditionIndex(c zoo.Condition, v string) int {
	for i, allowed := range c.Values {
		if strings.EqualFold(allowed, v) {
			return i
		}
	}
	return -1
}

// conditionsFor returns the value index of each condition for sample index.
func (g *Generator) conditionsFor(index int, given map[string]string) []int {
	out := make([]int, len(g.sig.Conditions))
	radix := 1
	for i, c := range g.sig.Conditions {
		if v, ok := given[c.Name]; ok {
			out[i] = conditionIndex(c, v)
			continue
		}
		out[i] = (index / radix) % len(c.Values)
		radix *= len(c.Values)
	}
	return out
}

// Block returns the model's compute block (see zoo.Signature.Batch).
func (g *Generator) Block() int {
	if g.sig.Batch > 0 {
		return g.sig.Batch
	}
	return zoo.DefaultBatch
}

// Generate returns samples [start, start+count). Forward always runs on whole
// aligned blocks of Block() samples (the ends padded with the neighbouring
// indices, whose results are dropped), so every sample is computed in the same
// company whatever range was asked for: byte-identical across batch sizes
// and resume points.
func (g *Generator) Generate(ctx context.Context, start, count int, opt Options) ([]Sample, error) {
	if count <= 0 {
		return nil, ctx.Err()
	}
	if err := g.ValidateConditions(opt.Conditions); err != nil {
		return nil, err
	}
	if err := g.checkInputCount(start+count, opt); err != nil {
		return nil, err
	}
	q := g.Block()
	out := make([]Sample, 0, count)
	for b := start / q * q; b < start+count; b += q {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		block, err := g.forwardBlock(b, q, opt)
		if err != nil {
			return nil, err
		}
		lo, hi := max(start, b)-b, min(start+count, b+q)-b
		for _, smp := range block[lo:hi] {
			if err := g.checkFinite(smp); err != nil {
				return nil, err
			}
			out = append(out, smp)
		}
	}
	return out, nil
}

// forwardBlock runs one forward call for samples [start, start+count).
func (g *Generator) forwardBlock(start, count int, opt Options) ([]Sample, error) {
	var inputs []torch.Tensor
	defer func() {
		for _, t := range inputs {
			torch.Free(t)
		}
	}()
	if g.latentN > 0 {
		z := make([]float32, count*g.latentN)
		for i := 0; i < count; i++ {
			dst := z[i*g.latentN : (i+1)*g.latentN]
			if opt.Latent != nil {
				opt.Latent(start+i, dst)
			} else {
				FillLatent(dst, opt.Seed, uint64(start+i), g.sig.Distribution)
			}
		}
		t, err := torch.FromFloat32(z, append([]int64{int64(count)}, g.latentSh...), g.Device)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, t)
	}
	conds := make([][]int, count)
	for i := range conds {
		conds[i] = g.conditionsFor(start+i, opt.Conditions)
	}
	for ci := range g.sig.Conditions {
		idx := make([]int64, count)
		for i := range idx {
			idx[i] = int64(conds[i][ci])
		}
		t, err := torch.FromInt64(idx, []int64{int64(count)}, g.Device)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, t)
	}

	if g.sig.Input != nil {
		t, err := g.inputTensor(start, count, opt.Inputs)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, t)
	}

	res, err := g.module.Forward(inputs...)
	if err != nil {
		return nil, fmt.Errorf("model %s, samples %d..%d: %w", g.Model.ID, start, start+count-1, err)
	}
	defer res.Close()
	tensors, err := g.matchOutputs(res)
	if err != nil {
		return nil, err
	}

	samples := make([]Sample, count)
	for i := range samples {
		samples[i] = Sample{Index: start + i, Outputs: make([]Output, len(g.sig.Outputs))}
		if g.sig.Input != nil && start+i < len(opt.Inputs) {
			samples[i].Input = filepath.Base(opt.Inputs[start+i])
		}
		if len(g.sig.Conditions) > 0 {
			samples[i].Conditions = map[string]string{}
			for ci, c := range g.sig.Conditions {
				samples[i].Conditions[c.Name] = c.Values[conds[i][ci]]
			}
		}
	}
	for oi, spec := range g.sig.Outputs {
		per := spec.Channels * spec.Height * spec.Width
		if err := g.checkShape(tensors[oi], spec, count); err != nil {
			return nil, err
		}
		// One copy from LibTorch into Go memory; samples share the buffer.
		buf := make([]float32, count*per)
		if err := torch.CopyFloat32(tensors[oi], buf); err != nil {
			return nil, err
		}
		for i := range samples {
			samples[i].Outputs[oi] = Output{Spec: spec, Data: buf[i*per : (i+1)*per : (i+1)*per]}
		}
	}
	return samples, nil
}

// TakesInput reports whether the model needs input images.
func (g *Generator) TakesInput() bool { return g.sig.Input != nil }

// LatentSize is the number of latent values per sample (0: no latent).
func (g *Generator) LatentSize() int { return g.latentN }

func (g *Generator) checkInputCount(end int, opt Options) error {
	switch {
	case g.sig.Input == nil && len(opt.Inputs) > 0:
		return fmt.Errorf("model %s is %s and takes no input images", g.Model.ID, functionOf(g.Model))
	case g.sig.Input != nil && len(opt.Inputs) == 0:
		return fmt.Errorf("model %s is image-to-image: give it input images (--input DIR)", g.Model.ID)
	case g.sig.Input != nil && end > len(opt.Inputs):
		return fmt.Errorf("model %s: %d samples asked for but only %d input images given (one sample per input)", g.Model.ID, end, len(opt.Inputs))
	}
	return nil
}

func functionOf(m *zoo.Model) string {
	if m.Function != "" {
		return m.Function
	}
	return zoo.FunctionNoiseToImage
}

// CheckInputs reads every input file in paths and checks it against the
// declared input, so a bad file is reported before anything is generated.
func (g *Generator) CheckInputs(paths []string) error {
	if g.sig.Input == nil {
		if len(paths) > 0 {
			return fmt.Errorf("model %s is %s and takes no input images", g.Model.ID, functionOf(g.Model))
		}
		return nil
	}
	for _, p := range paths {
		if _, err := imagein.Load(p, *g.sig.Input, g.Model.ID); err != nil {
			return err
		}
	}
	return nil
}

// inputTensor reads the input images of samples [start, start+count) into
// one [count, C, H, W] tensor. Block positions past the last input repeat
// it; their results are dropped.
func (g *Generator) inputTensor(start, count int, paths []string) (torch.Tensor, error) {
	spec := *g.sig.Input
	per := spec.Channels * spec.Height * spec.Width
	buf := make([]float32, count*per)
	for i := 0; i < count; i++ {
		p := paths[min(start+i, len(paths)-1)]
		data, err := imagein.Load(p, spec, g.Model.ID)
		if err != nil {
			return torch.Tensor{}, err
		}
		copy(buf[i*per:], data)
	}
	return torch.FromFloat32(buf, []int64{int64(count), int64(spec.Channels), int64(spec.Height), int64(spec.Width)}, g.Device)
}

// matchOutputs orders the module's result as the signature declares: by name
// for dict results, by position otherwise.
func (g *Generator) matchOutputs(res *torch.Result) ([]torch.Tensor, error) {
	want := g.sig.Outputs
	if res.Names != nil {
		byName := map[string]torch.Tensor{}
		for i, n := range res.Names {
			byName[n] = res.Tensors[i]
		}
		out := make([]torch.Tensor, len(want))
		for i, spec := range want {
			t, ok := byName[spec.Name]
			if !ok {
				got := append([]string(nil), res.Names...)
				sort.Strings(got)
				return nil, fmt.Errorf("model %s returned outputs %v but the catalog declares %q", g.Model.ID, got, spec.Name)
			}
			out[i] = t
		}
		return out, nil
	}
	if len(res.Tensors) != len(want) {
		return nil, fmt.Errorf("model %s returned %d output tensor(s) but the catalog declares %d (%s)", g.Model.ID, len(res.Tensors), len(want), outputNames(want))
	}
	return res.Tensors, nil
}

func outputNames(specs []zoo.TensorSpec) string {
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

func (g *Generator) checkShape(t torch.Tensor, spec zoo.TensorSpec, count int) error {
	shape, err := torch.Shape(t)
	if err != nil {
		return err
	}
	want := []int64{int64(count), int64(spec.Channels), int64(spec.Height), int64(spec.Width)}
	if len(shape) == len(want) {
		same := true
		for i := range want {
			same = same && shape[i] == want[i]
		}
		if same {
			return nil
		}
	}
	return fmt.Errorf("model %s: output %q has shape %v, but the catalog declares %v (N, channels, height, width); fix the catalog entry's signature or the exported module",
		g.Model.ID, spec.Name, shape, want)
}

// checkFinite refuses NaN and Inf values: written as images they would be
// silently clipped into plausible-looking pixels.
func (g *Generator) checkFinite(s Sample) error {
	for _, o := range s.Outputs {
		if bad := firstNonFinite(o.Data); bad >= 0 {
			return fmt.Errorf("model %s produced a non-finite value (%v) in output %q of sample %d: the module is broken or numerically unstable on this device",
				g.Model.ID, o.Data[bad], o.Spec.Name, s.Index)
		}
	}
	return nil
}

func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// BatchSize rounds a requested batch size up to a whole number of compute
// blocks (at least one).
func (g *Generator) BatchSize(requested int) int {
	q := g.Block()
	if requested <= q {
		return q
	}
	return (requested + q - 1) / q * q
}

// Samples yields samples [start, start+n) in order, running forward in
// batches of batchSize. The next batch is computed while the caller handles
// the current one, so consumers that encode and write overlap with LibTorch.
// Stopping the loop early stops the producer.
func (g *Generator) Samples(ctx context.Context, start, n, batchSize int, opt Options) iter.Seq2[Sample, error] {
	batchSize = g.BatchSize(batchSize)
	return func(yield func(Sample, error) bool) {
		type batch struct {
			samples []Sample
			err     error
		}
		ctx, cancel := context.WithCancel(ctx)
		// Capacity 1: one batch waits ready while the next is computed,
		// bounding memory to about three batches whatever n is.
		ch := make(chan batch, 1)
		go func() {
			defer close(ch)
			// Batches are aligned to multiples of batchSize, so a run that
			// resumes mid-way computes no block twice after its first batch.
			for s := start; s < start+n; s = (s/batchSize + 1) * batchSize {
				count := min((s/batchSize+1)*batchSize, start+n) - s
				samples, err := g.Generate(ctx, s, count, opt)
				select {
				case ch <- batch{samples, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		// On early exit, stop the producer and wait for it, so no forward
		// call outlives the loop (the caller may close the generator next).
		defer func() {
			cancel()
			for range ch {
			}
		}()
		for b := range ch {
			if b.err != nil {
				yield(Sample{}, b.err)
				return
			}
			for _, s := range b.samples {
				if !yield(s, nil) {
					return
				}
			}
		}
	}
}
