package pipeline

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"sync"

	"medzoo/loader"
	"medzoo/output"
)

// Writer writes a run's samples into its output directory: it encodes and
// writes them on a pool of goroutines while the model computes the next
// block, and commits each to the run's manifest once its files are there.
type Writer struct {
	Run    *output.Run
	Enc    output.Encoder
	Origin Origin
	// Stack, if set, writes each sample as a slice of one NIfTI volume per
	// output (zoo generate --stack) instead of files of its own; Enc is
	// then unused.
	Stack *output.Stack
	// Written, if set, is called once per sample committed (progress).
	Written func()
}

// Write writes the samples that samples(ctx) yields until it ends, a
// sample fails or ctx ends, and returns the first error
// (context.Canceled when ctx was cancelled). samples is called once, with
// a context that ends when a write fails, so that the model stops early
// too; loader.Generator.Samples is what it normally returns.
func (w *Writer) Write(ctx context.Context, samples func(context.Context) iter.Seq2[loader.Sample, error]) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := runtime.NumCPU()
	jobs := make(chan loader.Sample, 2*workers)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				if err := w.WriteSample(s); err != nil {
					fail(err)
					continue
				}
				if w.Written != nil {
					w.Written()
				}
			}
		}()
	}
	for s, err := range samples(ctx) {
		if err != nil {
			fail(err)
			break
		}
		select {
		case jobs <- s:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// WriteSample encodes one sample's outputs into files, then commits it.
// Each file is written atomically (never through a link planted in the
// directory); the manifest, appended only after a sample's files are
// complete, is what marks them done, and a resume rewrites anything after
// it. Files are named by index (00042.png, 00042_mask.png), or after the
// input of an image-to-image sample (ct_012.png).
func (w *Writer) WriteSample(s loader.Sample) error {
	rec := w.Origin.Record(s)
	if w.Stack != nil {
		return w.writeSlice(s, rec)
	}
	err := w.Origin.Encode(w.Enc, s, func(out string, data []byte) error {
		name := w.Run.FileName(s.Index, out, w.Enc.Ext())
		if s.Input != "" {
			name = w.Run.InputFileName(s.Input, out, w.Enc.Ext())
		}
		if err := w.Run.WriteFile(name, data); err != nil {
			return err
		}
		rec.Files[out] = name
		return nil
	})
	if err != nil {
		return err
	}
	return w.Run.Commit(rec)
}

// writeSlice writes sample s as slice s.Index of its outputs' stacked
// volumes, then commits it with the slice in its manifest line.
func (w *Writer) writeSlice(s loader.Sample, rec output.Record) error {
	for _, out := range s.Outputs {
		name, err := w.Stack.WriteSlice(s.Index, SampleImage(out, s.Conditions), w.Origin.Provenance(s, out.Spec.Name))
		if err != nil {
			return fmt.Errorf("sample %d, output %s: %w", s.Index, out.Spec.Name, err)
		}
		rec.Files[out.Spec.Name] = name
	}
	k := s.Index
	rec.Slice = &k
	return w.Run.Commit(rec)
}
