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
	// Stack and Gzip are zoo generate --stack (one NIfTI volume per
	// output, OpenStack) and --gzip (.nii.gz): they change the files'
	// names, so a resume must keep them.
	Stack bool `json:"stack,omitempty"`
	Gzip  bool `json:"gzip,omitempty"`
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
	// Slice, in a stacked run (RunInfo.Stack), is the sample's slice in
	// each volume Files names: slice k along the third axis (k = Index).
	Slice *int `json:"slice,omitempty"`
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
	// Start and End are the indices [Start, End) this process makes: the
	// whole run (0, N), or one shard's range (OpenShard).
	Start, End int
	// Part is the shard this run makes, nil for a single-process run; its
	// run and manifest files are then the shard's own (ShardRunFile).
	Part *ShardPart

	// fresh is true when the directory was empty: a run that then fails
	// before its first sample leaves it empty again (Abandon).
	fresh bool

	mu       sync.Mutex
	manifest *os.File
	next     int
	pending  map[int]Record

	// stream, when set, receives the run's files instead of Dir
	// (OpenStream).
	stream *stream
}

// Open prepares dir for info according to mode. A directory holding a
// symbolic link or a special file is refused whatever the mode, naming the
// entry: zoo writes only regular files it creates or replaces itself.
func Open(dir string, info RunInfo, mode Mode) (*Run, error) {
	info.Width = nameWidth(info)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	kept := entries[:0]
	for _, e := range entries {
		if !e.Type().IsRegular() && !e.IsDir() {
			return nil, fmt.Errorf("output directory: %w", files.CheckRegular(filepath.Join(dir, e.Name())))
		}
		if e.Type().IsRegular() && files.IsTemp(e.Name()) && mode != Fresh {
			// A file being written when a run was killed (SIGKILL):
			// never in the manifest, so it goes.
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("output directory: %w", err)
			}
			continue
		}
		kept = append(kept, e)
	}
	entries = kept
	if mode != Fresh {
		// A fresh run refuses the shards' files as it refuses any; a
		// resume or force would mix with them or leave them behind.
		for _, e := range entries {
			if _, _, ok := parseShardFile(e.Name()); ok {
				return nil, fmt.Errorf("output directory %s holds shards of a run (%s): finish them (zoo generate --shard K/M --resume, then zoo manifest merge %s), or choose another directory", dir, e.Name(), dir)
			}
		}
	}
	r := &Run{Dir: dir, Info: info, pending: map[int]Record{}, fresh: len(entries) == 0, End: info.N}
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

// runFile and manifestFile are the names of this process's run and
// manifest files: the run's, or its shard's.
// nameWidth is info.Width, or for a new run the width of its largest
// index (at least 5 digits).
func nameWidth(info RunInfo) int {
	if info.Width != 0 {
		return info.Width
	}
	return max(5, len(fmt.Sprint(max(info.N-1, 0))))
}

func (r *Run) runFile() string {
	if r.Part != nil {
		return ShardRunFile(r.Part.K, r.Part.M)
	}
	return RunFile
}

func (r *Run) manifestFile() string {
	if r.Part != nil {
		return ShardManifestFile(r.Part.K, r.Part.M)
	}
	return ManifestFile
}

func (r *Run) start() error {
	if err := files.WriteAtomicBytes(filepath.Join(r.Dir, r.runFile()), r.infoJSON()); err != nil {
		return err
	}
	f, err := files.OpenAppend(filepath.Join(r.Dir, r.manifestFile()))
	if err == nil {
		err = f.Truncate(0)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return fmt.Errorf("manifest: %w", err)
	}
	r.manifest = f
	return nil
}

func (r *Run) infoJSON() []byte {
	if r.Part != nil {
		return indentJSON(shardRunInfo{r.Info, *r.Part})
	}
	return indentJSON(r.Info)
}

func indentJSON(v any) []byte {
	b, _ := json.MarshalIndent(v, "", "  ")
	return append(b, '\n')
}

// resume reads the recorded run, checks it matches, and keeps the longest
// valid prefix of the manifest (a killed process can leave a partial last
// line, which is cut off).
func (r *Run) resume() error {
	raw, err := readSmall(filepath.Join(r.Dir, RunFile), 1<<20)
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

	path := filepath.Join(r.Dir, ManifestFile)
	f, err := files.OpenAppend(path)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	valid, err := r.validPrefix(f)
	if err == nil && r.Info.N < r.Done {
		err = fmt.Errorf("cannot resume with -n %d: %s already holds %d samples; ask for -n %d or more, or use --force to start over", r.Info.N, r.Dir, r.Done, r.Done)
	}
	if err == nil && old.N != r.Info.N && r.Info.Stack {
		err = fmt.Errorf("cannot resume with -n %d: %s holds a stacked run of -n %d, and a volume's size is fixed when its run starts; resume with -n %d, or use --force to start over", r.Info.N, r.Dir, old.N, old.N)
	}
	if err == nil && old.N != r.Info.N {
		// A resumed run may ask for more samples, or fewer than it first
		// asked for but not fewer than it holds.
		err = files.WriteAtomicBytes(filepath.Join(r.Dir, RunFile), r.infoJSON())
	}
	if err != nil {
		f.Close()
		return err
	}
	return r.keepPrefix(f, valid)
}

// keepPrefix cuts the opened manifest f to its valid prefix of valid bytes
// and keeps it as the run's manifest, positioned to append after it; on an
// error f is closed. A resumed run and a resumed shard both end here.
func (r *Run) keepPrefix(f *os.File, valid int64) error {
	err := f.Truncate(valid)
	if err == nil {
		_, err = f.Seek(valid, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return err
	}
	r.manifest = f
	return nil
}

// validPrefix counts the manifest's complete records whose files are there
// into r.Done and returns the prefix's length in bytes. It streams: a
// manifest holds a line per sample, and a line longer than any record
// (64 KiB) ends the prefix like a damaged one instead of filling memory.
func (r *Run) validPrefix(f *os.File) (int64, error) {
	in := bufio.NewReaderSize(f, 64<<10)
	var valid int64
	for {
		line, err := in.ReadSlice('\n')
		if err != nil {
			if err == io.EOF || err == bufio.ErrBufferFull {
				return valid, nil // partial or overlong last line: cut off
			}
			return 0, fmt.Errorf("manifest: %w", err)
		}
		var rec Record
		if json.Unmarshal(line, &rec) != nil || rec.Index != r.Start+r.Done || rec.Index >= r.End && r.Part != nil {
			return valid, nil
		}
		for _, name := range rec.Files {
			if rec.Slice != nil && filepath.Base(name) == name && stackedFileExists(r.Dir, name) {
				continue // a stacked volume, complete or still being filled
			}
			fi, err := os.Lstat(filepath.Join(r.Dir, name))
			if err != nil {
				return 0, fmt.Errorf("cannot resume: sample %d is in the manifest but its file %s is missing (%v); use --force to start over", rec.Index, name, err)
			}
			if !fi.Mode().IsRegular() || filepath.Base(name) != name {
				return 0, fmt.Errorf("cannot resume: sample %d's file %s is not a regular file in %s; use --force to start over", rec.Index, name, r.Dir)
			}
		}
		r.Done++
		valid += int64(len(line))
	}
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
	check("--stack", fmt.Sprint(old.Stack), fmt.Sprint(cur.Stack))
	check("--gzip", fmt.Sprint(old.Gzip), fmt.Sprint(cur.Gzip))
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
		if r.stream != nil {
			// A stream's files go out with their sample's turn, so
			// they leave in index order, then its manifest line.
			if err := r.stream.emit(next, r.Info.Outputs); err != nil {
				return err
			}
		}
		buf.Write(line)
		buf.WriteByte('\n')
		r.next++
	}
	if buf.Len() == 0 {
		return nil
	}
	if r.stream != nil {
		r.stream.manifest.Write(buf.Bytes())
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
	return r.next - r.Start
}

// Close flushes the manifest to disk, or puts a complete stream's
// manifest (OpenStream).
func (r *Run) Close() error {
	if r.stream != nil {
		return r.finishStream()
	}
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

// readSmall reads a file expected to be small, refusing one over limit
// bytes rather than reading it whole.
func readSmall(path string, limit int64) ([]byte, error) {
	data, err := files.ReadRegular(path, limit)
	if errors.As(err, new(*files.TooLargeError)) {
		return nil, fmt.Errorf("%s is over %d bytes, too large to be what zoo wrote", path, limit)
	}
	return data, err
}

// Abandon undoes a run that failed before its first sample in a directory
// that was empty: its run and manifest files are removed, so a rerun is a
// fresh start rather than a refused non-empty directory. Any other run is
// kept for --resume. It closes the run.
func (r *Run) Abandon() {
	r.Close()
	if !r.fresh || r.Committed() > 0 {
		return
	}
	if r.Part != nil {
		// Other shards' files are no reason to keep this shard's: it
		// wrote nothing, and its rerun starts it afresh.
		os.Remove(filepath.Join(r.Dir, r.runFile()))
		os.Remove(filepath.Join(r.Dir, r.manifestFile()))
		return
	}
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		switch e.Name() {
		case RunFile, ManifestFile:
		default:
			return // files of a sample in flight: keep what is there
		}
	}
	os.Remove(filepath.Join(r.Dir, RunFile))
	os.Remove(filepath.Join(r.Dir, ManifestFile))
}

// WriteFile writes one output file of the run, atomically, refusing an
// entry that is not a regular file (files.NotRegularError).
func (r *Run) WriteFile(name string, data []byte) error {
	if filepath.Base(name) != name || name == "." || name == ".." {
		return fmt.Errorf("output file name %q is not a plain file name", name)
	}
	if r.stream != nil {
		return r.holdFile(name, data)
	}
	return files.WriteAtomicBytes(filepath.Join(r.Dir, name), data)
}

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
