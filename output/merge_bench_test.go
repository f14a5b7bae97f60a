package output

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"medzoo/internal/shard"
)

// BenchmarkMerge100k times zoo manifest merge of a run of 100,000 samples
// in 8 shards (docs/scale.md's figure): reading the parts, checking every
// sample's file is there, writing manifest.jsonl, zoo-run.json and
// zoo-shards.json. The parts are made through the real shard writer first
// (untimed), with one small file per sample.
//
//	go test -run '^$' -bench Merge100k -benchtime 1x ./output
func BenchmarkMerge100k(b *testing.B) {
	const n, m, block = 100_000, 8, 16
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "run")
		info := RunInfo{Model: "00101_BENCH", SHA256: fmt.Sprintf("%064x", 1), Seed: 1, N: n, Format: "png",
			Outputs: []string{"image"}, Generator: "bench"}
		setup := time.Now()
		for k := 0; k < m; k++ {
			part := NewShardPart(shard.Shard{K: k, M: m}, n, block)
			run, err := OpenShard(context.Background(), dir, info, part, Fresh)
			if err != nil {
				b.Fatal(err)
			}
			for idx := part.Start; idx < part.End; idx++ {
				name := run.FileName(idx, "image", ".png")
				if err := run.WriteFile(name, []byte("x")); err != nil {
					b.Fatal(err)
				}
				rec := Record{Index: idx, Files: map[string]string{"image": name}, Model: info.Model, SHA256: info.SHA256,
					Seed: info.Seed, Synthetic: true, Reproducible: "bitwise on the same device and LibTorch build"}
				if err := run.Commit(rec); err != nil {
					b.Fatal(err)
				}
			}
			if err := run.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("parts of %d samples written in %.1f s", n, time.Since(setup).Seconds())
		b.StartTimer()
		start := time.Now()
		report, err := Merge(context.Background(), dir)
		if err != nil || report == nil {
			b.Fatalf("merge: %v", err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "merge-s")
	}
}
