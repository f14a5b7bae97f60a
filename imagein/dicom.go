package imagein

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"medzoo/internal/limits"
)

// readDICOM returns modality values (rescaled, not clipped) and the file's
// window (or the stored type's rescaled range) as the natural range.
func readDICOM(path string) (Image, Units, error) {
	data, err := readAll(path)
	if err != nil {
		return Image{}, Units{}, err
	}
	// The header alone first (pixel data skipped): the dicom package
	// allocates Rows × Columns × frames from it before reading a pixel.
	head, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, dicom.SkipPixelData())
	if err != nil {
		return Image{}, Units{}, fmt.Errorf("not a readable DICOM file: %w", err)
	}
	if err := checkDICOMHeader(&head, int64(len(data))); err != nil {
		return Image{}, Units{}, err
	}
	var opts []dicom.ParseOption
	oneBit := false
	if v, ok := dicomInt(&head, tag.BitsAllocated); ok && v == 1 {
		// github.com/suyashkumar/dicom v1.1.0 unpacks 1-bit pixels most
		// significant bit first, where DICOM (PS3.5 8.1.1) puts the first
		// pixel in the least significant bit: take the bytes and unpack
		// them here (unpackBits).
		oneBit = true
		opts = append(opts, dicom.SkipProcessingPixelDataValue())
	}
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, opts...)
	if err != nil {
		return Image{}, Units{}, fmt.Errorf("not a readable DICOM file: %w", err)
	}
	bitsStored, signed := 16, false
	if v, ok := dicomInt(&ds, tag.BitsStored); ok && v > 0 {
		bitsStored = v
	}
	if v, ok := dicomInt(&ds, tag.PixelRepresentation); ok {
		signed = v == 1
	}
	slope, intercept := 1.0, 0.0
	if v, ok := dicomFloat(&ds, tag.RescaleSlope); ok {
		// A NaN, infinite or zero slope would turn every pixel into NaN or
		// one value, which the model would then be blamed for.
		if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
			return Image{}, Units{}, fmt.Errorf("DICOM attribute RescaleSlope (0028,1053) is %v; it must be a finite, non-zero number: fix or remove it in the file", v)
		}
		slope = v
	}
	if v, ok := dicomFloat(&ds, tag.RescaleIntercept); ok {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Image{}, Units{}, fmt.Errorf("DICOM attribute RescaleIntercept (0028,1052) is %v; it must be a finite number: fix or remove it in the file", v)
		}
		intercept = v
	}
	for _, w := range []struct {
		t    tag.Tag
		name string
	}{{tag.WindowCenter, "WindowCenter (0028,1050)"}, {tag.WindowWidth, "WindowWidth (0028,1051)"}} {
		if v, ok := dicomFloat(&ds, w.t); ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			return Image{}, Units{}, fmt.Errorf("DICOM attribute %s is %v; it must be a finite number: fix or remove it in the file", w.name, v)
		}
	}
	el, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return Image{}, Units{}, errors.New("DICOM file holds no pixel data")
	}
	info, ok := el.Value.GetValue().(dicom.PixelDataInfo)
	if ok && oneBit {
		return readOneBit(&ds, info)
	}
	if !ok || len(info.Frames) == 0 {
		return Image{}, Units{}, errors.New("DICOM file holds no readable pixel data")
	}
	if info.IsEncapsulated {
		return Image{}, Units{}, errors.New("DICOM pixel data is compressed (encapsulated); zoo reads uncompressed DICOM only: decompress it first (e.g. gdcmconv --raw)")
	}
	if len(info.Frames) > 1 {
		return Image{}, Units{}, fmt.Errorf("DICOM file holds %d frames; zoo reads single-frame images: split it first", len(info.Frames))
	}
	nf, err := info.Frames[0].GetNativeFrame()
	if err != nil {
		return Image{}, Units{}, fmt.Errorf("DICOM pixel data: %w", err)
	}
	h, w, spp := nf.Rows(), nf.Cols(), nf.SamplesPerPixel()
	if spp != 1 && spp != 3 {
		return Image{}, Units{}, fmt.Errorf("DICOM image has %d samples per pixel; zoo reads 1 (gray) or 3 (RGB)", spp)
	}
	stored := make([]float64, h*w*spp)
	switch raw := nf.RawDataSlice().(type) {
	case []uint8:
		for i, v := range raw {
			stored[i] = float64(v)
		}
	case []uint16:
		for i, v := range raw {
			stored[i] = float64(v)
			if signed {
				stored[i] = float64(int16(v))
			}
		}
	case []uint32:
		for i, v := range raw {
			stored[i] = float64(v)
			if signed {
				stored[i] = float64(int32(v))
			}
		}
	default:
		return Image{}, Units{}, fmt.Errorf("DICOM pixel data of %d bits is not supported", nf.BitsPerSample())
	}
	if len(stored) != h*w*spp {
		return Image{}, Units{}, fmt.Errorf("DICOM pixel data holds %d values for %dx%d with %d samples", len(stored), w, h, spp)
	}
	// The window (in modality units) that maps onto a model's range: the
	// file's own, else the stored type's whole range.
	lo, hi := 0.0, float64(uint64(1)<<bitsStored-1)
	if signed {
		lo, hi = -float64(uint64(1)<<(bitsStored-1)), float64(uint64(1)<<(bitsStored-1)-1)
	}
	lo, hi = lo*slope+intercept, hi*slope+intercept
	if lo > hi {
		lo, hi = hi, lo
	}
	c, okc := dicomFloat(&ds, tag.WindowCenter)
	wd, okw := dicomFloat(&ds, tag.WindowWidth)
	if okc && okw && wd >= 1 {
		lo, hi = c-0.5-(wd-1)/2, c-0.5+(wd-1)/2
	}
	img := Image{Channels: spp, Height: h, Width: w, Data: make([]float32, len(stored)),
		Kind: fmt.Sprintf("%d-bit DICOM", bitsStored)}
	plane := h * w
	for i, s := range stored {
		// Stored samples are pixel-interleaved; the model wants (C, H, W).
		img.Data[(i%spp)*plane+i/spp] = float32(s*slope + intercept)
	}
	return img, Units{Lo: lo, Hi: hi, Known: true, Clip: true}, nil
}

// readOneBit reads a 1-bit, single-frame gray image (a binary
// Segmentation's mask) from its packed pixel bytes: values 0 and 1.
func readOneBit(ds *dicom.Dataset, info dicom.PixelDataInfo) (Image, Units, error) {
	rows, _ := dicomInt(ds, tag.Rows)
	cols, _ := dicomInt(ds, tag.Columns)
	raw := info.UnprocessedValueData
	n := rows * cols // checked by checkDICOMHeader
	if info.IsEncapsulated || len(raw) < (n+7)/8 {
		return Image{}, Units{}, fmt.Errorf("DICOM 1-bit pixel data holds %d bytes, %dx%d pixels need %d", len(raw), cols, rows, (n+7)/8)
	}
	img := Image{Channels: 1, Height: rows, Width: cols, Data: make([]float32, n), Kind: "1-bit DICOM"}
	for i := range img.Data {
		img.Data[i] = float32(raw[i/8] >> (i % 8) & 1)
	}
	return img, Units{Lo: 0, Hi: 1, Known: true, Clip: true}, nil
}

func dicomInt(ds *dicom.Dataset, t tag.Tag) (int, bool) {
	el, err := ds.FindElementByTag(t)
	if err != nil {
		return 0, false
	}
	switch v := el.Value.GetValue().(type) {
	case []int:
		if len(v) > 0 {
			return v[0], true
		}
	case []string:
		if len(v) > 0 {
			n, err := strconv.Atoi(strings.TrimSpace(v[0]))
			return n, err == nil
		}
	}
	return 0, false
}

// dicomFloat reads the first value of a decimal-string (DS) element.
func dicomFloat(ds *dicom.Dataset, t tag.Tag) (float64, bool) {
	el, err := ds.FindElementByTag(t)
	if err != nil {
		return 0, false
	}
	switch v := el.Value.GetValue().(type) {
	case []string:
		if len(v) > 0 {
			s := strings.TrimSpace(strings.Split(v[0], `\`)[0])
			f, err := strconv.ParseFloat(s, 64)
			return f, err == nil
		}
	case []float64:
		if len(v) > 0 {
			return v[0], true
		}
	case []int:
		if len(v) > 0 {
			return float64(v[0]), true
		}
	}
	return 0, false
}

// checkDICOMHeader checks the image geometry a DICOM header declares before
// its pixel data is parsed: positive Rows and Columns within
// limits.SampleValues, one frame, and pixel bytes the file can hold.
func checkDICOMHeader(ds *dicom.Dataset, fileSize int64) error {
	rows, okr := dicomInt(ds, tag.Rows)
	cols, okc := dicomInt(ds, tag.Columns)
	if !okr || !okc {
		return errors.New("DICOM file has no Rows or Columns attribute, so it holds no image zoo can read")
	}
	spp := 1
	if v, ok := dicomInt(ds, tag.SamplesPerPixel); ok {
		spp = v
	}
	if spp != 1 && spp != 3 {
		return fmt.Errorf("DICOM image has %d samples per pixel; zoo reads 1 (gray) or 3 (RGB)", spp)
	}
	if err := checkDims("DICOM", spp, rows, cols); err != nil {
		return err
	}
	if v, ok := dicomInt(ds, tag.NumberOfFrames); ok && v != 1 {
		return fmt.Errorf("DICOM file holds %d frames; zoo reads single-frame images: split it first", v)
	}
	bits := 16
	if v, ok := dicomInt(ds, tag.BitsAllocated); ok {
		bits = v
	}
	// 1 bit: a binary Segmentation's mask (zoo's own, for an image-to-image
	// model taking masks), one frame of one sample per pixel.
	if bits != 1 && bits != 8 && bits != 16 && bits != 32 || bits == 1 && spp != 1 {
		return fmt.Errorf("DICOM BitsAllocated is %d with %d samples per pixel; zoo reads 8, 16 or 32 bits, or 1-bit masks (binary Segmentations)", bits, spp)
	}
	if _, ok := limits.ProductInts(fileSize, rows, cols, spp, max(bits/8, 1)); !ok && bits > 1 && nativePixels(ds) {
		return fmt.Errorf("DICOM header declares %d×%d pixels of %d bits, more bytes than the %d-byte file holds; the file is truncated or its header lies", cols, rows, bits, fileSize)
	}
	return nil
}

// nativePixels reports whether the file's transfer syntax stores pixels
// uncompressed, so their size follows from the header.
func nativePixels(ds *dicom.Dataset) bool {
	el, err := ds.FindElementByTag(tag.TransferSyntaxUID)
	if err != nil {
		return true // implicit VR little endian, the default: native
	}
	v, ok := el.Value.GetValue().([]string)
	if !ok || len(v) == 0 {
		return true
	}
	switch strings.TrimRight(strings.TrimSpace(v[0]), "\x00") {
	case "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2":
		return true
	}
	return false
}
