package output

import (
	"bufio"
	"crypto/rand"
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

// dicomEncoder writes one DICOM Part 10 file per image: a Secondary Capture
// Image (SOP class 1.2.840.10008.5.1.4.1.1.7) in Explicit VR Little Endian,
// marked as synthetic (ImageType DERIVED\SECONDARY, ConversionType SYN,
// PatientIdentityRemoved YES) and carrying no patient identifiers: the type-2
// patient and study attributes the IOD requires (PatientName, PatientID,
// PatientBirthDate, PatientSex, StudyDate, StudyTime, ...) are present and
// empty.
//
// Pixels: 1 channel becomes MONOCHROME2, 16 bits unsigned, quantised from the
// declared range [lo, hi] to 0..65535 exactly as png16 does; RescaleSlope
// (hi-lo)/65535 and RescaleIntercept lo map the stored values back to the
// model's units (to within half a quantisation step), and WindowCenter/Width
// cover [lo, hi] exactly under DICOM's LINEAR VOI function. 3 channels become
// RGB, 8 bits, PlanarConfiguration 0, quantised as png does (no rescale:
// DICOM defines the Modality LUT for grayscale only). Other channel counts are
// refused; NPY and NIfTI hold them.
//
// Provenance: DerivationDescription (ST) holds Provenance.Notice(),
// ImageComments (LT) holds Provenance.JSON(), SeriesDescription the model id,
// Manufacturer "medzoo", SoftwareVersions the generator, InstanceNumber the
// sample index + 1, Modality and BodyPartExamined come from the catalog
// (mapped to DICOM codes; OT and absent when unknown). Text is UTF-8
// (SpecificCharacterSet ISO_IR 192).
//
// Reproducibility: every file gets fresh StudyInstanceUID, SeriesInstanceUID
// and SOPInstanceUID (2.25.<UUID v4 as a decimal>, which needs no registered
// root), so a DICOM file is the one output that is not byte-for-byte
// reproducible from the seed: the pixel data and every other attribute are.
// For the same reason no dates or times are written (StudyDate, StudyTime are
// type 2 and left empty; ContentDate and the like are left out).
//
// The file is written with github.com/suyashkumar/dicom v1.1.0. It was tried
// first and writes a clean Secondary Capture file with 16-bit gray and 8-bit
// RGB pixel data that pydicom reads without force; we only hand it the pixel
// bytes ready-packed (PixelDataInfo.IntentionallyUnprocessed, which its
// writer emits as they are) because its own packing goes through
// binary.Write once per sample, about 18 ms for a 512x512 image, and it would
// store 8-bit data as OW where OB is the usual VR.
type dicomEncoder struct{}

func (dicomEncoder) Ext() string { return ".dcm" }

const (
	secondaryCaptureSOPClass = "1.2.840.10008.5.1.4.1.1.7"
	// implementationClassUID identifies files written by medzoo (a fixed UUID
	// under 2.25); the version name says which writer made them.
	implementationClassUID    = "2.25.244175837858811254763064693926517211366"
	implementationVersionName = "MEDZOO_1"
)

func (dicomEncoder) Encode(w io.Writer, img Image, p Provenance) error {
	if err := img.check(); err != nil {
		return err
	}
	if img.Channels != 1 && img.Channels != 3 {
		return fmt.Errorf("DICOM holds 1 (gray) or 3 (RGB) channels, the output has %d; use --format npy or --format nifti", img.Channels)
	}
	if img.Height > math.MaxUint16 || img.Width > math.MaxUint16 {
		return fmt.Errorf("DICOM images are at most 65535 pixels a side, the output is %dx%d; use --format npy or --format nifti", img.Width, img.Height)
	}
	lo, hi := img.Range[0], img.Range[1]
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return fmt.Errorf("DICOM needs a finite value range, the model declares %v; use --format npy or --format nifti", img.Range)
	}
	study, err := newUID()
	if err != nil {
		return err
	}
	series, err := newUID()
	if err != nil {
		return err
	}
	instance, err := newUID()
	if err != nil {
		return err
	}

	plane := img.Height * img.Width
	var pixels []byte
	var bits int
	var photometric, pixelVR string
	if img.Channels == 1 {
		bits, photometric, pixelVR = 16, "MONOCHROME2", "OW"
		pixels = make([]byte, 2*plane)
		for i, v := range img.Data {
			binary.LittleEndian.PutUint16(pixels[2*i:], uint16(quantize(v, lo, hi, 65535)))
		}
	} else {
		bits, photometric, pixelVR = 8, "RGB", "OB"
		pixels = make([]byte, 3*plane, 3*plane+1)
		for i := 0; i < plane; i++ {
			for ch := 0; ch < 3; ch++ {
				pixels[3*i+ch] = uint8(quantize(img.Data[ch*plane+i], lo, hi, 255))
			}
		}
		if len(pixels)%2 == 1 { // values have even length; pad OB with 0
			pixels = append(pixels, 0)
		}
	}

	var elems []*dicom.Element
	var bad error
	add := func(t tag.Tag, v any) {
		e, err := dicom.NewElement(t, v)
		if err != nil && bad == nil {
			bad = fmt.Errorf("DICOM element %s: %w", tag.DebugString(t), err)
		}
		if err == nil {
			elems = append(elems, e)
		}
	}
	str := func(t tag.Tag, s ...string) { add(t, s) }
	empty := func(ts ...tag.Tag) {
		for _, t := range ts {
			add(t, []string{})
		}
	}
	num := func(t tag.Tag, n int) { add(t, []int{n}) }

	// File meta information (group 0002; the library writes the group length).
	add(tag.FileMetaInformationVersion, []byte{0, 1})
	str(tag.MediaStorageSOPClassUID, secondaryCaptureSOPClass)
	str(tag.MediaStorageSOPInstanceUID, instance)
	str(tag.TransferSyntaxUID, uid.ExplicitVRLittleEndian)
	str(tag.ImplementationClassUID, implementationClassUID)
	str(tag.ImplementationVersionName, implementationVersionName)

	// SOP Common, General Study, Patient, General Series, SC Equipment,
	// General Equipment, General Image.
	str(tag.SpecificCharacterSet, "ISO_IR 192")
	str(tag.ImageType, "DERIVED", "SECONDARY")
	str(tag.SOPClassUID, secondaryCaptureSOPClass)
	str(tag.SOPInstanceUID, instance)
	empty(tag.StudyDate, tag.StudyTime, tag.AccessionNumber)
	str(tag.Modality, dicomModality(p.Modality))
	str(tag.ConversionType, "SYN")
	str(tag.Manufacturer, "medzoo")
	empty(tag.ReferringPhysicianName)
	str(tag.StudyDescription, "SYNTHETIC")
	str(tag.SeriesDescription, dicomString(p.Model, 64, false))
	str(tag.DerivationDescription, dicomString(p.Notice(), 1024, true))
	empty(tag.PatientName, tag.PatientID, tag.PatientBirthDate, tag.PatientSex)
	str(tag.PatientIdentityRemoved, "YES")
	str(tag.DeidentificationMethod, "synthetic image, no patient data")
	if part := bodyPart(p.Organ); part != "" {
		str(tag.BodyPartExamined, part)
	}
	str(tag.SoftwareVersions, dicomString(p.Generator, 64, false))
	str(tag.StudyInstanceUID, study)
	str(tag.SeriesInstanceUID, series)
	empty(tag.StudyID)
	str(tag.SeriesNumber, "1")
	str(tag.InstanceNumber, strconv.Itoa(p.Index+1))
	empty(tag.PatientOrientation)
	str(tag.ImageComments, dicomString(p.JSON(), 10240, true))

	// Image Pixel, Modality LUT, VOI LUT.
	num(tag.SamplesPerPixel, img.Channels)
	str(tag.PhotometricInterpretation, photometric)
	if img.Channels == 3 {
		num(tag.PlanarConfiguration, 0)
	}
	num(tag.Rows, img.Height)
	num(tag.Columns, img.Width)
	num(tag.BitsAllocated, bits)
	num(tag.BitsStored, bits)
	num(tag.HighBit, bits-1)
	num(tag.PixelRepresentation, 0)
	str(tag.BurnedInAnnotation, "NO")
	if img.Channels == 1 {
		// LINEAR VOI (PS3.3 C.11.2.1.2.1) maps c-0.5 ± (w-1)/2 to the
		// display range, so c = mid+0.5 and w = (hi-lo)+1 cover [lo, hi].
		str(tag.WindowCenter, decimalString((lo+hi)/2+0.5))
		str(tag.WindowWidth, decimalString(hi-lo+1))
		str(tag.RescaleIntercept, decimalString(lo))
		str(tag.RescaleSlope, decimalString((hi-lo)/65535))
		str(tag.RescaleType, "US") // unspecified units: whatever the model outputs
	}
	add(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pixels})
	if bad != nil {
		return bad
	}
	pixelData := elems[len(elems)-1]
	pixelData.RawValueRepresentation = pixelVR
	sort.SliceStable(elems, func(i, j int) bool { // data elements go in tag order
		a, b := elems[i].Tag, elems[j].Tag
		return a.Group < b.Group || a.Group == b.Group && a.Element < b.Element
	})

	bw := bufio.NewWriterSize(w, 64<<10)
	if err := dicom.Write(bw, dicom.Dataset{Elements: elems}); err != nil {
		return fmt.Errorf("writing DICOM: %w", err)
	}
	return bw.Flush()
}

// newUID returns a fresh UID under the 2.25 root: a random (version 4) UUID
// as one decimal integer (PS3.5 B.2), at most 44 characters.
func newUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making a DICOM UID: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return "2.25." + new(big.Int).SetBytes(b[:]).String(), nil
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

func bodyPart(organ string) string {
	return bodyParts[strings.ToLower(strings.TrimSpace(organ))]
}
