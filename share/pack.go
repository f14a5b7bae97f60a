package share

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strings"

	"medzoo/internal/files"
)

// The zip's fixed fields. The same directory must give the same archive
// bytes on every machine, every run, whoever packs it, so that its sha256
// can go into a catalog before anyone else has seen the file:
//
//   - every file is Stored, not deflated: a compressor's output may change
//     between library versions, stored bytes cannot (and model.pt, itself a
//     zip of stored tensors, barely compresses anyway);
//   - sizes and CRC go in the local header (no data descriptor), computed
//     in a first pass over the file;
//   - times are the zip epoch, 1980-01-01 00:00, and modes 0644, whatever
//     the files' own; no extra fields (no extended timestamps, no uid/gid),
//     no comment;
//   - entries come in a fixed order: MANIFEST.sha256, then the files
//     sorted by name.
const (
	zipEpochDate = 1<<5 | 1 // MS-DOS date: year 1980 + 0, month 1, day 1
	zipEpochTime = 0
	zipVersion   = 20 // "2.0": what Store and directories need
	fileMode     = 0o644
)

// Pack opens the model directory dir (Open, with all its checks) and
// writes its archive to w. It returns the archive's entries, the manifest
// first.
func Pack(dir string, w io.Writer) ([]File, error) {
	m, err := Open(dir)
	if err != nil {
		return nil, err
	}
	return m.Pack(w)
}

// Manifest is MANIFEST.sha256: one "<sha256>  <name>" line per file, in
// name order, as sha256sum writes it, so that `sha256sum -c MANIFEST.sha256`
// in the unpacked directory checks every file.
func (m *Model) Manifest() []byte {
	var b strings.Builder
	for _, f := range m.Files {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Name)
	}
	return []byte(b.String())
}

// Pack writes m's archive to w: the manifest, then every file. Each file is
// read again and must have the bytes Open hashed: one changed meanwhile is
// an error (pack again), never an archive whose manifest lies.
func (m *Model) Pack(w io.Writer) ([]File, error) {
	manifest := m.Manifest()
	sum := sha256.Sum256(manifest)
	entries := append([]File{{Name: ManifestFile, Size: int64(len(manifest)), SHA256: hex.EncodeToString(sum[:]),
		crc32: crc32.ChecksumIEEE(manifest)}}, m.Files...)
	zw := zip.NewWriter(w)
	for i, f := range entries {
		out, err := zw.CreateRaw(header(f))
		if err != nil {
			return nil, err
		}
		if i == 0 {
			_, err = out.Write(manifest)
		} else {
			err = m.copyFile(out, f)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return entries, nil
}

// Archive is what PackSummed wrote: the archive's entries (the manifest
// first), and its sha256 and size, which a catalog entry of it names.
type Archive struct {
	Entries []File
	SHA256  string
	Size    int64
}

// PackSummed is Pack, with the archive's sha256 and size taken as it is
// written (zoo pack prints them, zoo publish uploads them).
func (m *Model) PackSummed(w io.Writer) (Archive, error) {
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(w, h)}
	entries, err := m.Pack(cw)
	if err != nil {
		return Archive{}, err
	}
	return Archive{Entries: entries, SHA256: hex.EncodeToString(h.Sum(nil)), Size: cw.n}, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// header is f's zip header, with every field fixed but name, size and CRC.
func header(f File) *zip.FileHeader {
	fh := &zip.FileHeader{
		Name:               f.Name,
		Method:             zip.Store,
		ModifiedDate:       zipEpochDate,
		ModifiedTime:       zipEpochTime,
		CRC32:              f.crc32,
		CompressedSize64:   uint64(f.Size),
		UncompressedSize64: uint64(f.Size),
		ReaderVersion:      zipVersion,
	}
	fh.SetMode(fileMode) // Unix mode bits in the external attributes
	fh.CreatorVersion |= zipVersion
	for _, r := range f.Name {
		if r >= 0x80 {
			fh.Flags |= 0x800 // the name is UTF-8
			break
		}
	}
	return fh
}

// copyFile copies f from m's directory to w, checking that its bytes are
// still those Open hashed.
func (m *Model) copyFile(w io.Writer, f File) error {
	path := filepath.Join(m.Dir, filepath.FromSlash(f.Name))
	in, err := files.OpenNoFollow(path)
	if err != nil {
		return err
	}
	defer in.Close()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), io.LimitReader(in, f.Size+1))
	if err != nil {
		return fmt.Errorf("packing %s: %w", path, err)
	}
	if n != f.Size || hex.EncodeToString(sum.Sum(nil)) != f.SHA256 {
		return fmt.Errorf("%s changed while zoo packed it: pack again once nothing writes to the model directory", path)
	}
	return nil
}
