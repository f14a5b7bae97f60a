package output

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
)

// npyEncoder writes NumPy .npy v1.0 files: little-endian float32 of shape
// (C, H, W), the model's raw values (no quantisation). NPY has no metadata
// field, so provenance lives in the run manifest.
type npyEncoder struct{}

func (npyEncoder) Ext() string { return ".npy" }

func (npyEncoder) Encode(w io.Writer, img Image, _ Provenance) error {
	if err := img.check(); err != nil {
		return err
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }", img.Channels, img.Height, img.Width)
	// Magic (6) + version (2) + header length (2) + header + '\n' must be a
	// multiple of 64 bytes.
	pad := 64 - (10+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("\x93NUMPY\x01\x00")
	var hl [2]byte
	binary.LittleEndian.PutUint16(hl[:], uint16(len(header)))
	bw.Write(hl[:])
	bw.WriteString(header)
	var b [4]byte
	for _, v := range img.Data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}
