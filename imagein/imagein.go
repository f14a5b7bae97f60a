// Package imagein reads the input images of image-to-image models (PNG 8/16-bit,
// JPEG, NPY, DICOM) into float32 (C, H, W) arrays in the model's declared units, and
// checks them against the declared input shape. It never resizes: a wrong size
// is an error that says so.
//
// Value mapping, per format:
//   - PNG: stored values 0..255 (8-bit) or 0..65535 (16-bit) map linearly onto
//     the declared range, 0 to its low end and the maximum to its high end.
//     Gray PNGs have 1 channel; colour PNGs 3 (RGB; alpha is dropped, the
//     stored colour kept as it is, also where a pixel is transparent).
//     JPEG: like an 8-bit PNG (gray or RGB).
//   - NPY: values are taken as they are, already in the model's units. Arrays
//     are (H, W) for one channel or (C, H, W); dtypes float32, float64, uint8,
//     uint16, int16, int32, little-endian, C order.
//   - DICOM: stored values get RescaleSlope/RescaleIntercept (modality units),
//     then the file's window, [center-0.5-(width-1)/2, center-0.5+(width-1)/2]
//     (DICOM's linear VOI function), maps linearly onto the declared range,
//     values outside it clipped. Without a window, the stored type's whole
//     range (from BitsStored and PixelRepresentation, rescaled) is used. Only
//     single-frame, uncompressed files with 1 or 3 samples per pixel are read.
package imagein

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"medzoo/internal/files"
	"medzoo/internal/limits"
	"medzoo/zoo"
)

// Image is one decoded input: channel-major (C, H, W) values.
type Image struct {
	Channels, Height, Width int
	Data                    []float32
	// Kind describes the stored form for messages, e.g. "8-bit PNG".
	Kind string
	// Bits is the sample depth of a PNG or JPEG file (8 or 16), whose
	// values are the stored integers; 0 for every other source (NPY,
	// DICOM, generated images). zoo evaluate's reference protocols read
	// such files as PIL does, which depends on it.
	Bits int
}

// Extensions are the file name endings List accepts (case-insensitive).
var Extensions = []string{".png", ".jpg", ".jpeg", ".npy", ".dcm", ".dicom"}

// Supported reports whether a file name has an extension zoo reads.
func Supported(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range Extensions {
		if ext == e {
			return true
		}
	}
	return false
}

// List returns the input files at path: path itself when it is a file, or
// the supported files directly inside a directory (hidden files skipped),
// sorted by name so sample i is always the same file.
func List(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	if !st.IsDir() {
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("--input %s is %s, not an image file or a folder of them", path, files.Kind(st.Mode()))
		}
		if !Supported(path) {
			return nil, fmt.Errorf("--input %s: not a supported image file (%s)", path, strings.Join(Extensions, ", "))
		}
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !Supported(e.Name()) {
			continue
		}
		p := filepath.Join(path, e.Name())
		// Named like an image but a FIFO, socket or device: reading it
		// would block or never end, so the whole input is refused, naming
		// it. A symbolic link to a regular file is read like the file.
		if err := files.CheckReadable(p); err != nil {
			return nil, fmt.Errorf("--input %s: %s %s; remove it or give a folder of image files", path, e.Name(), notRegular(err))
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--input %s holds no input images (%s files)", path, strings.Join(Extensions, ", "))
	}
	sort.Strings(out)
	return out, nil
}

// Units says what the values ReadUnits returns mean.
type Units struct {
	// Lo and Hi are the natural range of the values: 0..255 or 0..65535
	// for PNG and JPEG, the window in modality units (e.g. HU) for DICOM
	// (the stored type's range when the file has no window). Unknown (Known
	// false) for NPY.
	Lo, Hi float64
	Known  bool
	// Clip is set when values may lie outside Lo..Hi (DICOM, outside the
	// window) and mapping them onto another range should clip them.
	Clip bool
}

// ReadUnits decodes the file at path into its stored units: PNG and JPEG
// sample values (16-bit PNG kept at 16 bits), DICOM modality values after
// RescaleSlope/RescaleIntercept, NPY values as stored.
func ReadUnits(path string) (Image, Units, error) {
	var (
		img Image
		u   Units
		err error
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		img, u, err = readPNG(path)
	case ".jpg", ".jpeg":
		img, u, err = readJPEG(path)
	case ".npy":
		img, err = readNPY(path)
	case ".dcm", ".dicom":
		img, u, err = readDICOM(path)
	default:
		err = fmt.Errorf("unsupported file type; zoo reads %s", strings.Join(Extensions, ", "))
	}
	if err != nil {
		return Image{}, Units{}, fmt.Errorf("input %s: %w", filepath.Base(path), err)
	}
	return img, u, nil
}

// Read decodes the file at path, mapping stored values onto rng (the
// model's declared input range) as the package comment describes.
func Read(path string, rng [2]float64) (Image, error) {
	img, u, err := ReadUnits(path)
	if err != nil || !u.Known {
		return img, err
	}
	for i, v := range img.Data {
		x := float64(v)
		if u.Clip {
			x = min(max(x, u.Lo), u.Hi)
		}
		img.Data[i] = linear(x, u.Lo, u.Hi, rng)
	}
	return img, nil
}

// Load reads path and checks it against the model's declared input spec.
func Load(path string, want zoo.TensorSpec, model string) ([]float32, error) {
	img, err := Read(path, want.Range)
	if err != nil {
		return nil, err
	}
	if err := Check(img, filepath.Base(path), want, model); err != nil {
		return nil, err
	}
	return img.Data, nil
}

// Check compares a decoded input with the declared spec.
func Check(img Image, name string, want zoo.TensorSpec, model string) error {
	if img.Channels == want.Channels && img.Height == want.Height && img.Width == want.Width {
		return nil
	}
	msg := fmt.Sprintf("input %s (%s) is %dx%d with %s; model %s expects %dx%d with %s",
		name, img.Kind, img.Width, img.Height, channels(img.Channels), model, want.Width, want.Height, channels(want.Channels))
	if img.Height != want.Height || img.Width != want.Width {
		msg += "; zoo does not resize inputs: resize them first"
	}
	if img.Channels != want.Channels {
		if want.Channels == 1 {
			msg += "; convert them to grayscale first"
		} else if want.Channels == 3 {
			msg += "; convert them to RGB first"
		}
	}
	return fmt.Errorf("%s", msg)
}

func channels(n int) string {
	if n == 1 {
		return "1 channel"
	}
	return fmt.Sprintf("%d channels", n)
}

// linear maps v from [a, b] onto rng.
func linear(v, a, b float64, rng [2]float64) float32 {
	if b == a {
		return float32(rng[0])
	}
	return float32(rng[0] + (v-a)/(b-a)*(rng[1]-rng[0]))
}

// MaxFileBytes bounds an input file: every reader reads whole files, and
// no image within limits.SampleValues needs more.
const MaxFileBytes = 1 << 30

// notRegular words a CheckRegular or OpenRegular error for a file already
// named: "is a FIFO (named pipe), not a regular file".
func notRegular(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// open opens an input file for reading, refusing what is not a regular
// file (a FIFO would block forever) and files over MaxFileBytes. It returns
// the file's size.
func open(path string) (*os.File, int64, error) {
	f, err := files.OpenRegular(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op == "read" {
			return nil, 0, errors.New(pe.Err.Error())
		}
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.Size() > MaxFileBytes {
		f.Close()
		return nil, 0, fmt.Errorf("file is %d bytes, more than the %d MiB zoo reads as one input image", st.Size(), MaxFileBytes>>20)
	}
	return f, st.Size(), nil
}

// readAll reads a whole input file through open.
func readAll(path string) ([]byte, error) {
	f, _, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileBytes))
}

// checkDims refuses image dimensions from a file header that are not
// positive or hold more than limits.SampleValues values, before anything
// is decoded: a 100-byte PNG may declare 10^6 × 10^6 pixels.
func checkDims(format string, channels, height, width int) error {
	if channels <= 0 || height <= 0 || width <= 0 {
		return fmt.Errorf("%s header declares an empty image (%d×%d with %s)", format, width, height, channels1(channels))
	}
	if _, ok := limits.ProductInts(limits.SampleValues, channels, height, width); !ok {
		return fmt.Errorf("%s header declares %d×%d pixels with %s, more than the %s values (%d) zoo reads per image; the file is corrupt or not a single image",
			format, width, height, channels1(channels), limits.Human(limits.SampleValues), limits.SampleValues)
	}
	return nil
}

func channels1(n int) string {
	if n == 1 {
		return "1 channel"
	}
	return fmt.Sprintf("%d channels", n)
}

// modelChannels is how many channels zoo reads from an image of colour
// model m: 1 for gray, 3 for everything else (alpha is dropped).
func modelChannels(m color.Model) int {
	if m == color.GrayModel || m == color.Gray16Model {
		return 1
	}
	return 3
}
