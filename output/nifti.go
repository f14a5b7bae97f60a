package output

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// niftiEncoder writes single-file NIfTI-1 images (.nii, or .nii.gz with
// Gzip): a 348-byte header, the 4-byte extension flag, one extension, then
// the voxels at vox_offset.
//
// Voxels are little-endian, x (column) fastest. Images are float32, the
// model's raw values (no quantisation); masks and label maps are uint8 with
// intent NIFTI_INTENT_LABEL (mask voxel 1 where value >= the middle of the
// declared range, label voxel the rounded class index), which is what
// segmentation tools (nnU-Net, MONAI, ITK-SNAP) read as labels. A 1-channel
// image is a 3-D volume of one slice, dim = [3, W, H, 1]; C > 1 channels
// (any C, RGB included) are a 5-D vector image, dim = [5, W, H, 1, 1, C],
// intent NIFTI_INTENT_VECTOR, which keeps the float values (RGB24 would
// quantise to 8 bits, and nibabel's get_fdata cannot read it).
//
// Rows are stored bottom-up, voxel (i, j) = image row H-1-j, column i, so
// that viewers show the image the way the PNG shows it, top row at the top.
// In nibabel: png == a[:, ::-1, 0].T for gray (a = img.get_fdata()), and
// channel c is a[:, ::-1, 0, 0, c].T.
//
// Geometry comes from Image.Physical: pixdim is the declared column, row
// and slice spacing (the row spacing again when no slice spacing is
// declared), and qform and sform are the rotation of the declared plane
// (niftiRotation) scaled by the spacing, with code NIFTI_XFORM_SCANNER_ANAT;
// with no plane declared both codes are NIFTI_XFORM_UNKNOWN, so the file
// claims no orientation. CT in HU keeps the raw values, with scl_slope and
// scl_inter the declared scale and offset, so readers get HU.
//
// cal_min/cal_max are the declared range (in HU for CT, 0..1 for masks,
// 0..the highest class for labels), descrip "SYNTHETIC medzoo <model> seed
// <s> idx <i>" (cut to 79 bytes), and the full Provenance.JSON() is in a
// comment extension (ecode 6). The file is byte-for-byte reproducible,
// gzipped too (no name, zero mtime in the gzip header).
type niftiEncoder struct {
	Gzip bool
}

// NIfTIGzip is the nifti format's encoder writing .nii.gz (zoo generate
// --gzip).
func NIfTIGzip() Encoder { return niftiEncoder{Gzip: true} }

func (e niftiEncoder) Ext() string {
	if e.Gzip {
		return ".nii.gz"
	}
	return ".nii"
}

const (
	niftiHeaderSize  = 348
	niftiUint8       = 2    // NIFTI_TYPE_UINT8
	niftiFloat32     = 16   // NIFTI_TYPE_FLOAT32
	niftiIntentLabel = 1002 // NIFTI_INTENT_LABEL
	niftiIntentVec   = 1007 // NIFTI_INTENT_VECTOR
	niftiXformScan   = 1    // NIFTI_XFORM_SCANNER_ANAT
	niftiUnitsMM     = 2    // NIFTI_UNITS_MM
	niftiEcodeCommnt = 6    // NIFTI_ECODE_COMMENT
	// niftiMaxDim is the largest NIfTI-1 dimension (dim[] is int16).
	niftiMaxDim = math.MaxInt16
)

func (e niftiEncoder) Encode(w io.Writer, img Image, p Provenance) error {
	vol := niftiVolume{Template: img, Slices: 1,
		Descrip: fmt.Sprintf("SYNTHETIC medzoo %s seed %d idx %d", p.Model, p.Seed, p.Index),
		Comment: []byte(p.JSON())}
	head, err := vol.header()
	if err != nil {
		return err
	}
	var gz *gzip.Writer
	if e.Gzip {
		gz = newGzip(w)
		w = gz
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head)
	for c := 0; c < img.Channels; c++ {
		bw.Write(vol.plane(img, c))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if gz != nil {
		return gz.Close()
	}
	return nil
}

// newGzip is a gzip stream whose bytes depend on its content only: the
// header has no name and a zero mtime (Go's gzip.Writer writes 0 for the
// zero time).
func newGzip(w io.Writer) *gzip.Writer {
	return gzip.NewWriter(w)
}

// niftiVolume is a NIfTI-1 file of Slices images like Template along the
// third axis (one for a sample, N for zoo generate --stack).
type niftiVolume struct {
	Template Image // dimensions, kind (mask, label), range and Physical
	Slices   int
	Descrip  string // cut to 79 bytes
	Comment  []byte // the comment extension's content
}

// datatype is the voxel type and its size in bytes: uint8 for masks and
// label maps, float32 for images.
func (v niftiVolume) datatype() (code, size int) {
	if v.Template.Mask || v.Template.Label {
		return niftiUint8, 1
	}
	return niftiFloat32, 4
}

// planeBytes is the size of one channel of one slice.
func (v niftiVolume) planeBytes() int {
	_, size := v.datatype()
	return v.Template.Height * v.Template.Width * size
}

// check refuses images NIfTI-1 cannot hold, naming the fix.
func (v niftiVolume) check() error {
	img := v.Template
	if err := img.check(); err != nil {
		return err
	}
	if img.Width > niftiMaxDim || img.Height > niftiMaxDim || img.Channels > niftiMaxDim || v.Slices > niftiMaxDim || v.Slices < 1 {
		return fmt.Errorf("NIfTI-1 dimensions are at most %d, the output is %dx%dx%d in %d slice(s); use --format npy", niftiMaxDim, img.Channels, img.Height, img.Width, v.Slices)
	}
	if img.Label && !img.Mask && img.Range[1] > 255 {
		return fmt.Errorf("NIfTI label maps are stored as uint8 (classes 0-255), the model declares labels up to %g; use --format npy", img.Range[1])
	}
	return nil
}

// header is the file's bytes before the voxels: header, extension flag
// and the comment extension, vox_offset bytes in all.
func (v niftiVolume) header() ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	img := v.Template
	// Extension: esize (multiple of 16, counting its 8-byte head), ecode,
	// then the content padded with NULs.
	esize := (8 + len(v.Comment) + 15) / 16 * 16
	voxOffset := niftiHeaderSize + 4 + esize
	out := make([]byte, voxOffset)
	h := out[:niftiHeaderSize]
	le := binary.LittleEndian
	out[niftiHeaderSize] = 1 // extension flag: extensions follow
	ext := out[niftiHeaderSize+4:]
	le.PutUint32(ext[0:], uint32(esize))
	le.PutUint32(ext[4:], niftiEcodeCommnt)
	copy(ext[8:], v.Comment)

	i16 := func(off int, v int) { le.PutUint16(h[off:], uint16(int16(v))) }
	f32 := func(off int, v float64) { le.PutUint32(h[off:], math.Float32bits(float32(v))) }

	le.PutUint32(h[0:], niftiHeaderSize) // sizeof_hdr
	h[38] = 'r'                          // regular (ANALYZE legacy, as other writers set it)
	dim := []int{3, img.Width, img.Height, v.Slices, 1, 1, 1, 1}
	pixdim := []float64{1, 1, 1, 1, 0, 0, 0, 0} // pixdim[0] = qfac = 1: the rotations are proper
	if img.Channels > 1 {
		dim = []int{5, img.Width, img.Height, v.Slices, 1, img.Channels, 1, 1}
		pixdim[4], pixdim[5] = 1, 1 // a step of one along t and along the vector
		i16(68, niftiIntentVec)     // intent_code
	} else if img.Mask || img.Label {
		i16(68, niftiIntentLabel)
	}
	for k, d := range dim {
		i16(40+2*k, d)
	}
	code, size := v.datatype()
	i16(70, code)   // datatype
	i16(72, 8*size) // bitpix

	phys := img.Physical
	row, col, spaced := phys.Spacing()
	if spaced {
		slice := row
		if len(phys.SpacingMM) > 2 {
			slice = phys.SpacingMM[2]
		}
		pixdim[1], pixdim[2], pixdim[3] = col, row, slice
		h[123] = niftiUnitsMM // xyzt_units; unknown (0) when no spacing is declared
	}
	for k, p := range pixdim {
		f32(76+4*k, p)
	}
	f32(108, float64(voxOffset))

	slope, inter := 1.0, 0.0
	lo, hi := img.Range[0], img.Range[1]
	switch {
	case img.Mask:
		lo, hi = 0, 1
	case img.Label:
		lo, hi = 0, math.Min(255, math.Max(0, math.Round(img.Range[1])))
	case phys.Units == UnitsHU:
		slope, inter = phys.Scale, phys.Offset
		lo, hi = phys.HURange(img.Range)
	}
	f32(112, slope) // scl_slope
	f32(116, inter) // scl_inter
	f32(124, hi)    // cal_max
	f32(128, lo)    // cal_min
	copy(h[148:148+79], asciiOnly(v.Descrip))

	if rot, ok := niftiRotation(phys.Plane); ok {
		i16(252, niftiXformScan) // qform_code
		i16(254, niftiXformScan) // sform_code
		_, b, c, d := quaternion(rot)
		f32(256, b) // quatern_b, c, d; qoffset 0: voxel (0, 0, 0) at the origin
		f32(260, c)
		f32(264, d)
		// sform: the rotation's columns scaled by the voxel size.
		for r := 0; r < 3; r++ {
			for k := 0; k < 3; k++ {
				f32(280+16*r+4*k, rot[r][k]*pixdim[k+1])
			}
		}
	}
	copy(h[344:], "n+1\x00")
	return out, nil
}

// plane is channel c of img as voxels: rows bottom-up, x fastest, in the
// volume's datatype.
func (v niftiVolume) plane(img Image, c int) []byte {
	code, size := v.datatype()
	out := make([]byte, img.Height*img.Width*size)
	mid := (img.Range[0] + img.Range[1]) / 2
	n := img.Height * img.Width
	o := 0
	for j := 0; j < img.Height; j++ {
		row := img.Data[c*n+(img.Height-1-j)*img.Width:][:img.Width]
		for _, x := range row {
			switch {
			case code == niftiFloat32:
				binary.LittleEndian.PutUint32(out[o:], math.Float32bits(x))
			case img.Mask:
				if float64(x) >= mid {
					out[o] = 1
				}
			default: // a label map: the class index
				out[o] = byte(math.Min(255, math.Max(0, math.Round(float64(x)))))
			}
			o += size
		}
	}
	return out
}

// niftiRotation is the rotation from voxel axes (i: column, j: row
// counted up from the bottom, k: slice) to RAS+ world axes for a plane in
// zoo's convention (Physical.Plane): the image's columns run towards +x (R)
// in axial and coronal slices and +y (A) in sagittal ones, its rows up
// towards +y (A) in axial and +z (S) in coronal and sagittal slices. The
// slice axis k completes each to a proper rotation (determinant 1, so
// qfac 1): +z, -y and +x. ok is false for an unknown plane.
func niftiRotation(plane string) (r [3][3]float64, ok bool) {
	switch plane {
	case "axial": // i -> +x, j -> +y, k -> +z
		return [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, true
	case "coronal": // i -> +x, j -> +z, k -> -y
		return [3][3]float64{{1, 0, 0}, {0, 0, -1}, {0, 1, 0}}, true
	case "sagittal": // i -> +y, j -> +z, k -> +x
		return [3][3]float64{{0, 0, 1}, {1, 0, 0}, {0, 1, 0}}, true
	}
	return r, false
}

// quaternion is the unit quaternion (a, b, c, d), a >= 0, of the proper
// rotation r, computed as nifti1_io's nifti_mat44_to_quatern does: from the
// largest of the four diagonal combinations, so that no division is by a
// number near zero.
func quaternion(r [3][3]float64) (a, b, c, d float64) {
	xd := 1 + r[0][0] + r[1][1] + r[2][2]
	if xd > 0.5 {
		a = 0.5 * math.Sqrt(xd)
		b = 0.25 * (r[2][1] - r[1][2]) / a
		c = 0.25 * (r[0][2] - r[2][0]) / a
		d = 0.25 * (r[1][0] - r[0][1]) / a
	} else {
		xd = 1 + r[0][0] - (r[1][1] + r[2][2])
		if xd > 1 {
			b = 0.5 * math.Sqrt(xd)
			c = 0.25 * (r[0][1] + r[1][0]) / b
			d = 0.25 * (r[0][2] + r[2][0]) / b
			a = 0.25 * (r[2][1] - r[1][2]) / b
		} else {
			xd = 1 + r[1][1] - (r[0][0] + r[2][2])
			if xd > 1 {
				c = 0.5 * math.Sqrt(xd)
				b = 0.25 * (r[0][1] + r[1][0]) / c
				d = 0.25 * (r[1][2] + r[2][1]) / c
				a = 0.25 * (r[0][2] - r[2][0]) / c
			} else {
				d = 0.5 * math.Sqrt(1+r[2][2]-(r[0][0]+r[1][1]))
				b = 0.25 * (r[0][2] + r[2][0]) / d
				c = 0.25 * (r[1][2] + r[2][1]) / d
				a = 0.25 * (r[1][0] - r[0][1]) / d
			}
		}
		if a < 0 {
			a, b, c, d = -a, -b, -c, -d
		}
	}
	return a, b, c, d
}

// asciiOnly replaces bytes outside printable ASCII, for the header's
// fixed-size text fields.
func asciiOnly(s string) []byte {
	out := []byte(s)
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			out[i] = '?'
		}
	}
	return out
}
