package testfiles

import (
	"archive/zip"
	"bytes"
	"io"
	"testing"
)

// ReadZip reads a zip's entries in order and their contents, failing the
// test unless the zip is whole (reading each entry checks its CRC too).
func ReadZip(t testing.TB, data []byte) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a whole zip (%d bytes): %v", len(data), err)
	}
	var names []string
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		names = append(names, f.Name)
		files[f.Name] = b
	}
	return names, files
}

// OnlyFile is the name and contents of a zip that must hold one file.
func OnlyFile(t testing.TB, data []byte) (string, []byte) {
	t.Helper()
	names, files := ReadZip(t, data)
	if len(names) != 1 {
		t.Fatalf("the zip holds %d files (%v); want one", len(names), names)
	}
	return names[0], files[names[0]]
}
