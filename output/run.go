package output

import (
	"bufio"
	"bytes"
	"crypto/sha256"
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

	"medzoo/internal/files"
)

// Files a run keeps in its output directory.
const (
	RunFile      = "zoo-run.json"
	ManifestFile = "manifest.jsonl"
)

// RunInfo describes a generation run. A resumed run must match it, so the
// continued samples come from the same model, checksum, seed and format.
type RunInfo struct {
	Model      string            `json:"model"`
	Version    string            `json:"version,omitempty"`
	SHA256     string            `json:"sha256"`
	Seed       uint64            `json:"seed"`
	N          int               `json:"n"`
	Format     string            `json:"format"`
	Outputs    []string          `json:"outputs"`
	Conditions map[string]string `json:"conditions,omitempty"`
	Generator  string            `json:"generator"`
	// Input is the --input path of an image-to-image run and InputsDigest
	// the sha256 of its sorted input file names, one per line: a resume
	// must see the same inputs, since output names and sample order follow
	// them.
	Input        string `json:"input,omitempty"`
	InputsDigest string `json:"inputs_sha256,omitempty"`
	// Width is the zero-padded width of index numbers in file names, fixed
	// by the first run so resumed runs name files the same way.
	Width int `json:"name_width"`
}

// Record is one manifest line: one sample and its files. Lines contain no
// times or host details, so a resumed run's manifest is byte-identical to
// an uninterrupted one.
type Record struct {
	Index      int               `json:"index"`
	Files      map[string]string `json:"files"` // output name -> file name
	Conditions map[string]string `json:"conditions,omitempty"`
	Input      string            `json:"input,omitempty"` // input file name, image-to-image runs
	Model      string            `json:"model"`
	Version    string            `json:"version,omitempty"`
	SHA256     string            `json:"sha256"`
	Seed       uint64            `json:"seed"`
	Synthetic  bool              `json:"synthetic"`
	// Reproducible says what repeats: zoo.Model.Reproducibility.
	Reproducible string `json:"reproducible,omitempty"`
	Latents      string `json:"latents,omitempty"` // as Provenance.Latents
}

// Mode says what to do with an output directory that already has content.
type Mode int

const (
	// Fresh refuses a non-empty directory.
	Fresh Mode = iota
	// Resume continues the run recorded in the directory.
	Resume
	// Force starts over, overwriting the run's files.
	Force
)

// Run is an output directory being filled. Samples may finish in any order;
// Commit appends their manifest lines in index order, so the manifest is
// always a prefix of the complete run and marks what a resume may skip.
type Run struct {
	Dir  string
	Info RunInfo
	// Done is the number of samples already committed when the run opened.
	Done int

	mu       sync.Mutex
	manifest *os.File
	next     int
	pending  map[int]Record
}

// Open prepares dir for info according to mode.
func Open(dir string, info RunInfo, mode Mode) (*Run, error) {
	if info.Width == 0 {
		info.Width = max(5, len(fmt.Sprint(max(info.N-1, 0))))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	r := &Run{Dir: dir, Info: info, pending: map[int]Record{}}
	switch {
	case len(entries) == 0 || mode == Force:
		if err := r.start(); err != nil {
			return nil, err
		}
	case mode == Resume:
		if err := r.resume(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("output directory %s is not empty (%d entries); use --resume to continue a stopped run there, --force to overwrite it, or choose another directory", dir, len(entries))
	}
	r.next = r.Done
	return r, nil
}

func (r *Run) start() error {
	if err := writeFileAtomic(filepath.Join(r.Dir, RunFile), r.infoJSON()); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(r.Dir, ManifestFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	r.manifest = f
	return nil
}

func (r *Run) infoJSON() []byte {
	b, _ := json.MarshalIndent(r.Info, "", "  ")
	return append(b, '\n')
}

// resume reads the recorded run, checks it matches, and keeps the longest
// valid prefix of the manifest (a killed process can leave a partial last
// line, which is cut off).
func (r *Run) resume() error {
	raw, err := os.ReadFile(filepath.Join(r.Dir, RunFile))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot resume in %s: it holds no %s, so it is not a zoo run; use an empty directory, or --force to write into it anyway", r.Dir, RunFile)
	}
	if err != nil {
		return err
	}
	var old RunInfo
	if err := json.Unmarshal(raw, &old); err != nil {
		return fmt.Errorf("cannot resume: %s is damaged (%v); use --force to start over", filepath.Join(r.Dir, RunFile), err)
	}
	if diff := differences(old, r.Info); diff != "" {
		return fmt.Errorf("cannot resume in %s: the recorded run differs (%s); rerun with the same settings, or use --force to start over", r.Dir, diff)
	}
	r.Info.Width = old.Width
	if old.N != r.Info.N {
		// A resumed run may ask for more (or fewer) samples.
		if err := writeFileAtomic(filepath.Join(r.Dir, RunFile), r.infoJSON()); err != nil {
			return err
		}
	}

	path := filepath.Join(r.Dir, ManifestFile)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	valid := 0
	for len(data[valid:]) > 0 {
		line := data[valid:]
		nl := bytes.IndexByte(line, '\n')
		if nl < 0 {
			break // partial last line
		}
		var rec Record
		if json.Unmarshal(line[:nl], &rec) != nil || rec.Index != r.Done {
			break
		}
		for _, name := range rec.Files {
			if _, err := os.Stat(filepath.Join(r.Dir, name)); err != nil {
				return fmt.Errorf("cannot resume: sample %d is in the manifest but its file %s is missing (%v); use --force to start over", rec.Index, name, err)
			}
		}
		r.Done++
		valid += nl + 1
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := f.Truncate(int64(valid)); err != nil {
		f.Close()
		return fmt.Errorf("manifest: %w", err)
	}
	if _, err := f.Seek(int64(valid), io.SeekStart); err != nil {
		f.Close()
		return err
	}
	r.manifest = f
	return nil
}

func differences(old, cur RunInfo) string {
	var d []string
	check := func(what, a, b string) {
		if a != b {
			d = append(d, fmt.Sprintf("%s %q, now %q", what, a, b))
		}
	}
	check("model", old.Model, cur.Model)
	check("version", old.Version, cur.Version)
	check("artifact sha256", old.SHA256, cur.SHA256)
	check("seed", fmt.Sprint(old.Seed), fmt.Sprint(cur.Seed))
	check("format", old.Format, cur.Format)
	check("outputs", strings.Join(old.Outputs, ","), strings.Join(cur.Outputs, ","))
	check("conditions", mapString(old.Conditions), mapString(cur.Conditions))
	if old.InputsDigest != cur.InputsDigest {
		d = append(d, "the input files changed")
	}
	return strings.Join(d, "; ")
}

func mapString(m map[string]string) string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// FileName returns the file name of one output of sample index: 00042.png
// for single-output models, 00042_mask.png when there are several outputs.
func (r *Run) FileName(index int, output, ext string) string {
	if len(r.Info.Outputs) <= 1 {
		return fmt.Sprintf("%0*d%s", r.Info.Width, index, ext)
	}
	return fmt.Sprintf("%0*d_%s%s", r.Info.Width, index, output, ext)
}

// InputFileName returns the file name of one output of the sample made from
// input file inputName: ct_012.png for input ct_012.dcm with one output,
// ct_012_mask.png when there are several.
func (r *Run) InputFileName(inputName, output, ext string) string {
	stem := strings.TrimSuffix(inputName, filepath.Ext(inputName))
	if len(r.Info.Outputs) <= 1 {
		return stem + ext
	}
	return stem + "_" + output + ext
}

// InputsDigest is RunInfo.InputsDigest for the given input file names.
func InputsDigest(names []string) string {
	h := sha256.New()
	for _, n := range names {
		io.WriteString(h, n+"\n")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Commit records a finished sample. Records arrive in any order; lines are
// appended in index order, each with one write so a kill leaves at most one
// partial line.
func (r *Run) Commit(rec Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[rec.Index] = rec
	var buf bytes.Buffer
	for {
		next, ok := r.pending[r.next]
		if !ok {
			break
		}
		delete(r.pending, r.next)
		line, err := json.Marshal(next)
		if err != nil {
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
		r.next++
	}
	if buf.Len() == 0 {
		return nil
	}
	if _, err := r.manifest.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// Committed returns how many samples the manifest holds.
func (r *Run) Committed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// Close flushes the manifest to disk.
func (r *Run) Close() error {
	if r.manifest == nil {
		return nil
	}
	err := r.manifest.Sync()
	if cerr := r.manifest.Close(); err == nil {
		err = cerr
	}
	r.manifest = nil
	return err
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place, so readers never see a half-written file.
func writeFileAtomic(path string, data []byte) error { return files.WriteAtomicBytes(path, data) }

// ReadManifest parses a manifest file.
func ReadManifest(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}
