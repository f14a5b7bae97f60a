package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"medzoo/internal/envconfig"
	"medzoo/internal/files"
	"medzoo/internal/shard"
)

// ShardsFile records, once the shards of a run are merged, which shard
// made which indices and where: the provenance of each sample's shard.
// It cannot be in the sample files or the manifest, which are
// byte-identical to a single-process run's.
const ShardsFile = "zoo-shards.json"

// ShardRunFile and ShardManifestFile are the run and manifest files of
// shard k of m, what it writes instead of RunFile and ManifestFile while
// other shards fill the same directory.
func ShardRunFile(k, m int) string { return fmt.Sprintf("zoo-run.shard-%d-of-%d.json", k, m) }

// ShardManifestFile: see ShardRunFile.
func ShardManifestFile(k, m int) string {
	return fmt.Sprintf("manifest.shard-%d-of-%d.jsonl", k, m)
}

// parseShardFile reads k and m back from a shard's run file name.
func parseShardFile(name string) (k, m int, ok bool) {
	rest, found := strings.CutPrefix(name, "zoo-run.shard-")
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, ".json")
	a, b, cut := strings.Cut(rest, "-of-")
	k, err1 := strconv.Atoi(a)
	m, err2 := strconv.Atoi(b)
	if !found || !cut || err1 != nil || err2 != nil || m < 1 || m > shard.MaxShards || k < 0 || k >= m || ShardRunFile(k, m) != name {
		return 0, 0, false
	}
	return k, m, true
}

// ShardPart is the part of a run one shard makes: shard K of M, indices
// [Start, End) = shard.Shard{K, M}.Range(N, Block), made on Host.
type ShardPart struct {
	K     int    `json:"k"`
	M     int    `json:"m"`
	Start int    `json:"start"`
	End   int    `json:"end"`
	Block int    `json:"block"`
	Host  string `json:"host,omitempty"`
	// Job is the cluster job that started the shard (envconfig.ClusterJob:
	// "slurm:4242_3"), "" outside one.
	Job string `json:"job,omitempty"`
}

// NewShardPart is the part of a run of n samples that shard s makes, for a
// model computing blocks of block samples.
func NewShardPart(s shard.Shard, n, block int) ShardPart {
	start, end := s.Range(n, block)
	host, _ := os.Hostname()
	return ShardPart{K: s.K, M: s.M, Start: start, End: end, Block: block, Host: host, Job: envconfig.ClusterJob()}
}

func (p ShardPart) String() string { return fmt.Sprintf("%d/%d", p.K, p.M) }

// Indices is the part's range for people: "indices 32-47".
func (p ShardPart) Indices() string {
	if p.End <= p.Start {
		return "no indices"
	}
	return fmt.Sprintf("indices %d-%d", p.Start, p.End-1)
}

// shardRunInfo is a shard's run file: the run's RunInfo (what the merge
// writes as RunFile) and the shard.
type shardRunInfo struct {
	RunInfo
	Shard ShardPart `json:"shard"`
}

// dirState is what a directory holds of a sharded run.
type dirState struct {
	plain  *RunInfo // RunFile, if any
	merged bool     // ShardsFile is there: plain is the merged run
	parts  map[int]shardRunInfo
	files  map[int]string // shard k's run file, for messages
	m      int            // M of the parts (the first seen)
	other  int            // entries that are neither zoo's run files nor directories
}

func readDirState(dir string) (*dirState, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	st := &dirState{parts: map[int]shardRunInfo{}, files: map[int]string{}}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() && !e.IsDir() {
			return nil, fmt.Errorf("output directory: %w", files.CheckRegular(filepath.Join(dir, name)))
		}
		switch k, m, ok := parseShardFile(name); {
		case ok:
			raw, err := readSmall(filepath.Join(dir, name), 1<<20)
			if err != nil {
				return nil, err
			}
			var p shardRunInfo
			if err := json.Unmarshal(raw, &p); err != nil || p.Shard.K != k || p.Shard.M != m {
				return nil, fmt.Errorf("%s is damaged (%v); rerun that shard with zoo generate --shard %d/%d --force", filepath.Join(dir, name), err, k, m)
			}
			if st.m != 0 && m != st.m {
				return nil, fmt.Errorf("%s holds shards of %d and of %d parts (%s, %s): one run has one shard count; remove the wrong ones' files and rerun them", dir, st.m, m, st.files[firstKey(st.files)], name)
			}
			st.m = m
			st.parts[k] = p
			st.files[k] = name
		case name == RunFile:
			raw, err := readSmall(filepath.Join(dir, name), 1<<20)
			if err != nil {
				return nil, err
			}
			var info RunInfo
			if err := json.Unmarshal(raw, &info); err != nil {
				return nil, fmt.Errorf("%s is damaged (%v); choose another directory", filepath.Join(dir, name), err)
			}
			st.plain = &info
		case name == ShardsFile:
			st.merged = true
		case e.IsDir() || name == ManifestFile || files.IsTemp(name):
		default:
			if _, _, ok := parseShardManifest(name); !ok {
				st.other++
			}
		}
	}
	return st, nil
}

func firstKey(m map[int]string) int {
	first := -1
	for k := range m {
		if first < 0 || k < first {
			first = k
		}
	}
	return first
}

func parseShardManifest(name string) (k, m int, ok bool) {
	rest, found := strings.CutPrefix(name, "manifest.shard-")
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, ".jsonl")
	if !found {
		return 0, 0, false
	}
	return parseShardFile("zoo-run.shard-" + rest + ".json")
}

// sameRun says how a shard's run differs from another's ("" if it does
// not): every shard of one directory must make the same run.
func sameRun(other, cur RunInfo) string {
	d := differences(other, cur)
	if other.N != cur.N {
		d = strings.TrimPrefix(d+fmt.Sprintf("; -n %d, now %d", other.N, cur.N), "; ")
	}
	return d
}

// OpenShard prepares dir for part of the run info describes, next to the
// other shards filling it at the same time. It holds the directory's lock
// while it checks the other shards' run files and any RunFile: a shard of
// another run (model, checksum, seed, n, format, conditions, inputs), of
// another shard count (whose ranges would overlap) or a single-process run
// in dir is refused, naming the file. Fresh refuses a shard that has
// files; Resume continues only this shard's range; Force restarts only
// this shard's part. A merged run in dir is ErrMerged under Resume.
func OpenShard(ctx context.Context, dir string, info RunInfo, part ShardPart, mode Mode) (*Run, error) {
	if info.Width == 0 {
		info.Width = max(5, len(fmt.Sprint(max(info.N-1, 0))))
	}
	if info.Stack {
		return nil, errors.New("a stacked run (--stack) is one file per output, which shards cannot write at the same time; drop --stack or --shard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	unlock, err := files.LockDir(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("locking output directory %s: %w", dir, err)
	}
	defer unlock()
	st, err := readDirState(dir)
	if err != nil {
		return nil, err
	}
	runPath := filepath.Join(dir, RunFile)
	if st.plain != nil {
		if !st.merged {
			return nil, fmt.Errorf("output directory %s holds a single-process run (%s): shards cannot write into it; give the shards another -o DIR, or continue that run without --shard (--resume)", dir, runPath)
		}
		if d := sameRun(*st.plain, info); d != "" {
			return nil, fmt.Errorf("output directory %s holds another run, merged from shards (%s: %s); give this run another -o DIR", dir, runPath, d)
		}
		if mode == Resume {
			return nil, ErrMerged
		}
		return nil, fmt.Errorf("output directory %s already holds this run, merged from its shards (%s); --resume accepts it as done, or give another -o DIR to make it again", dir, filepath.Join(dir, ShardsFile))
	}
	if st.m != 0 && st.m != part.M {
		return nil, fmt.Errorf("output directory %s holds shards of %d parts (%s), and shard %s's range would overlap theirs; use --shard K/%d, or another -o DIR", dir, st.m, filepath.Join(dir, st.files[firstKey(st.files)]), part, st.m)
	}
	for k, p := range st.parts {
		d := sameRun(p.RunInfo, info)
		if d == "" && p.Shard.Block != part.Block {
			d = fmt.Sprintf("compute block %d, now %d", p.Shard.Block, part.Block)
		}
		if d == "" {
			continue
		}
		if k == part.K && mode == Force {
			continue // restarted below
		}
		fix := "every shard of one directory makes the same run: rerun with its settings, or give another -o DIR"
		if k == part.K {
			fix = "rerun with its settings, --force to restart this shard with these, or give another -o DIR"
		}
		return nil, fmt.Errorf("%s records another run (%s); %s", filepath.Join(dir, st.files[k]), d, fix)
	}
	_, mine := st.parts[part.K]
	switch {
	case mine && mode == Fresh:
		return nil, fmt.Errorf("shard %s already has files in %s (%s): --resume continues it, --force restarts it", part, dir, ShardRunFile(part.K, part.M))
	case !mine && len(st.parts) == 0 && st.other > 0 && mode == Fresh:
		return nil, fmt.Errorf("output directory %s is not empty (%d entries) and holds no zoo run; use an empty directory, or --force to write into it anyway", dir, st.other)
	}
	r := &Run{Dir: dir, Info: info, pending: map[int]Record{}, Part: &part, Start: part.Start, End: part.End, fresh: !mine || mode == Force}
	if mine && mode == Resume {
		// The host and job that started it.
		part.Host, part.Job = st.parts[part.K].Shard.Host, st.parts[part.K].Shard.Job
		err = r.resumeShard()
	} else {
		err = r.start()
	}
	if err != nil {
		return nil, err
	}
	r.next = r.Start + r.Done
	return r, nil
}

// ErrMerged says a shard opened with Resume finds its run already merged:
// nothing is left to do (a rerun of a finished array task).
var ErrMerged = errors.New("the run is already merged from its shards")

// resumeShard keeps the longest valid prefix of the shard's manifest, as
// resume does for a run.
func (r *Run) resumeShard() error {
	f, err := files.OpenAppend(filepath.Join(r.Dir, r.manifestFile()))
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	valid, err := r.validPrefix(f)
	if err != nil {
		f.Close()
		return err
	}
	return r.keepPrefix(f, valid)
}

// ShardRecord is one shard in ShardsFile and in merge reports.
type ShardRecord struct {
	Shard   string `json:"shard"`
	K       int    `json:"k"`
	M       int    `json:"m"`
	Start   int    `json:"start"`
	End     int    `json:"end"`
	Samples int    `json:"samples"`
	Host    string `json:"host,omitempty"`
	Job     string `json:"job,omitempty"` // the cluster job that started it
}

// shardsFile is ShardsFile.
type shardsFile struct {
	Model  string        `json:"model"`
	Seed   uint64        `json:"seed"`
	N      int           `json:"n"`
	Shards []ShardRecord `json:"shards"`
}

// MergeReport says what a merge did.
type MergeReport struct {
	Dir      string        `json:"dir"`
	Model    string        `json:"model"`
	N        int           `json:"n"`
	Merged   bool          `json:"merged"`         // this call merged the parts
	Already  bool          `json:"already_merged"` // an earlier merge had
	Manifest string        `json:"manifest"`
	Shards   []ShardRecord `json:"shards"`
}

// IncompleteError is a merge of shards not all done; Missing holds one
// line per shard, with the command that completes it.
type IncompleteError struct {
	Dir     string
	Missing []string
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("cannot merge %s: %d shard(s) not done:\n  %s", e.Dir, len(e.Missing), strings.Join(e.Missing, "\n  "))
}

// Merge joins the shards in dir into the single-process run (see
// FinishShard), or reports what is missing (*IncompleteError). A merged
// directory merges again as a no-op that clears what a crash left.
func Merge(ctx context.Context, dir string) (*MergeReport, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory (%s); give the -o DIR the shards wrote into", dir, files.Describe(dir, fi.Mode()))
	}
	unlock, err := files.LockDir(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("locking output directory %s: %w", dir, err)
	}
	defer unlock()
	return mergeLocked(dir)
}

// FinishShard closes a shard that made its whole range and, if every
// shard of the run is done, merges them: it writes ManifestFile (the
// parts' manifests in order, byte-identical to a single-process run's),
// ShardsFile, and RunFile (the run's RunInfo without shard), each
// atomically and in that order, then removes the parts' files. A crash
// at any step leaves the parts or the merged run, and a rerun of the
// merge (zoo manifest merge) finishes it. The report is nil while other
// shards are not done.
func (r *Run) FinishShard(ctx context.Context) (*MergeReport, error) {
	if err := r.Close(); err != nil {
		return nil, err
	}
	unlock, err := files.LockDir(ctx, r.Dir)
	if err != nil {
		return nil, fmt.Errorf("locking output directory %s: %w", r.Dir, err)
	}
	defer unlock()
	rep, err := mergeLocked(r.Dir)
	if errors.As(err, new(*IncompleteError)) {
		return nil, nil
	}
	return rep, err
}

// partStatus is one shard's part as the merge finds it.
type partStatus struct {
	rec   ShardRecord
	bytes int64 // of its manifest's valid prefix
}

func mergeLocked(dir string) (*MergeReport, error) {
	st, err := readDirState(dir)
	if err != nil {
		return nil, err
	}
	if st.plain != nil {
		if !st.merged {
			return nil, fmt.Errorf("%s holds a single-process run (%s), not shards: there is nothing to merge", dir, filepath.Join(dir, RunFile))
		}
		// Merged, perhaps by a merge that crashed before removing the
		// parts: finish that.
		raw, err := readSmall(filepath.Join(dir, ShardsFile), 64<<20)
		if err != nil {
			return nil, err
		}
		var sf shardsFile
		if err := json.Unmarshal(raw, &sf); err != nil {
			return nil, fmt.Errorf("%s is damaged (%v)", filepath.Join(dir, ShardsFile), err)
		}
		if err := removeParts(dir); err != nil {
			return nil, err
		}
		return &MergeReport{Dir: dir, Model: st.plain.Model, N: st.plain.N, Already: true, Manifest: filepath.Join(dir, ManifestFile), Shards: sf.Shards}, nil
	}
	if len(st.parts) == 0 {
		return nil, fmt.Errorf("%s holds no shards (%s): nothing to merge; make them with zoo generate ... -o %s --shard K/M", dir, ShardRunFile(0, 2), dir)
	}
	first := st.parts[firstKey(st.files)]
	info := first.RunInfo
	status := make([]partStatus, st.m)
	var missing []string
	for k := 0; k < st.m; k++ {
		want := first.Shard
		want.K, want.Start, want.End, want.Host, want.Job = k, 0, 0, "", ""
		want.Start, want.End = shard.Shard{K: k, M: st.m}.Range(info.N, want.Block)
		rerun := rerunCommand(info, dir, k, st.m)
		p, ok := st.parts[k]
		if !ok {
			missing = append(missing, fmt.Sprintf("shard %s (%s) has not started: run it with %s", want, want.Indices(), rerun))
			continue
		}
		if d := sameRun(info, p.RunInfo); d != "" || p.Shard.Start != want.Start || p.Shard.End != want.End {
			if d == "" {
				d = fmt.Sprintf("%s, want %s", p.Shard.Indices(), want.Indices())
			}
			return nil, fmt.Errorf("%s records another run than %s (%s); rerun that shard with the same settings and --force", filepath.Join(dir, st.files[k]), st.files[firstKey(st.files)], d)
		}
		r := &Run{Dir: dir, Info: p.RunInfo, Part: &p.Shard, Start: p.Shard.Start, End: p.Shard.End}
		f, err := files.OpenRegular(filepath.Join(dir, r.manifestFile()))
		var n int64
		if err == nil {
			n, err = r.validPrefix(f)
			f.Close()
		}
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", p.Shard, err)
		}
		status[k] = partStatus{ShardRecord{Shard: p.Shard.String(), K: k, M: st.m, Start: p.Shard.Start, End: p.Shard.End, Samples: r.Done, Host: p.Shard.Host, Job: p.Shard.Job}, n}
		if size := p.Shard.End - p.Shard.Start; r.Done < size {
			missing = append(missing, fmt.Sprintf("shard %s (%s) has %d of %d samples: rerun it with %s --resume", p.Shard, p.Shard.Indices(), r.Done, size, rerun))
		}
	}
	if len(missing) > 0 {
		return nil, &IncompleteError{Dir: dir, Missing: missing}
	}

	err = files.WriteAtomic(filepath.Join(dir, ManifestFile), func(w io.Writer) error {
		for k, s := range status {
			f, err := files.OpenRegular(filepath.Join(dir, ShardManifestFile(k, st.m)))
			if errors.Is(err, os.ErrNotExist) && s.bytes == 0 {
				continue
			}
			if err != nil {
				return err
			}
			_, err = io.CopyN(w, f, s.bytes)
			f.Close()
			if err != nil {
				return fmt.Errorf("shard %d/%d's manifest: %w", k, st.m, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("merging manifests: %w", err)
	}
	rep := &MergeReport{Dir: dir, Model: info.Model, N: info.N, Merged: true, Manifest: filepath.Join(dir, ManifestFile)}
	for _, s := range status {
		rep.Shards = append(rep.Shards, s.rec)
	}
	if err := files.WriteAtomicBytes(filepath.Join(dir, ShardsFile), indentJSON(shardsFile{info.Model, info.Seed, info.N, rep.Shards})); err != nil {
		return nil, err
	}
	// RunFile last: with it the directory is a finished run, so it must
	// not appear before the manifest and the shards' record are whole.
	if err := files.WriteAtomicBytes(filepath.Join(dir, RunFile), indentJSON(info)); err != nil {
		return nil, err
	}
	return rep, removeParts(dir)
}

// removeParts removes the shards' files of a merged run, and temporary
// files that killed shards left: with every shard done, no process writes
// into the directory any more.
func removeParts(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	// Manifests and temporary files first, run files last: a part whose
	// run file is gone is never looked for again.
	var names, runs []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		_, _, run := parseShardFile(e.Name())
		_, _, man := parseShardManifest(e.Name())
		switch {
		case run:
			runs = append(runs, e.Name())
		case man || files.IsTemp(e.Name()):
			names = append(names, e.Name())
		}
	}
	names = append(names, runs...)
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// rerunCommand is the zoo generate command that makes shard k of m of info.
func rerunCommand(info RunInfo, dir string, k, m int) string {
	cmd := fmt.Sprintf("zoo generate %s -n %d -o %s --seed %d", info.Model, info.N, dir, info.Seed)
	if info.Format != "" && info.Format != "png" {
		cmd += " --format " + info.Format
	}
	if info.Gzip {
		cmd += " --gzip"
	}
	if info.Input != "" {
		cmd += " --input " + info.Input
	}
	var conds []string
	for c, v := range info.Conditions {
		conds = append(conds, " --condition "+c+"="+v)
	}
	sort.Strings(conds)
	return cmd + strings.Join(conds, "") + fmt.Sprintf(" --shard %d/%d", k, m)
}
