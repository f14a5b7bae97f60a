package output

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// niftiEncoder writes single-file NIfTI-1 (.nii) images: a 348-byte header,
// the 4-byte extension flag, one extension, then the voxels at vox_offset.
//
// Voxels are little-endian float32, the model's raw values (no quantisation),
// x (column) fastest. A 1-channel image is a 3-D volume of one slice,
// dim = [3, W, H, 1]; C > 1 channels (any C, RGB included) are a 5-D vector
// image, dim = [5, W, H, 1, 1, C], intent NIFTI_INTENT_VECTOR, which keeps
// the float values (RGB24 would quantise to 8 bits, and nibabel's get_fdata
// cannot read it).
//
// Orientation: rows are stored bottom-up, voxel (i, j) = image row H-1-j,
// column i, so that with the identity affine written (1 mm voxels, qform and
// sform code 1, i -> +x, j -> +y) viewers show the image the way the PNG
// shows it, top row at the top. In nibabel: png == a[:, ::-1, 0].T for gray
// (a = img.get_fdata()), and channel c is a[:, ::-1, 0, 0, c].T.
//
// Header: pixdim 1 mm (xyzt_units mm), scl_slope 1 and scl_inter 0 (values
// are stored as they are), cal_min/cal_max the model's declared range,
// descrip "SYNTHETIC medzoo <model> seed <s> idx <i>" (cut to 79 bytes), and
// the full Provenance.JSON() in a comment extension (ecode 6).
// The file is byte-for-byte reproducible.
type niftiEncoder struct{}

func (niftiEncoder) Ext() string { return ".nii" }

const (
	niftiHeaderSize  = 348
	niftiFloat32     = 16   // NIFTI_TYPE_FLOAT32
	niftiIntentVec   = 1007 // NIFTI_INTENT_VECTOR
	niftiXformScan   = 1    // NIFTI_XFORM_SCANNER_ANAT
	niftiUnitsMM     = 2    // NIFTI_UNITS_MM
	niftiEcodeCommnt = 6    // NIFTI_ECODE_COMMENT
)

func (niftiEncoder) Encode(w io.Writer, img Image, p Provenance) error {
	if err := img.check(); err != nil {
		return err
	}
	if img.Width > math.MaxInt16 || img.Height > math.MaxInt16 || img.Channels > math.MaxInt16 {
		return fmt.Errorf("NIfTI-1 dimensions are at most 32767, the output is %dx%dx%d; use --format npy", img.Channels, img.Height, img.Width)
	}

	// Extension: esize (multiple of 16, counting its 8-byte head), ecode,
	// then the JSON padded with NULs.
	content := []byte(p.JSON())
	esize := (8 + len(content) + 15) / 16 * 16
	ext := make([]byte, esize)
	binary.LittleEndian.PutUint32(ext[0:], uint32(esize))
	binary.LittleEndian.PutUint32(ext[4:], niftiEcodeCommnt)
	copy(ext[8:], content)
	voxOffset := niftiHeaderSize + 4 + esize

	h := make([]byte, niftiHeaderSize)
	le := binary.LittleEndian
	i16 := func(off int, v int) { le.PutUint16(h[off:], uint16(int16(v))) }
	f32 := func(off int, v float64) { le.PutUint32(h[off:], math.Float32bits(float32(v))) }

	le.PutUint32(h[0:], niftiHeaderSize) // sizeof_hdr
	h[38] = 'r'                          // regular (ANALYZE legacy, as other writers set it)
	dim := []int{3, img.Width, img.Height, 1, 1, 1, 1, 1}
	if img.Channels > 1 {
		dim = []int{5, img.Width, img.Height, 1, 1, img.Channels, 1, 1}
		i16(68, niftiIntentVec) // intent_code
	}
	for k, d := range dim {
		i16(40+2*k, d)
	}
	i16(70, niftiFloat32)                       // datatype
	i16(72, 32)                                 // bitpix
	pixdim := []float64{1, 1, 1, 1, 0, 0, 0, 0} // pixdim[0] = qfac = 1
	for k, v := range pixdim {
		f32(76+4*k, v)
	}
	f32(108, float64(voxOffset))
	f32(112, 1) // scl_slope
	f32(116, 0) // scl_inter
	h[123] = niftiUnitsMM
	f32(124, img.Range[1]) // cal_max
	f32(128, img.Range[0]) // cal_min
	copy(h[148:148+79], asciiOnly(fmt.Sprintf("SYNTHETIC medzoo %s seed %d idx %d", p.Model, p.Seed, p.Index)))
	// qform: identity rotation (quatern b = c = d = 0), zero offset;
	// sform: the same identity.
	i16(252, niftiXformScan) // qform_code
	i16(254, niftiXformScan) // sform_code
	f32(280, 1)              // srow_x = [1 0 0 0]
	f32(296+4, 1)            // srow_y = [0 1 0 0]
	f32(312+8, 1)            // srow_z = [0 0 1 0]
	copy(h[344:], "n+1\x00")

	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(h)
	bw.Write([]byte{1, 0, 0, 0}) // extension flag: extensions follow
	bw.Write(ext)
	plane := img.Height * img.Width
	var b [4]byte
	for c := 0; c < img.Channels; c++ {
		for j := 0; j < img.Height; j++ {
			row := img.Data[c*plane+(img.Height-1-j)*img.Width:][:img.Width]
			for _, v := range row {
				le.PutUint32(b[:], math.Float32bits(v))
				bw.Write(b[:])
			}
		}
	}
	return bw.Flush()
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
