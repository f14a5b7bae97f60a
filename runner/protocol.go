// Package runner runs one model in a child process, so that a forward that
// never returns, or a crash inside LibTorch (an abort, a segfault), costs one
// request instead of the whole `zoo serve`. The parent (Process) re-executes
// the zoo-torch binary with the hidden `runner` subcommand and talks to it
// over its standard input and output in gob messages: one Load, then one
// Request at a time, each answered by one Reply. The child (Serve) loads the
// model with the loader package and answers until its input closes. A
// request that runs out of time kills the child's process group; the next
// request starts a fresh child.
package runner

import (
	"encoding/binary"
	"math"

	"medzoo/loader"
	"medzoo/zoo"
)

// Load is the first message to a child: what to load and where.
type Load struct {
	Model   *zoo.Model // the catalog entry, trimmed to what running needs
	Path    string     // the fetched artifact
	Device  string     // a resolved device (cpu, cuda:N)
	Threads int        // LibTorch intra-op threads; 0: the default
}

// Loaded answers a Load.
type Loaded struct {
	LatentSize int    // values per sample latent (0: the model takes none)
	Err        string // why the model could not be loaded; empty when it was
}

// Request asks for samples [Start, Start+Count) of the loaded model.
type Request struct {
	Start, Count int
	Seed         uint64
	Conditions   map[string]string
	// MoveLatent selects the explorer's latent: sample (Seed, i)'s latent
	// with Offsets[g] added to the g-th of Groups equal runs of values and
	// Shift added to all (medigan's visualizer sliders).
	MoveLatent bool
	Groups     int
	Offsets    []float64
	Shift      float64
	// Inputs are the input image files of an image-to-image model, sample
	// i reading Inputs[i] (loader.Options.Inputs): files the parent wrote
	// and checked, on this machine, since the child runs beside it.
	Inputs []string
}

// Reply answers a Request: the samples, or the error that stopped them.
type Reply struct {
	Samples []Sample
	Err     string
	// BadRequest marks an error in what was asked (an unknown condition
	// value), not in the model.
	BadRequest bool
}

// Sample is loader.Sample on the wire: float32 values travel as raw
// little-endian bytes, which gob copies in one piece instead of encoding
// every value on its own.
type Sample struct {
	Index      int
	Conditions map[string]string
	Input      string // an image-to-image sample's input file name
	Outputs    []Output
}

// Output is one loader.Output on the wire.
type Output struct {
	Spec zoo.TensorSpec
	Data []byte
}

func toWire(samples []loader.Sample) []Sample {
	out := make([]Sample, len(samples))
	for i, s := range samples {
		out[i] = Sample{Index: s.Index, Conditions: s.Conditions, Input: s.Input, Outputs: make([]Output, len(s.Outputs))}
		for j, o := range s.Outputs {
			b := make([]byte, 4*len(o.Data))
			for k, v := range o.Data {
				binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(v))
			}
			out[i].Outputs[j] = Output{Spec: o.Spec, Data: b}
		}
	}
	return out
}

func fromWire(samples []Sample) []loader.Sample {
	out := make([]loader.Sample, len(samples))
	for i, s := range samples {
		out[i] = loader.Sample{Index: s.Index, Conditions: s.Conditions, Input: s.Input, Outputs: make([]loader.Output, len(s.Outputs))}
		for j, o := range s.Outputs {
			v := make([]float32, len(o.Data)/4)
			for k := range v {
				v[k] = math.Float32frombits(binary.LittleEndian.Uint32(o.Data[4*k:]))
			}
			out[i].Outputs[j] = loader.Output{Spec: o.Spec, Data: v}
		}
	}
	return out
}

// trimmed is the part of a catalog entry that loading and running read:
// the child needs no metrics, training notes or provenance of the catalog.
func trimmed(m *zoo.Model) *zoo.Model {
	return &zoo.Model{ID: m.ID, Version: m.Version, Title: m.Title, Function: m.Function, Demo: m.Demo,
		Artifact: m.Artifact, Signature: m.Signature, Upstream: m.Upstream}
}
