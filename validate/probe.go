package validate

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"medzoo/loader"
	"medzoo/torch"
	"medzoo/zoo"
)

// ProbedOutput is one tensor the module returned on the probe.
type ProbedOutput struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"` // with the probe's batch of 2 first
	Min, Max float64
}

// Probe is what running the module on a made-up latent found.
type Probe struct {
	Latent  []int64        `json:"latent"` // per sample; nil: none found
	Outputs []ProbedOutput `json:"outputs"`
	Tried   []string       `json:"tried"` // each latent shape tried, with why it failed
}

// probeBatch is the probe's batch: 2, so that a module that drops or
// confuses the batch dimension shows it.
const probeBatch = 2

// latentGuesses are the latent sizes GANs use most, tried in order when
// the module's errors give no better hint.
var latentGuesses = []int64{100, 128, 512, 256, 64, 120, 32, 16, 8, 200, 1000}

// maxProbes bounds the forward calls of one probe.
const maxProbes = 32

// Errors that name the size the module wanted (LibTorch 1.13 wording):
// a Linear layer's, and a convolution's channels.
var (
	matmulHint  = regexp.MustCompile(`shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)`)
	channelHint = regexp.MustCompile(`to have (\d+) channels`)
	wants4D     = regexp.MustCompile(`(?i)4D|4-dimensional`)
)

// ProbeModule loads the TorchScript module at path on the CPU and looks
// for the latent it takes: a shape [D] or [D, 1, 1] of standard-normal
// values for a batch of 2, the sizes taken from the module's own errors
// where they name one, else from common GAN latent sizes. It returns what
// forward gave back for the first that works, and every try.
func ProbeModule(path string) (*Probe, error) {
	mod, err := torch.Load(path, "cpu")
	if err != nil {
		return nil, err
	}
	defer mod.Close()
	p := &Probe{}
	var queue [][]int64
	for _, d := range latentGuesses {
		queue = append(queue, []int64{d})
	}
	seen := map[string]bool{}
	for len(queue) > 0 && len(p.Tried) < maxProbes {
		shape := queue[0]
		queue = queue[1:]
		key := fmt.Sprint(shape)
		if seen[key] {
			continue
		}
		seen[key] = true
		outs, err := forwardProbe(mod, shape)
		if err == nil {
			p.Latent, p.Outputs = shape, outs
			return p, nil
		}
		msg := loader.ForwardErrorCause(err.Error())
		p.Tried = append(p.Tried, fmt.Sprintf("latent %v: %s", shape, firstLine(msg)))
		// Hints go to the front: the module said what it wants.
		var hints [][]int64
		if m := matmulHint.FindStringSubmatch(msg); m != nil {
			if d, err := strconv.ParseInt(m[3], 10, 64); err == nil && d > 0 {
				hints = append(hints, append([]int64{d}, shape[1:]...))
			}
		}
		if m := channelHint.FindStringSubmatch(msg); m != nil {
			if d, err := strconv.ParseInt(m[1], 10, 64); err == nil && d > 0 {
				hints = append(hints, []int64{d, 1, 1})
			}
		}
		if len(shape) == 1 && wants4D.MatchString(msg) {
			hints = append(hints, []int64{shape[0], 1, 1})
		}
		queue = append(hints, queue...)
	}
	return p, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// forwardProbe runs forward on a batch of latents of shape and describes
// every float tensor it returns as a 4-D image batch.
func forwardProbe(mod *torch.Module, shape []int64) ([]ProbedOutput, error) {
	per := int64(1)
	for _, d := range shape {
		per *= d
	}
	z := make([]float32, probeBatch*per)
	for i := 0; i < probeBatch; i++ {
		loader.FillLatent(z[int64(i)*per:int64(i+1)*per], 0, uint64(i), "normal")
	}
	t, err := torch.FromFloat32(z, append([]int64{probeBatch}, shape...), "cpu")
	if err != nil {
		return nil, err
	}
	defer torch.Free(t)
	res, err := mod.Forward(t)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	if len(res.Tensors) == 0 {
		return nil, fmt.Errorf("forward returned no tensor")
	}
	var outs []ProbedOutput
	for i, out := range res.Tensors {
		sh, err := torch.Shape(out)
		if err != nil {
			return nil, err
		}
		dt, err := torch.DType(out)
		if err != nil {
			return nil, err
		}
		name := "image"
		switch {
		case res.Names != nil:
			name = res.Names[i]
		case len(res.Tensors) > 1:
			name = fmt.Sprintf("output%d", i)
		}
		if len(sh) != 4 || sh[0] != probeBatch {
			return nil, fmt.Errorf("output %s has shape %v; zoo wants [N, channels, height, width] with N = the batch (%d)", name, sh, probeBatch)
		}
		if !torch.IsFloatingDType(dt) {
			return nil, fmt.Errorf("output %s is %s; zoo wants floating-point images", name, dt)
		}
		n := sh[0] * sh[1] * sh[2] * sh[3]
		if n > 1<<28 {
			return nil, fmt.Errorf("output %s has shape %v, too big for an image", name, sh)
		}
		data := make([]float32, n)
		if err := torch.CopyFloat32(out, data); err != nil {
			return nil, err
		}
		o := ProbedOutput{Name: name, Shape: sh, Min: math.Inf(1), Max: math.Inf(-1)}
		for _, v := range data {
			o.Min, o.Max = min(o.Min, float64(v)), max(o.Max, float64(v))
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// Signature is the probe as a catalog signature, with each output's range
// guessed from its values: [-1, 1] (tanh), [0, 1] (sigmoid), or the
// values' own span rounded out.
func (p *Probe) Signature() *zoo.Signature {
	s := &zoo.Signature{Latent: p.Latent, Distribution: "normal"}
	for i, o := range p.Outputs {
		spec := zoo.TensorSpec{Name: o.Name, Kind: zoo.KindImage, Channels: int(o.Shape[1]), Height: int(o.Shape[2]), Width: int(o.Shape[3])}
		switch {
		case o.Min >= 0 && o.Max <= 1:
			spec.Range = [2]float64{0, 1}
		case o.Min >= -1 && o.Max <= 1:
			spec.Range = [2]float64{-1, 1}
		default:
			spec.Range = [2]float64{math.Floor(o.Min), math.Ceil(o.Max)}
		}
		if len(p.Outputs) > 1 && p.Outputs[0].Name == "output0" {
			spec.Source = strconv.Itoa(i)
		}
		s.Outputs = append(s.Outputs, spec)
	}
	return s
}
