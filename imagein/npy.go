package imagein

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// readNPY reads an (H, W) or (C, H, W) array, values as they are.
func readNPY(path string) (Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Image{}, err
	}
	if len(data) < 10 || !bytes.HasPrefix(data, []byte("\x93NUMPY")) {
		return Image{}, fmt.Errorf("not an NPY file")
	}
	var hlen, off int
	switch data[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(data[8:])), 10
	case 2, 3:
		if len(data) < 12 {
			return Image{}, fmt.Errorf("truncated NPY header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(data[8:])), 12
	default:
		return Image{}, fmt.Errorf("NPY format version %d is not supported", data[6])
	}
	if off+hlen > len(data) {
		return Image{}, fmt.Errorf("truncated NPY header")
	}
	header := string(data[off : off+hlen])
	body := data[off+hlen:]
	d, fo, sh := npyDescr.FindStringSubmatch(header), npyFortran.FindStringSubmatch(header), npyShape.FindStringSubmatch(header)
	if d == nil || fo == nil || sh == nil {
		return Image{}, fmt.Errorf("unreadable NPY header %q", header)
	}
	if fo[1] == "True" {
		return Image{}, fmt.Errorf("NPY array is in Fortran order; save it in C order (numpy.ascontiguousarray)")
	}
	var shape []int
	for _, s := range strings.Split(sh[1], ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return Image{}, fmt.Errorf("bad NPY shape (%s)", sh[1])
		}
		shape = append(shape, n)
	}
	var img Image
	switch len(shape) {
	case 2:
		img = Image{Channels: 1, Height: shape[0], Width: shape[1]}
	case 3:
		img = Image{Channels: shape[0], Height: shape[1], Width: shape[2]}
	default:
		return Image{}, fmt.Errorf("NPY array has shape (%s); zoo reads (H, W) or (C, H, W) arrays", sh[1])
	}
	n := img.Channels * img.Height * img.Width
	descr := d[1]
	var size int
	var get func(b []byte) float64
	switch descr {
	case "<f4":
		size, get = 4, func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) }
	case "<f8":
		size, get = 8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
	case "|u1", "<u1":
		size, get = 1, func(b []byte) float64 { return float64(b[0]) }
	case "<u2":
		size, get = 2, func(b []byte) float64 { return float64(binary.LittleEndian.Uint16(b)) }
	case "<i2":
		size, get = 2, func(b []byte) float64 { return float64(int16(binary.LittleEndian.Uint16(b))) }
	case "<i4":
		size, get = 4, func(b []byte) float64 { return float64(int32(binary.LittleEndian.Uint32(b))) }
	default:
		return Image{}, fmt.Errorf("NPY dtype %s is not supported (float32, float64, uint8, uint16, int16, int32, little-endian)", descr)
	}
	if len(body) < n*size {
		return Image{}, fmt.Errorf("NPY data is truncated: %d bytes for %d values of %s", len(body), n, descr)
	}
	img.Kind = "NPY " + descr
	img.Data = make([]float32, n)
	for i := range img.Data {
		v := get(body[i*size:])
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Image{}, fmt.Errorf("NPY value %d is %v; inputs must be finite", i, v)
		}
		img.Data[i] = float32(v)
	}
	return img, nil
}
