package loader

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"medzoo/zoo"
)

func i2iModel(file string, latent []int64, outputs ...zoo.TensorSpec) *zoo.Model {
	if len(outputs) == 0 {
		outputs = []zoo.TensorSpec{{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 8, Width: 8, Range: [2]float64{0, 1}}}
	}
	return &zoo.Model{
		ID:        "99998_TEST_" + strings.TrimSuffix(file, ".pt"),
		Function:  zoo.FunctionImageToImage,
		Artifact:  zoo.Artifact{Format: zoo.FormatTorchScript},
		Signature: &zoo.Signature{Latent: latent, Batch: 4, Outputs: outputs, Input: &zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 8, Width: 8, Range: [2]float64{0, 1}}},
	}
}

// grayPNG writes an 8-bit gray w x h PNG whose pixel p is (seed*37 + p*11) mod 256.
func grayPNG(t *testing.T, path string, w, h, seed int) {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = uint8((seed*37 + i*11) % 256)
	}
	var b bytes.Buffer
	png.Encode(&b, g)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func inputDir(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, "in_"+string(rune('a'+i))+".png")
		grayPNG(t, p, 8, 8, i)
		out = append(out, p)
	}
	return out
}

func TestImageToImage(t *testing.T) {
	g := open(t, i2iModel("translate.pt", nil), "translate.pt")
	inputs := inputDir(t, 6)
	opt := Options{Inputs: inputs}
	ref := collect(t, g, 0, 6, 1, opt)
	for i, s := range ref {
		if s.Input != filepath.Base(inputs[i]) {
			t.Fatalf("sample %d input %q, want %q", i, s.Input, filepath.Base(inputs[i]))
		}
		for p, v := range s.Outputs[0].Data {
			if want := 1 - float32((i*37+p*11)%256)/255; v != want {
				t.Fatalf("sample %d pixel %d = %v, want 1 - input = %v", i, p, v, want)
			}
		}
	}
	// Whatever the batch size or start (blocks past the last input are
	// padded with it), the same samples.
	for _, b := range []int{3, 8} {
		got := collect(t, g, 0, 6, b, opt)
		for i := range ref {
			if !slices.Equal(got[i].Outputs[0].Data, ref[i].Outputs[0].Data) {
				t.Fatalf("batch %d: sample %d differs", b, i)
			}
		}
	}
	tail := collect(t, g, 5, 1, 1, opt)
	if !slices.Equal(tail[0].Outputs[0].Data, ref[5].Outputs[0].Data) || tail[0].Input != "in_f.png" {
		t.Fatal("resumed last sample differs")
	}
	// Asking past the inputs, for none, or giving inputs to a noise model: errors.
	if _, err := g.Generate(context.Background(), 4, 3, opt); err == nil || !strings.Contains(err.Error(), "only 6 input images") {
		t.Fatalf("past the inputs: %v", err)
	}
	if _, err := g.Generate(context.Background(), 0, 1, Options{}); err == nil || !strings.Contains(err.Error(), "--input") {
		t.Fatalf("no inputs: %v", err)
	}
	noise := open(t, tinyModel("tiny_generator.pt"), "tiny_generator.pt")
	if _, err := noise.Generate(context.Background(), 0, 1, opt); err == nil || !strings.Contains(err.Error(), "takes no input") {
		t.Fatalf("inputs to a noise model: %v", err)
	}
}

// TestNoiseAndImage: output is a function of (seed, index, input).
func TestNoiseAndImage(t *testing.T) {
	g := open(t, i2iModel("noisy_translate.pt", []int64{8}), "noisy_translate.pt")
	inputs := inputDir(t, 3)
	a := collect(t, g, 0, 3, 4, Options{Seed: 1, Inputs: inputs})
	b := collect(t, g, 0, 3, 4, Options{Seed: 1, Inputs: inputs})
	c := collect(t, g, 0, 3, 4, Options{Seed: 2, Inputs: inputs})
	swapped := collect(t, g, 0, 3, 4, Options{Seed: 1, Inputs: []string{inputs[1], inputs[0], inputs[2]}})
	if !slices.Equal(a[0].Outputs[0].Data, b[0].Outputs[0].Data) {
		t.Fatal("same input and seed gave different outputs")
	}
	if slices.Equal(a[0].Outputs[0].Data, c[0].Outputs[0].Data) {
		t.Fatal("another seed gave the same output")
	}
	if slices.Equal(a[0].Outputs[0].Data, swapped[0].Outputs[0].Data) || !slices.Equal(a[2].Outputs[0].Data, swapped[2].Outputs[0].Data) {
		t.Fatal("output does not follow the input image")
	}
}

func TestImageMaskOutputs(t *testing.T) {
	spec := func(name, kind string, r float64) zoo.TensorSpec {
		return zoo.TensorSpec{Name: name, Kind: kind, Channels: 1, Height: 8, Width: 8, Range: [2]float64{0, r}}
	}
	g := open(t, i2iModel("image_mask.pt", nil, spec("image", zoo.KindImage, 1), spec("mask", zoo.KindMask, 1), spec("label", zoo.KindLabel, 2)), "image_mask.pt")
	for _, s := range collect(t, g, 0, 5, 4, Options{Inputs: inputDir(t, 5)}) {
		for i, v := range s.Outputs[1].Data {
			if v != 0 && v != 1 {
				t.Fatalf("mask value %v at %d is not binary", v, i)
			}
			if l := s.Outputs[2].Data[i]; l != 0 && l != 1 && l != 2 {
				t.Fatalf("label value %v is not a label index", l)
			}
		}
	}
}

func TestInputErrors(t *testing.T) {
	g := open(t, i2iModel("translate.pt", nil), "translate.pt")
	dir := t.TempDir()
	small := filepath.Join(dir, "ct_012.png")
	grayPNG(t, small, 4, 4, 0)
	err := g.CheckInputs([]string{small})
	for _, frag := range []string{"ct_012.png", "4x4 with 1 channel", "expects 8x8", "does not resize"} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Fatalf("wrong size: %v lacks %q", err, frag)
		}
	}
	if _, err := g.Generate(context.Background(), 0, 1, Options{Inputs: []string{small}}); err == nil || !strings.Contains(err.Error(), "ct_012.png") {
		t.Fatalf("wrong size at generation: %v", err)
	}
	rgb := filepath.Join(dir, "rgb.png")
	var b bytes.Buffer
	png.Encode(&b, image.NewNRGBA(image.Rect(0, 0, 8, 8)))
	os.WriteFile(rgb, b.Bytes(), 0o644)
	if err := g.CheckInputs([]string{rgb}); err == nil || !strings.Contains(err.Error(), "3 channels") || !strings.Contains(err.Error(), "grayscale") {
		t.Fatalf("wrong channels: %v", err)
	}
}
