package output

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// dicomEncoder writes one DICOM Part 10 file per image, in Explicit VR
// Little Endian, that viewers render as zoo's PNG of the same sample:
// images as Secondary Capture (SOP class 1.2.840.10008.5.1.4.1.1.7), masks
// and label maps as binary Segmentations (1.2.840.10008.5.1.4.1.1.66.4,
// segseg.go) that reference the sample's image. docs/formats.md says what
// each attribute holds and why; in short:
//
//   - Synthetic and DERIVED: ImageType DERIVED\SECONDARY, ConversionType SYN,
//     PatientIdentityRemoved YES, the notice in DerivationDescription and
//     the provenance JSON in ImageComments; no patient identifiers (the
//     type-2 patient attributes are present and empty).
//   - Stored values are integers with slope 1 that a viewer's modality
//     LUT and window map correctly: CT (units HU) as signed 16-bit HU,
//     round(offset + scale × value), RescaleType HU; MR (units MR) in its
//     stored_bits (12 for the demo models) and outputs without units in 16
//     bits, the declared range quantised onto 0..2^bits-1 as png16 does,
//     RescaleType US. WindowCenter/Width cover the declared range in those
//     units exactly under DICOM's LINEAR function. 3 channels are RGB, 8
//     bits, quantised as png does.
//   - Geometry: PixelSpacing from spacing_mm; PatientOrientation from the
//     plane (output.Physical's convention).
//   - One study per run and one series per output: the UIDs are derived
//     (derivedUID) from the run's identity (Provenance.Run: artifact
//     digest, seed, latents, conditions, inputs), the output and the
//     index, and ContentDate/Time are the fixed 19700101 000000, so a
//     resumed, repeated or sharded run writes byte-identical files.
//     InstanceNumber is index + 1.
//
// Files are written with github.com/suyashkumar/dicom v1.1.0; we hand it the
// pixel bytes ready-packed (PixelDataInfo.IntentionallyUnprocessed, which
// its writer emits as they are) because its own packing goes through
// binary.Write once per sample, about 18 ms for a 512x512 image, and it would
// store 8-bit data as OW where OB is the usual VR.
type dicomEncoder struct{}

func (dicomEncoder) Ext() string { return ".dcm" }

const (
	secondaryCaptureSOPClass = "1.2.840.10008.5.1.4.1.1.7"
	segmentationSOPClass     = "1.2.840.10008.5.1.4.1.1.66.4"
	// implementationClassUID identifies files written by medzoo (a fixed UUID
	// under 2.25); the version name says which writer made them.
	implementationClassUID    = "2.25.244175837858811254763064693926517211366"
	implementationVersionName = "MEDZOO_2"
	// The content date and time of every file: fixed, so that files are
	// reproducible; the Unix epoch, as reproducible builds use, which no
	// one mistakes for an acquisition date.
	contentDate = "19700101"
	contentTime = "000000"
)

func (dicomEncoder) Encode(w io.Writer, img Image, p Provenance) error {
	if err := img.check(); err != nil {
		return err
	}
	if img.Height > math.MaxUint16 || img.Width > math.MaxUint16 {
		return fmt.Errorf("DICOM images are at most 65535 pixels a side, the output is %dx%d; use --format npy or --format nifti", img.Width, img.Height)
	}
	lo, hi := img.Range[0], img.Range[1]
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return fmt.Errorf("DICOM needs a finite value range, the model declares %v; use --format npy or --format nifti", img.Range)
	}
	if img.Channels != 1 && (img.Channels != 3 || img.Mask || img.Label) {
		what := "1 (gray) or 3 (RGB) channels"
		if img.Mask || img.Label {
			what = "masks and label maps of 1 channel"
		}
		return fmt.Errorf("DICOM holds %s, the output has %d; use --format npy or --format nifti", what, img.Channels)
	}
	var d dataset
	var err error
	if img.Mask || img.Label {
		err = d.segmentation(img, p)
	} else {
		err = d.secondaryCapture(img, p)
	}
	if err != nil {
		return err
	}
	if d.bad != nil {
		return d.bad
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := dicom.Write(bw, dicom.Dataset{Elements: sortedElements(d.elems)}); err != nil {
		return fmt.Errorf("writing DICOM: %w", err)
	}
	return bw.Flush()
}

// uids are the UIDs of one sample's output, derived from its provenance.
type uids struct {
	study, series, instance string
}

func sampleUIDs(p Provenance, output string) uids {
	run := runOf(p)
	return uids{
		study:    derivedUID("study", run),
		series:   derivedUID("series", run, output),
		instance: derivedUID("instance", run, output, strconv.Itoa(p.Index)),
	}
}

// runOf is the run identity of p: Provenance.Run, or for a sample made
// outside a run (a caller that set none) what identifies it anyway.
func runOf(p Provenance) string {
	if p.Run != "" {
		return p.Run
	}
	return RunIdentity(p.SHA256, p.Seed, p.Latents, nil, "")
}

// derivedUID is a UID under the 2.25 root (PS3.5 B.2: a UUID as one
// decimal integer) whose UUID is a name-based version 8 UUID (RFC 9562)
// made from the SHA-256 of parts: the same parts always give the same UID,
// different ones collide with the odds of a random UUID.
func derivedUID(parts ...string) string {
	h := sha256.New()
	io.WriteString(h, "medzoo DICOM UID")
	for _, part := range parts {
		fmt.Fprintf(h, "\x00%s", part)
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}

// dataset collects the elements of one file (or one sequence item); the
// first error is kept in bad and reported once.
type dataset struct {
	elems []*dicom.Element
	bad   error
}

func (d *dataset) add(t tag.Tag, v any) {
	e, err := dicom.NewElement(t, v)
	if err != nil && d.bad == nil {
		d.bad = fmt.Errorf("DICOM element %s: %w", tag.DebugString(t), err)
	}
	if err == nil {
		d.elems = append(d.elems, e)
	}
}

func (d *dataset) str(t tag.Tag, s ...string) { d.add(t, s) }

func (d *dataset) empty(ts ...tag.Tag) {
	for _, t := range ts {
		d.add(t, []string{})
	}
}

func (d *dataset) num(t tag.Tag, n ...int) { d.add(t, n) }

// seq adds a sequence of the given items, each sorted into tag order.
func (d *dataset) seq(t tag.Tag, items ...*dataset) {
	var vals [][]*dicom.Element
	for _, it := range items {
		if it.bad != nil && d.bad == nil {
			d.bad = it.bad
		}
		vals = append(vals, sortedElements(it.elems))
	}
	d.add(t, vals)
}

// code adds a code sequence of one item (PS3.3 8.8).
func (d *dataset) code(t tag.Tag, value, scheme, meaning string) {
	var c dataset
	c.str(tag.CodeValue, value)
	c.str(tag.CodingSchemeDesignator, scheme)
	c.str(tag.CodeMeaning, meaning)
	d.seq(t, &c)
}

func sortedElements(elems []*dicom.Element) []*dicom.Element {
	sort.SliceStable(elems, func(i, j int) bool { // data elements go in tag order
		a, b := elems[i].Tag, elems[j].Tag
		return a.Group < b.Group || a.Group == b.Group && a.Element < b.Element
	})
	return elems
}

// common adds what every zoo DICOM file holds: file meta information, SOP
// Common, Patient (empty), General Study, General Series and equipment, for
// an instance of sopClass in series number seriesNumber.
func (d *dataset) common(p Provenance, u uids, sopClass, modality string, seriesNumber int) {
	// File meta information (group 0002; the library writes the group length).
	d.add(tag.FileMetaInformationVersion, []byte{0, 1})
	d.str(tag.MediaStorageSOPClassUID, sopClass)
	d.str(tag.MediaStorageSOPInstanceUID, u.instance)
	d.str(tag.TransferSyntaxUID, uid.ExplicitVRLittleEndian)
	d.str(tag.ImplementationClassUID, implementationClassUID)
	d.str(tag.ImplementationVersionName, implementationVersionName)

	d.str(tag.SpecificCharacterSet, "ISO_IR 192")
	d.str(tag.SOPClassUID, sopClass)
	d.str(tag.SOPInstanceUID, u.instance)
	d.empty(tag.AccessionNumber, tag.ReferringPhysicianName)
	d.str(tag.StudyDate, contentDate)
	d.str(tag.StudyTime, contentTime)
	d.str(tag.StudyID, "SYNTHETIC")
	d.str(tag.ContentDate, contentDate)
	d.str(tag.ContentTime, contentTime)
	d.str(tag.DerivationDescription, dicomString(p.Notice(), 1024, true))
	d.str(tag.ImageComments, dicomString(p.JSON(), 10240, true))
	d.str(tag.Modality, modality)
	// Laterality is type 2C: required for a paired body part, or none
	// named; a synthetic image has no known side, which an empty value
	// says (dciodvfy warns that it should then be "actually unknown": it is).
	part := bodyPart(p.Organ)
	if part != "" {
		d.str(tag.BodyPartExamined, part)
	}
	if part == "" || pairedBodyParts[part] {
		d.empty(tag.Laterality)
	}
	d.str(tag.Manufacturer, "medzoo")
	d.str(tag.StudyDescription, "SYNTHETIC")
	d.str(tag.SeriesDescription, dicomString("SYNTHETIC "+p.Model+" "+p.Output, 64, false))
	d.empty(tag.PatientName, tag.PatientID, tag.PatientBirthDate, tag.PatientSex)
	d.str(tag.PatientIdentityRemoved, "YES")
	d.str(tag.DeidentificationMethod, "synthetic image, no patient data")
	d.str(tag.SoftwareVersions, dicomString(p.Generator, 64, false))
	d.str(tag.StudyInstanceUID, u.study)
	d.str(tag.SeriesInstanceUID, u.series)
	d.str(tag.SeriesNumber, strconv.Itoa(max(p.OutputNumber, 1)))
	d.str(tag.InstanceNumber, strconv.Itoa(p.Index+1))
}

// secondaryCapture fills d with an image as a Secondary Capture Image.
func (d *dataset) secondaryCapture(img Image, p Provenance) error {
	u := sampleUIDs(p, p.Output)
	d.common(p, u, secondaryCaptureSOPClass, dicomModality(p.Modality), p.OutputNumber)
	d.str(tag.ImageType, "DERIVED", "SECONDARY")
	d.str(tag.ConversionType, "SYN")
	d.orientation(img.Physical.Plane)
	if row, col, ok := img.Physical.Spacing(); ok {
		d.str(tag.PixelSpacing, decimalString(row), decimalString(col))
	}

	d.num(tag.SamplesPerPixel, img.Channels)
	d.num(tag.Rows, img.Height)
	d.num(tag.Columns, img.Width)
	d.str(tag.BurnedInAnnotation, "NO")
	if img.Channels == 3 {
		pixels := rgbPixels(img)
		d.str(tag.PhotometricInterpretation, "RGB")
		d.num(tag.PlanarConfiguration, 0)
		d.num(tag.BitsAllocated, 8)
		d.num(tag.BitsStored, 8)
		d.num(tag.HighBit, 7)
		d.num(tag.PixelRepresentation, 0)
		d.pixelData(pixels, "OB")
		return nil
	}
	g := grayStorage(img)
	pixels := make([]byte, 2*len(img.Data))
	for i, v := range img.Data {
		binary.LittleEndian.PutUint16(pixels[2*i:], g.store(v))
	}
	d.str(tag.PhotometricInterpretation, "MONOCHROME2")
	d.num(tag.BitsAllocated, 16)
	d.num(tag.BitsStored, g.bits)
	d.num(tag.HighBit, g.bits-1)
	pixelRepresentation := 0
	if g.signed {
		pixelRepresentation = 1
	}
	d.num(tag.PixelRepresentation, pixelRepresentation)
	// LINEAR VOI (PS3.3 C.11.2.1.2.1) maps c-0.5 ± (w-1)/2 to the
	// display range, so c = mid+0.5 and w = (hi-lo)+1 cover [lo, hi].
	d.str(tag.WindowCenter, decimalString((g.lo+g.hi)/2+0.5))
	d.str(tag.WindowWidth, decimalString(g.hi-g.lo+1))
	d.str(tag.WindowCenterWidthExplanation, "declared range of the model's output")
	d.str(tag.RescaleIntercept, "0")
	d.str(tag.RescaleSlope, "1")
	d.str(tag.RescaleType, g.rescaleType)
	d.pixelData(pixels, "OW")
	return nil
}

func (d *dataset) pixelData(pixels []byte, vr string) {
	if len(pixels)%2 == 1 { // values have even length; pad with 0
		pixels = append(pixels, 0)
	}
	d.add(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pixels})
	if d.bad == nil {
		d.elems[len(d.elems)-1].RawValueRepresentation = vr
	}
}

// grayStorage says how a gray image's values are stored: in bits bits,
// signed or not; store maps a model value to its stored value, and lo..hi
// is the declared range in stored (= modality, slope 1) units.
type graySpec struct {
	bits        int
	signed      bool
	lo, hi      float64
	rescaleType string
	store       func(float32) uint16
}

func grayStorage(img Image) graySpec {
	ph := img.Physical
	if ph.Units == UnitsHU {
		lo, hi := ph.HURange(img.Range)
		return graySpec{bits: 16, signed: true, lo: math.Round(lo), hi: math.Round(hi), rescaleType: "HU",
			store: func(v float32) uint16 {
				hu := math.Round(ph.Offset + ph.Scale*float64(v))
				return uint16(int16(max(math.MinInt16, min(math.MaxInt16, hu))))
			}}
	}
	bits := 16
	if ph.Units == UnitsMR && ph.StoredBits > 0 {
		bits = ph.StoredBits
	}
	top := float64(uint32(1)<<bits - 1)
	lo, hi := img.Range[0], img.Range[1]
	return graySpec{bits: bits, lo: 0, hi: top, rescaleType: "US",
		store: func(v float32) uint16 { return uint16(Quantize(v, lo, hi, top)) }}
}

// rgbPixels is a 3-channel image as interleaved 8-bit RGB.
func rgbPixels(img Image) []byte {
	plane := img.Height * img.Width
	pixels := make([]byte, 3*plane, 3*plane+1)
	lo, hi := img.Range[0], img.Range[1]
	for i := 0; i < plane; i++ {
		for ch := 0; ch < 3; ch++ {
			pixels[3*i+ch] = uint8(Quantize(img.Data[ch*plane+i], lo, hi, 255))
		}
	}
	return pixels
}

// orientation adds PatientOrientation (type 2C in General Image: required
// when there is no Image Orientation (Patient), as in SC and a SEG of it).
func (d *dataset) orientation(plane string) {
	if o := patientOrientation(plane); o != nil {
		d.str(tag.PatientOrientation, o...)
	} else {
		d.empty(tag.PatientOrientation)
	}
}

// patientOrientation is PatientOrientation (row direction, column
// direction) of a plane under output.Physical's convention, nil when the
// plane is unknown.
func patientOrientation(plane string) []string {
	switch plane {
	case "axial":
		return []string{"R", "P"}
	case "coronal":
		return []string{"R", "F"}
	case "sagittal":
		return []string{"A", "F"}
	}
	return nil
}

// decimalString formats x as a DICOM DS value (at most 16 characters),
// keeping as many significant digits as fit.
func decimalString(x float64) string {
	for prec := 16; prec > 0; prec-- {
		if s := strconv.FormatFloat(x, 'g', prec, 64); len(s) <= 16 {
			return s
		}
	}
	return "0"
}

// dicomString makes s a valid value of a single-valued DICOM text VR of at
// most max characters: valid UTF-8 and no control characters; for the short
// VRs (LO, SH; text=false) no backslash (it separates values) and no line
// breaks, for ST/LT (text=true) CR, LF, TAB and backslash are kept.
func dicomString(s string, max int, text bool) string {
	s = strings.ToValidUTF8(s, "?")
	var out strings.Builder
	n := 0
	for _, r := range s {
		switch {
		case text && (r == '\n' || r == '\r' || r == '\t'):
		case unicode.IsControl(r):
			r = ' '
		case !text && r == '\\':
			r = '/'
		}
		if n == max {
			break
		}
		out.WriteRune(r)
		n++
	}
	return strings.TrimRight(out.String(), " ")
}

// dicomModality maps a catalog modality (free text such as "MRI", "T1",
// "dce-mri", "MMG", "x-ray", "endoscopy") to a DICOM Modality code, OT when
// unknown.
func dicomModality(m string) string {
	low := strings.ToLower(m)
	words := strings.FieldsFunc(low, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	compact := strings.Join(words, "")
	has := func(set ...string) bool {
		for _, w := range words {
			for _, s := range set {
				if w == s {
					return true
				}
			}
		}
		return false
	}
	hasPrefix := func(prefixes ...string) bool {
		for _, w := range words {
			for _, p := range prefixes {
				if strings.HasPrefix(w, p) {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("mr", "mri", "mra", "fmri", "flair", "dwi", "adc", "swi") || hasPrefix("t1", "t2") ||
		strings.Contains(low, "magnetic resonance"):
		return "MR"
	case has("ct", "cta", "cbct", "hrct") || strings.Contains(low, "computed tomography"):
		return "CT"
	case has("mg", "mmg", "ffdm", "dbt") || hasPrefix("mammo"):
		return "MG"
	case strings.Contains(compact, "xray") || has("cxr", "dx", "cr", "radiography", "radiograph"):
		return "DX"
	case hasPrefix("endoscop", "colonoscop", "gastroscop") || has("es"):
		return "ES"
	case has("us", "ultrasound", "sonography", "echography", "echocardiography"):
		return "US"
	}
	return "OT"
}

// bodyParts maps catalog organ names to DICOM BodyPartExamined defined terms
// (PS3.16 Annex L); others are left out rather than guessed.
var bodyParts = map[string]string{
	"brain": "BRAIN", "head": "HEAD", "cranial": "HEAD", "skull": "HEAD",
	"breast": "BREAST", "breasts": "BREAST",
	"heart": "HEART", "cardiac": "HEART",
	"lung": "LUNG", "lungs": "LUNG", "chest": "CHEST", "thorax": "CHEST",
	"abdomen": "ABDOMEN", "liver": "LIVER", "kidney": "KIDNEY", "kidneys": "KIDNEY",
	"pancreas": "PANCREAS", "spleen": "SPLEEN", "stomach": "STOMACH", "colon": "COLON",
	"prostate": "PROSTATE", "pelvis": "PELVIS", "spine": "SPINE", "knee": "KNEE",
	"eye": "EYE", "retina": "EYE", "skin": "SKIN", "neck": "NECK",
}

// pairedBodyParts are the body parts of bodyParts that come in pairs.
var pairedBodyParts = map[string]bool{"BREAST": true, "LUNG": true, "KIDNEY": true, "KNEE": true, "EYE": true}

func bodyPart(organ string) string {
	return bodyParts[strings.ToLower(strings.TrimSpace(organ))]
}
