package features

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"medzoo/imagein"
	"medzoo/output"
)

// Protocol is whose preprocessing turns files into network input: zoo's
// own, or that of a reference FID implementation, reproduced so that a
// number can be compared with a paper's. The network is the extractor's
// either way; what a protocol decides is how a file is read, resized and
// quantized.
type Protocol string

// The protocols.
const (
	// ProtocolZoo: values mapped onto [0,1] by --normalize (16-bit kept),
	// antialiased bilinear resize, unquantized floats.
	ProtocolZoo Protocol = "zoo"
	// ProtocolCleanFID: clean-fid's "clean" mode: PIL convert("RGB") to
	// uint8, PIL bicubic per channel on float32, clipped to 0..255.
	ProtocolCleanFID Protocol = "clean-fid"
	// ProtocolPytorchFID: pytorch-fid: PIL convert("RGB"), ToTensor (/255),
	// F.interpolate bilinear without antialiasing.
	ProtocolPytorchFID Protocol = "pytorch-fid"
	// ProtocolTorchFidelity: torch-fidelity: PIL convert("RGB") as uint8,
	// TF1-style bilinear (no half-pixel offset, no antialiasing) on 0..255.
	ProtocolTorchFidelity Protocol = "torch-fidelity"
)

// Protocols lists every protocol, zoo's first.
var Protocols = []Protocol{ProtocolZoo, ProtocolCleanFID, ProtocolPytorchFID, ProtocolTorchFidelity}

// ParseProtocol reads a --protocol value ("" is zoo).
func ParseProtocol(s string) (Protocol, error) {
	if s == "" {
		return ProtocolZoo, nil
	}
	for _, p := range Protocols {
		if strings.EqualFold(s, string(p)) {
			return p, nil
		}
	}
	names := make([]string, len(Protocols))
	for i, p := range Protocols {
		names[i] = string(p)
	}
	return "", fmt.Errorf("--protocol %q: want one of %s", s, strings.Join(names, ", "))
}

// Reference reports whether p reproduces a reference implementation (not
// zoo's own preprocessing).
func (p Protocol) Reference() bool { return p != "" && p != ProtocolZoo }

// Steps says what p does to a file before the extractor's range, mean and
// std, in one line (cards, cache keys).
func (p Protocol) Steps() string {
	switch p {
	case ProtocolCleanFID:
		return "PIL convert('RGB') to uint8, PIL bicubic per channel in float32 (not re-quantized), clipped to 0..255"
	case ProtocolPytorchFID:
		return "PIL convert('RGB') to uint8, ToTensor (/255), F.interpolate bilinear align_corners=False without antialiasing"
	case ProtocolTorchFidelity:
		return "PIL convert('RGB') to uint8, TF1 resize_bilinear align_corners=False (no half-pixel offset, no antialiasing) in float32 on 0..255"
	}
	return "values mapped onto [0,1] by --normalize, antialiased bilinear resize, unquantized floats"
}

// referenceRGB returns img as the 8-bit RGB planes (3×H×W, values 0..255
// as float32) that PIL's Image.open(path).convert("RGB") gives for its
// file, which every reference reads through. Pillow 9.4 (checked in
// TestReferenceProtocolsMatchPython) opens an 8-bit gray PNG as "L"
// (repeated onto RGB), colour with alpha as "RGBA" (alpha dropped), a
// 16-bit gray PNG as "I", which convert clips to 0..255, and 16-bit colour
// as "RGB(A)" holding each sample's high byte. Images no reference reads
// (NPY, DICOM, zoo's own generated images) are mapped onto [0,1] by
// --normalize and quantized as zoo's PNG encoder writes them, so that they
// give what the folder zoo generate writes would.
func (p Prep) referenceRGB(img imagein.Image, u imagein.Units, l *Loss) ([]float32, error) {
	plane := img.Height * img.Width
	out := make([]float32, 3*plane)
	var set func(i int, v float32)
	if img.Channels == 1 {
		set = func(i int, v float32) { out[i], out[plane+i], out[2*plane+i] = v, v, v }
	} else {
		set = func(i int, v float32) { out[i] = v }
	}
	switch {
	case img.Bits == 8:
		for i, v := range img.Data {
			set(i, v)
		}
		l.count(img, 0)
	case img.Bits == 16 && img.Channels == 1:
		var saturated int64
		for i, v := range img.Data {
			if v > 255 {
				saturated++
				v = 255
			}
			set(i, v)
		}
		l.count(img, saturated)
	case img.Bits == 16:
		for i, v := range img.Data {
			set(i, float32(uint16(v)>>8))
		}
		l.count(img, 0)
	default:
		// Quantize clips to 0..255, so a clipping range needs no clip first.
		lo, hi, _, err := p.unitRange(img, u)
		if err != nil {
			return nil, err
		}
		for i, v := range img.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%s holds a non-finite value at %d", img.Kind, i)
			}
			set(i, float32(quantize8(v, lo, hi)))
		}
		l.count(img, 0)
	}
	return out, nil
}

// quantize8 is how zoo's PNG encoder turns a value of the range lo..hi
// into an 8-bit sample (output.Quantize: rounded, clipped); a constant
// image (lo == hi, from --normalize minmax) is all 0.
func quantize8(v float32, lo, hi float64) float64 {
	if hi == lo {
		return 0
	}
	return output.Quantize(v, lo, hi, 255)
}

// Loss counts, over one set, what a reference protocol's reading lost, for
// the card's warnings. Safe for concurrent use (images are prepared in
// parallel); a nil *Loss counts nothing.
type Loss struct {
	mu sync.Mutex
	// Gray16 is 16-bit gray PNGs (clipped to 0..255 by PIL's mode I),
	// Saturated and Pixels their clipped and total pixels.
	Gray16            int
	Saturated, Pixels int64
	// RGB16 is 16-bit colour PNGs (PIL keeps the high byte).
	RGB16 int
	// Quantized is images no reference reads (NPY, DICOM, generated),
	// quantized to 8 bits as zoo's PNG encoder writes them.
	Quantized int
	// JPEG is JPEG files: decoded by Go's image/jpeg, PIL uses libjpeg.
	JPEG int
}

func (l *Loss) count(img imagein.Image, saturated int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case img.Bits == 16 && img.Channels == 1:
		l.Gray16++
		l.Saturated += saturated
		l.Pixels += int64(img.Height * img.Width)
	case img.Bits == 16:
		l.RGB16++
	case img.Bits == 0:
		l.Quantized++
	case strings.Contains(img.Kind, "JPEG"):
		l.JPEG++
	}
}

// Warnings words what was lost, naming protocol p.
func (l *Loss) Warnings(p Protocol) []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	if l.Gray16 > 0 {
		out = append(out, fmt.Sprintf("%d 16-bit gray PNGs read as %s reads them: PIL's convert('RGB') clips mode I to 0..255, which saturated %.1f%% of their pixels (%d of %d) and kept none of the values above 255; zoo's own protocol (--protocol zoo) keeps all 16 bits",
			l.Gray16, p, 100*float64(l.Saturated)/float64(max(l.Pixels, 1)), l.Saturated, l.Pixels))
	}
	if l.RGB16 > 0 {
		out = append(out, fmt.Sprintf("%d 16-bit colour PNGs read as %s reads them: PIL keeps each sample's high byte, dropping the low 8 bits; zoo's own protocol keeps all 16", l.RGB16, p))
	}
	if l.Quantized > 0 {
		out = append(out, fmt.Sprintf("%d images no %s reads directly (NPY, DICOM or generated in memory) were mapped onto [0,1] by --normalize and quantized to 8 bits as zoo generate's PNG files are, so they give what evaluating that PNG folder gives", l.Quantized, p))
	}
	if l.JPEG > 0 {
		out = append(out, fmt.Sprintf("%d JPEG files decoded by Go's image/jpeg; %s's PIL decodes with libjpeg, which differs from it (measured: gray samples by up to 1 level, colour ones by up to 25 near colour edges, from libjpeg's smooth chroma upsampling): for exact parity, give PNG files", l.JPEG, p))
	}
	return out
}
