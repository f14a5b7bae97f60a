//go:build !notorch

package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/loader"
	"medzoo/torch"
)

// runBench times forward calls only: latents in, tensors copied to Go.
func runBench(c *cli.Context) error {
	if c.Int("n") <= 0 {
		return usagef("-n must be at least 1")
	}
	m, gen, err := openModel(c, modelArg(c))
	if err != nil {
		return err
	}
	defer gen.Close()
	batch := gen.BatchSize(c.Int("batch-size"))
	// Warm-up: the first call pays for LibTorch's lazy initialisation.
	if _, err := gen.Generate(c.Context, 0, batch, loader.Options{}); err != nil {
		return err
	}
	n := c.Int("n")
	start := time.Now()
	for s := 0; s < n; s += batch {
		if _, err := gen.Generate(c.Context, batch+s, min(batch, n-s), loader.Options{}); err != nil {
			return err
		}
	}
	secs := time.Since(start).Seconds()
	threads, err := torch.Threads()
	if err != nil {
		return err
	}
	res := map[string]any{"model": m.ID, "device": gen.Device, "threads": threads, "batch_size": batch,
		"n": n, "seconds": secs, "images_per_second": float64(n) / secs}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintf(c.App.Writer, "%s on %s (%d threads, batch %d): %d samples in %.2fs = %.1f images/s (forward only)\n",
		m.ID, gen.Device, threads, batch, n, secs, float64(n)/secs)
	return nil
}
