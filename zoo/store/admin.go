// Cache administration (zoo cache list|rm|prune): what the store holds,
// who uses each entry, and removing entries safely while other processes
// use the same cache.
//
// Removal follows the store's own rules (see Store). An entry is removed
// under the per-digest lock that fetching and unpacking take, so a fetch or
// unpack of the same artifact in another process either finishes before
// the removal or starts after it and fetches again. Removal unlinks names:
// a process that has already opened a blob (a running generate or serve)
// keeps reading it, and the kernel frees the space when it closes it. An
// unpacked directory is renamed into tmp/ first and deleted there, because
// Fetch trusts an unpacked directory that is present: a half-deleted one
// must never be visible under unpacked/. One window is left: a process that
// Fetch has handed a path but that has not opened it yet fails with "no
// such file", and running it again fetches the artifact anew.
//
// Nothing here follows a link or trusts an odd entry: a symbolic link or
// special file where zoo keeps blobs or unpacked directories is reported
// and left alone, for a person to look at.

package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"medzoo/internal/files"
)

// Errors of the cache administration, for errors.Is.
var (
	// ErrNotCached: nothing of the artifact is in the cache.
	ErrNotCached = errors.New("not in the cache")
	// ErrBusy: another process held the entry's lock for longer than the
	// caller would wait.
	ErrBusy = errors.New("cache entry in use")
)

// CacheEntry is one artifact in the cache: its blob, its unpacked
// directory, or both (an unpacked archive does not need its blob).
type CacheEntry struct {
	Name     string    `json:"name"`               // sha256-<hex>, as on disk
	Digest   string    `json:"sha256,omitempty"`   // "" when Name is not one zoo gives entries
	Bytes    int64     `json:"bytes"`              // the blob plus the unpacked files
	Blob     string    `json:"blob,omitempty"`     // path of the blob, when there is one
	Unpacked string    `json:"unpacked,omitempty"` // path of the unpacked directory, when there is one
	Modified time.Time `json:"modified,omitzero"`  // when it was fetched or unpacked
	// Used is when it was last read, as far as the filesystem records
	// reads: most mount with relatime, which updates it at most once a
	// day; a filesystem mounted noatime never does (Used is then Modified).
	Used time.Time `json:"used,omitzero"`
	// Users are the models (and catalogs, extractors) that use it, from
	// the list the caller passed; none: prune removes it.
	Users []string `json:"users"`
	// Problem says why zoo leaves the entry alone ("blobs/x is a symbolic
	// link to /etc/passwd, ..."); "" for an entry zoo made.
	Problem string `json:"problem,omitempty"`
}

// Tmp entry states.
const (
	TmpInUse    = "in-use"   // a live zoo process owns it
	TmpLeftover = "leftover" // its owner is gone (killed): prune removes it
	TmpForeign  = "foreign"  // not named the way zoo names its temporary entries; left alone
)

// TmpEntry is one entry of tmp/: a download or unpack in progress, or one
// a killed process left.
type TmpEntry struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	Bytes    int64     `json:"bytes"`
	Modified time.Time `json:"modified"`
	State    string    `json:"state"` // TmpInUse, TmpLeftover or TmpForeign
}

// CacheListing is what the cache holds.
type CacheListing struct {
	Dir     string       `json:"dir"`
	Entries []CacheEntry `json:"entries"` // used ones first, by first user; then the unused, by name
	Tmp     []TmpEntry   `json:"tmp"`
	Bytes   int64        `json:"bytes"` // entries and tmp/ together
	// Warnings are users whose digest could not be read (a damaged pin):
	// their entries show as unused.
	Warnings []string `json:"warnings,omitempty"`
}

// Pin is a digest pinned on first use of an artifact with no catalog
// sha256 (Store.AllowUnpinned).
type Pin struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	Model  string `json:"model"` // the model whose fetch pinned it
	Path   string `json:"path"`  // the pin file
}

// Digest returns the sha256 the store keeps an artifact under: the
// catalog's, or for an unpinned artifact the digest pinned on its first
// download; "" when neither is known (never fetched).
func (s *Store) Digest(art Artifact) (string, error) {
	a := &art
	src, err := parseArtifactSource(a)
	if err != nil {
		// Nothing was ever fetched from a URL zoo cannot read, but a
		// catalog sha256 still names the digest.
		src = artifactSource{raw: strings.TrimSpace(a.URL)}
	}
	if src.raw == "" && strings.TrimSpace(a.SHA256) == "" {
		return "", nil
	}
	want, err := s.expected(a, src)
	return want.digest, err
}

// Entries lists the cache. users are what may use its entries (the models
// of the catalogs in use, pseudo-models for remote catalogs and feature
// extractors); each entry names those whose Digest it is. It only looks
// at file metadata: it reads no blob and takes no lock but tmp/ entries'
// (briefly, to tell a live owner from a dead one).
func (s *Store) Entries(users []Artifact) (*CacheListing, error) {
	if err := s.checkDir(); err != nil {
		return nil, err
	}
	out := &CacheListing{Dir: s.Dir, Entries: []CacheEntry{}, Tmp: []TmpEntry{}}
	for _, sub := range []string{"blobs", "unpacked", "tmp"} {
		if err := s.checkSubdir(sub); err != nil {
			return nil, err
		}
	}
	byDigest, warnings := s.usersByDigest(users)
	out.Warnings = warnings

	names, err := s.entryNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		e, err := s.entryNamed(name)
		if err != nil {
			return nil, err
		}
		if e.Digest != "" {
			e.Users = byDigest[e.Digest]
		}
		if e.Users == nil {
			e.Users = []string{}
		}
		out.Entries = append(out.Entries, e)
		out.Bytes += e.Bytes
	}
	sort.SliceStable(out.Entries, func(i, j int) bool {
		a, b := out.Entries[i], out.Entries[j]
		if (len(a.Users) == 0) != (len(b.Users) == 0) {
			return len(a.Users) > 0
		}
		if len(a.Users) > 0 && a.Users[0] != b.Users[0] {
			return a.Users[0] < b.Users[0]
		}
		return a.Name < b.Name
	})

	tmp, err := s.tmpEntries()
	if err != nil {
		return nil, err
	}
	out.Tmp = tmp
	for _, t := range tmp {
		out.Bytes += t.Bytes
	}
	return out, nil
}

// MatchDigests returns the digests of cache entries that start with
// prefix (hex, optionally after "sha256:" or "sha256-"), sorted.
func (s *Store) MatchDigests(prefix string) ([]string, error) {
	if err := s.checkDir(); err != nil {
		return nil, err
	}
	p := strings.ToLower(strings.TrimSpace(prefix))
	p = strings.TrimPrefix(strings.TrimPrefix(p, "sha256:"), "sha256-")
	names, err := s.entryNames()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if d, ok := digestOfName(n); ok && strings.HasPrefix(d, p) {
			out = append(out, d)
		}
	}
	return out, nil
}

// Remove deletes the cache entry of digest: its blob and its unpacked
// directory. It waits for the digest's lock until ctx ends (then ErrBusy),
// so it never removes an entry another process is writing. It refuses
// (ErrUnsafeCache) an entry that is a link or not the kind of file zoo
// makes, and removes nothing then. Pins stay: see Unpin. It returns the
// entry as it was.
func (s *Store) Remove(ctx context.Context, digest string) (CacheEntry, error) {
	if err := s.checkDir(); err != nil {
		return CacheEntry{}, err
	}
	d, err := ParseDigest(digest)
	if err != nil {
		return CacheEntry{}, fmt.Errorf("%q: %w", digest, err)
	}
	// Checked before locking, so asking for what is not there creates no
	// lock file (or cache directory).
	if _, err := s.removable(d); err != nil {
		return CacheEntry{}, err
	}
	key := digestKey(d)
	unlock, err := s.lock(ctx, key)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return CacheEntry{}, &storeError{kind: ErrBusy, msg: fmt.Sprintf(
				"sha256:%s is in use: another zoo process holds its lock (%s) while it fetches or unpacks this artifact; "+
					"nothing was removed; try again when it is done", d, s.lockPath(key))}
		}
		return CacheEntry{}, err
	}
	defer unlock()
	// Again under the lock: the entry may have changed while we waited.
	e, err := s.removable(d)
	if err != nil {
		return CacheEntry{}, err
	}
	if e.Unpacked != "" {
		if err := s.discardDir(key, e.Unpacked); err != nil {
			return CacheEntry{}, err
		}
	}
	if e.Blob != "" {
		if err := os.Remove(e.Blob); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return CacheEntry{}, fmt.Errorf("artifact store: %w", err)
		}
		verifiedBlobs.Delete(e.Blob)
	}
	return e, nil
}

// removable is the entry of d if it exists and is one zoo made.
func (s *Store) removable(d string) (CacheEntry, error) {
	e, err := s.entryNamed(digestKey(d))
	if err != nil {
		return e, err
	}
	if e.Problem != "" {
		return e, &storeError{kind: ErrUnsafeCache, msg: fmt.Sprintf("artifact store: %s; nothing was removed", e.Problem)}
	}
	if e.Blob == "" && e.Unpacked == "" {
		return e, &storeError{kind: ErrNotCached, msg: fmt.Sprintf("sha256:%s is not in the cache (%s)", d, s.Dir)}
	}
	return e, nil
}

// discardDir takes dir out of the cache at once, by renaming it into a new
// tmp/ entry of key, and then deletes it. Should the deletion stop half
// way (a killed process), what is left is a tmp/ entry whose owner is
// gone, which the next fetch or prune of the cache removes.
func (s *Store) discardDir(key, dir string) error {
	tmp, err := os.MkdirTemp(s.tmpDir(), key+".rm-")
	if err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	if err := os.Rename(dir, filepath.Join(tmp, "unpacked")); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("artifact store: %w", err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("artifact store: %s is out of the cache but not all deleted: %w", tmp, err)
	}
	return nil
}

// Pins lists the digests pinned on first use. Pin files zoo cannot read
// are left out.
func (s *Store) Pins() ([]Pin, error) {
	if err := s.checkDir(); err != nil {
		return nil, err
	}
	if err := s.checkSubdir("pins"); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.Dir, "pins")
	ents, err := readDirIfAny(dir)
	if err != nil {
		return nil, err
	}
	var out []Pin
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		// Pins are a few hundred bytes; a larger file is not one.
		data, err := files.ReadRegular(p, 1<<16)
		if err != nil {
			continue
		}
		var rec pin
		if json.Unmarshal(data, &rec) != nil || s.pinPath(rec.URL) != p {
			continue
		}
		d, err := ParseDigest(rec.SHA256)
		if err != nil {
			continue
		}
		out = append(out, Pin{URL: rec.URL, SHA256: d, Model: rec.Model, Path: p})
	}
	return out, nil
}

// Unpin removes the pins that record digest, each under its URL's lock
// (the lock a first download takes while it pins), and returns the URLs.
// The next fetch of such a URL pins whatever it downloads then.
func (s *Store) Unpin(ctx context.Context, digest string) ([]string, error) {
	d, err := ParseDigest(digest)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", digest, err)
	}
	pins, err := s.Pins()
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, p := range pins {
		if p.SHA256 != d {
			continue
		}
		unlock, err := s.lock(ctx, urlKey(p.URL))
		if err != nil {
			return urls, err
		}
		cur, ok, err := s.readPin(p.URL)
		if err == nil && ok && cur.SHA256 == d {
			err = os.Remove(p.Path)
			if err == nil {
				urls = append(urls, p.URL)
			}
		}
		unlock()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return urls, fmt.Errorf("artifact store: removing pin %s: %w", p.Path, err)
		}
	}
	return urls, nil
}

// PruneOptions tunes Prune.
type PruneOptions struct {
	DryRun bool // report what would go, remove nothing
	// Wait is how long to wait for the lock of an entry another process
	// is working on; an entry still locked then is skipped.
	Wait time.Duration
}

// Skipped is an entry Prune left alone, and why.
type Skipped struct {
	Name string `json:"name"`
	Why  string `json:"why"`
}

// PruneResult is what Prune removed (or, dry, would remove).
type PruneResult struct {
	DryRun   bool         `json:"dry_run"`
	Removed  []CacheEntry `json:"removed"` // entries no user uses
	Tmp      []TmpEntry   `json:"tmp"`     // tmp/ entries whose owner is gone
	Kept     int          `json:"kept"`    // entries in use
	Skipped  []Skipped    `json:"skipped"`
	Bytes    int64        `json:"bytes"` // freed, or that would be
	Warnings []string     `json:"warnings,omitempty"`
}

// Prune removes the cache entries that none of users uses, and what killed
// processes left in tmp/ (entries whose owner's lock is free, as the
// store's own sweep decides). Entries with a Problem are left alone, and
// so are entries another process still holds the lock of after
// opts.Wait. Pins stay. Users whose digest cannot be read make Prune stop
// before it removes anything: it cannot tell which entry they need.
func (s *Store) Prune(ctx context.Context, users []Artifact, opts PruneOptions) (*PruneResult, error) {
	list, err := s.Entries(users)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{DryRun: opts.DryRun, Removed: []CacheEntry{}, Tmp: []TmpEntry{}, Skipped: []Skipped{}}
	if len(list.Warnings) > 0 {
		return nil, fmt.Errorf("prune: %s; nothing was removed, since zoo cannot tell which cache entry that needs",
			strings.Join(list.Warnings, "; "))
	}
	for _, e := range list.Entries {
		switch {
		case e.Problem != "":
			res.Skipped = append(res.Skipped, Skipped{Name: e.Name, Why: e.Problem})
			continue
		case len(e.Users) > 0:
			res.Kept++
			continue
		case opts.DryRun:
			res.Removed = append(res.Removed, e)
			res.Bytes += e.Bytes
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, opts.Wait)
		gone, err := s.Remove(wctx, e.Digest)
		cancel()
		switch {
		case errors.Is(err, ErrNotCached):
			// Removed by someone else meanwhile.
		case errors.Is(err, ErrBusy), errors.Is(err, ErrUnsafeCache):
			res.Skipped = append(res.Skipped, Skipped{Name: e.Name, Why: err.Error()})
		case err != nil:
			return res, err
		default:
			res.Removed = append(res.Removed, gone)
			res.Bytes += gone.Bytes
		}
	}
	for _, t := range list.Tmp {
		if t.State != TmpLeftover {
			continue
		}
		if !opts.DryRun {
			release, ok := s.claimTmp(t.Name, t.Modified)
			if !ok {
				continue // its owner is back: a new process took the key
			}
			err := os.RemoveAll(t.Path)
			release()
			if err != nil {
				return res, fmt.Errorf("artifact store: %w", err)
			}
		}
		res.Tmp = append(res.Tmp, t)
		res.Bytes += t.Bytes
	}
	return res, nil
}

// ---- reading the layout ----

// checkSubdir refuses a store subdirectory that is a link or a file: its
// listing would be of somewhere else.
func (s *Store) checkSubdir(sub string) error {
	p := filepath.Join(s.Dir, sub)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("artifact store: %w", err)
	case !fi.IsDir():
		return unsafeCacheEntry(p, fi, "directory")
	}
	return nil
}

// entryNames are the names under blobs/ and unpacked/, each once, sorted.
func (s *Store) entryNames() ([]string, error) {
	var names []string
	for _, sub := range []string{"blobs", "unpacked"} {
		if err := s.checkSubdir(sub); err != nil {
			return nil, err
		}
		ents, err := readDirIfAny(filepath.Join(s.Dir, sub))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// entryNamed describes the entry name (sha256-<hex>, or an odd name found
// in blobs/ or unpacked/) from its files' metadata.
func (s *Store) entryNamed(name string) (CacheEntry, error) {
	e := CacheEntry{Name: name, Users: []string{}}
	d, ok := digestOfName(name)
	if ok {
		e.Digest = d
	}
	var problems []string
	blob := filepath.Join(s.Dir, "blobs", name)
	if fi, err := os.Lstat(blob); err == nil {
		e.Blob = blob
		if fi.Mode().IsRegular() {
			e.Bytes += fi.Size()
			e.Modified, e.Used = fi.ModTime(), accessTime(fi)
		} else {
			problems = append(problems, fmt.Sprintf("%s is %s, not a file zoo made", blob, entryKind(blob, fi)))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return e, fmt.Errorf("artifact store: %w", err)
	}
	dir := filepath.Join(s.Dir, "unpacked", name)
	if fi, err := os.Lstat(dir); err == nil {
		e.Unpacked = dir
		if fi.IsDir() {
			n, mod, used := treeStats(dir)
			e.Bytes += n
			e.Modified, e.Used = later(e.Modified, mod), later(e.Used, used)
		} else {
			problems = append(problems, fmt.Sprintf("%s is %s, not a directory zoo made", dir, entryKind(dir, fi)))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return e, fmt.Errorf("artifact store: %w", err)
	}
	if !ok && len(problems) == 0 {
		where := e.Blob
		if where == "" {
			where = e.Unpacked
		}
		problems = append(problems, where+" is not named as zoo names cache entries (sha256-<64 hex digits>)")
	}
	if len(problems) > 0 {
		e.Problem = strings.Join(problems, "; ") + "; zoo cache neither follows nor removes it: look at it, and remove it yourself if you do not need it"
	}
	if e.Used.Before(e.Modified) {
		e.Used = e.Modified // noatime, or a copy that kept old access times
	}
	return e, nil
}

// digestOfName is the digest in a cache entry's name sha256-<hex>.
func digestOfName(name string) (string, bool) {
	h, ok := strings.CutPrefix(name, "sha256-")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return h, true
}

// usersByDigest maps digests to the IDs of the users that need them.
func (s *Store) usersByDigest(users []Artifact) (map[string][]string, []string) {
	out := map[string][]string{}
	var warnings []string
	for _, a := range users {
		d, err := s.Digest(a)
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		if d != "" && !slices.Contains(out[d], a.Name) {
			out[d] = append(out[d], a.Name)
		}
	}
	return out, warnings
}

// tmpEntries lists tmp/ with each entry's state.
func (s *Store) tmpEntries() ([]TmpEntry, error) {
	ents, err := readDirIfAny(s.tmpDir())
	if err != nil {
		return nil, err
	}
	out := []TmpEntry{}
	for _, de := range ents {
		p := filepath.Join(s.tmpDir(), de.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			continue // gone meanwhile: its owner finished
		}
		t := TmpEntry{Name: de.Name(), Path: p, Modified: fi.ModTime(), State: TmpForeign}
		switch {
		case fi.IsDir():
			t.Bytes, _, _ = treeStats(p)
		case fi.Mode().IsRegular():
			t.Bytes = fi.Size()
		}
		if release, ok := s.claimTmp(de.Name(), fi.ModTime()); ok {
			release()
			t.State = TmpLeftover
		} else if key, _, ok := strings.Cut(de.Name(), "."); ok && key != "" {
			t.State = TmpInUse
		}
		out = append(out, t)
	}
	return out, nil
}

// claimTmp decides, as sweepTmp does, whether the owner of tmp/ entry name
// is gone: the entry belongs to the key before its first dot, and a live
// owner holds that key's lock. It returns with the lock held, so that no
// new owner starts on the key while the entry is removed. Where locks do
// not reach other processes, only an entry a day old counts as abandoned.
func (s *Store) claimTmp(name string, modified time.Time) (release func(), ok bool) {
	key, _, found := strings.Cut(name, ".")
	if !found || key == "" {
		return nil, false
	}
	if !files.LocksAcrossProcesses {
		return func() {}, time.Since(modified) > 24*time.Hour
	}
	return files.TryLock(s.lockPath(key))
}

// treeStats sums the sizes of the regular files under dir, and returns
// their latest modification and access times. It never follows a link.
func treeStats(dir string) (bytes int64, modified, used time.Time) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info() // Lstat: WalkDir does not follow links
		if err != nil {
			return nil
		}
		modified = later(modified, fi.ModTime())
		if fi.Mode().IsRegular() {
			bytes += fi.Size()
			used = later(used, accessTime(fi))
		}
		return nil
	})
	return bytes, modified, used
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// entryKind names what a cache entry is, with a link's target.
func entryKind(p string, fi fs.FileInfo) string {
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err := os.Readlink(p); err == nil {
			return "a symbolic link to " + target
		}
	}
	return files.Kind(fi.Mode())
}

// readDirIfAny is os.ReadDir, with no entries for a directory that does
// not exist (a cache nothing was fetched into yet).
func readDirIfAny(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	return ents, nil
}
