package imagein

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"medzoo/internal/limits"
)

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// npyTypes are the element types zoo reads: size and little-endian decoder.
var npyTypes = map[string]struct {
	size int
	get  func(b []byte) float64
}{
	"<f4": {4, func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) }},
	"<f8": {8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }},
	"|u1": {1, func(b []byte) float64 { return float64(b[0]) }},
	"<u1": {1, func(b []byte) float64 { return float64(b[0]) }},
	"<u2": {2, func(b []byte) float64 { return float64(binary.LittleEndian.Uint16(b)) }},
	"<i2": {2, func(b []byte) float64 { return float64(int16(binary.LittleEndian.Uint16(b))) }},
	"<i4": {4, func(b []byte) float64 { return float64(int32(binary.LittleEndian.Uint32(b))) }},
	"<i8": {8, func(b []byte) float64 { return float64(int64(binary.LittleEndian.Uint64(b))) }},
}

// NPYArray is an array read from a NumPy .npy file (little-endian, C order).
type NPYArray struct {
	Shape []int
	Descr string // NumPy dtype string, e.g. "<f4"
	body  []byte
	size  int // bytes per value
	get   func([]byte) float64
}

// Len is the number of values.
func (a *NPYArray) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// Value returns value i (C order) as a float64, exact for every type zoo
// reads: float32, float64 and integers below 2^53.
func (a *NPYArray) Value(i int) float64 { return a.get(a.body[i*a.size:]) }

// ReadNPYArray reads a .npy file of any shape. The header is checked
// against the file's size before anything is allocated, so a lying header
// is an error, not an out-of-memory.
func ReadNPYArray(path string) (*NPYArray, error) {
	data, err := readAll(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 10 || !bytes.HasPrefix(data, []byte("\x93NUMPY")) {
		return nil, fmt.Errorf("not an NPY file")
	}
	var hlen, off int
	switch data[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(data[8:])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, fmt.Errorf("truncated NPY header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(data[8:])), 12
	default:
		return nil, fmt.Errorf("NPY format version %d is not supported", data[6])
	}
	if off+hlen > len(data) {
		return nil, fmt.Errorf("truncated NPY header")
	}
	header := string(data[off : off+hlen])
	body := data[off+hlen:]
	d, fo, sh := npyDescr.FindStringSubmatch(header), npyFortran.FindStringSubmatch(header), npyShape.FindStringSubmatch(header)
	if d == nil || fo == nil || sh == nil {
		return nil, fmt.Errorf("unreadable NPY header %q", header)
	}
	if fo[1] == "True" {
		return nil, fmt.Errorf("NPY array is in Fortran order; save it in C order (numpy.ascontiguousarray)")
	}
	t, ok := npyTypes[d[1]]
	if !ok {
		return nil, fmt.Errorf("NPY dtype %s is not supported (float32, float64, uint8, uint16, int16, int32, int64, little-endian)", d[1])
	}
	a := &NPYArray{Descr: d[1], body: body, size: t.size, get: t.get}
	zero := false
	for _, s := range strings.Split(sh[1], ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bad NPY shape (%s)", sh[1])
		}
		a.Shape = append(a.Shape, v)
		zero = zero || v == 0
	}
	if zero {
		return a, nil // no values, nothing to allocate
	}
	// One overflow-checked product, bounded by what the file holds: a
	// header claiming (2^31, 2^31) is an error, not a makeslice panic.
	dims := append([]int{t.size}, a.Shape...)
	if _, ok := limits.ProductInts(int64(len(body)), dims...); !ok {
		return nil, fmt.Errorf("NPY data is truncated: %d bytes, but shape (%s) of %s needs more; the file is damaged or its header lies", len(body), sh[1], d[1])
	}
	return a, nil
}

// readNPY reads an (H, W) or (C, H, W) array, values as they are.
func readNPY(path string) (Image, error) {
	a, err := ReadNPYArray(path)
	if err != nil {
		return Image{}, err
	}
	var img Image
	switch len(a.Shape) {
	case 2:
		img = Image{Channels: 1, Height: a.Shape[0], Width: a.Shape[1]}
	case 3:
		img = Image{Channels: a.Shape[0], Height: a.Shape[1], Width: a.Shape[2]}
	default:
		return Image{}, fmt.Errorf("NPY array has shape %v; zoo reads (H, W) or (C, H, W) arrays", a.Shape)
	}
	img.Kind = "NPY " + a.Descr
	if err := checkDims("NPY", img.Channels, img.Height, img.Width); err != nil {
		return Image{}, err
	}
	img.Data = make([]float32, a.Len())
	for i := range img.Data {
		v := a.Value(i)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Image{}, fmt.Errorf("NPY value %d is %v; inputs must be finite", i, v)
		}
		img.Data[i] = float32(v)
	}
	return img, nil
}
