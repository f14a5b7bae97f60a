package store

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type testZipEntry struct {
	name    string
	body    []byte
	dir     bool
	mode    fs.FileMode // extra mode bits (symlink, device…)
	declare int64       // >0: write raw with this declared uncompressed size
}

func zipBytes(t *testing.T, ents []testZipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		if e.declare > 0 {
			// A header that lies: deflated body, small declared size.
			var comp bytes.Buffer
			fw, _ := flate.NewWriter(&comp, flate.BestCompression)
			fw.Write(e.body)
			fw.Close()
			w, err := zw.CreateRaw(&zip.FileHeader{
				Name: e.name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(e.body),
				CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(e.declare),
			})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(comp.Bytes())
			continue
		}
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch {
		case e.dir:
			h.SetMode(fs.ModeDir | 0o755)
		case e.mode != 0:
			h.SetMode(e.mode)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if !e.dir {
			w.Write(e.body)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipModel writes the archive to a file and returns a model pointing at it
// (a plain path: unpacking does not care how the archive arrived).
func zipFileModel(t *testing.T, data []byte, path string) *Artifact {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pkg.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := pinnedModel("00020_ZIP", p, data)
	m.Path = path
	if path == "" {
		// A package archive (medigan's zips): unpacked whole. A TorchScript
		// artifact without a Path is used as it is, zip bytes and all.
		m.Format = "python-package"
	}
	return m
}

// wantArchiveRefused fails the test unless err is ErrUnsafeArchive and the
// refused archive left nothing in the store's unpacked/ or tmp/.
func wantArchiveRefused(t *testing.T, s *Store, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnsafeArchive) {
		t.Errorf("error %v is not ErrUnsafeArchive", err)
	}
	if u := listDir(t, s.Dir, "unpacked"); len(u) != 0 {
		t.Errorf("unpacked/ = %v", u)
	}
	if tmp := listDir(t, s.Dir, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ = %v", tmp)
	}
}

func TestUnpackGoodZip(t *testing.T) {
	data := zipBytes(t, []testZipEntry{
		{name: "pkg/", dir: true},
		{name: "pkg/sub/model.pt", body: []byte("weights")},
		{name: "pkg/config.json", body: []byte("{}")},
		{name: "./top.txt", body: []byte("top")},
	})
	s := newTestStore(t)
	m := zipFileModel(t, data, "pkg/sub/model.pt")
	p, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Dir, "unpacked", "sha256-"+hexSHA256(data))
	if p != filepath.Join(dir, "pkg", "sub", "model.pt") || string(mustReadFile(t, p)) != "weights" {
		t.Errorf("got %s", p)
	}
	if string(mustReadFile(t, filepath.Join(dir, "top.txt"))) != "top" {
		t.Error("top.txt missing")
	}
	if tmp := listDir(t, s.Dir, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ = %v", tmp)
	}

	// A Path that is not in the archive: the error lists what is there.
	m.Path = "pkg/model.pt"
	_, err = s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "00020_ZIP", `"pkg/model.pt"`, "pkg/sub/model.pt", "pkg/config.json")
	m.Path = "../outside"
	_, err = s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, "inside the archive")
}

func TestUnpackDetectsZipByMagic(t *testing.T) {
	data := zipBytes(t, []testZipEntry{{name: "model.pt", body: []byte("w")}})
	p := filepath.Join(t.TempDir(), "download") // no .zip in the name
	os.WriteFile(p, data, 0o644)
	m := pinnedModel("00021", p, data)
	m.Path = "model.pt"
	s := newTestStore(t)
	got, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	if string(mustReadFile(t, got)) != "w" || !strings.Contains(got, "unpacked") {
		t.Errorf("got %s", got)
	}
	if c, ok := s.Cached(*m); !ok || c != got {
		t.Errorf("Cached = %q, %v", c, ok)
	}
}

func TestUnpackRefusesUnsafeArchives(t *testing.T) {
	zeros := make([]byte, 4<<20) // 4 MiB, deflates to a few KiB
	many := make([]testZipEntry, 20)
	for i := range many {
		many[i] = testZipEntry{name: fmt.Sprintf("f%02d.txt", i), body: []byte("x")}
	}
	for _, tc := range []struct {
		name     string
		ents     []testZipEntry
		maxBytes int64
		maxFiles int
		entry    string // must be named in the error
		reason   string
	}{
		{name: "dotdot", ents: []testZipEntry{{name: "ok.txt", body: []byte("ok")}, {name: "../evil", body: []byte("x")}},
			entry: `"../evil"`, reason: ".."},
		{name: "nested dotdot", ents: []testZipEntry{{name: "a/../../evil", body: []byte("x")}}, entry: "a/../../evil", reason: ".."},
		{name: "backslash dotdot", ents: []testZipEntry{{name: `..\evil`, body: []byte("x")}}, entry: `evil`, reason: ".."},
		{name: "absolute", ents: []testZipEntry{{name: "/tmp/evil", body: []byte("x")}}, entry: `"/tmp/evil"`, reason: "absolute"},
		{name: "drive", ents: []testZipEntry{{name: "C:/evil", body: []byte("x")}}, entry: "C:/evil", reason: "absolute"},
		{name: "symlink", ents: []testZipEntry{{name: "link", body: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}},
			entry: `"link"`, reason: "symbolic link"},
		{name: "fifo", ents: []testZipEntry{{name: "pipe", mode: fs.ModeNamedPipe | 0o644}}, entry: `"pipe"`, reason: "not a regular file"},
		{name: "bomb", ents: []testZipEntry{{name: "bomb.bin", body: zeros}}, maxBytes: 1 << 20,
			entry: `"bomb.bin"`, reason: "decompression bomb"},
		{name: "lying header", ents: []testZipEntry{{name: "liar.bin", body: zeros, declare: 100}},
			entry: `"liar.bin"`, reason: "more data than its header declares"},
		{name: "too many files", ents: many, maxFiles: 10, entry: "20 entries", reason: "limit of 10"},
		{name: "duplicate", ents: []testZipEntry{{name: "a.pt", body: []byte("1")}, {name: "./a.pt", body: []byte("2")}},
			entry: `"./a.pt"`, reason: "more than once"},
		{name: "deep chain", ents: []testZipEntry{{name: strings.Repeat("d/", 40) + "f.txt", body: []byte("x")}},
			entry: "d/d/d/", reason: "nested 41 directories deep, more than the limit of 32"},
		{name: "long name", ents: []testZipEntry{{name: strings.Repeat("n", 5000), body: []byte("x")}},
			entry: "(5000 bytes)", reason: "name of 5000 bytes, more than the limit of 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := zipBytes(t, tc.ents)
			s := &Store{Dir: t.TempDir(), MaxUnpackedBytes: tc.maxBytes, MaxUnpackedFiles: tc.maxFiles}
			m := zipFileModel(t, data, "")
			_, err := s.Fetch(context.Background(), *m)
			wantErrorMentioning(t, err, m.URL, tc.entry, tc.reason)
			wantArchiveRefused(t, s, err)
			for _, p := range []string{filepath.Join(s.Dir, "evil"), filepath.Join(s.Dir, "tmp", "evil")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
			if _, ok := s.Cached(*m); ok {
				t.Error("Cached reports a refused archive")
			}
		})
	}
}

// The bytes are counted while copying, independently of archive/zip's own
// check, so a lying header is refused even with a generous budget.
func TestUnpackZipCountsBytes(t *testing.T) {
	data := zipBytes(t, []testZipEntry{{name: "liar.bin", body: bytes.Repeat([]byte("a"), 100_000), declare: 10}})
	arch := filepath.Join(t.TempDir(), "a.zip")
	os.WriteFile(arch, data, 0o644)
	dst := t.TempDir()
	err := unpackZip(context.Background(), arch, dst, unpackOptions{label: "a.zip"})
	wantErrorMentioning(t, err, "a.zip", "liar.bin")
	if !errors.Is(err, ErrUnsafeArchive) {
		t.Errorf("error %v is not ErrUnsafeArchive", err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "liar.bin")); err == nil && fi.Size() > 11 {
		t.Errorf("wrote %d bytes of an entry that declares 10", fi.Size())
	}

	err = unpackZip(context.Background(), arch+".none", dst, unpackOptions{label: "none.zip"})
	wantErrorMentioning(t, err, "none.zip", "not a readable zip")
}

// TestTorchScriptZipIsNotUnpacked: TorchScript files are zip archives
// themselves; without a Path they are used as they are.
func TestTorchScriptZipIsNotUnpacked(t *testing.T) {
	data := zipBytes(t, []testZipEntry{{name: "archive/data.pkl", body: []byte("x")}})
	m := zipFileModel(t, data, "")
	m.Format = FormatTorchScript
	st := NewStore(t.TempDir())
	p, err := st.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != string(data) {
		t.Fatalf("Fetch returned %s, not the artifact file itself", p)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, "unpacked")); err == nil {
		if entries, _ := os.ReadDir(filepath.Join(st.Dir, "unpacked")); len(entries) > 0 {
			t.Fatal("a TorchScript artifact was unpacked")
		}
	}
}

// overlappingZip builds the core of an overlapping zip bomb: one deflated
// kernel stored once, and n central directory entries that all point at
// it, so n files inflate from the bytes of one. Every header tells the
// truth about sizes and CRCs; only the overlap gives it away.
func overlappingZip(t *testing.T, kernel []byte, n int) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(kernel)
	fw.Close()
	crc := crc32.ChecksumIEEE(kernel)
	le := binary.LittleEndian
	var out []byte
	header := func(sig uint32, central bool, name string, offset uint32) {
		out = le.AppendUint32(out, sig)
		if central {
			out = le.AppendUint16(out, 20) // version made by
		}
		out = le.AppendUint16(out, 20)                 // version needed
		out = le.AppendUint16(out, 0)                  // flags
		out = le.AppendUint16(out, zip.Deflate)        // method
		out = le.AppendUint32(out, 0)                  // time and date
		out = le.AppendUint32(out, crc)                // crc-32
		out = le.AppendUint32(out, uint32(comp.Len())) // compressed size
		out = le.AppendUint32(out, uint32(len(kernel)))
		out = le.AppendUint16(out, uint16(len(name)))
		out = le.AppendUint16(out, 0) // extra length
		if central {
			out = le.AppendUint16(out, 0) // comment length
			out = le.AppendUint16(out, 0) // disk
			out = le.AppendUint16(out, 0) // internal attributes
			out = le.AppendUint32(out, 0) // external attributes
			out = le.AppendUint32(out, offset)
		}
		out = append(out, name...)
	}
	header(0x04034b50, false, "kernel", 0)
	out = append(out, comp.Bytes()...)
	cdStart := len(out)
	for i := range n {
		header(0x02014b50, true, fmt.Sprintf("f%03d.bin", i), 0)
	}
	cdEnd := len(out)
	out = le.AppendUint32(out, 0x06054b50)
	out = le.AppendUint32(out, 0) // disk numbers
	out = le.AppendUint16(out, uint16(n))
	out = le.AppendUint16(out, uint16(n))
	out = le.AppendUint32(out, uint32(cdEnd-cdStart))
	out = le.AppendUint32(out, uint32(cdStart))
	out = le.AppendUint16(out, 0) // comment length
	return out
}

func TestUnpackRefusesOverlappingEntries(t *testing.T) {
	kernel := make([]byte, 1<<20) // 1 MiB of zeros per entry
	data := overlappingZip(t, kernel, 50)
	if zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err != nil || len(zr.File) != 50 {
		t.Fatalf("the test archive is not a readable zip of 50 entries: %v", err)
	}
	s := newTestStore(t)
	m := zipFileModel(t, data, "")
	_, err := s.Fetch(context.Background(), *m)
	wantErrorMentioning(t, err, m.URL, `"f000.bin"`, `"f001.bin"`, "overlap", "refusing to unpack it")
	wantArchiveRefused(t, s, err)

	// One entry of the same construction is an ordinary archive.
	single := overlappingZip(t, []byte("just one"), 1)
	arch := filepath.Join(t.TempDir(), "one.zip")
	os.WriteFile(arch, single, 0o644)
	if err := unpackZip(context.Background(), arch, t.TempDir(), unpackOptions{label: "one.zip"}); err != nil {
		t.Fatalf("a single entry: %v", err)
	}
}
