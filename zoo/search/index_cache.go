package search

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"medzoo/internal/envconfig"
	"medzoo/internal/files"
	"medzoo/zoo"
)

// The search index of the merged catalog is cached on disk, so that a
// search does not parse every catalog again: at 10,000 entries parsing
// the TOML alone takes seconds.
//
// One cache file per list of sources (the embedded catalog, config
// files, $ZOO_CATALOG, --catalog): <cache dir>/index/search-<hash>.idx. Its
// header records, for every source, what it was built from: size,
// modification and change times, inode and device of each file, and the
// sha256 of its bytes; the digest of remote catalogs; the zoo executable's
// size and time (a new build may cut words differently); the format.
// Opening the cache stats each source (microseconds) and rebuilds when
// anything differs.
//
// The one case stat cannot see is a file rewritten with the same size
// within the same timestamp tick right after the index read it. As git
// does for its index, a source modified less than racyWindow before the
// build is marked racy: while it is, each open hashes its bytes; once it
// is old enough, the header is rewritten without the mark.

// IndexCacheEnv set to "off" disables the cached index (searches build it
// in memory every time).
const IndexCacheEnv = envconfig.EnvSearchCache

// racyWindow is a var so tests can shorten it.
var racyWindow = 2 * time.Second

const cacheMagic = "ZOOSIXC1"

// IndexOptions configure OpenIndex.
type IndexOptions struct {
	Load zoo.LoadOptions
	// CacheDir holds the cached index (<CacheDir>/index). "": no cache.
	CacheDir string
	// Rebuild ignores a cached index and writes a new one.
	Rebuild bool
}

// IndexStatus says where an index came from, for --verbose and benchmarks.
type IndexStatus struct {
	Cached   bool          // read from the cache file
	Path     string        // the cache file ("" when not cached)
	Reason   string        // why it was (re)built
	Duration time.Duration // time to open or build
}

type fileStampX struct {
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	CtimeNS int64  `json:"ctime_ns,omitempty"`
	Ino     uint64 `json:"ino,omitempty"`
	Dev     uint64 `json:"dev,omitempty"`
}

type sourceStamp struct {
	Name   string      `json:"name"`
	From   string      `json:"from"`
	Path   string      `json:"path,omitempty"`
	URL    string      `json:"url,omitempty"`
	SHA256 string      `json:"sha256,omitempty"` // remote: pinned digest
	Stat   *fileStampX `json:"stat,omitempty"`   // local files
	Digest string      `json:"digest"`           // sha256 of the bytes indexed
	Racy   bool        `json:"racy,omitempty"`
}

type indexHeader struct {
	Format  int           `json:"format"`
	Exe     *fileStampX   `json:"exe,omitempty"`
	BuiltNS int64         `json:"built_ns"`
	Sources []sourceStamp `json:"sources"`
}

// OpenIndex returns the search index of the catalogs opts selects, from the
// cache when it is current, else built (and cached). Close it when done.
func OpenIndex(ctx context.Context, opts IndexOptions) (*Index, IndexStatus, error) {
	start := time.Now()
	srcs, err := zoo.ResolveSources(ctx, opts.Load)
	if err != nil {
		return nil, IndexStatus{}, err
	}
	cacheDir := opts.CacheDir
	useCache, err := envconfig.SearchCache()
	if err != nil {
		return nil, IndexStatus{}, err
	}
	if !useCache {
		cacheDir = ""
	}
	var path string
	reason := "no cache directory"
	if cacheDir != "" {
		path = filepath.Join(cacheDir, "index", "search-"+sourcesKey(srcs)+".idx")
		if opts.Rebuild {
			reason = "rebuild requested"
		} else {
			ix, why, err := openCached(path, srcs)
			if err == nil {
				ix.Sources = srcs
				return ix, IndexStatus{Cached: true, Path: path, Duration: time.Since(start)}, nil
			}
			reason = why
		}
	}
	ix, err := buildIndexFile(path, srcs)
	if err != nil {
		return nil, IndexStatus{}, err
	}
	ix.Sources, ix.Built = srcs, true
	if ix.cachePath == "" {
		path = ""
	}
	return ix, IndexStatus{Path: path, Reason: reason, Duration: time.Since(start)}, nil
}

// sourcesKey names the cache file of a list of sources.
func sourcesKey(srcs []zoo.CatalogSource) string {
	h := sha256.New()
	fmt.Fprintf(h, "format %d\n", indexFormat)
	for _, s := range srcs {
		p := s.Path
		if p != "" && s.URL == "" {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
		}
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\n", s.From, s.Name, p, s.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

var (
	embeddedDigestOnce sync.Once
	embeddedDigestHex  string
	exeStampOnce       sync.Once
	exeStampVal        *fileStampX
)

func embeddedDigest() string {
	embeddedDigestOnce.Do(func() { embeddedDigestHex = digestOfBytes(zoo.EmbeddedTOML()) })
	return embeddedDigestHex
}

// exeStamp identifies the running zoo build.
func exeStamp() *fileStampX {
	exeStampOnce.Do(func() {
		p, err := os.Executable()
		if err != nil {
			return
		}
		fi, err := os.Stat(p)
		if err != nil {
			return
		}
		exeStampVal = &fileStampX{Size: fi.Size(), MtimeNS: fi.ModTime().UnixNano()}
	})
	return exeStampVal
}

func stampOfFile(fi os.FileInfo) *fileStampX {
	st := &fileStampX{Size: fi.Size(), MtimeNS: fi.ModTime().UnixNano()}
	st.CtimeNS, st.Ino, st.Dev = statExtra(fi)
	return st
}

// openCached opens the cache file if it is current for srcs; otherwise it
// says why not.
func openCached(path string, srcs []zoo.CatalogSource) (*Index, string, error) {
	data, closer, err := mapFileAt(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "no cached index", err
		}
		return nil, "cached index unreadable", err
	}
	fail := func(why string) (*Index, string, error) {
		closer()
		return nil, why, errors.New(why)
	}
	hdr, payload, err := splitCacheFile(data)
	if err != nil {
		return fail("cached index damaged")
	}
	if hdr.Format != indexFormat {
		return fail("index format changed")
	}
	if es := exeStamp(); es == nil || hdr.Exe == nil || *es != *hdr.Exe {
		return fail("zoo executable changed")
	}
	if len(hdr.Sources) != len(srcs) {
		return fail("catalog list changed")
	}
	clearRacy := false
	for i, s := range srcs {
		h := &hdr.Sources[i]
		if h.Name != s.Name || h.From != s.From || h.SHA256 != s.SHA256 {
			return fail("catalog list changed")
		}
		switch {
		case s.From == zoo.FromEmbedded:
			if h.Digest != embeddedDigest() {
				return fail("built-in catalog changed")
			}
		case s.URL != "":
			// Remote: content-addressed by its pinned digest.
		default:
			fi, err := os.Stat(s.Path)
			if err != nil || h.Stat == nil || *stampOfFile(fi) != *h.Stat {
				return fail(fmt.Sprintf("%s changed", s.Name))
			}
			if h.Racy {
				b, err := os.ReadFile(s.Path)
				if err != nil || digestOfBytes(b) != h.Digest {
					return fail(fmt.Sprintf("%s changed", s.Name))
				}
				if time.Since(fi.ModTime()) > racyWindow {
					h.Racy = false
					clearRacy = true
				}
			}
		}
	}
	ix, err := OpenIndexBytes(payload)
	if err != nil {
		return fail("cached index damaged")
	}
	ix.closer = closer
	ix.cachePath = path
	if clearRacy {
		// Write the same index with the racy marks cleared; best effort.
		_ = writeCacheFile(path, hdr, payload)
	}
	return ix, "", nil
}

func splitCacheFile(data []byte) (*indexHeader, []byte, error) {
	if len(data) < 12 || string(data[:8]) != cacheMagic {
		return nil, nil, errBadIndex
	}
	n := int(binary.LittleEndian.Uint32(data[8:]))
	if n <= 0 || 12+n > len(data) {
		return nil, nil, errBadIndex
	}
	var hdr indexHeader
	if err := json.Unmarshal(data[12:12+n], &hdr); err != nil {
		return nil, nil, errBadIndex
	}
	return &hdr, data[pad8(12+n):], nil
}

// buildIndexFile parses and merges the sources, indexes them, and writes
// the cache file when path is not "" (a failure to write only costs the
// next search a rebuild).
func buildIndexFile(path string, srcs []zoo.CatalogSource) (*Index, error) {
	built := time.Now()
	hdr := &indexHeader{Format: indexFormat, Exe: exeStamp(), BuiltNS: built.UnixNano()}
	stamps := make([]sourceStamp, len(srcs))
	for i, s := range srcs {
		stamps[i] = sourceStamp{Name: s.Name, From: s.From, Path: s.Path, URL: s.URL, SHA256: s.SHA256}
		if s.From != zoo.FromEmbedded && s.URL == "" {
			if fi, err := os.Stat(s.Path); err == nil {
				stamps[i].Stat = stampOfFile(fi)
				stamps[i].Racy = fi.ModTime().After(built.Add(-racyWindow))
			}
		}
	}
	// Stream every catalog into the index: models are parsed in pieces
	// and dropped once indexed, so memory follows the index, not the TOML.
	b := newIndexBuilder()
	var problems []zoo.Problem
	for i, src := range srcs {
		if src.From == zoo.FromEmbedded {
			emb, err := zoo.Embedded()
			if err != nil {
				return nil, err
			}
			stamps[i].Digest = embeddedDigest()
			b.source(zoo.EmbeddedSource)
			for k := range emb.Models {
				b.add(&emb.Models[k])
			}
			continue
		}
		data, unmap, err := readSourceForIndex(src)
		if err != nil {
			return nil, err
		}
		stamps[i].Digest = digestOfBytes(data)
		b.source(src.Name)
		err = zoo.ForEachModel(data, src.Name, b.add)
		unmap()
		var ve *zoo.ValidationError
		if errors.As(err, &ve) {
			problems = append(problems, ve.Problems...)
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	if len(problems) > 0 {
		return nil, &zoo.ValidationError{Problems: problems}
	}
	hdr.Sources = stamps
	payload := b.finish()
	ix, err := OpenIndexBytes(payload)
	if err != nil {
		return nil, err
	}
	if path != "" && hdr.Exe != nil {
		if err := writeCacheFile(path, hdr, payload); err == nil {
			ix.cachePath = path
		}
	}
	return ix, nil
}

// mapSourceMin: catalog files this large are memory-mapped while indexed
// rather than read, so that a 400 MiB catalog costs page cache instead of
// heap the garbage collector doubles. Smaller ones (hand-edited catalogs,
// which an editor may truncate while we read) are read.
const mapSourceMin = 64 << 20

func readSourceForIndex(src zoo.CatalogSource) ([]byte, func() error, error) {
	if fi, err := os.Stat(src.Path); err == nil && fi.Mode().IsRegular() && fi.Size() >= mapSourceMin && fi.Size() <= zoo.MaxCatalogBytes {
		if data, unmap, err := mapFileAt(src.Path); err == nil {
			return data, unmap, nil
		}
	}
	data, err := zoo.ReadSource(src)
	return data, func() error { return nil }, err
}

// writeCacheFile writes atomically: a temporary file renamed into place, so
// readers see the old index or the new one, never half of one.
func writeCacheFile(path string, hdr *indexHeader, payload []byte) error {
	js, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	var head bytes.Buffer
	head.WriteString(cacheMagic)
	binary.Write(&head, binary.LittleEndian, uint32(len(js)))
	head.Write(js)
	head.Write(make([]byte, pad8(head.Len())-head.Len()))
	// The temporary file is .search-….tmpN, which pruneIndexDir removes
	// when a killed process left it.
	err = files.WriteAtomic(path, func(w io.Writer) error {
		if _, err := w.Write(head.Bytes()); err != nil {
			return err
		}
		_, err := w.Write(payload)
		return err
	})
	if err != nil {
		return err
	}
	pruneIndexDir(filepath.Dir(path), path)
	return nil
}

// maxIndexFiles bounds the cache: one file per distinct list of catalogs.
const maxIndexFiles = 16

func pruneIndexDir(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type f struct {
		path string
		mod  time.Time
	}
	var files []f
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), ".search-") && time.Since(info.ModTime()) > time.Hour:
			os.Remove(p) // a temp file left by a killed process
		case strings.HasPrefix(e.Name(), "search-") && p != keep:
			files = append(files, f{p, info.ModTime()})
		}
	}
	if len(files) < maxIndexFiles {
		return
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.After(files[j].mod) })
	for _, x := range files[maxIndexFiles-1:] {
		os.Remove(x.path)
	}
}

// digestOfBytes is the hex sha256 that keys a catalog file's content.
func digestOfBytes(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
