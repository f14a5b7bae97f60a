package output

import (
	"bytes"
	"image"
	"image/png"
	"strings"
	"testing"
)

// TestMaskAndLabelPNG: binary masks in [0, 1] become 0/255, label maps keep
// their indices as pixel values.
func TestMaskAndLabelPNG(t *testing.T) {
	for _, tc := range []struct {
		img     Image
		sixteen bool
		want    []int
	}{
		{Image{Channels: 1, Height: 1, Width: 3, Data: []float32{0, 1, 1}, Range: [2]float64{0, 1}}, false, []int{0, 255, 255}},
		{Image{Channels: 1, Height: 1, Width: 3, Data: []float32{0, 1, 2}, Range: [2]float64{0, 2}, Label: true}, false, []int{0, 1, 2}},
		{Image{Channels: 1, Height: 1, Width: 3, Data: []float32{0, 7, 300}, Range: [2]float64{0, 300}, Label: true}, true, []int{0, 7, 300}},
	} {
		var b bytes.Buffer
		if err := encodePNG(&b, tc.img, Provenance{Synthetic: true}, tc.sixteen); err != nil {
			t.Fatal(err)
		}
		im, err := png.Decode(&b)
		if err != nil {
			t.Fatal(err)
		}
		for x, w := range tc.want {
			var got int
			switch g := im.(type) {
			case *image.Gray:
				got = int(g.Pix[x])
			case *image.Gray16:
				got = int(g.Pix[2*x])<<8 | int(g.Pix[2*x+1])
			}
			if got != w {
				t.Fatalf("%+v: pixel %d = %d, want %d", tc.img, x, got, w)
			}
		}
	}
}

func TestInputFileNamesAndResume(t *testing.T) {
	dir := t.TempDir()
	info := RunInfo{Model: "m", SHA256: "s", N: 2, Format: "png", Outputs: []string{"image", "mask"}, Input: "in", InputsDigest: InputsDigest([]string{"a.png", "b.dcm"})}
	r, err := Open(dir, info, Fresh)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.InputFileName("ct_012.dcm", "mask", ".png"); got != "ct_012_mask.png" {
		t.Fatalf("name %q", got)
	}
	r.Close()
	one := &Run{Info: RunInfo{Outputs: []string{"image"}}}
	if got := one.InputFileName("ct_012.png", "image", ".npy"); got != "ct_012.npy" {
		t.Fatalf("single-output name %q", got)
	}
	again, err := Open(dir, info, Resume)
	if err != nil {
		t.Fatalf("same inputs: %v", err)
	}
	again.Close()
	info.InputsDigest = InputsDigest([]string{"a.png", "c.dcm"})
	if _, err := Open(dir, info, Resume); err == nil || !strings.Contains(err.Error(), "input files changed") {
		t.Fatalf("other inputs: %v", err)
	}
}
