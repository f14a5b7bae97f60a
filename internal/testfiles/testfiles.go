// Package testfiles makes the small image files that tests feed to zoo's
// readers, hostile ones in particular: headers that declare sizes the file
// does not hold, and DICOM files with one element changed. Tests of
// imagein, features and the end-to-end corpus share them, so a lying
// header is written one way everywhere. It also reads back the provenance
// of the PNG files zoo writes, for the tests of what writes them.
package testfiles

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"testing"

	"medzoo/output"
)

// PNGHeader is a PNG signature, an IHDR declaring w×h 8-bit gray pixels,
// and IEND: 57 bytes that hold no pixels.
func PNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		body := append([]byte(typ), data...)
		b.Write(body)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(body))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit gray
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b.Bytes()
}

// JPEGHeader is a real 8×8 JPEG whose SOF0 frame header is patched to
// declare w×h.
func JPEGHeader(t testing.TB, w, h uint16) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	i := bytes.Index(data, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 in the encoded JPEG")
	}
	binary.BigEndian.PutUint16(data[i+5:], h)
	binary.BigEndian.PutUint16(data[i+7:], w)
	return data
}

// NPY is a version 1 NPY file of little-endian float32 whose header
// declares shape (as Python writes a tuple's inside: "2, 3" or "4,"),
// followed by data as it is: a test chooses whether it matches.
func NPY(shape string, data []byte) []byte {
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

// SetDS replaces the value of a decimal-string element (explicit VR little
// endian, outside any sequence, so no enclosing length changes) with v,
// padded to an even length.
func SetDS(t testing.TB, data []byte, group, elem uint16, v string) []byte {
	t.Helper()
	key := []byte{byte(group), byte(group >> 8), byte(elem), byte(elem >> 8), 'D', 'S'}
	i := bytes.Index(data, key)
	if i < 0 {
		t.Fatalf("no (%04x,%04x) DS element in the DICOM file", group, elem)
	}
	n := int(binary.LittleEndian.Uint16(data[i+6:]))
	if len(v)%2 == 1 {
		v += " "
	}
	out := append([]byte(nil), data[:i+6]...)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(v)))
	out = append(out, v...)
	return append(out, data[i+8+n:]...)
}

// SetUS sets an unsigned-short element (Rows, Columns) in place.
func SetUS(t testing.TB, data []byte, group, elem, v uint16) []byte {
	t.Helper()
	key := []byte{byte(group), byte(group >> 8), byte(elem), byte(elem >> 8), 'U', 'S', 2, 0}
	i := bytes.Index(data, key)
	if i < 0 {
		t.Fatalf("no (%04x,%04x) US element in the DICOM file", group, elem)
	}
	binary.LittleEndian.PutUint16(data[i+8:], v)
	return data
}

// PNGProvenance is the provenance a PNG file zoo wrote carries in its
// medzoo.provenance text chunk.
func PNGProvenance(t testing.TB, data []byte) output.Provenance {
	t.Helper()
	text, err := output.ReadText(data)
	if err != nil {
		t.Fatal(err)
	}
	var p output.Provenance
	if err := json.Unmarshal([]byte(text["medzoo.provenance"]), &p); err != nil {
		t.Fatalf("provenance chunk %q: %v", text["medzoo.provenance"], err)
	}
	return p
}
