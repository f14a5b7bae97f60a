package main_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"medzoo/internal/testfiles"
	catalog "medzoo/zoo"
)

// A --latents file holds exactly the samples asked for, even when that is
// less than a compute block: the rows the block pads with are computed and
// thrown away, never read from the file (this used to panic).
func TestLatentsShorterThanBlock(t *testing.T) {
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := cat.Resolve("101")
	if err != nil {
		t.Fatal(err)
	}
	per := int64(1)
	for _, d := range m.Signature.Latent {
		per *= d
	}
	dir := t.TempDir()
	latents := func(name string, rows int) string {
		var b bytes.Buffer
		for i := range rows * int(per) {
			binary.Write(&b, binary.LittleEndian, float32(math.Sin(float64(i))))
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, testfiles.NPY(fmt.Sprintf("%d, %d", rows, per), b.Bytes()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short, long := filepath.Join(dir, "short"), filepath.Join(dir, "long")
	mustOK(t, zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "101", "-n", "4", "--latents", latents("4.npy", 4), "-o", short))
	mustOK(t, zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "101", "-n", "20", "--latents", latents("20.npy", 20), "-o", long))
	for i := range 4 {
		name := fmt.Sprintf("%05d.png", i)
		a, errA := os.ReadFile(filepath.Join(short, name))
		b, errB := os.ReadFile(filepath.Join(long, name))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v %v", name, errA, errB)
		}
		// The provenance names the latents file, whose digest differs: compare the pixels.
		if !bytes.Equal(grayPixels(t, a), grayPixels(t, b)) {
			t.Errorf("sample %d differs between a 4-row and a 20-row latents file with the same row", i)
		}
	}
	// More samples than rows is refused, not padded.
	r := zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "101", "-n", "5", "--latents", filepath.Join(dir, "4.npy"), "-o", filepath.Join(dir, "x"))
	if r.code == 0 {
		t.Errorf("-n 5 with a 4-row latents file: exit 0\n%s", r.stderr)
	}
}

// grayPixels decodes an 8-bit gray PNG's pixels.
func grayPixels(t *testing.T, data []byte) []byte {
	t.Helper()
	im, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := im.(*image.Gray)
	if !ok {
		t.Fatalf("decodes as %T, want 8-bit gray", im)
	}
	return g.Pix
}
