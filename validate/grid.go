package validate

import (
	"context"
	"fmt"

	"medzoo/figure"
	"medzoo/internal/files"
	"medzoo/internal/pipeline"
	"medzoo/loader"
)

// writeGrid draws samples 0..GridSamples-1 of seed into a 4-column PNG at
// path, atomically. Its bytes depend only on the module, the entry and the
// seed (provenance holds no time), so validating twice and packing gives
// the same archive.
func writeGrid(ctx context.Context, gen *loader.Generator, seed uint64, path string) error {
	opt, cleanup, err := blockOptions(gen, (GridSamples+gen.Block()-1)/gen.Block())
	if err != nil {
		return err
	}
	defer cleanup()
	opt.Seed = seed
	samples, err := gen.Generate(ctx, 0, GridSamples, opt)
	if err != nil {
		return err
	}
	const cols = 4
	rows, labels := figure.Grid(figure.Rows(samples, cols))
	what := fmt.Sprintf("zoo validate's sample grid: samples 0-%d of seed %d", len(samples)-1, seed)
	png, _, err := pipeline.Origin{Model: gen.Model, Seed: seed}.Figure(rows, labels, 0, what)
	if err != nil {
		return err
	}
	return files.WriteAtomicBytes(path, png)
}
