package loader

import (
	"context"
	"math"
	"strings"
	"testing"

	"medzoo/internal/testmodules"
	"medzoo/zoo"
)

func TestBatchSizeNeverOverflows(t *testing.T) {
	g := open(t, tinyModel("tiny_generator.pt"), "tiny_generator.pt")
	// (MaxInt + 15) / 16 * 16 wrapped negative, then makeslice panicked.
	for _, req := range []int{math.MaxInt, math.MaxInt - 1, 1 << 62} {
		if b := g.BatchSize(req); b <= 0 || b > 1<<16 {
			t.Errorf("BatchSize(%d) = %d", req, b)
		}
	}
	if got := collect(t, g, 0, 3, math.MaxInt, Options{Seed: 1}); len(got) != 3 {
		t.Fatalf("%d samples", len(got))
	}
}

func TestOpenRefusesUncheckedLatent(t *testing.T) {
	// An entry built in code skips the catalog's checks; Open has its own.
	m := tinyModel("tiny_generator.pt")
	m.Signature.Latent = []int64{1 << 32, 1 << 32}
	if _, err := Open(m, testmodules.Path(t, "tiny_generator.pt"), "cpu"); err == nil || !strings.Contains(err.Error(), "signature.latent") {
		t.Fatalf("err = %v", err)
	}
}

func TestOutputDTypePolicy(t *testing.T) {
	spec := func(kind string) zoo.TensorSpec {
		return zoo.TensorSpec{Name: "o", Kind: kind, Channels: 1, Height: 4, Width: 4, Range: [2]float64{-1, 1}}
	}
	for _, tc := range []struct {
		module, kind, want string // want "": accepted
	}{
		{"tiny_generator.pt", zoo.KindImage, ""},
		{"double_out.pt", zoo.KindImage, ""},
		{"half_out.pt", zoo.KindImage, ""},
		{"int64_out.pt", zoo.KindImage, "integer (int64) values"},
		{"int64_out.pt", zoo.KindLabel, ""},
		{"bool_out.pt", zoo.KindImage, "bool values"},
		{"bool_out.pt", zoo.KindMask, ""},
		{"complex_out.pt", zoo.KindImage, "complex values (ComplexFloat)"},
		{"complex_out.pt", zoo.KindLabel, "complex values"},
	} {
		t.Run(tc.module+"/"+tc.kind, func(t *testing.T) {
			g := open(t, tinyModel(tc.module, spec(tc.kind)), tc.module)
			_, err := g.Generate(context.Background(), 0, 2, Options{Seed: 1})
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWrongShapeIsNotCopied(t *testing.T) {
	// huge_out.pt returns 1×4096×4096 per sample for a declared 1×4×4; the
	// shape is refused from the tensor's sizes alone.
	m := tinyModel("huge_out.pt")
	m.Signature.Batch = 1
	g := open(t, m, "huge_out.pt")
	_, err := g.Generate(context.Background(), 0, 1, Options{Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "has shape [1 1 4096 4096], but the catalog declares [1 1 4 4]") {
		t.Fatalf("err = %v", err)
	}
	if !shapeFits([]int64{1, 1, 4, 4}, m.Signature.Outputs[0], 1) || shapeFits([]int64{1, 1, 4096, 4096}, m.Signature.Outputs[0], 1) {
		t.Fatal("shapeFits disagrees with checkShape")
	}
}
