package loader

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"medzoo/output"
	"medzoo/zoo"
)

// TestPixelFunc checks each post-processing step against values worked
// out by hand, including the ones that need the exact arithmetic.
func TestPixelFunc(t *testing.T) {
	thr := 0.0
	gray := make([]int, 256)
	for i := range gray {
		gray[i] = 255 - i
	}
	for _, tc := range []struct {
		name string
		p    zoo.Post
		in   []float32
		want []float32
	}{
		// medigan 00005: [-1, 0] onto [0, 255]; values above 0 wrap.
		{"wrap", zoo.Post{Map: [4]float64{-1, 0, 0, 255}, Overflow: "wrap", Arithmetic: "float32,float64"},
			[]float32{-1, -0.5, 0, 0.5, 1}, []float32{0, 127, 255, 126, 254}},
		{"clip", zoo.Post{Map: [4]float64{-1, 0, 0, 255}}, []float32{-2, 0.5}, []float32{0, 255}},
		{"truncate", zoo.Post{Map: [4]float64{-1, 1, 0, 255}}, []float32{0}, []float32{127}},
		{"round half even", zoo.Post{Map: [4]float64{0, 1, 0, 255}, Cast: "round"},
			[]float32{0.5 / 255, 1.5 / 255, 2.5 / 255}, []float32{0, 2, 2}},
		{"floor negative", zoo.Post{Map: [4]float64{0, 1, 0, 255}, Cast: "floor", Overflow: "wrap"}, []float32{-0.5 / 255}, []float32{255}},
		{"clamp", zoo.Post{Map: [4]float64{-1, 1, 0, 256}, Clamp: true}, []float32{-3, 3, 1}, []float32{0, 255, 255}},
		{"lut", zoo.Post{Map: [4]float64{0, 1, 0, 256}, Clamp: true, LUT: gray}, []float32{0, 1}, []float32{255, 0}},
		{"threshold", zoo.Post{Map: [4]float64{-1, 1, 0, 255}, Threshold: &thr}, []float32{-0.1, 0, 0.1}, []float32{0, 0, 255}},
	} {
		f := PixelFunc(&tc.p)
		for i, x := range tc.in {
			if got := f(x); got != tc.want[i] {
				t.Errorf("%s: %v -> %v, want %v", tc.name, x, got, tc.want[i])
			}
		}
	}
	// float32 and float64 arithmetic really differ: (x+1)/2*255 for this x
	// is 127.99999 in float32 steps but 128.0000004 in float64.
	x := float32(0.003921628)
	f32 := PixelFunc(&zoo.Post{Map: [4]float64{-1, 1, 0, 255}})
	f64 := PixelFunc(&zoo.Post{Map: [4]float64{-1, 1, 0, 255}, Arithmetic: "float64"})
	t32 := float32(float32(x+1)/2) * 255
	t64 := (float64(x) + 1) / 2 * 255
	if f32(x) != float32(math.Trunc(float64(t32))) || f64(x) != float32(math.Trunc(t64)) {
		t.Errorf("arithmetic: float32 %v (want trunc %v), float64 %v (want trunc %v)", f32(x), t32, f64(x), t64)
	}
}

// TestChannelSplit: one 4-channel tensor gives an RGB image (BGR-reversed,
// here) and a mask, each post-processed, from one forward call.
func TestChannelSplit(t *testing.T) {
	post := &zoo.Post{Map: [4]float64{-1, 1, 0, 255}, Clamp: true}
	m := tinyModel("four_channel.pt",
		zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 3, Height: 4, Width: 4, Source: "0", Range: [2]float64{-1, 1},
			Post: &zoo.Post{Map: post.Map, Clamp: true, BGR: true}},
		zoo.TensorSpec{Name: "mask", Kind: zoo.KindMask, Channels: 1, Height: 4, Width: 4, Source: "0", ChannelOffset: 3, Range: [2]float64{-1, 1}, Post: post})
	raw := tinyModel("four_channel.pt", zoo.TensorSpec{Name: "all", Kind: zoo.KindImage, Channels: 4, Height: 4, Width: 4, Range: [2]float64{-1, 1}})
	got := collect(t, open(t, m, "four_channel.pt"), 0, 3, 16, Options{Seed: 2})
	ref := collect(t, open(t, raw, "four_channel.pt"), 0, 3, 16, Options{Seed: 2})
	f := PixelFunc(post)
	for i := range got {
		all := ref[i].Outputs[0].Data
		img, mask := got[i].Outputs[0], got[i].Outputs[1]
		if img.Spec.Range != [2]float64{0, 255} || len(img.Data) != 48 || len(mask.Data) != 16 {
			t.Fatalf("outputs %+v / %+v", img.Spec, mask.Spec)
		}
		for p := 0; p < 16; p++ {
			for ch := 0; ch < 3; ch++ {
				if img.Data[ch*16+p] != f(all[(2-ch)*16+p]) {
					t.Fatalf("sample %d: image channel %d pixel %d is not raw channel %d", i, ch, p, 2-ch)
				}
			}
			if mask.Data[p] != f(all[3*16+p]) {
				t.Fatalf("sample %d: mask pixel %d is not raw channel 3", i, p)
			}
		}
	}
	// Transpose swaps height and width.
	tr := tinyModel("tiny_generator.pt", zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 4, Width: 4,
		Range: [2]float64{-1, 1}, Post: &zoo.Post{Map: post.Map, Transpose: true}})
	a := collect(t, open(t, tr, "tiny_generator.pt"), 0, 1, 16, Options{})[0].Outputs[0].Data
	b := collect(t, open(t, tinyModel("tiny_generator.pt"), "tiny_generator.pt"), 0, 1, 16, Options{})[0].Outputs[0].Data
	if a[1*4+2] != f(b[2*4+1]) {
		t.Error("transpose: (1, 2) is not the raw (2, 1)")
	}
	// A source past the module's outputs is a clear error.
	bad := tinyModel("four_channel.pt", zoo.TensorSpec{Name: "x", Kind: zoo.KindImage, Channels: 1, Height: 4, Width: 4, Source: "1"})
	if _, err := open(t, bad, "four_channel.pt").Generate(context.Background(), 0, 1, Options{}); err == nil || !strings.Contains(err.Error(), "source") {
		t.Errorf("bad source: %v", err)
	}
	over := tinyModel("four_channel.pt", zoo.TensorSpec{Name: "x", Kind: zoo.KindImage, Channels: 3, Height: 4, Width: 4, Source: "0", ChannelOffset: 2})
	if _, err := open(t, over, "four_channel.pt").Generate(context.Background(), 0, 1, Options{}); err == nil || !strings.Contains(err.Error(), "channels 2..4") {
		t.Errorf("channels past the tensor: %v", err)
	}
}

func TestFloatConditionAndFixedArgs(t *testing.T) {
	m := tinyModel("float_cond.pt")
	m.Signature.Conditions = []zoo.Condition{{Name: "strength", Type: zoo.ConditionFloat, Default: 1, Range: [2]float64{0, 2}}}
	g := open(t, m, "float_cond.pt")
	one := collect(t, g, 0, 1, 16, Options{Seed: 1})[0]
	half := collect(t, g, 0, 1, 16, Options{Seed: 1, Conditions: map[string]string{"strength": "0.5"}})[0]
	if one.Conditions["strength"] != "1" || half.Conditions["strength"] != "0.5" {
		t.Fatalf("conditions recorded as %v / %v", one.Conditions, half.Conditions)
	}
	for i, v := range one.Outputs[0].Data {
		if math.Abs(float64(half.Outputs[0].Data[i]-v/2)) > 1e-6 {
			t.Fatalf("strength 0.5 does not halve value %d: %v vs %v", i, half.Outputs[0].Data[i], v)
		}
	}
	for _, bad := range []string{"3", "much"} {
		if err := g.ValidateConditions(map[string]string{"strength": bad}); err == nil {
			t.Errorf("strength=%s accepted", bad)
		}
	}

	sa := tinyModel("step_alpha.pt")
	sa.Signature.Args = []zoo.ScalarArg{{Name: "step", Type: "int", Value: 6}, {Name: "alpha", Type: "float", Value: 0.5}}
	got := collect(t, open(t, sa, "step_alpha.pt"), 0, 1, 16, Options{})[0].Outputs[0].Data
	var z [8]float32
	FillLatent(z[:], 0, 0, "normal")
	if want := math.Tanh(float64(z[1])) * 6 * 0.5 / 10; math.Abs(float64(got[1])-want) > 1e-6 {
		t.Errorf("forward(z, 6, 0.5)[1] = %v, want %v", got[1], want)
	}
}

// TestTwoImageInputs: an inpainting-style module takes an image and a mask.
func TestTwoImageInputs(t *testing.T) {
	spec := zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 8, Width: 8, Range: [2]float64{0, 1}}
	m := &zoo.Model{ID: "99999_TEST_inpaint", Function: zoo.FunctionImageToImage, Artifact: zoo.Artifact{Format: zoo.FormatTorchScript},
		Signature: &zoo.Signature{Input: &spec,
			Inputs:  []zoo.TensorSpec{{Name: "mask", Kind: zoo.KindMask, Channels: 1, Height: 8, Width: 8, Range: [2]float64{0, 1}}},
			Outputs: []zoo.TensorSpec{spec}}}
	g := open(t, m, "inpaint.pt")
	dir := t.TempDir()
	write := func(name string, v float32) string {
		data := make([]float32, 64)
		for i := range data {
			data[i] = v
			if name == "mask.npy" && i < 32 {
				data[i] = 0
			}
		}
		p := filepath.Join(dir, name)
		f, _ := os.Create(p)
		defer f.Close()
		enc, _ := output.Lookup("npy")
		if err := enc.Encode(f, output.Image{Channels: 1, Height: 8, Width: 8, Data: data, Range: [2]float64{0, 1}}, output.Provenance{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	img, mask := write("img.npy", 0.75), write("mask.npy", 1)
	if _, err := g.Generate(context.Background(), 0, 1, Options{Inputs: []string{img}}); err == nil || !strings.Contains(err.Error(), "--input mask=DIR") {
		t.Fatalf("missing second input: %v", err)
	}
	s, err := g.Generate(context.Background(), 0, 1, Options{Inputs: []string{img}, NamedInputs: map[string][]string{"mask": {mask}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := s[0].Outputs[0].Data; d[0] != 0.75 || d[63] != 0.25 {
		t.Errorf("inpaint: %v ... %v, want 0.75 (unmasked) ... 0.25 (masked)", d[0], d[63])
	}
}

// TestStochasticSeededPerBlock: a module drawing torch.randn in forward
// repeats for the same seed and block whatever the batch size, and the
// seed changes it.
func TestStochasticSeededPerBlock(t *testing.T) {
	m := tinyModel("noisy_gen.pt")
	m.Signature.Stochastic = true
	g := open(t, m, "noisy_gen.pt")
	a := collect(t, g, 0, 40, 16, Options{Seed: 5})
	b := collect(t, g, 0, 40, 48, Options{Seed: 5})
	c := collect(t, g, 0, 40, 16, Options{Seed: 6})
	for i := range a {
		if !slices.Equal(a[i].Outputs[0].Data, b[i].Outputs[0].Data) {
			t.Fatalf("sample %d differs between batch sizes 16 and 48", i)
		}
	}
	if slices.Equal(a[3].Outputs[0].Data, c[3].Outputs[0].Data) {
		t.Error("seeds 5 and 6 give the same noise")
	}
	// Undeclared, the same module does not repeat (what validate --load finds).
	m2 := tinyModel("noisy_gen.pt")
	g2 := open(t, m2, "noisy_gen.pt")
	x := collect(t, g2, 0, 1, 16, Options{})[0].Outputs[0].Data
	y := collect(t, g2, 0, 1, 16, Options{})[0].Outputs[0].Data
	if slices.Equal(x, y) {
		t.Error("an unseeded stochastic module repeated: the test module draws no noise")
	}
}

// TestImageToImageNoPadding: the last block of an image-to-image run
// stops at the last input (a 1-input run computes one sample, not 16).
func TestImageToImageNoPadding(t *testing.T) {
	spec := zoo.TensorSpec{Name: "image", Kind: zoo.KindImage, Channels: 1, Height: 8, Width: 8, Range: [2]float64{0, 1}}
	m := &zoo.Model{ID: "99999_TEST_translate", Function: zoo.FunctionImageToImage, Artifact: zoo.Artifact{Format: zoo.FormatTorchScript},
		Signature: &zoo.Signature{Input: &spec, Outputs: []zoo.TensorSpec{spec}}}
	g := open(t, m, "translate.pt")
	samples, err := g.forwardBlock(0, 1, Options{Inputs: []string{writeTestNPY(t, 0.25)}})
	if err != nil || len(samples) != 1 {
		t.Fatalf("%d samples, %v", len(samples), err)
	}
	files := make([]string, 17)
	for i := range files {
		files[i] = writeTestNPY(t, float32(i)/20)
	}
	out, err := g.Generate(context.Background(), 0, 17, Options{Inputs: files})
	if err != nil || len(out) != 17 || out[16].Outputs[0].Data[0] != 1-float32(16)/20 {
		t.Fatalf("17 inputs: %d samples, %v", len(out), err)
	}
}

func writeTestNPY(t *testing.T, v float32) string {
	t.Helper()
	data := make([]float32, 64)
	for i := range data {
		data[i] = v
	}
	f, err := os.CreateTemp(t.TempDir(), "*.npy")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, _ := output.Lookup("npy")
	if err := enc.Encode(f, output.Image{Channels: 1, Height: 8, Width: 8, Data: data, Range: [2]float64{0, 1}}, output.Provenance{}); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// TestWrongLatentShapeIsOneSentence: a DCGAN wants [N, 8, 1, 1]; declaring
// [8] fails with one line naming what zoo fed, not a TorchScript trace.
func TestWrongLatentShapeIsOneSentence(t *testing.T) {
	m := tinyModel("wants_dcgan_latent.pt")
	_, err := open(t, m, "wants_dcgan_latent.pt").Generate(context.Background(), 0, 1, Options{})
	if err == nil {
		t.Fatal("a [N, 8] latent was accepted by a module that wants [N, 8, 1, 1]")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "latent [16 8]") || !strings.Contains(msg, "[model.signature]") {
		t.Errorf("error is not one clear sentence:\n%s", msg)
	}
	m.Signature.Latent = []int64{8, 1, 1}
	if _, err := open(t, m, "wants_dcgan_latent.pt").Generate(context.Background(), 0, 1, Options{}); err != nil {
		t.Errorf("the right latent shape: %v", err)
	}
}
