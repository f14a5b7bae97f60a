package zoo

import (
	"errors"
	"fmt"
	"io/fs"

	"medzoo/internal/files"
	"medzoo/internal/limits"
)

// Catalog limits. BurntSushi/toml parses recursively and builds a generic
// tree of every value: a 100 KB file of arrays nested 50,000 deep took 4 GB
// before it ran out of memory. So every catalog text is pre-scanned
// (limits.CheckTOML: linear, no allocation per value) before it is parsed,
// and refused with the limit it breaks.
const (
	// MaxCatalogBytes bounds a catalog file: 100,000 entries are ~400 MiB.
	MaxCatalogBytes = 1 << 30
	// MaxTOMLDepth, MaxTOMLArray and MaxTOMLValues: see package limits.
	// Large catalogs are parsed in pieces of a few hundred models
	// (index_parse.go), each far below MaxTOMLValues.
	MaxTOMLDepth  = limits.TOMLDepth
	MaxTOMLArray  = limits.TOMLArray
	MaxTOMLValues = limits.TOMLValues
)

// scanTOMLLimits checks a catalog's text against the size limit and the
// TOML limits of package limits.
func scanTOMLLimits(data []byte) error {
	if len(data) > MaxCatalogBytes {
		return &limits.TOMLError{Msg: fmt.Sprintf("catalog is %d bytes, more than the limit of %d MiB: split it into several files", len(data), MaxCatalogBytes>>20)}
	}
	return limits.CheckTOML(data)
}

// ReadCatalogFile reads a catalog file after checking that it is a regular
// file (a FIFO would block forever) of at most MaxCatalogBytes.
func ReadCatalogFile(path string) ([]byte, error) {
	data, err := files.ReadRegular(path, MaxCatalogBytes)
	var big *files.TooLargeError
	if errors.As(err, &big) {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("catalog is %d bytes, more than the limit of %d MiB: split it into several files", big.Size, MaxCatalogBytes>>20)}
	}
	return data, err
}

// checkTOML runs the pre-scan and turns a broken limit into the catalog's
// ValidationError, with its line.
func checkTOML(data []byte, source string) error {
	err := scanTOMLLimits(data)
	var le *limits.TOMLError
	if errors.As(err, &le) {
		return &ValidationError{[]Problem{{source, le.Line, le.Msg}}}
	}
	return err
}
