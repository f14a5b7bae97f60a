// Package pipeline is the one way zoo turns generated samples into files:
// each output of a sample encoded with the provenance every zoo file
// carries (PNG text chunks, DICOM tags, the headers of NPY and NIfTI) and
// the sample's manifest line, figures of several samples, and the writer
// that encodes and writes a run's samples while the model computes the
// next ones. zoo generate, zoo grid and interpolate, and zoo serve all
// build their outputs here, so what one output says about its origin,
// every output says.
package pipeline

import (
	"bytes"
	"fmt"
	"image"

	"medzoo/figure"
	"medzoo/internal/version"
	"medzoo/loader"
	"medzoo/output"
	"medzoo/zoo"
)

// Origin is what an output's provenance names beside the sample itself:
// the catalog entry that made it and the run's seed.
type Origin struct {
	Model *zoo.Model
	Seed  uint64
	// Latents describes a --latents file ("FILE sha256 HEX"); "" when the
	// seed chose the latents.
	Latents string
	// Conditions and InputsDigest are the run's fixed conditions and the
	// digest of its input files (output.RunInfo): with the model, seed and
	// latents they identify the run (output.RunIdentity), which DICOM's
	// study and series UIDs come from.
	Conditions   map[string]string
	InputsDigest string
}

// base is the provenance every output of the origin shares.
func (o Origin) base() output.Provenance {
	m := o.Model
	return output.Provenance{Synthetic: true, Model: m.ID, Version: m.Version, SHA256: m.Artifact.SHA256,
		Seed: o.Seed, Generator: version.Generator(), Demo: m.Demo,
		Modality: first(m.Modality), Organ: first(m.Organ)}
}

// Provenance is the provenance of output out (image, mask) of sample s.
func (o Origin) Provenance(s loader.Sample, out string) output.Provenance {
	p := o.base()
	p.Index, p.Output, p.Conditions, p.Input = s.Index, out, s.Conditions, s.Input
	p.Reproducible, p.Latents = o.Model.Reproducibility(), o.Latents
	p.Run = output.RunIdentity(o.Model.Artifact.SHA256, o.Seed, o.Latents, o.Conditions, o.InputsDigest)
	for i, spec := range o.Model.Signature.Outputs {
		if spec.Name == out {
			p.OutputNumber = i + 1
		}
		if p.ImageOutput == "" && spec.Kind == zoo.KindImage {
			p.ImageOutput = spec.Name
		}
	}
	if k := o.kind(out); k == zoo.KindImage {
		p.ImageOutput = ""
	}
	return p
}

// kind is the kind of the model's output named out, "" when unknown.
func (o Origin) kind(out string) string {
	for _, spec := range o.Model.Signature.Outputs {
		if spec.Name == out {
			return spec.Kind
		}
	}
	return ""
}

// Record is sample s's manifest line, with no files yet.
func (o Origin) Record(s loader.Sample) output.Record {
	m := o.Model
	return output.Record{Index: s.Index, Files: map[string]string{}, Conditions: s.Conditions, Input: s.Input,
		Model: m.ID, Version: m.Version, SHA256: m.Artifact.SHA256, Seed: o.Seed, Synthetic: true,
		Reproducible: m.Reproducibility(), Latents: o.Latents}
}

// Encode encodes each output of s with enc, in signature order, and hands
// put the output's name and the file's bytes. The bytes are valid during
// the call only: one buffer serves every output.
func (o Origin) Encode(enc output.Encoder, s loader.Sample, put func(out string, data []byte) error) error {
	var buf bytes.Buffer
	for _, out := range s.Outputs {
		buf.Reset()
		if err := enc.Encode(&buf, SampleImage(out, s.Conditions), o.Provenance(s, out.Spec.Name)); err != nil {
			return fmt.Errorf("sample %d, output %s: %w", s.Index, out.Spec.Name, err)
		}
		if err := put(out.Spec.Name, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// Image is a loader output as package output encodes it, with the
// physical meaning its spec declares. A plane given by a condition
// (plane_condition) is known only per sample: SampleImage.
func Image(o loader.Output) output.Image {
	return SampleImage(o, nil)
}

// SampleImage is Image for a sample made with conditions: the plane of a
// plane_condition output is the sample's value of that condition.
func SampleImage(o loader.Output, conditions map[string]string) output.Image {
	spec := o.Spec
	phys := output.Physical{Units: spec.Units, Scale: spec.PhysicalScale(), Offset: spec.Offset,
		StoredBits: spec.StoredBits, SpacingMM: spec.SpacingMM, Plane: spec.Plane}
	if spec.PlaneCondition != "" {
		phys.Plane = conditions[spec.PlaneCondition]
	}
	return output.Image{Channels: spec.Channels, Height: spec.Height, Width: spec.Width, Data: o.Data,
		Range: spec.Range, Label: spec.Kind == zoo.KindLabel, Mask: spec.Kind == zoo.KindMask, Physical: phys}
}

// Figure composes rows of cells into one PNG, each row labelled with its
// entry of labels (nil: none; figure.Grid gives a grid's), whose provenance
// describes the figure as what ("grid of samples 0-15"), its first sample
// being index, and returns the PNG and its size in pixels.
func (o Origin) Figure(rows [][]figure.Cell, labels []string, index int, what string) ([]byte, image.Point, error) {
	canvas, err := figure.Compose(rows, labels)
	if err != nil {
		return nil, image.Point{}, err
	}
	p := o.base()
	p.Index, p.Output, p.Figure = index, "figure", what
	var buf bytes.Buffer
	if err := output.WritePNG(&buf, canvas, p); err != nil {
		return nil, image.Point{}, err
	}
	return buf.Bytes(), canvas.Bounds().Size(), nil
}

// first is a catalog list's first value, "" when it is empty.
func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
