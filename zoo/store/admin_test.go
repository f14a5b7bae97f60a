package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"medzoo/internal/files"
)

// zipModel is a python-package artifact served over HTTP, which Fetch
// unpacks.
func zipModel(t *testing.T, id string, zipData []byte) (*Artifact, *artifactServer) {
	t.Helper()
	srv := newArtifactServer(t, zipData)
	m := pinnedModel(id, srv.URL+"/pkg.zip", zipData)
	m.Format = "python-package"
	return m, srv
}

func mustFetch(t *testing.T, s *Store, m *Artifact) string {
	t.Helper()
	p, err := s.Fetch(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fetchedUnpinned serves data and fetches it as the artifact name, which
// pins no sha256, at url path (and query) rest, so the store keeps a pin
// for it: the starting point of the tests of what reads or removes pins.
func fetchedUnpinned(t *testing.T, name, rest string, data []byte) (*Store, *Artifact) {
	t.Helper()
	srv := newArtifactServer(t, data)
	m := &Artifact{Name: name, URL: srv.URL + rest}
	s := newTestStore(t)
	s.AllowUnpinned = true
	mustFetch(t, s, m)
	return s, m
}

func entryOf(t *testing.T, l *CacheListing, digest string) CacheEntry {
	t.Helper()
	for _, e := range l.Entries {
		if e.Digest == digest {
			return e
		}
	}
	t.Fatalf("no entry sha256-%s in %+v", digest, l.Entries)
	return CacheEntry{}
}

func TestCacheEntriesUsersAndSizes(t *testing.T) {
	a := fakeArtifact("admin-a", 5000)
	srvA := newArtifactServer(t, a)
	mA := pinnedModel("00201_A", srvA.URL+"/a.pt", a)
	// Another catalog entry with the same artifact: both are its users.
	mA2 := pinnedModel("00202_A_AGAIN", srvA.URL+"/a.pt", a)

	pkgFile := fakeArtifact("admin-pkg", 3000)
	zipData := zipBytes(t, []testZipEntry{{name: "pkg/__init__.py", body: pkgFile}, {name: "pkg/w.bin", body: []byte("weights")}})
	mZip, _ := zipModel(t, "00203_ZIP", zipData)

	c := fakeArtifact("admin-unpinned", 4000)
	srvC := newArtifactServer(t, c)
	mC := &Artifact{Name: "00204_UNPINNED", URL: srvC.URL + "/c.pt"}

	orphan := fakeArtifact("admin-orphan", 1234)
	srvO := newArtifactServer(t, orphan)
	mO := pinnedModel("00205_GONE_FROM_CATALOG", srvO.URL+"/o.pt", orphan)

	s := newTestStore(t)
	s.AllowUnpinned = true
	for _, m := range []Artifact{*mA, *mZip, *mC, *mO} {
		mustFetch(t, s, &m)
	}
	neverFetched := &Artifact{Name: "00206_NEVER", URL: "https://127.0.0.1:1/never.pt"}

	l, err := s.Entries([]Artifact{*mA, *mA2, *mZip, *mC, *neverFetched})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 4 {
		t.Fatalf("%d entries, want 4: %+v", len(l.Entries), l.Entries)
	}
	eA := entryOf(t, l, hexSHA256(a))
	if !slices.Equal(eA.Users, []string{"00201_A", "00202_A_AGAIN"}) || eA.Bytes != int64(len(a)) || eA.Unpacked != "" {
		t.Errorf("entry of A: %+v", eA)
	}
	if eA.Modified.IsZero() || eA.Used.Before(eA.Modified) {
		t.Errorf("entry of A: modified %v, used %v", eA.Modified, eA.Used)
	}
	eZip := entryOf(t, l, hexSHA256(zipData))
	if want := int64(len(zipData) + len(pkgFile) + len("weights")); eZip.Bytes != want || eZip.Unpacked == "" || eZip.Blob == "" {
		t.Errorf("entry of the zip: %d bytes (want %d: the zip and its unpacked files), %+v", eZip.Bytes, want, eZip)
	}
	if eC := entryOf(t, l, hexSHA256(c)); !slices.Equal(eC.Users, []string{"00204_UNPINNED"}) {
		t.Errorf("the unpinned model is not found through its pin: %+v", eC)
	}
	eO := entryOf(t, l, hexSHA256(orphan))
	if len(eO.Users) != 0 {
		t.Errorf("an entry no given model uses has users %v", eO.Users)
	}
	if last := l.Entries[len(l.Entries)-1]; last.Digest != eO.Digest {
		t.Errorf("the unused entry is not listed last: %+v", l.Entries)
	}
	if want := int64(len(a) + len(c) + len(orphan) + len(zipData) + len(pkgFile) + len("weights")); l.Bytes != want {
		t.Errorf("total %d bytes, want %d", l.Bytes, want)
	}
	for _, e := range l.Entries {
		if e.Problem != "" {
			t.Errorf("problem on an entry zoo made: %s", e.Problem)
		}
	}
	if d, err := s.Digest(*neverFetched); err != nil || d != "" {
		t.Errorf("Digest of a never-fetched unpinned model = %q, %v", d, err)
	}
}

func TestCacheEntriesOfEmptyCache(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "not-made-yet")}
	l, err := s.Entries(nil)
	if err != nil || len(l.Entries) != 0 || len(l.Tmp) != 0 || l.Bytes != 0 {
		t.Fatalf("Entries = %+v, %v", l, err)
	}
	_, err = s.Remove(context.Background(), hexSHA256([]byte("x")))
	if !errors.Is(err, ErrNotCached) {
		t.Errorf("Remove of a missing entry: %v, want ErrNotCached", err)
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("listing and a refused Remove created the cache directory (%v)", err)
	}
}

func TestCacheRemoveThenFetchAgain(t *testing.T) {
	zipData := zipBytes(t, []testZipEntry{{name: "pkg/__init__.py", body: []byte("print(1)")}})
	m, srv := zipModel(t, "00210_RM", zipData)
	s := newTestStore(t)
	mustFetch(t, s, m)
	d := hexSHA256(zipData)

	gone, err := s.Remove(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if gone.Blob == "" || gone.Unpacked == "" || gone.Bytes <= int64(len(zipData)) {
		t.Errorf("Remove returned %+v", gone)
	}
	wantNothingCached(t, s)
	if _, ok := s.Cached(*m); ok {
		t.Error("Cached still finds the removed artifact")
	}
	_, err = s.Remove(context.Background(), d)
	if !errors.Is(err, ErrNotCached) {
		t.Errorf("second Remove: %v, want ErrNotCached", err)
	}

	before := srv.gets.Load()
	p := mustFetch(t, s, m)
	if srv.gets.Load() != before+1 {
		t.Error("Fetch after Remove did not download again")
	}
	if string(mustReadFile(t, filepath.Join(p, "pkg", "__init__.py"))) != "print(1)" {
		t.Error("the fetch after Remove did not unpack again")
	}
}

// openCount is how many of this process's file descriptors are open on
// path (Linux: /proc/self/fd).
func openCount(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

func TestCacheRemoveWaitsForTheLock(t *testing.T) {
	if !files.LocksAcrossProcesses || runtime.GOOS != "linux" {
		t.Skip("needs flock and /proc")
	}
	data := fakeArtifact("admin-locked", 3000)
	srv := newArtifactServer(t, data)
	m := pinnedModel("00211_LOCKED", srv.URL+"/m.pt", data)
	s := newTestStore(t)
	blob := mustFetch(t, s, m)
	d := hexSHA256(data)
	lockPath := s.lockPath(digestKey(d))

	// A fetch or unpack in progress holds the digest's lock.
	unlock, err := s.lock(context.Background(), digestKey(d))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("times out", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := s.Remove(ctx, d)
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("Remove under a held lock: %v, want ErrBusy", err)
		}
		wantErrorMentioning(t, err, lockPath, "another zoo process", "nothing was removed")
		if !pathExists(blob) {
			t.Fatal("Remove took the blob from under the lock's owner")
		}
	})

	t.Run("waits", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := s.Remove(context.Background(), d)
			done <- err
		}()
		// Remove is waiting once it has the lock file open beside ours.
		deadline := time.Now().Add(10 * time.Second)
		for openCount(t, lockPath) < 2 {
			if time.Now().After(deadline) {
				t.Fatal("Remove never opened the lock file")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !pathExists(blob) {
			t.Fatal("Remove did not wait for the lock")
		}
		unlock()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if pathExists(blob) {
			t.Fatal("Remove returned without removing the blob")
		}
	})
}

func TestCachePruneKeepsUsedRemovesUnused(t *testing.T) {
	used := fakeArtifact("admin-used", 2000)
	srvU := newArtifactServer(t, used)
	mUsed := pinnedModel("00220_USED", srvU.URL+"/u.pt", used)
	unusedZip := zipBytes(t, []testZipEntry{{name: "pkg/x.py", body: []byte("x = 1")}})
	mUnused, _ := zipModel(t, "00221_UNUSED", unusedZip)
	usedZip := zipBytes(t, []testZipEntry{{name: "pkg/y.py", body: []byte("y = 2")}})
	mUsedZip, _ := zipModel(t, "00222_USED_ZIP", usedZip)

	s := newTestStore(t)
	for _, m := range []Artifact{*mUsed, *mUnused, *mUsedZip} {
		mustFetch(t, s, &m)
	}
	// An unpacked archive needs no blob: without it, the entry is still
	// used (and kept), or unused (and removed) like any other.
	if err := os.Remove(s.blobPath(hexSHA256(usedZip))); err != nil {
		t.Fatal(err)
	}
	// A download a killed process left, and one a live process is writing.
	dead := "sha256-" + hexSHA256([]byte("dead owner")) + ".123"
	live := "sha256-" + hexSHA256([]byte("live owner")) + ".456"
	for _, n := range []string{dead, live} {
		if err := os.MkdirAll(filepath.Join(s.Dir, "tmp", n), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(s.Dir, "tmp", n, "blob"), []byte("partial"), 0o644)
	}
	unlock, err := s.lock(context.Background(), "sha256-"+hexSHA256([]byte("live owner")))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	users := []Artifact{*mUsed, *mUsedZip}

	l, err := s.Entries(users)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, tmp := range l.Tmp {
		states[tmp.Name] = tmp.State
	}
	if files.LocksAcrossProcesses && (states[dead] != TmpLeftover || states[live] != TmpInUse) {
		t.Errorf("tmp/ states %v", states)
	}

	before := listDir(t, s.Dir, "blobs")
	dry, err := s.Prune(context.Background(), users, PruneOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Removed) != 1 || dry.Removed[0].Digest != hexSHA256(unusedZip) || dry.Kept != 2 {
		t.Errorf("dry run: %+v", dry)
	}
	if after := listDir(t, s.Dir, "blobs"); !slices.Equal(before, after) || !dirExists(s.unpackedPath(hexSHA256(unusedZip))) {
		t.Fatal("a dry run removed something")
	}

	res, err := s.Prune(context.Background(), users, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 1 || res.Removed[0].Digest != hexSHA256(unusedZip) || res.Bytes < int64(len(unusedZip)) {
		t.Errorf("prune: %+v", res)
	}
	if pathExists(s.blobPath(hexSHA256(unusedZip))) || pathExists(s.unpackedPath(hexSHA256(unusedZip))) {
		t.Error("prune kept the unused entry")
	}
	if _, ok := s.Cached(*mUsed); !ok {
		t.Error("prune removed a used blob")
	}
	if _, ok := s.Cached(*mUsedZip); !ok {
		t.Error("prune removed a used unpacked archive")
	}
	if files.LocksAcrossProcesses {
		if tmp := listDir(t, s.Dir, "tmp"); !slices.Equal(tmp, []string{live}) {
			t.Errorf("tmp/ after prune holds %v, want only the live download %s", tmp, live)
		}
	}
}

// A damaged pin hides which entry its model uses: prune stops rather than
// guess.
func TestCachePruneStopsOnDamagedPin(t *testing.T) {
	data := fakeArtifact("admin-damaged-pin", 2000)
	s, m := fetchedUnpinned(t, "00225_PINNED", "/m.pt", data)
	if err := os.WriteFile(s.pinPath(m.URL), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Prune(context.Background(), []Artifact{*m}, PruneOptions{})
	wantErrorMentioning(t, err, "00225_PINNED", "damaged", "nothing was removed")
	if !pathExists(s.blobPath(hexSHA256(data))) {
		t.Error("prune removed a blob while a pin was unreadable")
	}
}

func TestCacheRefusesPlantedLinks(t *testing.T) {
	v := newVictim(t)
	s := newTestStore(t)
	for _, sub := range []string{"blobs", "unpacked"} {
		os.MkdirAll(filepath.Join(s.Dir, sub), 0o755)
	}
	linkDigest := hexSHA256([]byte("planted blob"))
	dirDigest := hexSHA256([]byte("planted dir"))
	blobLink := s.blobPath(linkDigest)
	dirLink := s.unpackedPath(dirDigest)
	if err := os.Symlink(v.file, blobLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(v.dir, dirLink); err != nil {
		t.Fatal(err)
	}
	victimUntouched := func(t *testing.T) {
		t.Helper()
		v.untouched(t)
		for _, p := range []string{blobLink, dirLink} {
			if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("the planted link %s was removed or replaced (%v)", p, err)
			}
		}
	}

	l, err := s.Entries(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{linkDigest, dirDigest} {
		e := entryOf(t, l, d)
		if !strings.Contains(e.Problem, "symbolic link to") || e.Bytes != 0 {
			t.Errorf("planted entry %+v: want a symbolic-link problem and no bytes counted", e)
		}
	}

	for _, d := range []string{linkDigest, dirDigest} {
		_, err := s.Remove(context.Background(), d)
		if !errors.Is(err, ErrUnsafeCache) {
			t.Errorf("Remove of a planted link: %v, want ErrUnsafeCache", err)
		}
		wantErrorMentioning(t, err, "symbolic link", "nothing was removed")
	}
	victimUntouched(t)

	res, err := s.Prune(context.Background(), nil, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 || len(res.Skipped) != 2 {
		t.Errorf("prune with planted links: %+v", res)
	}
	victimUntouched(t)

	t.Run("blobs dir is a link", func(t *testing.T) {
		s := newTestStore(t)
		if err := os.Symlink(v.dir, filepath.Join(s.Dir, "blobs")); err != nil {
			t.Fatal(err)
		}
		_, err := s.Entries(nil)
		if !errors.Is(err, ErrUnsafeCache) {
			t.Errorf("Entries with blobs/ a link: %v, want ErrUnsafeCache", err)
		}
		if _, err := s.Prune(context.Background(), nil, PruneOptions{}); !errors.Is(err, ErrUnsafeCache) {
			t.Errorf("Prune with blobs/ a link: %v, want ErrUnsafeCache", err)
		}
		v.untouched(t)
	})
}

func TestCacheMatchDigests(t *testing.T) {
	s := newTestStore(t)
	os.MkdirAll(filepath.Join(s.Dir, "blobs"), 0o755)
	os.MkdirAll(filepath.Join(s.Dir, "unpacked"), 0o755)
	d1 := "abcdef" + strings.Repeat("1", 58)
	d2 := "abcdef" + strings.Repeat("2", 58)
	os.WriteFile(s.blobPath(d1), []byte("1"), 0o644)
	os.WriteFile(s.blobPath(d2), []byte("2"), 0o644)
	os.Mkdir(s.unpackedPath(d2), 0o755) // the same entry, not a third
	os.WriteFile(filepath.Join(s.Dir, "blobs", "notes.txt"), []byte("mine"), 0o644)

	for prefix, want := range map[string][]string{
		"abcdef":         {d1, d2},
		"sha256:ABCDEF1": {d1},
		"sha256-abcdef2": {d2},
		"abcdef3":        nil,
	} {
		got, err := s.MatchDigests(prefix)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("MatchDigests(%q) = %v, %v; want %v", prefix, got, err, want)
		}
	}
	l, err := s.Entries(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 3 {
		t.Fatalf("%d entries, want 3 (two digests, one odd name): %+v", len(l.Entries), l.Entries)
	}
	for _, e := range l.Entries {
		if e.Name == "notes.txt" && (e.Digest != "" || !strings.Contains(e.Problem, "not named")) {
			t.Errorf("odd name: %+v", e)
		}
	}
	res, err := s.Prune(context.Background(), nil, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !pathExists(filepath.Join(s.Dir, "blobs", "notes.txt")) || len(res.Removed) != 2 {
		t.Errorf("prune: %+v (an oddly named file must stay)", res)
	}
}

func TestCacheUnpin(t *testing.T) {
	data := fakeArtifact("admin-unpin", 2500)
	s, m := fetchedUnpinned(t, "00230_UNPIN", "/m.pt?download=1", data)
	d := hexSHA256(data)

	pins, err := s.Pins()
	if err != nil || len(pins) != 1 || pins[0].URL != m.URL || pins[0].SHA256 != d || pins[0].Model != m.Name {
		t.Fatalf("Pins = %+v, %v", pins, err)
	}
	if urls, err := s.Unpin(context.Background(), hexSHA256([]byte("other"))); err != nil || len(urls) != 0 {
		t.Errorf("Unpin of another digest: %v, %v", urls, err)
	}
	urls, err := s.Unpin(context.Background(), d)
	if err != nil || !slices.Equal(urls, []string{m.URL}) {
		t.Fatalf("Unpin = %v, %v", urls, err)
	}
	if pathExists(s.pinPath(m.URL)) {
		t.Error("the pin file is still there")
	}
	if got, err := s.Digest(*m); err != nil || got != "" {
		t.Errorf("Digest after Unpin = %q, %v", got, err)
	}
	if !pathExists(s.blobPath(d)) {
		t.Error("Unpin removed the blob")
	}
}
