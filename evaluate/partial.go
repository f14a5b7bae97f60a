package evaluate

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"medzoo/features"
	"medzoo/internal/files"
	"medzoo/internal/shard"
	"medzoo/metrics"
)

// A partial file is one shard's share of an evaluation (zoo evaluate
// --shard K/M --partial FILE): what zoo evaluate merge needs to give the
// card of one process without extracting anything again.
//
//	"MZEVALPART1\n"                       12 bytes
//	header length L                       uint64, little-endian
//	header                                L bytes of JSON (partHeader)
//	for the real set, then the fake set:
//	  moments                             metrics.Moments.WriteTo (exact sums)
//	  rows                                Rows×Dim float32, little-endian, index order
//
// The file is exactly that long: a reader checks the sizes the header
// declares against the file's size before it allocates anything.
const partialMagic = "MZEVALPART1\n"

// PartialFormat names the header's version.
const PartialFormat = "zoo-evaluate-partial/1"

// maxPartialHeader bounds the JSON header: it holds the images' names, a
// few tens of bytes each, so 64 MiB is over a million images per shard.
const maxPartialHeader = 64 << 20

// maxSetLen bounds a set's declared length read from a file.
const maxSetLen = 1 << 40

// partHeader is the JSON header of a partial file: everything that must
// agree between the parts, and what this part holds.
type partHeader struct {
	Format    string        `json:"format"`
	Zoo       string        `json:"zoo"`
	Date      string        `json:"date"`
	Command   string        `json:"command,omitempty"` // the evaluation, without --shard/--partial, to name a missing shard's rerun
	Extractor ExtractorInfo `json:"extractor"`
	// Extractor notes (the card's warnings).
	Warnings         []string `json:"warnings,omitempty"`
	Normalize        string   `json:"normalize"`
	Protocol         string   `json:"protocol,omitempty"` // "" in parts older than protocols: zoo
	Preprocessing    string   `json:"preprocessing"`
	Metrics          []string `json:"metrics"`
	Seed             uint64   `json:"seed"`
	KIDSubsets       int      `json:"kid_subsets"`
	KIDSubsetSize    int      `json:"kid_subset_size"`
	PRDCK            int      `json:"prdc_k"`
	NearCopyQuantile float64  `json:"near_copy_quantile"`
	Skip             bool     `json:"skip_unreadable"`
	K                int      `json:"k"`
	M                int      `json:"m"`
	Real             partSet  `json:"real"`
	Fake             partSet  `json:"fake"`
}

// partSet is one set's share: the whole set's identity, and this shard's
// image range with the rows it gave.
type partSet struct {
	Describe    string             `json:"describe"`
	Fingerprint string             `json:"fingerprint"`
	Len         int                `json:"len"`   // images in the whole set
	Block       int                `json:"block"` // what the set is cut by (a model's compute block, or 1)
	Start       int                `json:"start"` // this shard's images [start, end)
	End         int                `json:"end"`
	Rows        int                `json:"rows"` // feature rows: end − start less the skipped
	Names       []string           `json:"names"`
	Skipped     []features.Skipped `json:"skipped,omitempty"`
	Cached      bool               `json:"features_cached"`
	Warnings    []string           `json:"warnings,omitempty"`
}

// PartialResult says what RunPartial wrote.
type PartialResult struct {
	File  string `json:"file"`
	Shard string `json:"shard"`
	Real  [2]int `json:"real"` // image range [start, end)
	Fake  [2]int `json:"fake"`
	Rows  [2]int `json:"rows"` // feature rows of real, fake
	Bytes int64  `json:"bytes"`
}

// RunPartial extracts the features of shard sh's part of each set and
// writes them, with their exact moments, to the partial file out
// (atomically). command is the evaluation's command line without --shard
// and --partial, recorded so that a merge missing this shard can say how
// to make it.
func RunPartial(ctx context.Context, opt Options, sh shard.Shard, out, command string) (*PartialResult, error) {
	if sh.None() {
		return nil, errors.New("evaluate: RunPartial needs a shard")
	}
	opt = opt.withDefaults()
	// On the whole sets: the merge computes the metrics on all of them.
	// A metric failing there is left to the merge, which lists it with its
	// reason; only when all fail is nothing extracted.
	if _, err := CheckPreconditions(opt); err != nil {
		return nil, err
	}
	card := newCard(opt, time.Now())
	cache := featureCache{dir: opt.CacheDir}
	dim := opt.Extractor.Spec.Dim
	h := partHeader{Format: PartialFormat, Zoo: card.Zoo, Date: card.Date, Command: command,
		Extractor: card.Extractor, Warnings: card.Warnings, Normalize: card.Normalize, Protocol: card.Protocol, Preprocessing: card.Preprocessing,
		Metrics: opt.Metrics, Seed: opt.Seed, KIDSubsets: opt.KIDSubsets, KIDSubsetSize: opt.KIDSubsetSize,
		PRDCK: opt.PRDCK, NearCopyQuantile: opt.NearCopyQuantile, Skip: opt.Skip, K: sh.K, M: sh.M}
	var sets [2]*featureSet
	for i, s := range []struct {
		set  Set
		role string
		ps   *partSet
	}{{opt.Real, "real", &h.Real}, {opt.Fake, "fake", &h.Fake}} {
		block := blockOf(s.set)
		start, end := sh.Range(s.set.Len(), block)
		var info SetInfo
		fs, err := setFeatures(ctx, opt, cache, s.set, s.role, &info, start, end)
		if err != nil {
			return nil, err
		}
		if fs.moments, err = momentsOf(fs.rows, dim); err != nil {
			return nil, fmt.Errorf("%s features: %w", s.role, err)
		}
		*s.ps = partSet{Describe: info.Describe, Fingerprint: info.Fingerprint, Len: s.set.Len(), Block: block,
			Start: start, End: end, Rows: fs.n, Names: fs.names, Skipped: info.Skipped, Cached: info.Cached, Warnings: info.Warnings}
		sets[i] = fs
	}
	size, err := writePart(out, h, sets)
	if err != nil {
		return nil, fmt.Errorf("--partial %s: %w", out, err)
	}
	return &PartialResult{File: out, Shard: sh.String(), Real: [2]int{h.Real.Start, h.Real.End}, Fake: [2]int{h.Fake.Start, h.Fake.End},
		Rows: [2]int{h.Real.Rows, h.Fake.Rows}, Bytes: size}, nil
}

// writePart writes a partial file atomically and returns its size.
func writePart(out string, h partHeader, sets [2]*featureSet) (int64, error) {
	head, err := json.Marshal(h)
	if err != nil {
		return 0, err
	}
	dim := h.Extractor.Dim
	// The folder of the parts may be new: an Indexed Job's pods write
	// DIR/part-K.zev on a fresh volume, and their image has no shell to
	// make DIR first.
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 0, err
	}
	err = files.WriteAtomic(out, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		bw.WriteString(partialMagic)
		binary.Write(bw, binary.LittleEndian, uint64(len(head)))
		bw.Write(head)
		for _, fs := range sets {
			if _, err := fs.moments.WriteTo(bw); err != nil {
				return err
			}
			var b [4]byte
			for _, v := range fs.rows {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
				bw.Write(b[:])
			}
		}
		return bw.Flush()
	})
	if err != nil {
		return 0, err
	}
	return int64(len(partialMagic)+8+len(head)) + partBodyBytes(dim, sets[0].n) + partBodyBytes(dim, sets[1].n), nil
}

// partBodyBytes is one set's bytes after the header.
func partBodyBytes(dim, rows int) int64 {
	return metrics.MomentsBytes(dim) + 4*int64(rows)*int64(dim)
}

// part is a partial file read back.
type part struct {
	path string
	h    partHeader
	body int64 // offset of the body
}

// readPartHeader opens path (never through a symbolic link) and reads and
// checks its header, including that the file is exactly as long as the
// header says: nothing of the body is allocated before that holds.
func readPartHeader(path string) (*part, error) {
	f, err := files.OpenNoFollow(path)
	if err != nil {
		return nil, fmt.Errorf("partial file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("partial file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("partial file %s is %s, not a regular file", path, files.Kind(st.Mode()))
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("partial file %s: %s: give the file zoo evaluate --partial wrote (or make it again)", path, fmt.Sprintf(format, args...))
	}
	r := bufio.NewReader(f)
	pre := make([]byte, len(partialMagic)+8)
	if _, err := io.ReadFull(r, pre); err != nil || string(pre[:len(partialMagic)]) != partialMagic {
		return nil, bad("not a partial evaluation file (no %q header)", partialMagic[:len(partialMagic)-1])
	}
	hl := binary.LittleEndian.Uint64(pre[len(partialMagic):])
	if hl == 0 || hl > maxPartialHeader || int64(hl) > st.Size()-int64(len(pre)) {
		return nil, bad("header of %d bytes in a file of %d", hl, st.Size())
	}
	raw := make([]byte, hl)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, bad("truncated header")
	}
	p := &part{path: path, body: int64(len(pre)) + int64(hl)}
	if err := json.Unmarshal(raw, &p.h); err != nil {
		return nil, bad("header: %v", err)
	}
	h := &p.h
	if h.Format != PartialFormat {
		return nil, bad("format %q, this zoo reads %q", h.Format, PartialFormat)
	}
	d := h.Extractor.Dim
	if d <= 0 || d > metrics.MaxMomentsDim {
		return nil, bad("feature dimension %d (1 to %d)", d, metrics.MaxMomentsDim)
	}
	if h.M < 1 || h.M > shard.MaxShards || h.K < 0 || h.K >= h.M {
		return nil, bad("shard %d/%d", h.K, h.M)
	}
	want := p.body
	for _, s := range []struct {
		role string
		ps   *partSet
	}{{"real", &h.Real}, {"fake", &h.Fake}} {
		ps := s.ps
		if ps.Len < 0 || ps.Len > maxSetLen || ps.Block < 1 {
			return nil, bad("%s set of %d images in blocks of %d", s.role, ps.Len, ps.Block)
		}
		if a, b := (shard.Shard{K: h.K, M: h.M}).Range(ps.Len, ps.Block); ps.Start != a || ps.End != b {
			return nil, bad("%s images %d..%d, but shard %d/%d of %d images is %d..%d", s.role, ps.Start, ps.End, h.K, h.M, ps.Len, a, b)
		}
		if ps.Rows < 0 || ps.Rows+len(ps.Skipped) != ps.End-ps.Start || len(ps.Names) != ps.Rows {
			return nil, bad("%s set: %d rows, %d skipped and %d names for images %d..%d", s.role, ps.Rows, len(ps.Skipped), len(ps.Names), ps.Start, ps.End)
		}
		want += partBodyBytes(d, ps.Rows)
	}
	if st.Size() != want {
		return nil, bad("%d bytes, but its header describes %d (truncated or damaged)", st.Size(), want)
	}
	return p, nil
}

// readBody reads the part's moments and rows of each set.
func (p *part) readBody() ([2]*featureSet, error) {
	var out [2]*featureSet
	f, err := files.OpenNoFollow(p.path)
	if err != nil {
		return out, fmt.Errorf("partial file %s: %w", p.path, err)
	}
	defer f.Close()
	if _, err := f.Seek(p.body, io.SeekStart); err != nil {
		return out, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	d := p.h.Extractor.Dim
	for i, ps := range []partSet{p.h.Real, p.h.Fake} {
		m, err := metrics.ReadMoments(r, d, ps.Rows)
		if err != nil {
			return out, fmt.Errorf("partial file %s: %w", p.path, err)
		}
		if m.N != ps.Rows {
			return out, fmt.Errorf("partial file %s: moments of %d rows, header says %d", p.path, m.N, ps.Rows)
		}
		rows := make([]float32, ps.Rows*d)
		buf := make([]byte, 1<<16)
		for k := 0; k < len(rows); {
			n := min(len(buf)/4, len(rows)-k)
			if _, err := io.ReadFull(r, buf[:4*n]); err != nil {
				return out, fmt.Errorf("partial file %s: rows: %w", p.path, err)
			}
			for j := 0; j < n; j++ {
				v := math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return out, fmt.Errorf("partial file %s: a non-finite feature", p.path)
				}
				rows[k+j] = v
			}
			k += n
		}
		out[i] = &featureSet{rows: rows, n: ps.Rows, names: ps.Names, moments: m}
	}
	return out, nil
}
