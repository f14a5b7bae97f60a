package main_test

// End-to-end tests of the built zoo binary: real LibTorch, real files, real
// HTTP servers on 127.0.0.1.

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"medzoo/internal/testmodules"
	"medzoo/output"
)

var zooBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zoo-e2e-")
	if err != nil {
		panic(err)
	}
	// Keep the developer's own ~/.config/medzoo catalogs out of the tests.
	os.Setenv("ZOO_CONFIG_DIR", filepath.Join(dir, "config"))
	// As `make build` does: zoo without LibTorch, zoo-torch beside it.
	zooBin = filepath.Join(dir, "zoo")
	for _, b := range [][]string{
		{"build", "-tags", "notorch", "-o", zooBin, "."},
		{"build", "-o", filepath.Join(dir, "zoo-torch"), "."},
	} {
		build := exec.Command("go", b...)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building zoo:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// zoo runs the binary with a private cache and no user catalog unless env
// says otherwise.
func zoo(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd, out, errb := zooCommand(t, env, args...)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// zooCommand is the binary as zoo() runs it, not started yet, its two
// streams kept in the buffers it returns.
func zooCommand(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(zooBin, args...)
	cmd.Env = append(os.Environ(), "ZOO_CACHE="+filepath.Join(t.TempDir(), "cache"), "ZOO_CATALOG=", "ZOO_OFFLINE=")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

func mustOK(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

func wantFail(t *testing.T, r result, code int, fragments ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, f := range fragments {
		if !strings.Contains(r.stderr, f) {
			t.Fatalf("stderr does not mention %q:\n%s", f, r.stderr)
		}
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// dirDigest maps every file name in dir to its sha256.
func dirDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.Name() == output.RunFile {
			continue // records the requested n, which differs between runs on purpose
		}
		out[e.Name()] = sha256File(t, filepath.Join(dir, e.Name()))
	}
	return out
}

// readManifest reads dir's manifest.jsonl.
func readManifest(t *testing.T, dir string) []output.Record {
	t.Helper()
	recs, err := output.ReadManifest(filepath.Join(dir, output.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func sameDirs(t *testing.T, a, b string) {
	t.Helper()
	da, db := dirDigest(t, a), dirDigest(t, b)
	if len(da) != len(db) {
		t.Fatalf("%s has %d files, %s has %d", a, len(da), b, len(db))
	}
	var names []string
	for n := range da {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if da[n] != db[n] {
			t.Fatalf("%s differs between %s and %s", n, a, b)
		}
	}
}

// tinyCatalog writes a user catalog whose model's artifact is url.
func tinyCatalog(t *testing.T, url, sum string) string {
	t.Helper()
	return writeCatalog(t, catalogEntry{id: "90001_TINY_TEST", title: "Tiny test generator", url: url, sha256: sum, signature: tinySignature})
}

func TestHelpAndUsageErrors(t *testing.T) {
	r := mustOK(t, zoo(t, nil, "--help"))
	for _, cmd := range []string{"list", "info", "pull", "generate"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Fatalf("--help does not list %s:\n%s", cmd, r.stdout)
		}
	}
	wantFail(t, zoo(t, nil, "frobnicate"), 2, "frobnicate")
	wantFail(t, zoo(t, nil, "generate", "101", "-n", "4"), 2, "-o DIR")
	wantFail(t, zoo(t, nil, "generate", "101", "-n", "0", "-o", t.TempDir()), 2, "-n")
	wantFail(t, zoo(t, nil, "generate", "101", "--bogus-flag"), 2, "bogus")
	wantFail(t, zoo(t, nil, "generate", "101", "-o", t.TempDir(), "--format", "gif"), 2, "png16")
	wantFail(t, zoo(t, nil, "generate", "101", "-o", t.TempDir(), "--condition", "class=x"), 2, "no conditions")
	wantFail(t, zoo(t, nil, "generate", "101", "-o", t.TempDir(), "--device", "tpu"), 1, "auto, cpu")
	wantFail(t, zoo(t, nil, "info", "dcgan_mri"), 1, "did you mean", "00101_DCGAN_MRI_COLIN27_DEMO")
	wantFail(t, zoo(t, nil, "info", "mamography"), 1, "zoo search")
}

// TestFastBinaryDoesNotLinkLibTorch: bin/zoo answers help, list, info and
// search without loading LibTorch, and hands generation to zoo-torch.
func TestFastBinaryDoesNotLinkLibTorch(t *testing.T) {
	for bin, wantTorch := range map[string]bool{zooBin: false, filepath.Join(filepath.Dir(zooBin), "zoo-torch"): true} {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		libs, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		linked := false
		for _, l := range libs {
			linked = linked || strings.Contains(l, "torch")
		}
		if linked != wantTorch {
			t.Fatalf("%s links LibTorch: %v, want %v (libraries %v)", bin, linked, wantTorch, libs)
		}
	}
	// Without zoo-torch beside it, model commands say what is missing.
	alone := filepath.Join(t.TempDir(), "zoo")
	data, err := os.ReadFile(zooBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(alone, "generate", "101", "-n", "1", "-o", t.TempDir())
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin", "ZOO_TORCH_BIN=")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "zoo-torch") {
		t.Fatalf("generate without zoo-torch: %v\n%s", err, out)
	}
	mustOK(t, zoo(t, nil, "search", "mri"))
}

func TestListAndInfo(t *testing.T) {
	r := mustOK(t, zoo(t, nil, "list"))
	for _, id := range []string{"00001_DCGAN_MMG_CALC_ROI", "00008_C-DCGAN_MMG_MASSES", "00023", "00101_DCGAN_MRI_COLIN27_DEMO"} {
		if !strings.Contains(r.stdout, id) {
			t.Fatalf("list lacks %s", id)
		}
	}
	var models []map[string]any
	if err := json.Unmarshal([]byte(mustOK(t, zoo(t, nil, "list", "--json")).stdout), &models); err != nil {
		t.Fatal(err)
	}
	if len(models) < 24 {
		t.Fatalf("list --json gave %d models, want 23 medigan + demo", len(models))
	}
	info := mustOK(t, zoo(t, nil, "info", "00008"))
	if !strings.Contains(info.stdout, "137.75") || !strings.Contains(info.stdout, "python-package") {
		t.Fatalf("info 00008:\n%s", info.stdout)
	}
	var demo map[string]any
	if err := json.Unmarshal([]byte(mustOK(t, zoo(t, nil, "info", "101", "--json")).stdout), &demo); err != nil {
		t.Fatal(err)
	}
	if demo["demo"] != true || demo["runnable"] != true {
		t.Fatalf("info 101 --json: %v", demo)
	}
}

func TestGenerateDemoModel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	r := mustOK(t, zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "101", "-n", "20", "-o", out, "--seed", "3", "--json"))
	var sum map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if sum["generated"] != float64(20) || sum["device"] != "cpu" {
		t.Fatalf("summary %v", sum)
	}
	recs := readManifest(t, out)
	if len(recs) != 20 {
		t.Fatalf("manifest has %d lines", len(recs))
	}
	data, err := os.ReadFile(filepath.Join(out, recs[7].Files["image"]))
	if err != nil {
		t.Fatal(err)
	}
	text, err := output.ReadText(data)
	if err != nil {
		t.Fatal(err)
	}
	var prov output.Provenance
	if err := json.Unmarshal([]byte(text["medzoo.provenance"]), &prov); err != nil {
		t.Fatal(err)
	}
	if !prov.Synthetic || prov.Index != 7 || prov.Seed != 3 || prov.Model != "00101_DCGAN_MRI_COLIN27_DEMO" || len(prov.SHA256) != 64 {
		t.Fatalf("provenance %+v", prov)
	}
	if !strings.Contains(text["Description"], "SYNTHETIC") {
		t.Fatalf("Description %q", text["Description"])
	}
	// A non-empty directory is refused without --resume or --force.
	wantFail(t, zoo(t, nil, "generate", "101", "-n", "20", "-o", out), 1, "--resume")
	for _, f := range []string{"png16", "npy"} {
		d := filepath.Join(t.TempDir(), f)
		mustOK(t, zoo(t, nil, "generate", "101", "-n", "3", "-o", d, "--format", f))
		if _, err := os.Stat(filepath.Join(d, "00002."+map[string]string{"png16": "png", "npy": "npy"}[f])); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// TestSameBytesWhateverBatchSize: sample i is a function of (model, seed, i),
// whatever the batch size or thread count.
func TestSameBytesWhateverBatchSize(t *testing.T) {
	var dirs []string
	for _, b := range []string{"1", "16", "40"} {
		d := filepath.Join(t.TempDir(), "b"+b)
		mustOK(t, zoo(t, nil, "generate", "101", "-n", "37", "-o", d, "--seed", "11", "--batch-size", b, "-q"))
		dirs = append(dirs, d)
	}
	// One LibTorch thread instead of one per core: the same bytes too.
	d := filepath.Join(t.TempDir(), "threads1")
	mustOK(t, zoo(t, nil, "generate", "101", "-n", "37", "-o", d, "--seed", "11", "--threads", "1", "-q"))
	dirs = append(dirs, d)
	sameDirs(t, dirs[0], dirs[1])
	sameDirs(t, dirs[0], dirs[2])
	sameDirs(t, dirs[0], dirs[3])
	other := filepath.Join(t.TempDir(), "seed12")
	mustOK(t, zoo(t, nil, "generate", "101", "-n", "1", "-o", other, "--seed", "12"))
	if sha256File(t, filepath.Join(other, "00000.png")) == sha256File(t, filepath.Join(dirs[0], "00000.png")) {
		t.Fatal("seed 12 gave seed 11's image")
	}
}

// TestResumeAfterKill kills a run with SIGKILL part-way and checks that
// --resume ends with exactly the bytes of an uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	const n = "1500"
	cache := filepath.Join(t.TempDir(), "cache")
	env := append(os.Environ(), "ZOO_CACHE="+cache, "ZOO_CATALOG=")
	killed := filepath.Join(t.TempDir(), "killed")
	cmd := exec.Command(zooBin, "generate", "101", "-n", n, "-o", killed, "--seed", "5", "-q")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(killed, output.ManifestFile)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if b, err := os.ReadFile(manifest); err == nil && bytes.Count(b, []byte("\n")) >= 100 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the run never reached 100 samples")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	b, _ := os.ReadFile(manifest)
	lines := bytes.Count(b, []byte("\n"))
	if lines >= 1500 {
		t.Skip("the run finished before it could be killed; nothing to resume")
	}
	t.Logf("killed after %d committed samples", lines)

	r := mustOK(t, zoo(t, []string{"ZOO_CACHE=" + cache}, "generate", "101", "-n", n, "-o", killed, "--seed", "5", "--resume", "--json"))
	var sum map[string]any
	json.Unmarshal([]byte(r.stdout), &sum)
	if sum["resumed_from"] != float64(lines) {
		t.Fatalf("resumed from %v, want %d", sum["resumed_from"], lines)
	}
	full := filepath.Join(t.TempDir(), "full")
	mustOK(t, zoo(t, []string{"ZOO_CACHE=" + cache}, "generate", "101", "-n", n, "-o", full, "--seed", "5", "-q"))
	sameDirs(t, killed, full)
	wantFail(t, zoo(t, nil, "generate", "101", "-n", n, "-o", killed, "--seed", "6", "--resume"), 1, "seed")
}

func TestPullVerifyAndOffline(t *testing.T) {
	module, err := os.ReadFile(testmodules.Path(t, "tiny_generator.pt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(module)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/tiny.pt":
			w.Write(module)
		case "/wrong.pt":
			w.Write(append([]byte("x"), module...))
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	cache := filepath.Join(t.TempDir(), "cache")
	env := func(cat string, extra ...string) []string {
		return append([]string{"ZOO_CACHE=" + cache, "ZOO_CATALOG=" + cat}, extra...)
	}
	good := tinyCatalog(t, srv.URL+"/tiny.pt", hex.EncodeToString(sum[:]))

	// Offline with nothing cached: a clear error, no request made.
	wantFail(t, zoo(t, env(good, "ZOO_OFFLINE=1"), "generate", "90001", "-n", "2", "-o", t.TempDir()), 1, "90001_TINY_TEST", "zoo pull")
	if hits.Load() != 0 {
		t.Fatalf("offline run made %d requests", hits.Load())
	}
	r := mustOK(t, zoo(t, env(good), "pull", "90001", "--json"))
	var pulled map[string]string
	json.Unmarshal([]byte(r.stdout), &pulled)
	if sha256File(t, pulled["path"]) != hex.EncodeToString(sum[:]) {
		t.Fatalf("pulled file %s has the wrong digest", pulled["path"])
	}
	// Cached now: generation works offline, through --offline this time.
	out := filepath.Join(t.TempDir(), "out")
	mustOK(t, zoo(t, env(good), "--offline", "generate", "90001", "-n", "5", "-o", out))
	if _, err := os.Stat(filepath.Join(out, "00004.png")); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Fatalf("%d requests, want 1 (the pull)", hits.Load())
	}

	// Wrong bytes, into an empty cache (the good blob is cached above, and a
	// cached verified blob with the pinned digest is rightly used as it is).
	wrong := tinyCatalog(t, srv.URL+"/wrong.pt", hex.EncodeToString(sum[:]))
	cache = filepath.Join(t.TempDir(), "cache2")
	wantFail(t, zoo(t, env(wrong), "pull", "90001"), 1, "sha256")
	if entries, _ := os.ReadDir(filepath.Join(cache, "blobs")); len(entries) != 0 {
		t.Fatalf("a wrong download left %d cache entries", len(entries))
	}
	broken := tinyCatalog(t, srv.URL+"/missing.pt", strings.Repeat("0", 64))
	wantFail(t, zoo(t, env(broken), "pull", "90001"), 1, "500")
}

func TestPythonPackageIsNotRun(t *testing.T) {
	wantFail(t, zoo(t, nil, "generate", "00008", "-n", "1", "-o", t.TempDir()), 1, "TorchScript", "never runs Python",
		"zoo import 00008_C-DCGAN_MMG_MASSES --allow-unpinned", "zenodo.org", "once in a sandbox")
	// Offline, it says what is missing and how to get it anyway.
	wantFail(t, zoo(t, []string{"ZOO_OFFLINE=1"}, "generate", "8", "-o", t.TempDir()), 1,
		"zoo import 00008", "offline", "not in the cache", "zoo import --package ZIP --id 00008_C-DCGAN_MMG_MASSES")
	// Without a pinned checksum, pull refuses before any download.
	wantFail(t, zoo(t, nil, "pull", "8"), 1, "--allow-unpinned")
}

func TestBadCatalog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(p, []byte("schema = 1\n[[model]]\nid = \"90002_X\"\ntitel = \"typo\"\n"), 0o644)
	wantFail(t, zoo(t, []string{"ZOO_CATALOG=" + p}, "list"), 1, "bad.toml:4")
}
