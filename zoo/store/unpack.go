package store

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// unpackOptions configures unpackZip.
type unpackOptions struct {
	label    string // names the archive in messages (its catalog URL)
	maxBytes int64  // 0: DefaultMaxUnpackedBytes
	maxFiles int    // 0: DefaultMaxUnpackedFiles
	progress *fetchProgress
}

// unpackZip extracts the zip file archive into dst, an existing empty
// directory that the caller renames into place afterwards. It unpacks
// archives itself rather than through go-getter so that every entry is
// checked before anything is written:
//
//   - names must be relative and free of ".." components (no writing
//     outside dst), and a backslash counts as a separator for this check;
//   - only regular files and directories are allowed: a symbolic link could
//     point a later entry, or the loader, outside the cache;
//   - the number of entries and the sum of their declared sizes are capped,
//     which stops zip bombs before any byte is inflated;
//   - declared sizes are not trusted: bytes are counted while copying, and an
//     entry that inflates past its header's size is refused;
//   - no two entries may share stored bytes: an archive whose central
//     directory points several entries into one compressed block (David
//     Fifield's overlapping "better zip bomb", where 160 KB inflates to
//     gigabytes while every header tells the truth) is refused before
//     anything is inflated;
//   - names are at most maxEntryName bytes and maxEntryDepth components,
//     so a deep chain of directories is refused with a message instead of
//     failing half-way with "file name too long".
//
// Files are written 0644 and directories 0755 whatever the archive says.
// An error names the archive and the offending entry and wraps
// ErrUnsafeArchive when a check refused it.
func unpackZip(ctx context.Context, archive, dst string, o unpackOptions) error {
	if o.maxBytes <= 0 {
		o.maxBytes = DefaultMaxUnpackedBytes
	}
	if o.maxFiles <= 0 {
		o.maxFiles = DefaultMaxUnpackedFiles
	}
	zr, err := zip.OpenReader(archive)
	// ErrInsecurePath (GODEBUG zipinsecurepath=0) comes with a usable
	// reader; the checks below say which entry is wrong and why.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("archive %s is not a readable zip file: %w", o.label, err)
	}
	defer zr.Close()

	if len(zr.File) > o.maxFiles {
		return unsafeArchive("archive %s has %d entries, more than the limit of %d", o.label, len(zr.File), o.maxFiles)
	}

	type item struct {
		f   *zip.File
		rel string
		dir bool
	}
	items := make([]item, 0, len(zr.File))
	seen := make(map[string]bool, len(zr.File))
	var declared uint64
	for _, f := range zr.File {
		rel, dir, why := entryPath(f)
		if why != "" {
			return unsafeArchive("archive %s: entry %q %s; refusing to unpack it", o.label, shortName(f.Name), why)
		}
		if rel == "" {
			continue // the archive's root directory
		}
		if !dir {
			if seen[rel] {
				return unsafeArchive("archive %s: entry %q appears more than once; refusing to unpack it", o.label, f.Name)
			}
			seen[rel] = true
			declared += f.UncompressedSize64
			if declared > uint64(o.maxBytes) || declared < f.UncompressedSize64 {
				return unsafeArchive("archive %s would unpack to more than the limit of %d bytes (entry %q alone declares %d); "+
					"refusing to unpack it, as it looks like a decompression bomb", o.label, o.maxBytes, f.Name, f.UncompressedSize64)
			}
		}
		items = append(items, item{f, rel, dir})
	}
	if err := checkNoOverlap(zr.File, o.label); err != nil {
		return err
	}
	if o.progress != nil {
		o.progress.total = int64(declared)
		o.progress.report(0)
	}

	var written int64
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unpacking %s: %w", o.label, err)
		}
		target := filepath.Join(dst, filepath.FromSlash(it.rel))
		if it.dir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("archive %s: entry %q: %w", o.label, it.f.Name, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("archive %s: entry %q: %w", o.label, it.f.Name, err)
		}
		n, err := extractEntry(ctx, it.f, target, o.maxBytes-written, o)
		written += n
		if err != nil {
			return err
		}
		o.progress.report(written)
	}
	o.progress.done(written)
	return nil
}

// entryPath validates a zip entry's name and type. It returns the cleaned
// slash-separated path ("" for the root), whether it is a directory, and
// why it is refused ("" if it is not).
func entryPath(f *zip.File) (rel string, dir bool, why string) {
	name := f.Name
	if name == "" {
		return "", false, "has an empty name"
	}
	if strings.ContainsRune(name, 0) {
		return "", false, "has a NUL byte in its name"
	}
	if len(name) > maxEntryName {
		return "", false, fmt.Sprintf("has a name of %d bytes, more than the limit of %d", len(name), maxEntryName)
	}
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) >= 2 && n[1] == ':' && isASCIILetter(n[0])) {
		return "", false, "is an absolute path"
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", false, "has a \"..\" component, so it would land outside the unpack directory"
		}
	}
	mode := f.Mode()
	dir = strings.HasSuffix(n, "/") || mode.IsDir()
	switch {
	case mode&fs.ModeSymlink != 0:
		return "", false, "is a symbolic link (zoo unpacks only regular files and directories)"
	case dir:
	case !mode.IsRegular():
		return "", false, fmt.Sprintf("is not a regular file (mode %s; zoo unpacks only regular files and directories)", mode)
	}
	rel = path.Clean(n)
	if rel == "." {
		rel = ""
	}
	if depth := strings.Count(rel, "/") + 1; depth > maxEntryDepth {
		return "", false, fmt.Sprintf("is nested %d directories deep, more than the limit of %d", depth, maxEntryDepth)
	}
	return rel, dir, ""
}

// Limits on entry names. Real packages nest a handful of directories with
// short names; Linux refuses paths over 4096 bytes anyway, so these only
// turn that late failure into an early, clear one.
const (
	maxEntryName  = 1024
	maxEntryDepth = 32
	// localHeaderLen is the fixed part of a zip local file header, which
	// precedes every entry's stored bytes.
	localHeaderLen = 30
)

// shortName keeps an entry name readable in a message.
func shortName(name string) string {
	const keep = 100
	if len(name) <= keep {
		return name
	}
	return fmt.Sprintf("%s… (%d bytes)", name[:keep], len(name))
}

// checkNoOverlap refuses an archive in which two entries' stored bytes
// overlap, or one entry's bytes run into the local header of the next.
// In a zip written by any archiver each entry is a local header followed
// by its data, one after another, so sorting the entries by where their
// data starts must give disjoint ranges at least a header apart. Overlap
// is how "better" zip bombs reuse one highly compressed block for many
// entries; no honest archive has it.
func checkNoOverlap(files []*zip.File, label string) error {
	type span struct {
		start, end int64
		name       string
	}
	spans := make([]span, 0, len(files))
	for _, f := range files {
		start, err := f.DataOffset()
		if err != nil {
			return unsafeArchive("archive %s: entry %q has no valid local header (%v); refusing to unpack it", label, shortName(f.Name), err)
		}
		if f.CompressedSize64 > uint64(math.MaxInt64-start) {
			return unsafeArchive("archive %s: entry %q declares an impossible compressed size %d; refusing to unpack it",
				label, shortName(f.Name), f.CompressedSize64)
		}
		spans = append(spans, span{start, start + int64(f.CompressedSize64), f.Name})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		prev, cur := spans[i-1], spans[i]
		if cur.start < prev.end+localHeaderLen {
			return unsafeArchive("archive %s: entries %q and %q overlap (they share stored bytes, the trick of overlapping zip bombs "+
				"that inflate one compressed block many times); refusing to unpack it", label, shortName(prev.name), shortName(cur.name))
		}
	}
	return nil
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// extractEntry copies one file entry to target (which must not exist),
// counting the bytes: it stops at whichever is smaller of the entry's
// declared size and the remaining budget, plus one byte to detect excess.
func extractEntry(ctx context.Context, f *zip.File, target string, budget int64, o unpackOptions) (int64, error) {
	limit := int64(math.MaxInt64 - 1)
	if f.UncompressedSize64 < uint64(limit) {
		limit = int64(f.UncompressedSize64)
	}
	limit = min(limit, budget)
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("archive %s: entry %q: %w", o.label, f.Name, err)
	}
	defer rc.Close()
	// O_EXCL (which also refuses to follow a link at target) keeps the
	// write inside the fresh unpack directory.
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("archive %s: entry %q: %w", o.label, f.Name, err)
	}
	n, err := io.Copy(out, io.LimitReader(&ctxProgressReader{ctx: ctx, r: rc}, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case n > limit && limit == budget && budget < int64(f.UncompressedSize64):
		return n, unsafeArchive("archive %s: entry %q takes the unpacked size past the limit of %d bytes; refusing to unpack it",
			o.label, f.Name, o.maxBytes)
	case n > limit, errors.Is(err, zip.ErrFormat):
		// archive/zip also stops an entry that outgrows its header
		// (ErrFormat); either way it lied about its size.
		return n, unsafeArchive("archive %s: entry %q holds more data than its header declares (%d bytes) or is damaged; "+
			"refusing to unpack it", o.label, f.Name, f.UncompressedSize64)
	case errors.Is(err, zip.ErrChecksum):
		return n, fmt.Errorf("archive %s: entry %q is damaged (CRC mismatch)", o.label, f.Name)
	case err != nil:
		return n, fmt.Errorf("archive %s: entry %q: %w", o.label, f.Name, err)
	case n < int64(f.UncompressedSize64):
		return n, fmt.Errorf("archive %s: entry %q is truncated: %d of %d bytes", o.label, f.Name, n, f.UncompressedSize64)
	}
	return n, nil
}

func unsafeArchive(format string, args ...any) error {
	return &storeError{kind: ErrUnsafeArchive, msg: fmt.Sprintf(format, args...)}
}

// UnpackZip extracts archive into dst (an existing empty directory) with
// every check of the store's unpacking: no absolute or ".." paths, no
// symbolic links or special files, and limits on entries and bytes. label
// names the archive in messages.
func UnpackZip(ctx context.Context, archive, dst, label string) error {
	return unpackZip(ctx, archive, dst, unpackOptions{label: label})
}
