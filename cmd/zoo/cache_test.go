package main_test

// zoo cache list|rm|prune against a cache filled by real pulls from
// 127.0.0.1 servers, with another process holding a lock and links planted
// in the cache.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	cacheModuleID  = "90020_CACHE_MODULE"
	cachePackageID = "90021_CACHE_PACKAGE"
)

// cacheJSON is the part of `zoo cache list --json` the tests read.
type cacheJSON struct {
	Dir     string `json:"dir"`
	Entries []struct {
		Name     string   `json:"name"`
		SHA256   string   `json:"sha256"`
		Bytes    int64    `json:"bytes"`
		Blob     string   `json:"blob"`
		Unpacked string   `json:"unpacked"`
		Users    []string `json:"users"`
		Problem  string   `json:"problem"`
	} `json:"entries"`
	Tmp []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"tmp"`
	Bytes int64 `json:"bytes"`
}

func cacheList(t *testing.T, env []string) cacheJSON {
	t.Helper()
	r := mustOK(t, zoo(t, env, "cache", "list", "--json"))
	var l cacheJSON
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("cache list --json: %v\n%s", err, r.stdout)
	}
	return l
}

// getCounter serves data and counts GET requests.
func getCounter(t *testing.T, data []byte) (string, *atomic.Int64) {
	t.Helper()
	var gets atomic.Int64
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Write(data)
	})
	return url, &gets
}

// cacheSetup is a private cache and two catalogs: one with a TorchScript
// module (pinned) and a Python package zip (unpinned, unpacked on pull),
// and one with the module only, as after the package's catalog was
// dropped.
type cacheSetup struct {
	cache             string
	env, moduleOnly   []string
	module, pkg       []byte
	moduleSum, pkgSum string
	moduleGets        *atomic.Int64
	unpackedBytes     int64
}

func newCacheSetup(t *testing.T) *cacheSetup {
	t.Helper()
	module, sum := tinyModule(t)
	files := []zipEntry{{name: "pkg/__init__.py", body: []byte("def generate(): pass\n")}, {name: "pkg/weights.bin", body: make([]byte, 3000)}}
	pkg := zipOf(t, files)
	moduleURL, moduleGets := getCounter(t, module)
	pkgURL, _ := getCounter(t, pkg)
	moduleEntry := catalogEntry{id: cacheModuleID, title: "Cache test", url: moduleURL + "/m.pt", sha256: sum, signature: tinySignature}
	both := writeCatalog(t, moduleEntry, catalogEntry{id: cachePackageID, title: "Cache test", url: pkgURL + "/pkg.zip", format: "python-package"})
	one := writeCatalog(t, moduleEntry)
	s := &cacheSetup{cache: filepath.Join(t.TempDir(), "cache"), module: module, pkg: pkg,
		moduleSum: sum, pkgSum: sha256Hex(pkg), moduleGets: moduleGets}
	s.env = []string{"ZOO_CACHE=" + s.cache, "ZOO_CATALOG=" + both}
	s.moduleOnly = []string{"ZOO_CACHE=" + s.cache, "ZOO_CATALOG=" + one}
	for _, f := range files {
		s.unpackedBytes += int64(len(f.body))
	}
	return s
}

func (s *cacheSetup) pullBoth(t *testing.T) {
	t.Helper()
	mustOK(t, zoo(t, s.env, "pull", cacheModuleID))
	mustOK(t, zoo(t, s.env, "pull", cachePackageID, "--allow-unpinned"))
}

func (s *cacheSetup) blob(sum string) string { return filepath.Join(s.cache, "blobs", "sha256-"+sum) }

func TestCacheListRmPrune(t *testing.T) {
	s := newCacheSetup(t)
	s.pullBoth(t)

	// list: each entry with its model and its size on disk.
	l := cacheList(t, append(s.env, "ZOO_OFFLINE=1"))
	if l.Dir != s.cache || len(l.Entries) != 2 {
		t.Fatalf("cache list: %+v", l)
	}
	want := map[string]struct {
		user  string
		bytes int64
	}{
		s.moduleSum: {cacheModuleID, int64(len(s.module))},
		// the zip and what it unpacked to; found through the pin of its URL
		s.pkgSum: {cachePackageID, int64(len(s.pkg)) + s.unpackedBytes},
	}
	for _, e := range l.Entries {
		w, ok := want[e.SHA256]
		if !ok || !slices.Equal(e.Users, []string{w.user}) || e.Bytes != w.bytes || e.Problem != "" {
			t.Errorf("entry %+v, want users [%s] and %d bytes", e, w.user, w.bytes)
		}
	}
	if l.Bytes != int64(len(s.module)+len(s.pkg))+s.unpackedBytes {
		t.Errorf("total %d bytes", l.Bytes)
	}
	text := mustOK(t, zoo(t, s.env, "--offline", "cache", "list")).stdout
	for _, frag := range []string{"SHA256", "USED BY", s.moduleSum[:12], s.pkgSum[:12], cacheModuleID, cachePackageID, "2 entries"} {
		if !strings.Contains(text, frag) {
			t.Errorf("cache list does not show %q:\n%s", frag, text)
		}
	}
	if strings.Contains(text, "unused") {
		t.Errorf("cache list marks an entry unused while both catalog entries use them:\n%s", text)
	}

	// The package's catalog is gone: its entry is unused; prune removes
	// it and keeps the module.
	text = mustOK(t, zoo(t, s.moduleOnly, "cache", "list")).stdout
	if !strings.Contains(text, "unused: zoo cache prune removes it") {
		t.Errorf("cache list does not mark the unused entry:\n%s", text)
	}
	dry := mustOK(t, zoo(t, s.moduleOnly, "cache", "prune", "--dry-run")).stdout
	if !strings.Contains(dry, "would remove sha256:"+s.pkgSum) || strings.Contains(dry, s.moduleSum) {
		t.Errorf("prune --dry-run:\n%s", dry)
	}
	if len(cacheList(t, s.env).Entries) != 2 {
		t.Fatal("prune --dry-run removed something")
	}
	out := mustOK(t, zoo(t, s.moduleOnly, "cache", "prune")).stdout
	if !strings.Contains(out, "removed sha256:"+s.pkgSum) || !strings.Contains(out, "kept 1 entry") {
		t.Errorf("prune:\n%s", out)
	}
	if _, err := os.Lstat(s.blob(s.pkgSum)); err == nil {
		t.Error("prune kept the unused package's blob")
	}
	if ents, _ := os.ReadDir(filepath.Join(s.cache, "unpacked")); len(ents) != 0 {
		t.Errorf("prune kept the unused package's unpacked directory (%d entries)", len(ents))
	}
	if sha256FileNoT(s.blob(s.moduleSum)) != s.moduleSum {
		t.Fatal("prune removed or damaged the used module's blob")
	}

	// rm by model id: the blob goes, and the next pull downloads it again.
	before := s.moduleGets.Load()
	out = mustOK(t, zoo(t, s.env, "cache", "rm", cacheModuleID)).stdout
	if !strings.Contains(out, "removed sha256:"+s.moduleSum) || !strings.Contains(out, cacheModuleID) {
		t.Errorf("cache rm:\n%s", out)
	}
	if _, err := os.Lstat(s.blob(s.moduleSum)); err == nil {
		t.Fatal("cache rm left the blob")
	}
	wantFail(t, zoo(t, s.env, "cache", "rm", cacheModuleID), 1, cacheModuleID, "not in the cache")
	mustOK(t, zoo(t, s.env, "pull", cacheModuleID))
	if s.moduleGets.Load() != before+1 || sha256FileNoT(s.blob(s.moduleSum)) != s.moduleSum {
		t.Fatal("pull after cache rm did not download the module again")
	}

	// rm by digest prefix, as JSON.
	r := mustOK(t, zoo(t, s.env, "cache", "rm", "sha256:"+s.moduleSum[:10], "--json"))
	var rm struct {
		Removed []struct {
			SHA256 string `json:"sha256"`
			Bytes  int64  `json:"bytes"`
		} `json:"removed"`
		Bytes int64 `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rm); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(rm.Removed) != 1 || rm.Removed[0].SHA256 != s.moduleSum || rm.Bytes != int64(len(s.module)) {
		t.Errorf("cache rm --json: %s", r.stdout)
	}
}

// The pin of an unpinned package stays after rm (a new download is checked
// against it); --unpin forgets it.
func TestCacheRmKeepsPinUnlessUnpin(t *testing.T) {
	s := newCacheSetup(t)
	s.pullBoth(t)
	pins := filepath.Join(s.cache, "pins")
	mustOK(t, zoo(t, s.env, "cache", "rm", cachePackageID))
	if ents, _ := os.ReadDir(pins); len(ents) != 1 {
		t.Fatalf("cache rm removed the pin (%d pins left)", len(ents))
	}
	mustOK(t, zoo(t, s.env, "pull", cachePackageID)) // no --allow-unpinned needed: pinned
	out := mustOK(t, zoo(t, s.env, "cache", "rm", cachePackageID, "--unpin")).stdout
	if !strings.Contains(out, "unpinned") {
		t.Errorf("cache rm --unpin:\n%s", out)
	}
	if ents, _ := os.ReadDir(pins); len(ents) != 0 {
		t.Errorf("cache rm --unpin left %d pins", len(ents))
	}
	wantFail(t, zoo(t, s.env, "cache", "rm", cachePackageID), 1, "pins no sha256", "never fetched")
}

// procHasOpen reports whether process pid has path open (Linux /proc).
func procHasOpen(pid int, path string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}

// rm while another process holds the entry's lock (a pull or unpack in
// progress) waits for it, or gives up after --wait, and never removes the
// entry under it.
func TestCacheRmWaitsForLockHolder(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc")
	}
	s := newCacheSetup(t)
	mustOK(t, zoo(t, s.env, "pull", cacheModuleID))
	blob := s.blob(s.moduleSum)
	lockPath := filepath.Join(s.cache, "locks", "sha256-"+s.moduleSum+".lock")
	f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err) // the pull made it
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	wantFail(t, zoo(t, s.env, "cache", "rm", cacheModuleID, "--wait", "100ms"), 1,
		"in use", "another zoo process", lockPath, "nothing was removed", "--wait")
	if sha256FileNoT(blob) != s.moduleSum {
		t.Fatal("cache rm removed the blob while another process held its lock")
	}

	cmd := exec.Command(zooBin, "cache", "rm", cacheModuleID, "--wait", "2m")
	cmd.Env = append(os.Environ(), "ZOO_CATALOG=", "ZOO_OFFLINE=")
	cmd.Env = append(cmd.Env, s.env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The rm is waiting once it has the lock file open.
	deadline := time.Now().Add(time.Minute)
	for !procHasOpen(cmd.Process.Pid, lockPath) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("cache rm never opened the lock file:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sha256FileNoT(blob) != s.moduleSum {
		t.Fatal("cache rm did not wait for the lock")
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cache rm after the lock was released: %v\n%s", err, out.String())
	}
	if _, err := os.Lstat(blob); err == nil {
		t.Fatal("cache rm returned without removing the blob")
	}
}

// A link planted in blobs/ is reported, never followed or removed.
func TestCacheRefusesPlantedLink(t *testing.T) {
	s := newCacheSetup(t)
	mustOK(t, zoo(t, s.env, "pull", cacheModuleID))
	victimDir := t.TempDir()
	victim := filepath.Join(victimDir, "victim.txt")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := treeState(t, victimDir)
	planted := sha256Hex([]byte("planted"))
	link := s.blob(planted)
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}

	text := mustOK(t, zoo(t, s.env, "cache", "list")).stdout
	if !strings.Contains(text, "symbolic link to "+victim) || !strings.Contains(text, "left alone") {
		t.Errorf("cache list does not report the planted link:\n%s", text)
	}
	for _, e := range cacheList(t, s.env).Entries {
		if e.SHA256 == planted && (e.Bytes != 0 || e.Problem == "") {
			t.Errorf("planted link listed as %+v", e)
		}
	}
	wantFail(t, zoo(t, s.env, "cache", "rm", "sha256:"+planted[:8]), 1, link, "symbolic link", "nothing was removed")
	out := mustOK(t, zoo(t, s.moduleOnly, "cache", "prune")).stdout
	if !strings.Contains(out, "left alone sha256-"+planted) {
		t.Errorf("prune does not say it left the link alone:\n%s", out)
	}
	unchanged(t, before, victimDir)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the planted link was removed or replaced (%v)", err)
	}
	if sha256FileNoT(s.blob(s.moduleSum)) != s.moduleSum {
		t.Fatal("the module's blob is gone")
	}
}

func TestCacheUsageAndMistakes(t *testing.T) {
	s := newCacheSetup(t)
	mustOK(t, zoo(t, s.env, "pull", cacheModuleID))
	// Two entries whose digests share a prefix (content does not matter
	// to rm, which reads no blob).
	for _, d := range []string{"abcdef0" + strings.Repeat("0", 57), "abcdef1" + strings.Repeat("1", 57)} {
		if err := os.WriteFile(s.blob(d), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args      []string
		code      int
		fragments []string
	}{
		{[]string{"cache"}, 2, []string{"list", "rm", "prune"}},
		{[]string{"cache", "tidy"}, 2, []string{`"tidy"`}},
		{[]string{"cache", "list", "--dry-run"}, 2, []string{"--dry-run is for zoo cache prune"}},
		{[]string{"cache", "prune", "--unpin"}, 2, []string{"--unpin is for zoo cache rm"}},
		{[]string{"cache", "rm"}, 2, []string{"model ids or digests"}},
		{[]string{"cache", "rm", "sha256:abc"}, 2, []string{"at least 6 hex digits"}},
		{[]string{"cache", "rm", "abcdef"}, 1, []string{"matches 2 cache entries", "sha256:abcdef0", "sha256:abcdef1", "give more digits"}},
		{[]string{"cache", "rm", "fedcba9876"}, 1, []string{"no model", "nor does a cache entry's digest start with"}},
		{[]string{"cache", "rm", "101"}, 1, []string{"bundled with zoo", "not in the cache"}},
		// Arguments are all resolved first: a bad one removes nothing.
		{[]string{"cache", "rm", cacheModuleID, "no-such-model"}, 1, []string{"no-such-model"}},
	} {
		wantFail(t, zoo(t, s.env, tc.args...), tc.code, tc.fragments...)
	}
	if sha256FileNoT(s.blob(s.moduleSum)) != s.moduleSum {
		t.Fatal("a refused cache rm removed the module's blob")
	}
	// A bundled model is copied into the cache on first use: rm removes
	// the copy and says the binary still has it.
	mustOK(t, zoo(t, s.env, "pull", "101"))
	out := mustOK(t, zoo(t, s.env, "cache", "rm", "101")).stdout
	if !strings.Contains(out, "bundled with zoo") || !strings.Contains(out, "without a download") {
		t.Errorf("cache rm of a bundled model:\n%s", out)
	}
}
