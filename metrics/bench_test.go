package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"medzoo/torch"
	"time"
)

// TestFrechetFiles times Frechet on two statistics files written by
// scripts/bench_fid.py (MarshalBinary format); it runs only when
// METRICS_FID_A and METRICS_FID_B name them (METRICS_FID_ROUTE=eigen forces
// the eigen route, METRICS_FID_LINALG=libtorch uses LibTorch's LAPACK,
// METRICS_FID_REPEAT sets the repeats), and prints one line
// "FIDBENCH {json}" with the result and per-repeat seconds.
func TestFrechetFiles(t *testing.T) {
	pa, pb := os.Getenv("METRICS_FID_A"), os.Getenv("METRICS_FID_B")
	if pa == "" || pb == "" {
		t.Skip("METRICS_FID_A / METRICS_FID_B not set")
	}
	load := func(p string) *Stats {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var s Stats
		if err := s.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	a, b := load(pa), load(pb)
	repeat := 3
	if v := os.Getenv("METRICS_FID_REPEAT"); v != "" {
		fmt.Sscan(v, &repeat)
	}
	var secs []float64
	var res FrechetResult
	for i := 0; i < repeat; i++ {
		t0 := time.Now()
		var err error
		var la Linalg = Gonum{}
		if os.Getenv("METRICS_FID_LINALG") == "libtorch" {
			la = torch.Linalg{}
		}
		if os.Getenv("METRICS_FID_ROUTE") == "eigen" {
			res, err = FrechetEigen(a, b, la)
		} else {
			res, err = FrechetWith(a, b, la)
		}
		if err != nil {
			t.Fatal(err)
		}
		secs = append(secs, time.Since(t0).Seconds())
	}
	out, _ := json.Marshal(map[string]any{"fid": res.FID, "seconds": secs, "clipped_a": res.ClippedA, "clipped_m": res.ClippedM, "rank_a": res.RankA, "route": res.Route})
	fmt.Printf("FIDBENCH %s\n", out)
}
