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
	return p
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
		if err := enc.Encode(&buf, Image(out), o.Provenance(s, out.Spec.Name)); err != nil {
			return fmt.Errorf("sample %d, output %s: %w", s.Index, out.Spec.Name, err)
		}
		if err := put(out.Spec.Name, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// Image is a loader output as package output encodes it.
func Image(o loader.Output) output.Image {
	return output.Image{Channels: o.Spec.Channels, Height: o.Spec.Height, Width: o.Spec.Width, Data: o.Data,
		Range: o.Spec.Range, Label: o.Spec.Kind == zoo.KindLabel}
}

// Figure composes rows of cells into one PNG whose provenance describes
// the figure as what ("grid of samples 0-15"), its first sample being
// index, and returns the PNG and its size in pixels.
func (o Origin) Figure(rows [][]figure.Cell, index int, what string) ([]byte, image.Point, error) {
	canvas, err := figure.Compose(rows)
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
