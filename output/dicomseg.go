package output

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// maxSegments bounds the segments (frames) of a label map's Segmentation:
// one frame per label value, so a label range is checked against it
// before anything is allocated.
const maxSegments = 255

// segmentation fills d with a mask or label map as a binary DICOM
// Segmentation (PS3.3 A.51) in the sample's study, in a series of its own
// (a SEG series holds nothing else), one frame per segment:
//
//   - a mask is one segment, the pixels whose value is at least the middle
//     of the declared range (a PNG mask's pixels of 128 and more);
//   - a label map with range [0, K] is K segments, segment s holding the
//     pixels whose rounded value is s (0 is background).
//
// Each frame derives from the sample's image output (Provenance.ImageOutput),
// whose Secondary Capture UID is derived as that file's own is, and the
// Common Instance Reference module names its series: a viewer opens the
// SEG over its image. A model whose outputs are all masks has no image to
// reference, and its SEG says so by leaving the references out.
func (d *dataset) segmentation(img Image, p Provenance) error {
	segments := 1
	if img.Label {
		k := math.Round(img.Range[1])
		if img.Range[0] < 0 || k < 1 || k > maxSegments {
			return fmt.Errorf("a DICOM Segmentation holds label values 1..%d; this label map's range is %v: use --format npy or --format nifti", maxSegments, img.Range)
		}
		segments = int(k)
	}
	u := sampleUIDs(p, p.Output)
	d.common(p, u, segmentationSOPClass, "SEG", p.OutputNumber)
	d.str(tag.ImageType, "DERIVED", "PRIMARY")
	d.str(tag.ContentLabel, contentLabel(p.Output))
	d.str(tag.ContentDescription, dicomString("SYNTHETIC "+p.Output+" by medzoo model "+p.Model, 64, false))
	d.empty(tag.ContentCreatorName)
	d.str(tag.ManufacturerModelName, "zoo")
	d.str(tag.DeviceSerialNumber, "none")
	d.orientation(img.Physical.Plane)
	d.num(tag.SamplesPerPixel, 1)
	d.str(tag.PhotometricInterpretation, "MONOCHROME2")
	d.num(tag.Rows, img.Height)
	d.num(tag.Columns, img.Width)
	d.num(tag.BitsAllocated, 1)
	d.num(tag.BitsStored, 1)
	d.num(tag.HighBit, 0)
	d.num(tag.PixelRepresentation, 0)
	d.str(tag.LossyImageCompression, "00")
	d.str(tag.SegmentationType, "BINARY")
	d.str(tag.NumberOfFrames, strconv.Itoa(segments))

	var segs []*dataset
	for s := 1; s <= segments; s++ {
		var seg dataset
		label := p.Output
		if img.Label {
			label = fmt.Sprintf("%s %d", p.Output, s)
		}
		seg.num(tag.SegmentNumber, s)
		seg.str(tag.SegmentLabel, dicomString(label, 64, false))
		seg.str(tag.SegmentAlgorithmType, "AUTOMATIC")
		seg.str(tag.SegmentAlgorithmName, dicomString(p.Model, 64, false))
		// What the model's masks mark is not declared in the catalog, so the
		// codes say no more than "a tissue region".
		seg.code(tag.SegmentedPropertyCategoryCodeSequence, "85756007", "SCT", "Tissue")
		seg.code(tag.SegmentedPropertyTypeCodeSequence, "85756007", "SCT", "Tissue")
		segs = append(segs, &seg)
	}
	d.seq(tag.SegmentSequence, segs...)

	dimension := derivedUID("dimension organization", runOf(p), p.Output)
	var org dataset
	org.str(tag.DimensionOrganizationUID, dimension)
	d.seq(tag.DimensionOrganizationSequence, &org)
	var index dataset
	index.str(tag.DimensionOrganizationUID, dimension)
	index.num(tag.DimensionIndexPointer, int(tag.ReferencedSegmentNumber.Group), int(tag.ReferencedSegmentNumber.Element))
	index.num(tag.FunctionalGroupPointer, int(tag.SegmentIdentificationSequence.Group), int(tag.SegmentIdentificationSequence.Element))
	index.str(tag.DimensionDescriptionLabel, "Segment")
	d.seq(tag.DimensionIndexSequence, &index)

	var shared dataset
	if row, col, ok := img.Physical.Spacing(); ok {
		var measures dataset
		measures.str(tag.PixelSpacing, decimalString(row), decimalString(col))
		shared.seq(tag.PixelMeasuresSequence, &measures)
	}
	d.seq(tag.SharedFunctionalGroupsSequence, &shared)

	var source uids
	if p.ImageOutput != "" {
		source = sampleUIDs(p, p.ImageOutput)
	}
	var frames []*dataset
	for s := 1; s <= segments; s++ {
		var frame, content, ident dataset
		content.num(tag.DimensionIndexValues, s)
		frame.seq(tag.FrameContentSequence, &content)
		ident.num(tag.ReferencedSegmentNumber, s)
		frame.seq(tag.SegmentIdentificationSequence, &ident)
		if source.instance != "" {
			var derivation, src dataset
			src.str(tag.ReferencedSOPClassUID, secondaryCaptureSOPClass)
			src.str(tag.ReferencedSOPInstanceUID, source.instance)
			src.code(tag.PurposeOfReferenceCodeSequence, "121322", "DCM", "Source image for image processing operation")
			derivation.seq(tag.SourceImageSequence, &src)
			derivation.code(tag.DerivationCodeSequence, "113076", "DCM", "Segmentation")
			frame.seq(tag.DerivationImageSequence, &derivation)
		}
		frames = append(frames, &frame)
	}
	d.seq(tag.PerFrameFunctionalGroupsSequence, frames...)

	if source.instance != "" {
		var series, instance dataset
		instance.str(tag.ReferencedSOPClassUID, secondaryCaptureSOPClass)
		instance.str(tag.ReferencedSOPInstanceUID, source.instance)
		series.str(tag.SeriesInstanceUID, source.series)
		series.seq(tag.ReferencedInstanceSequence, &instance)
		d.seq(tag.ReferencedSeriesSequence, &series)
	}
	d.pixelData(segmentBits(img, segments), "OB")
	return nil
}

// segmentBits packs the frames of segments 1..segments into DICOM's 1-bit
// layout: one bit per pixel, frames one after the other with no padding
// between them, the first pixel in the least significant bit.
func segmentBits(img Image, segments int) []byte {
	plane := img.Height * img.Width
	out := make([]byte, (segments*plane+7)/8, (segments*plane+7)/8+1)
	mid := (img.Range[0] + img.Range[1]) / 2
	for s := 1; s <= segments; s++ {
		for i, v := range img.Data {
			in := float64(v) >= mid
			if img.Label {
				in = math.Round(float64(v)) == float64(s)
			}
			if in {
				bit := (s-1)*plane + i
				out[bit/8] |= 1 << (bit % 8)
			}
		}
	}
	return out
}

// contentLabel makes an output name a DICOM CS value: upper case letters,
// digits, space and underscore, at most 16 characters.
func contentLabel(name string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(name) {
		if b.Len() == 16 {
			break
		}
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' || r == ' ' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "MASK"
	}
	return b.String()
}
