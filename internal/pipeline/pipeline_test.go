package pipeline

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"medzoo/bundled"
	"medzoo/figure"
	"medzoo/internal/testfiles"
	"medzoo/loader"
	"medzoo/output"
	"medzoo/zoo"
	"medzoo/zoo/store"
)

// demo is a bundled model of the embedded catalog, with its generator on
// the CPU (real LibTorch).
func demo(t *testing.T, id string) (*zoo.Model, *loader.Generator) {
	t.Helper()
	cat, err := zoo.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := cat.Resolve(id)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewStore(t.TempDir())
	st.Bundled = bundled.FS
	path, err := st.Fetch(context.Background(), m.StoreArtifact())
	if err != nil {
		t.Fatal(err)
	}
	gen, err := loader.Open(m, path, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gen.Close() })
	return m, gen
}

// Every output of a sample carries the whole provenance, the catalog's
// modality and organ included, and the manifest line says the same.
func TestEncodeProvenance(t *testing.T) {
	m, gen := demo(t, "103") // image + mask, MRI of the brain
	samples, err := gen.Generate(context.Background(), 4, 1, loader.Options{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	o := Origin{Model: m, Seed: 9, Latents: "z.npy sha256 00"}
	enc, _ := output.Lookup("png")
	var outs []string
	err = o.Encode(enc, samples[0], func(out string, data []byte) error {
		outs = append(outs, out)
		got := testfiles.PNGProvenance(t, data)
		want := output.Provenance{Synthetic: true, Model: m.ID, Version: m.Version, SHA256: m.Artifact.SHA256,
			Seed: 9, Index: 4, Output: out, Generator: got.Generator, Demo: true, Reproducible: m.Reproducibility(),
			Latents: "z.npy sha256 00", Modality: "MRI", Organ: "brain"}
		if got.Generator == "" || !reflect.DeepEqual(got, want) {
			t.Errorf("output %s: provenance\n%+v, want\n%+v", out, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(outs, ",") != "image,mask" {
		t.Errorf("encoded outputs %v, want image,mask in signature order", outs)
	}
	rec := o.Record(samples[0])
	if rec.Index != 4 || rec.Model != m.ID || rec.Seed != 9 || !rec.Synthetic || rec.Latents != o.Latents ||
		rec.Reproducible != m.Reproducibility() || rec.Files == nil || len(rec.Files) != 0 {
		t.Errorf("record %+v", rec)
	}
	// A sink's error ends the encoding as it is.
	stop := errors.New("disk full")
	if err := o.Encode(enc, samples[0], func(string, []byte) error { return stop }); err != stop {
		t.Errorf("sink error came back as %v", err)
	}
}

func TestFigureProvenance(t *testing.T) {
	m, gen := demo(t, "105") // CT of the head
	samples, err := gen.Generate(context.Background(), 0, 2, loader.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	png, size, err := Origin{Model: m, Seed: 1}.Figure([][]figure.Cell{{figure.Cell(samples[0].Outputs), figure.Cell(samples[1].Outputs)}}, nil, 0, "grid of samples 0-1")
	if err != nil {
		t.Fatal(err)
	}
	if size.X <= size.Y || size.Y < m.Signature.Outputs[0].Height {
		t.Errorf("a row of two panels is %v", size)
	}
	p := testfiles.PNGProvenance(t, png)
	if p.Output != "figure" || p.Figure != "grid of samples 0-1" || p.Modality != "CT" || p.Organ != "brain" || p.Seed != 1 || p.Model != m.ID {
		t.Errorf("figure provenance %+v", p)
	}
	text, _ := output.ReadText(png)
	if !strings.Contains(text["Description"], "SYNTHETIC figure") {
		t.Errorf("figure notice %q", text["Description"])
	}
}

// The writer writes what the generator makes, in a manifest in index
// order, and each file is what Encode makes of its sample.
func TestWriter(t *testing.T) {
	m, gen := demo(t, "103")
	dir := t.TempDir()
	run, err := output.Open(dir, output.RunInfo{Model: m.ID, SHA256: m.Artifact.SHA256, Seed: 5, N: 20, Format: "png",
		Outputs: []string{"image", "mask"}}, output.Fresh)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := output.Lookup("png")
	written := 0
	w := &Writer{Run: run, Enc: enc, Origin: Origin{Model: m, Seed: 5}, Written: func() { written++ }}
	opt := loader.Options{Seed: 5}
	if err := w.Write(context.Background(), func(ctx context.Context) iter.Seq2[loader.Sample, error] {
		return gen.Samples(ctx, 0, 20, 0, opt)
	}); err != nil {
		t.Fatal(err)
	}
	if err := run.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := output.ReadManifest(filepath.Join(dir, output.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20 || written != 20 {
		t.Fatalf("%d manifest lines, %d samples reported written; want 20", len(recs), written)
	}
	again, err := gen.Generate(context.Background(), 17, 1, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		if rec.Index != i || len(rec.Files) != 2 {
			t.Fatalf("manifest line %d: %+v", i, rec)
		}
	}
	w.Origin.Encode(enc, again[0], func(out string, want []byte) error {
		got, err := os.ReadFile(filepath.Join(dir, recs[17].Files[out]))
		if err != nil || string(got) != string(want) {
			t.Errorf("sample 17 %s: file differs from its encoding (%v)", out, err)
		}
		return nil
	})
	if recs[17].Files["mask"] != "00017_mask.png" {
		t.Errorf("sample 17's files %v", recs[17].Files)
	}
}

// A sample that cannot be encoded stops the run with an error naming it;
// the manifest keeps the samples before it.
func TestWriterStopsOnError(t *testing.T) {
	m, gen := demo(t, "101")
	good, err := gen.Generate(context.Background(), 0, 3, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := good[2]
	bad.Outputs = []loader.Output{{Spec: bad.Outputs[0].Spec, Data: bad.Outputs[0].Data}}
	bad.Outputs[0].Spec.Channels = 2 // PNG holds 1 or 3 channels
	bad.Outputs[0].Spec.Height /= 2
	dir := t.TempDir()
	run, err := output.Open(dir, output.RunInfo{Model: m.ID, N: 3, Format: "png", Outputs: []string{"image"}}, output.Fresh)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := output.Lookup("png")
	w := &Writer{Run: run, Enc: enc, Origin: Origin{Model: m}}
	err = w.Write(context.Background(), func(context.Context) iter.Seq2[loader.Sample, error] {
		return func(yield func(loader.Sample, error) bool) {
			for _, s := range []loader.Sample{good[0], good[1], bad} {
				if !yield(s, nil) {
					return
				}
			}
		}
	})
	if err == nil || !strings.Contains(err.Error(), "sample 2, output image") || !strings.Contains(err.Error(), "channels") {
		t.Fatalf("writing an unencodable sample: %v", err)
	}
	run.Close()
	if n := run.Committed(); n != 2 {
		t.Errorf("%d samples committed, want the 2 before the bad one", n)
	}
	// The generator's error ends the run as it is.
	fail := errors.New("forward failed")
	w.Run, _ = output.Open(t.TempDir(), output.RunInfo{Model: m.ID, N: 1, Format: "png", Outputs: []string{"image"}}, output.Fresh)
	defer w.Run.Close()
	err = w.Write(context.Background(), func(context.Context) iter.Seq2[loader.Sample, error] {
		return func(yield func(loader.Sample, error) bool) { yield(loader.Sample{}, fail) }
	})
	if err != fail {
		t.Errorf("generator error came back as %v", err)
	}
}
