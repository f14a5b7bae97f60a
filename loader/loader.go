// Package loader turns a catalog entry and its fetched artifact into a
// runnable Generator: it builds the module's inputs (deterministic latents,
// condition indices), runs batches through torch, checks what comes back
// against the entry's declared signature, and hands out samples one by one
// like a data loader.
package loader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"medzoo/imagein"
	"medzoo/internal/envconfig"
	"medzoo/internal/limits"
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
	inputs   []zoo.TensorSpec // image inputs, in forward order
	args     []any            // fixed scalar forward arguments
}

// seededForward serialises forward calls of stochastic modules: LibTorch's
// default generator is process-wide, so seeding it and drawing from it must
// not interleave with another block's.
var seededForward sync.Mutex

// Open loads the TorchScript artifact at path for model m on device (a
// string torch.ResolveDevice accepts, "auto" included).
func Open(m *zoo.Model, path, device string) (*Generator, error) {
	if m.Artifact.Format != zoo.FormatTorchScript {
		return nil, NotRunnableError(m)
	}
	if m.Signature == nil || len(m.Signature.Outputs) == 0 {
		return nil, fmt.Errorf("model %s: the catalog entry declares no signature outputs, so zoo cannot check or write what it makes; add [[model.signature.outputs]]", m.ID)
	}
	for _, in := range m.Signature.ImageInputs() {
		if in.Channels <= 0 || in.Height <= 0 || in.Width <= 0 {
			return nil, fmt.Errorf("model %s: the catalog entry's image input %q needs channels, height and width", m.ID, in.Name)
		}
		if _, ok := limits.ProductInts(limits.SampleValues, in.Channels, in.Height, in.Width); !ok {
			return nil, fmt.Errorf("model %s: the catalog entry's image input %q is %d×%d×%d, more than the limit of %d values", m.ID, in.Name, in.Channels, in.Height, in.Width, limits.SampleValues)
		}
	}
	dev, err := torch.ResolveDevice(device)
	if err != nil {
		return nil, err
	}
	mod, err := torch.Load(path, dev)
	if err != nil {
		// path may be a cache blob; the artifact URL is what the user
		// recognises.
		if m.Artifact.URL != "" && m.Artifact.URL != path {
			return nil, fmt.Errorf("model %s (artifact %s): %w", m.ID, m.Artifact.URL, err)
		}
		return nil, fmt.Errorf("model %s: %w", m.ID, err)
	}
	g := &Generator{Model: m, Device: dev, sig: m.Signature, module: mod, latentN: 1, inputs: m.Signature.ImageInputs()}
	for _, a := range m.Signature.Args {
		switch a.Type {
		case "int":
			g.args = append(g.args, int(a.Value))
		case "bool":
			g.args = append(g.args, a.Value != 0)
		default:
			g.args = append(g.args, a.Value)
		}
	}
	g.latentSh = append([]int64(nil), m.Signature.Latent...)
	if len(g.latentSh) == 0 {
		g.latentN = 0
	} else {
		// Catalogs are checked when parsed; an entry built in code gets
		// the same limit, so no latent size can overflow or exhaust memory.
		n, ok := limits.Product(limits.LatentValues, g.latentSh...)
		if !ok {
			mod.Close()
			return nil, fmt.Errorf("model %s: signature.latent %v is not a positive shape of at most %d values per sample", m.ID, g.latentSh, limits.LatentValues)
		}
		g.latentN = int(n)
	}
	return g, nil
}

// NotRunnableError explains why a catalog model cannot run in zoo and what
// running it needs.
func NotRunnableError(m *zoo.Model) error {
	var b strings.Builder
	if m.Artifact.Format != zoo.FormatPythonPackage {
		fmt.Fprintf(&b, "model %s cannot run in zoo: its artifact is %s", m.ID, describeFormat(m.Artifact.Format))
		if m.Artifact.Format == zoo.FormatTorchScript && m.Signature == nil {
			b.WriteString(" but the entry declares no [model.signature]")
		}
		return errors.New(b.String())
	}
	fmt.Fprintf(&b, "model %s is not runnable yet: its artifact is the original medigan Python package (format python-package), and zoo never runs Python when it generates. "+
		"Import it once: `zoo import %s", m.ID, m.ID)
	if m.Artifact.SHA256 == "" {
		b.WriteString(" --allow-unpinned")
	}
	fmt.Fprintf(&b, "` downloads %s", m.Artifact.URL)
	if m.Artifact.Size > 0 {
		fmt.Fprintf(&b, " (%.1f MB)", float64(m.Artifact.Size)/1e6)
	}
	b.WriteString(", runs the package's generate() once in a sandbox without network, exports its generator to TorchScript and checks that zoo's images are pixel-identical to the package's")
	if u := m.Upstream; u != nil && (u.ModelFile != "" || len(u.Dependencies) > 0) {
		var about []string
		if u.ModelFile != "" {
			about = append(about, "its checkpoint is "+u.ModelFile)
		}
		if len(u.Dependencies) > 0 {
			about = append(about, "it imports "+strings.Join(u.Dependencies, ", "))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(about, "; "))
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
	// ConditionsAt, when set, gives sample index's condition values (by
	// name), before Conditions and the balanced mix: replaying recorded
	// per-sample conditions (zoo import's verification).
	ConditionsAt func(index int) map[string]string
	// Inputs are the input image files of an image-to-image model: sample i
	// reads Inputs[i]. Callers sort them (imagein.List does) so the mapping
	// is deterministic. For models with several image inputs, Inputs feeds
	// the first and NamedInputs the others, by input name.
	Inputs      []string
	NamedInputs map[string][]string
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

	bad error // a non-finite raw value
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
		if c.IsFloat() {
			if _, err := floatCondition(c, v); err != nil {
				return fmt.Errorf("model %s: %w", g.Model.ID, err)
			}
			continue
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

// floatCondition parses the value of a float condition and checks its range.
func floatCondition(c zoo.Condition, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("condition %s=%q must be a number", c.Name, v)
	}
	if c.Range != [2]float64{} && (f < c.Range[0] || f > c.Range[1]) {
		return 0, fmt.Errorf("condition %s=%v is outside its range [%v, %v]", c.Name, f, c.Range[0], c.Range[1])
	}
	return f, nil
}

// condValue is one condition of one sample: an index into the condition's
// values, or a number for float conditions.
type condValue struct {
	index int
	value float64
}

func (cv condValue) String(c zoo.Condition) string {
	if c.IsFloat() {
		return strconv.FormatFloat(cv.value, 'g', -1, 64)
	}
	return c.Values[cv.index]
}

// conditionsFor returns each condition's value for sample index: recorded
// (ConditionsAt), fixed (Conditions), or mixed in balance over the indices.
// Float conditions not given take their default.
func (g *Generator) conditionsFor(index int, opt Options) ([]condValue, error) {
	out := make([]condValue, len(g.sig.Conditions))
	var at map[string]string
	if opt.ConditionsAt != nil {
		at = opt.ConditionsAt(index)
	}
	radix := 1
	for i, c := range g.sig.Conditions {
		v, ok := at[c.Name]
		if !ok {
			v, ok = opt.Conditions[c.Name]
		}
		switch {
		case c.IsFloat() && ok:
			f, err := floatCondition(c, v)
			if err != nil {
				return nil, fmt.Errorf("model %s, sample %d: %w", g.Model.ID, index, err)
			}
			out[i].value = f
		case c.IsFloat():
			out[i].value = c.Default
		case ok:
			if out[i].index = conditionIndex(c, v); out[i].index < 0 {
				return nil, fmt.Errorf("model %s, sample %d: condition %s=%q is not one of %s", g.Model.ID, index, c.Name, v, strings.Join(c.Values, ", "))
			}
		default:
			out[i].index = (index / radix) % len(c.Values)
			radix *= len(c.Values)
		}
	}
	return out, nil
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
	// The capacity is only a hint: a caller's count is not trusted with
	// an allocation.
	out := make([]Sample, 0, min(count, limits.BatchSize))
	for b := start / q * q; b < start+count; b += q {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := q
		if len(g.inputs) > 0 {
			// The last block of an image-to-image run stops at the last
			// input instead of computing padding copies: its size depends
			// only on the number of inputs, never on the batch size asked.
			n = min(q, len(opt.Inputs)-b)
		}
		block, err := g.forwardBlock(b, n, opt)
		if err != nil {
			return nil, err
		}
		lo, hi := max(start, b)-b, min(start+count, b+q)-b
		for _, smp := range block[lo:hi] {
			if smp.bad != nil {
				return nil, smp.bad
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
	conds := make([][]condValue, count)
	for i := range conds {
		cv, err := g.conditionsFor(start+i, opt)
		if err != nil {
			return nil, err
		}
		conds[i] = cv
	}
	for ci, c := range g.sig.Conditions {
		var t torch.Tensor
		var err error
		if c.IsFloat() {
			v := make([]float32, count)
			for i := range v {
				v[i] = float32(conds[i][ci].value)
			}
			t, err = torch.FromFloat32(v, []int64{int64(count)}, g.Device)
		} else {
			idx := make([]int64, count)
			for i := range idx {
				idx[i] = int64(conds[i][ci].index)
			}
			t, err = torch.FromInt64(idx, []int64{int64(count)}, g.Device)
		}
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, t)
	}
	for ii := range g.inputs {
		t, err := g.inputTensor(ii, start, count, g.inputFiles(ii, opt))
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, t)
	}

	if g.sig.Stochastic {
		seededForward.Lock()
		defer seededForward.Unlock()
		if err := torch.ManualSeed(BlockSeed(opt.Seed, uint64(start))); err != nil {
			return nil, fmt.Errorf("model %s: %w", g.Model.ID, err)
		}
	}
	res, err := g.module.ForwardWith(inputs, g.args)
	if err != nil {
		return nil, g.explainForwardError(start, count, inputs, err)
	}
	defer res.Close()
	tensors, err := g.matchOutputs(res)
	if err != nil {
		return nil, err
	}

	samples := make([]Sample, count)
	for i := range samples {
		samples[i] = Sample{Index: start + i, Outputs: make([]Output, len(g.sig.Outputs))}
		if len(g.inputs) > 0 && start+i < len(opt.Inputs) {
			samples[i].Input = filepath.Base(opt.Inputs[start+i])
		}
		if len(g.sig.Conditions) > 0 {
			samples[i].Conditions = map[string]string{}
			for ci, c := range g.sig.Conditions {
				samples[i].Conditions[c.Name] = conds[i][ci].String(c)
			}
		}
	}
	// One copy of each module output from LibTorch into Go memory; outputs
	// cut from the same tensor (a channel split) share it.
	copied := map[int]*rawOutput{}
	for oi, spec := range g.sig.Outputs {
		ti := tensors[oi]
		raw, ok := copied[ti]
		if !ok {
			if raw, err = g.copyRaw(res.Tensors[ti], spec, count); err != nil {
				return nil, fmt.Errorf("model %s: output %q: %w", g.Model.ID, spec.Name, err)
			}
			copied[ti] = raw
		}
		if err := g.checkShape(raw, spec, count); err != nil {
			return nil, err
		}
		per := raw.per()
		for i := range samples {
			if bad := firstNonFinite(raw.data[i*per : (i+1)*per]); bad >= 0 && samples[i].bad == nil {
				// Checked on raw values, before post-processing could map
				// them into plausible pixels; reported only if the sample
				// is asked for (padding samples may be garbage).
				samples[i].bad = &NonFiniteError{Model: g.Model.ID, Output: spec.Name, OutputIndex: oi, Sample: start + i, Value: raw.data[i*per+bad]}
			}
			samples[i].Outputs[oi] = raw.output(i, spec)
		}
	}
	return samples, nil
}

// NonFiniteError is Generate's refusal of a NaN or an infinity in an
// output: zoo validate reports it at that output's line of the entry.
type NonFiniteError struct {
	Model       string
	Output      string // its name
	OutputIndex int    // its position in the signature's outputs
	Sample      int
	Value       float32
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("model %s produced a non-finite value (%v) in output %q of sample %d: the module is broken or numerically unstable on this device",
		e.Model, e.Value, e.Output, e.Sample)
}

// BlockSeed is the LibTorch seed for the compute block starting at sample
// start of a run with seed: a stochastic module draws the same numbers for
// the same block whatever batch size, worker or resume point ran it.
func BlockSeed(seed, start uint64) uint64 {
	return splitmix64(seed ^ splitmix64(start+0x9e3779b97f4a7c15))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// explainForwardError turns a TorchScript failure into one sentence naming
// what zoo fed the module and what the module objected to. The full
// interpreter trace (tens of lines of TorchScript source) is kept only with
// ZOO_DEBUG=1.
func (g *Generator) explainForwardError(start, count int, inputs []torch.Tensor, err error) error {
	var fed []string
	if g.latentN > 0 {
		fed = append(fed, fmt.Sprintf("latent %v", append([]int64{int64(count)}, g.latentSh...)))
	}
	if n := len(g.sig.Conditions); n > 0 {
		fed = append(fed, fmt.Sprintf("%d condition tensor(s) [%d]", n, count))
	}
	for _, in := range g.inputs {
		fed = append(fed, fmt.Sprintf("image %q [%d %d %d %d]", in.Name, count, in.Channels, in.Height, in.Width))
	}
	if len(g.args) > 0 {
		fed = append(fed, fmt.Sprintf("arguments %v", g.args))
	}
	msg := err.Error()
	if debug, _ := envconfig.Debug(); !debug {
		msg = ForwardErrorCause(msg)
	}
	return fmt.Errorf("model %s rejected the inputs its catalog signature describes (%s) for samples %d..%d: %s. Check [model.signature] against the module's forward (zoo catalog validate --load runs one block); ZOO_DEBUG=1 shows the full TorchScript trace",
		g.Model.ID, strings.Join(fed, ", "), start, start+count-1, strings.TrimRight(msg, ". "))
}

// ForwardErrorCause picks the line of a TorchScript error that says what
// went wrong: the exception's own message, not the interpreter's call stack.
func ForwardErrorCause(msg string) string {
	lines := strings.Split(msg, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		for _, p := range []string{"RuntimeError: ", "ValueError: ", "TypeError: ", "IndexError: ", "AssertionError: ", "Exception: "} {
			if j := strings.Index(l, p); j >= 0 {
				return strings.TrimSpace(l[j+len(p):])
			}
		}
	}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "Expected") || strings.Contains(l, "size mismatch") || strings.Contains(l, "must match the size") {
			return l
		}
	}
	first := strings.TrimSpace(lines[0])
	return first
}

// rawOutput is one module output of a block, copied into Go memory.
type rawOutput struct {
	data  []float32
	shape []int64 // [N, C, H, W]
}

func (r *rawOutput) per() int {
	return int(r.shape[1] * r.shape[2] * r.shape[3])
}

// copyRaw copies a module output into Go memory as float32, after checking
// its element type (see checkDType) and, before anything is allocated, its
// shape against spec: a module that returns 1×4096×4096 where 1×4×4 is
// declared costs one shape query, not a 64 MiB copy per sample. A shape
// that does not fit comes back without data, for checkShape to explain.
func (g *Generator) copyRaw(t torch.Tensor, spec zoo.TensorSpec, count int) (*rawOutput, error) {
	shape, err := torch.Shape(t)
	if err != nil {
		return nil, err
	}
	dtype, err := torch.DType(t)
	if err != nil {
		return nil, err
	}
	if err := checkDType(dtype, spec); err != nil {
		return nil, err
	}
	if !shapeFits(shape, spec, count) {
		return &rawOutput{shape: shape}, nil
	}
	n, ok := limits.Product(limits.BlockValues, shape...)
	if !ok {
		return nil, fmt.Errorf("tensor of shape %v holds more than %d values, the limit for one block", shape, limits.BlockValues)
	}
	buf := make([]float32, n)
	if err := torch.CopyFloat32(t, buf); err != nil {
		return nil, err
	}
	return &rawOutput{data: buf, shape: shape}, nil
}

// checkDType enforces zoo's policy on output element types. float32 is
// taken as it is; float64, float16 and bfloat16 are converted to float32
// (float16 and bfloat16 exactly, float64 rounded to nearest), because
// images are written from float32 anyway. Integer and bool outputs are
// whole values (exact in float32 up to 2^24) and make sense only as class
// labels or masks, so they are accepted only for outputs declared kind =
// "label" or "mask". Complex outputs are refused: no image format stores
// them and dropping the imaginary part would be a silent guess.
func checkDType(dtype string, spec zoo.TensorSpec) error {
	switch {
	case torch.IsFloatingDType(dtype):
		return nil
	case torch.IsComplexDType(dtype):
		return fmt.Errorf("the module returns complex values (%s), which no image holds; return real values from forward (x.abs() or x.real) and export it again", dtype)
	case spec.Kind == zoo.KindLabel || spec.Kind == zoo.KindMask:
		return nil
	default:
		return fmt.Errorf("the module returns %s values, but integer and bool outputs are accepted only for outputs declared kind = \"mask\" or \"label\", and this one is kind = %q; declare its kind, or return floating-point values from forward", describeDType(dtype), spec.Kind)
	}
}

func describeDType(d string) string {
	switch d {
	case torch.Bool:
		return "bool"
	case "Long":
		return "integer (int64)"
	case "Int":
		return "integer (int32)"
	case "Short":
		return "integer (int16)"
	case "Char":
		return "integer (int8)"
	case "Byte":
		return "integer (uint8)"
	}
	return d
}

// shapeFits reports whether a module output of shape can hold spec for
// count samples; checkShape says what is wrong when it cannot.
func shapeFits(shape []int64, spec zoo.TensorSpec, count int) bool {
	h, w := int64(spec.Height), int64(spec.Width)
	if spec.Post != nil && spec.Post.Transpose {
		h, w = w, h
	}
	if len(shape) != 4 || shape[0] != int64(count) || shape[2] != h || shape[3] != w {
		return false
	}
	if spec.Source != "" {
		return shape[1] >= int64(spec.ChannelOffset+spec.Channels)
	}
	return spec.ChannelOffset == 0 && shape[1] == int64(spec.Channels)
}

// output cuts sample i's declared output from the raw tensor: its
// channels, transposed and post-processed as the catalog says. An output
// that is the whole tensor, unprocessed, shares the buffer.
func (r *rawOutput) output(i int, spec zoo.TensorSpec) Output {
	per := r.per()
	src := r.data[i*per : (i+1)*per : (i+1)*per]
	if spec.Post == nil && spec.ChannelOffset == 0 && int64(spec.Channels) == r.shape[1] {
		return Output{Spec: spec, Data: src}
	}
	return Output{Spec: postSpec(spec), Data: cut(src, int(r.shape[2]), int(r.shape[3]), spec)}
}

// TakesInput reports whether the model needs input images.
func (g *Generator) TakesInput() bool { return len(g.inputs) > 0 }

// ImageInputs returns the model's image inputs in forward order.
func (g *Generator) ImageInputs() []zoo.TensorSpec { return g.inputs }

// LatentSize is the number of latent values per sample (0: no latent).
func (g *Generator) LatentSize() int { return g.latentN }

// inputFiles returns the files of image input ii.
func (g *Generator) inputFiles(ii int, opt Options) []string {
	if ii == 0 {
		return opt.Inputs
	}
	return opt.NamedInputs[g.inputs[ii].Name]
}

func (g *Generator) checkInputCount(end int, opt Options) error {
	switch {
	case len(g.inputs) == 0 && (len(opt.Inputs) > 0 || len(opt.NamedInputs) > 0):
		return fmt.Errorf("model %s is %s and takes no input images", g.Model.ID, functionOf(g.Model))
	case len(g.inputs) > 0 && len(opt.Inputs) == 0:
		return fmt.Errorf("model %s is image-to-image: give it input images (--input DIR)", g.Model.ID)
	}
	for ii, in := range g.inputs {
		files := g.inputFiles(ii, opt)
		switch {
		case ii > 0 && len(files) == 0:
			return fmt.Errorf("model %s takes a second image input %q: give it with --input %s=DIR", g.Model.ID, in.Name, in.Name)
		case ii > 0 && len(files) != len(opt.Inputs):
			return fmt.Errorf("model %s: input %q has %d images but the first input has %d; give one of each per sample", g.Model.ID, in.Name, len(files), len(opt.Inputs))
		case end > len(files):
			return fmt.Errorf("model %s: %d samples asked for but only %d input images given (one sample per input)", g.Model.ID, end, len(files))
		}
	}
	for name := range opt.NamedInputs {
		if !slices.ContainsFunc(g.inputs[min(1, len(g.inputs)):], func(s zoo.TensorSpec) bool { return s.Name == name }) {
			return fmt.Errorf("model %s has no second image input %q", g.Model.ID, name)
		}
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
// model's first image input, so a bad file is reported before anything is
// generated.
func (g *Generator) CheckInputs(paths []string) error {
	if len(g.inputs) == 0 {
		if len(paths) > 0 {
			return fmt.Errorf("model %s is %s and takes no input images", g.Model.ID, functionOf(g.Model))
		}
		return nil
	}
	return g.CheckNamedInputs(g.inputs[0].Name, paths)
}

// CheckNamedInputs checks the files of the image input called name.
func (g *Generator) CheckNamedInputs(name string, paths []string) error {
	for _, in := range g.inputs {
		if in.Name != name {
			continue
		}
		for _, p := range paths {
			if _, err := imagein.Load(p, in, g.Model.ID); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("model %s has no image input %q", g.Model.ID, name)
}

// inputTensor reads image input ii of samples [start, start+count) into one
// [count, C, H, W] tensor.
func (g *Generator) inputTensor(ii, start, count int, paths []string) (torch.Tensor, error) {
	spec := g.inputs[ii]
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

// matchOutputs says which module result each declared output comes from:
// its Source (a dict key or a tuple position), else its own name for dict
// results or its position.
func (g *Generator) matchOutputs(res *torch.Result) ([]int, error) {
	want := g.sig.Outputs
	out := make([]int, len(want))
	if res.Names != nil {
		byName := map[string]int{}
		for i, n := range res.Names {
			byName[n] = i
		}
		for i, spec := range want {
			key := cmp.Or(spec.Source, spec.Name)
			t, ok := byName[key]
			if !ok {
				got := append([]string(nil), res.Names...)
				sort.Strings(got)
				return nil, fmt.Errorf("model %s returned outputs %v but the catalog declares %q", g.Model.ID, got, key)
			}
			out[i] = t
		}
		return out, nil
	}
	sourced := false
	for i, spec := range want {
		out[i] = i
		if spec.Source != "" {
			sourced = true
			n, err := strconv.Atoi(spec.Source)
			if err != nil || n < 0 || n >= len(res.Tensors) {
				return nil, fmt.Errorf("model %s returned %d output tensor(s) but output %q names source %q; use a position 0..%d", g.Model.ID, len(res.Tensors), spec.Name, spec.Source, len(res.Tensors)-1)
			}
			out[i] = n
		}
	}
	if !sourced && len(res.Tensors) != len(want) {
		return nil, fmt.Errorf("model %s returned %d output tensor(s) but the catalog declares %d (%s)", g.Model.ID, len(res.Tensors), len(want), outputNames(want))
	}
	for i := range want {
		if out[i] >= len(res.Tensors) {
			return nil, fmt.Errorf("model %s returned %d output tensor(s) but the catalog declares %d (%s); give the outputs cut from one tensor a source", g.Model.ID, len(res.Tensors), len(want), outputNames(want))
		}
	}
	return out, nil
}

func outputNames(specs []zoo.TensorSpec) string {
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// checkShape checks that the raw tensor holds the declared output: N
// samples, at least ChannelOffset+Channels channels, and the declared height
// and width (swapped when the post-processing transposes).
func (g *Generator) checkShape(raw *rawOutput, spec zoo.TensorSpec, count int) error {
	shape := raw.shape
	h, w := int64(spec.Height), int64(spec.Width)
	if spec.Post != nil && spec.Post.Transpose {
		h, w = w, h
	}
	if len(shape) == 4 && raw.data != nil && shape[0] == int64(count) && shape[2] == h && shape[3] == w {
		if spec.ChannelOffset == 0 && shape[1] == int64(spec.Channels) {
			return nil
		}
		if spec.Source != "" && shape[1] >= int64(spec.ChannelOffset+spec.Channels) {
			return nil
		}
	}
	want := fmt.Sprint([]int64{int64(count), int64(spec.Channels), h, w})
	if spec.Source != "" {
		want = fmt.Sprintf("[%d ≥%d %d %d] (channels %d..%d of source %s)", count, spec.ChannelOffset+spec.Channels, h, w, spec.ChannelOffset, spec.ChannelOffset+spec.Channels-1, spec.Source)
	}
	return fmt.Errorf("model %s: output %q has shape %v, but the catalog declares %s (N, channels, height, width); fix the catalog entry's signature or the exported module",
		g.Model.ID, spec.Name, shape, want)
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
	// Capped before rounding up, which would overflow near MaxInt; the
	// commands refuse such sizes, this keeps library callers safe too.
	requested = min(requested, max(limits.BatchSize, q))
	return (requested + q - 1) / q * q
}

// Samples yields samples [start, start+n) in order, running forward in
// batches of batchSize. The next batch is computed while the caller handles
// the current one, so consumers that encode and write overlap with LibTorch.
// Stopping the loop early stops the producer.
func (g *Generator) Samples(ctx context.Context, start, n, batchSize int, opt Options) iter.Seq2[Sample, error] {
	batchSize = g.BatchSize(batchSize)
	// Batches are aligned to multiples of batchSize, so a run that resumes
	// mid-way computes no block twice after its first batch.
	batches := func(yield func(int, int) bool) {
		for s := start; s < start+n; s = (s/batchSize + 1) * batchSize {
			if !yield(s, min((s/batchSize+1)*batchSize, start+n)-s) {
				return
			}
		}
	}
	return Prefetch(ctx, nil, batches, func(ctx context.Context, s, count int) ([]Sample, error) {
		return g.Generate(ctx, s, count, opt)
	})
}

// Prefetch yields first's samples, then those fetch makes for each block
// (start, count) of blocks, in order, fetching the next block while the
// caller handles the current one: one fetched block waits ready, bounding
// memory to about three blocks whatever their number. A fetch error, or
// ctx ending before a block is fetched, is yielded and ends the sequence.
// Stopping the loop early stops the producer and waits for the fetch in
// flight, so none outlives the loop (the caller may close or reuse what
// fetch runs on next).
func Prefetch(ctx context.Context, first []Sample, blocks iter.Seq2[int, int], fetch func(ctx context.Context, start, count int) ([]Sample, error)) iter.Seq2[Sample, error] {
	return func(yield func(Sample, error) bool) {
		type batch struct {
			samples []Sample
			err     error
		}
		ctx, cancel := context.WithCancel(ctx)
		ch := make(chan batch, 1)
		go func() {
			defer close(ch)
			for start, count := range blocks {
				err := ctx.Err()
				var samples []Sample
				if err == nil {
					samples, err = fetch(ctx, start, count)
				}
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
		defer func() {
			cancel()
			for range ch {
			}
		}()
		for _, s := range first {
			if !yield(s, nil) {
				return
			}
		}
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
