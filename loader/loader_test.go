package loader

import (
	"context"
	"math"
	"strings"
	"testing"

	"medzoo/internal/testmodules"
	"medzoo/zoo"
)

// TestPhiloxKnownAnswers checks the generator against the Random123
// known-answer vectors for Philox4x32-10.
func TestPhiloxKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		if got := philox4x32(tc.ctr, tc.key); got != tc.want {
			t.Errorf("philox(%x, %x) = %x, want %x", tc.ctr, tc.key, got, tc.want)
		}
	}
}

func TestLatentDistribution(t *testing.T) {
	const n = 200000
	v := make([]float32, n)
	FillLatent(v, 42, 0, "normal")
	var sum, sq float64
	for _, x := range v {
		sum += float64(x)
		sq += float64(x) * float64(x)
	}
	mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 0.01 || math.Abs(std-1) > 0.01 {
		t.Fatalf("normal latents: mean %.4f std %.4f", mean, std)
	}
	FillLatent(v, 42, 0, "uniform")
	for _, x := range v {
		if x < -1 || x >= 1 {
			t.Fatalf("uniform latent %v outside [-1, 1)", x)
		}
	}
	a, b := make([]float32, 10), make([]float32, 10)
	FillLatent(a, 1, 5, "normal")
	FillLatent(b, 1, 6, "normal")
	if a[0] == b[0] {
		t.Fatal("neighbouring indices gave the same latent")
	}
	FillLatent(b, 2, 5, "normal")
	if a[0] == b[0] {
		t.Fatal("different seeds gave the same latent")
	}
}

func tinyModel(file string, outputs ...zoo.TensorSpec) *zoo.Model {
	if len(outputs) == 0 {
		outputs = []zoo.TensorSpec{{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 4, Width: 4, Range: [2]float64{-1, 1}}}
	}
	return &zoo.Model{
		ID:       "99999_TEST_" + strings.TrimSuffix(file, ".pt"),
		Artifact: zoo.Artifact{Format: zoo.FormatTorchScript},
		Signature: &zoo.Signature{
			Latent:  []int64{8},
			Outputs: outputs,
		},
	}
}

func open(t *testing.T, m *zoo.Model, file string) *Generator {
	t.Helper()
	g, err := Open(m, testmodules.Path(t, file), "cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func collect(t *testing.T, g *Generator, start, n, batch int, opt Options) []Sample {
	t.Helper()
	var out []Sample
	for s, err := range g.Samples(context.Background(), start, n, batch, opt) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestSameSamplesWhateverTheBatchSize(t *testing.T) {
	g := open(t, tinyModel("tiny_generator.pt"), "tiny_generator.pt")
	opt := Options{Seed: 7}
	ref := collect(t, g, 0, 23, 1, opt)
	if len(ref) != 23 {
		t.Fatalf("%d samples, want 23", len(ref))
	}
	for _, batch := range []int{2, 5, 16, 64} {
		got := collect(t, g, 0, 23, batch, opt)
		for i := range ref {
			if got[i].Index != i {
				t.Fatalf("batch %d: sample %d has index %d", batch, i, got[i].Index)
			}
			for j, v := range ref[i].Outputs[0].Data {
				if got[i].Outputs[0].Data[j] != v {
					t.Fatalf("batch %d: sample %d value %d differs: %v vs %v", batch, i, j, got[i].Outputs[0].Data[j], v)
				}
			}
		}
	}
	// Starting in the middle (a resumed run) gives the same samples.
	tail := collect(t, g, 10, 13, 4, opt)
	for i, s := range tail {
		if s.Index != 10+i || s.Outputs[0].Data[3] != ref[10+i].Outputs[0].Data[3] {
			t.Fatalf("resumed sample %d differs", s.Index)
		}
	}
	other := collect(t, g, 0, 1, 1, Options{Seed: 8})
	if other[0].Outputs[0].Data[0] == ref[0].Outputs[0].Data[0] {
		t.Fatal("another seed gave the same first sample")
	}
}

func TestEarlyStopAndCancel(t *testing.T) {
	g := open(t, tinyModel("tiny_generator.pt"), "tiny_generator.pt")
	n := 0
	for _, err := range g.Samples(context.Background(), 0, 1000, 8, Options{}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range g.Samples(ctx, 0, 10, 2, Options{}) {
		if err == nil {
			t.Fatal("cancelled context still produced a sample")
		}
		break
	}
}

func TestSignatureChecks(t *testing.T) {
	ctx := context.Background()
	if _, err := open(t, tinyModel("nan_generator.pt"), "nan_generator.pt").Generate(ctx, 3, 2, Options{}); err == nil ||
		!strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "sample 3") {
		t.Fatalf("NaN output: %v", err)
	}
	if _, err := open(t, tinyModel("wrong_shape.pt"), "wrong_shape.pt").Generate(ctx, 0, 2, Options{}); err == nil ||
		!strings.Contains(err.Error(), "[16 1 5 5]") || !strings.Contains(err.Error(), "[16 1 4 4]") {
		t.Fatalf("wrong shape: %v", err)
	}
	two := tinyModel("tiny_generator.pt",
		zoo.TensorSpec{Name: "image", Channels: 1, Height: 4, Width: 4},
		zoo.TensorSpec{Name: "mask", Channels: 1, Height: 4, Width: 4})
	if _, err := open(t, two, "tiny_generator.pt").Generate(ctx, 0, 1, Options{}); err == nil || !strings.Contains(err.Error(), "declares 2") {
		t.Fatalf("output count: %v", err)
	}
	noLatent := tinyModel("tiny_generator.pt")
	noLatent.Signature.Latent = []int64{9}
	if _, err := open(t, noLatent, "tiny_generator.pt").Generate(ctx, 0, 1, Options{}); err == nil {
		t.Fatal("wrong latent size accepted")
	}
}

func TestNamedOutputs(t *testing.T) {
	m := tinyModel("named.pt",
		zoo.TensorSpec{Name: "mask", Kind: zoo.KindMask, Channels: 1, Height: 1, Width: 8},
		zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 1, Width: 8})
	m.Signature.Latent = []int64{1, 1, 8}
	s, err := open(t, m, "named.pt").Generate(context.Background(), 0, 1, Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	img, mask := s[0].Outputs[1].Data, s[0].Outputs[0].Data
	for i := range img {
		if want := float32(0); img[i] > 0 {
			want = 1
			if mask[i] != want {
				t.Fatalf("mask %v does not match image %v", mask, img)
			}
		}
	}
}

func TestConditions(t *testing.T) {
	m := tinyModel("cond_generator.pt")
	m.Signature.Conditions = []zoo.Condition{{Name: "class", Values: []string{"benign", "malignant"}}}
	g := open(t, m, "cond_generator.pt")
	mix := collect(t, g, 0, 6, 4, Options{Seed: 1})
	for i, s := range mix {
		want := []string{"benign", "malignant"}[i%2]
		if s.Conditions["class"] != want {
			t.Fatalf("balanced mix: sample %d is %q, want %q", i, s.Conditions["class"], want)
		}
	}
	fixed := collect(t, g, 0, 6, 4, Options{Seed: 1, Conditions: map[string]string{"class": "Malignant"}})
	for i, s := range fixed {
		if s.Conditions["class"] != "malignant" {
			t.Fatalf("fixed: sample %d is %q", i, s.Conditions["class"])
		}
	}
	// Same latent, other condition: the image moves by exactly 0.5.
	if d := fixed[0].Outputs[0].Data[0] - mix[0].Outputs[0].Data[0]; math.Abs(float64(d)-0.5) > 1e-6 {
		t.Fatalf("condition shifted the image by %v, want 0.5", d)
	}
	for _, bad := range []map[string]string{{"class": "unknown"}, {"size": "big"}} {
		if err := g.ValidateConditions(bad); err == nil || !strings.Contains(err.Error(), "benign") && !strings.Contains(err.Error(), "class") {
			t.Fatalf("bad condition %v: %v", bad, err)
		}
	}
}

func TestNotRunnable(t *testing.T) {
	m := &zoo.Model{ID: "00008_C-DCGAN_MMG_MASSES", Artifact: zoo.Artifact{Format: zoo.FormatPythonPackage},
		Upstream: &zoo.Upstream{ModelFile: "1750.pt", Dependencies: []string{"numpy", "torch"}}}
	_, err := Open(m, "/nonexistent", "cpu")
	if err == nil || !strings.Contains(err.Error(), "TorchScript") || !strings.Contains(err.Error(), "1750.pt") || !strings.Contains(err.Error(), "never runs Python") {
		t.Fatalf("python package: %v", err)
	}
}
