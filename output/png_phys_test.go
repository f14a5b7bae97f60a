package output

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pngChunk is one chunk of a PNG file as it lies in the bytes.
type pngChunk struct {
	typ          string
	payload      []byte
	crc, wantCRC uint32
}

// pngChunks splits a PNG file into its chunks, checking nothing but the
// lengths, so that the test sees what a strict reader would.
func pngChunks(t *testing.T, data []byte) []pngChunk {
	t.Helper()
	if len(data) < 8 || string(data[1:4]) != "PNG" {
		t.Fatalf("not a PNG file")
	}
	var out []pngChunk
	for pos := 8; pos < len(data); {
		if pos+12 > len(data) {
			t.Fatalf("truncated chunk at byte %d", pos)
		}
		n := int(binary.BigEndian.Uint32(data[pos:]))
		if pos+12+n > len(data) {
			t.Fatalf("chunk at byte %d runs past the end", pos)
		}
		typ := string(data[pos+4 : pos+8])
		payload := data[pos+8 : pos+8+n]
		out = append(out, pngChunk{typ: typ, payload: payload, crc: binary.BigEndian.Uint32(data[pos+8+n:]),
			wantCRC: crc32.ChecksumIEEE(data[pos+4 : pos+8+n])})
		pos += 12 + n
	}
	return out
}

func chunkTypes(cs []pngChunk) string {
	var types []string
	for _, c := range cs {
		types = append(types, c.typ)
	}
	return strings.Join(types, " ")
}

func physImage(spacing []float64) Image {
	img := Image{Channels: 1, Height: 3, Width: 5, Data: make([]float32, 15), Range: [2]float64{-1, 1},
		Physical: Physical{Units: UnitsMR, SpacingMM: spacing}}
	for i := range img.Data {
		img.Data[i] = float32(i)/7 - 1
	}
	return img
}

// An output that declares its spacing gets a pHYs chunk in every PNG
// format: pixels per metre from the column (x) and row (y) spacing, unit
// metre, before the image data; Go's decoder and PIL read the file.
func TestPNGPhysFromSpacing(t *testing.T) {
	dir := t.TempDir()
	// Rows 2.5 mm apart, columns 0.8 mm: x = 1000/0.8, y = 1000/2.5. Model
	// 00101's 3.390625 mm rounds 294.9 to 295.
	cases := []struct {
		spacing []float64
		x, y    uint32
	}{
		{[]float64{2.5, 0.8}, 1250, 400},
		{[]float64{3.390625, 3.390625}, 295, 295},
		{[]float64{3.828, 3.828, 5}, 261, 261}, // a slice spacing does not matter
	}
	var pilArgs []string
	for _, c := range cases {
		for _, format := range []string{"png", "png16"} {
			var buf bytes.Buffer
			if err := Formats[format].Encode(&buf, physImage(c.spacing), Provenance{Model: "m", Generator: "zoo test"}); err != nil {
				t.Fatal(err)
			}
			chunks := pngChunks(t, buf.Bytes())
			if got := chunkTypes(chunks); got != "IHDR tEXt tEXt tEXt pHYs IDAT IEND" {
				t.Errorf("%s %v: chunks %s, want pHYs after the text and before IDAT", format, c.spacing, got)
			}
			for _, ch := range chunks {
				if ch.crc != ch.wantCRC {
					t.Errorf("%s %v: %s chunk's CRC %08x, want %08x", format, c.spacing, ch.typ, ch.crc, ch.wantCRC)
				}
				if ch.typ != "pHYs" {
					continue
				}
				want := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, c.x), c.y)
				want = append(want, 1)
				if !bytes.Equal(ch.payload, want) {
					t.Errorf("%s %v: pHYs % x, want % x", format, c.spacing, ch.payload, want)
				}
			}
			if _, err := png.Decode(bytes.NewReader(buf.Bytes())); err != nil {
				t.Errorf("%s %v: image/png refuses the file: %v", format, c.spacing, err)
			}
			path := filepath.Join(dir, fmt.Sprintf("%s_%d_%d.png", format, c.x, c.y))
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			pilArgs = append(pilArgs, path)
		}
	}

	// PIL's info["dpi"] is pixels per metre times 0.0254.
	script := `import sys
from PIL import Image
for p in sys.argv[1:]:
    im = Image.open(p); im.load()
    print(p, im.info["dpi"][0], im.info["dpi"][1])`
	out, err := exec.Command("/usr/bin/python3", append([]string{"-c", script}, pilArgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("PIL: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(pilArgs) {
		t.Fatalf("PIL printed %d lines for %d files:\n%s", len(lines), len(pilArgs), out)
	}
	for i, line := range lines {
		f := strings.Fields(line)
		c := cases[i/2]
		dx, errX := strconv.ParseFloat(f[len(f)-2], 64)
		dy, errY := strconv.ParseFloat(f[len(f)-1], 64)
		if errX != nil || errY != nil || math.Abs(dx-float64(c.x)*0.0254) > 1e-6 || math.Abs(dy-float64(c.y)*0.0254) > 1e-6 {
			t.Errorf("PIL reads dpi %q for %v; want %g, %g", line, c.spacing, float64(c.x)*0.0254, float64(c.y)*0.0254)
		}
	}
}

// Without a declared spacing a PNG is what it was before pHYs existed:
// IHDR, the provenance, the image; figures (WritePNG) never get one.
func TestPNGWithoutSpacingHasNoPhys(t *testing.T) {
	img := physImage(nil)
	for _, format := range []string{"png", "png16"} {
		var buf bytes.Buffer
		if err := Formats[format].Encode(&buf, img, Provenance{Model: "m"}); err != nil {
			t.Fatal(err)
		}
		if got := chunkTypes(pngChunks(t, buf.Bytes())); got != "IHDR tEXt tEXt tEXt IDAT IEND" {
			t.Errorf("%s without spacing: chunks %s", format, got)
		}
		// The same bytes as the image written as a figure is: nothing else
		// was added.
		im, err := toImage(img, format == "png16")
		if err != nil {
			t.Fatal(err)
		}
		var fig bytes.Buffer
		if err := WritePNG(&fig, im, Provenance{Model: "m"}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fig.Bytes(), buf.Bytes()) {
			t.Errorf("%s without spacing differs from WritePNG's bytes", format)
		}
	}
	img = physImage([]float64{1, 1})
	im, _ := toImage(img, false)
	var fig bytes.Buffer
	if err := WritePNG(&fig, im, Provenance{Model: "m"}); err != nil {
		t.Fatal(err)
	}
	if got := chunkTypes(pngChunks(t, fig.Bytes())); strings.Contains(got, "pHYs") {
		t.Errorf("WritePNG wrote a pHYs: %s", got)
	}
}

// A spacing that pHYs cannot hold is an error that names the catalog's
// spacing_mm, not a file with a wrong or zero resolution.
func TestPNGPhysRefusesImpossibleSpacing(t *testing.T) {
	for _, spacing := range [][]float64{{0, 1}, {1, -2}, {math.NaN(), 1}, {1, math.Inf(1)}, {5000, 1}, {1, 1e-12}} {
		var buf bytes.Buffer
		err := Formats["png"].Encode(&buf, physImage(spacing), Provenance{Model: "m"})
		if err == nil || !strings.Contains(err.Error(), "spacing_mm") {
			t.Errorf("spacing %v: %v, want an error naming spacing_mm", spacing, err)
		}
	}
}
