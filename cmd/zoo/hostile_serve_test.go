package main_test

// The zoo serve part of the hostile-input corpus (docs/reliability.md):
// flags, requests, misbehaving models, runner deaths, signals and
// connections against the real `zoo serve` on 127.0.0.1, models run by
// real LibTorch in zoo-torch runner processes.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"medzoo/internal/testmodules"
)

// serveProc is a running zoo serve and everything it logged.
type serveProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	addr string

	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{} // closed when its standard error ends
}

// startServe starts zoo serve on a free loopback port with a private cache.
func startServe(t *testing.T, env []string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(zooBin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "ZOO_CACHE="+filepath.Join(t.TempDir(), "cache"), "ZOO_CATALOG=", "ZOO_OFFLINE=1")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serveProc{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := bufio.NewReader(stderr)
	first, err := lines.ReadString('\n')
	m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(first)
	if err != nil || m == nil {
		rest, _ := io.ReadAll(lines)
		t.Fatalf("zoo serve did not start: %q %v\n%s", first, err, rest)
	}
	s.addr, s.base = m[1], "http://"+m[1]
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := lines.Read(buf)
			s.mu.Lock()
			s.log.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				close(s.done)
				return
			}
		}
	}()
	return s
}

func (s *serveProc) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// runnerPids are the pids of the runners the log says model id started.
func (s *serveProc) runnerPids(id string) []int {
	re := regexp.MustCompile(`model ` + regexp.QuoteMeta(id) + `: runner started \(pid (\d+)\)`)
	var pids []int
	for _, m := range re.FindAllStringSubmatch(s.logText(), -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	return pids
}

// waitRunner waits for model id's n-th runner to start and returns its pid.
func (s *serveProc) waitRunner(t *testing.T, id string, n int) int {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if pids := s.runnerPids(id); len(pids) >= n {
			return pids[n-1]
		}
	}
	t.Fatalf("runner %d of %s never started; log:\n%s", n, id, s.logText())
	return 0
}

// waitExit waits up to d for zoo serve to exit and returns its exit code.
func (s *serveProc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { <-s.done; done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(d):
		t.Fatalf("zoo serve still running %s after the signal; log:\n%s", d, s.logText())
		return -1
	}
}

// alive reports whether process pid exists (a reaped child does not).
func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !alive(pid) {
			return
		}
	}
	t.Fatalf("runner pid %d still alive after %s", pid, d)
}

// answer is one HTTP answer.
type answer struct {
	code int
	msg  string // the JSON error, when there is one
	body []byte
	err  error
}

var client = &http.Client{Timeout: 90 * time.Second}

func get(url string) answer {
	resp, err := client.Get(url)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, body: body, err: err}
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil {
		a.msg = e.Error
	}
	return a
}

// wantStatus checks an answer's status and that its JSON error names the
// problem.
func wantStatus(t *testing.T, a answer, code int, fragments ...string) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("request failed: %v", a.err)
	}
	if a.code != code {
		t.Fatalf("status %d, want %d: %s", a.code, code, a.body)
	}
	for _, f := range fragments {
		if !strings.Contains(a.msg, f) {
			t.Fatalf("error %q does not mention %q", a.msg, f)
		}
	}
}

// hostileModel is one model of a serve test catalog.
// tinySig is tinySignature with a declared compute block.
func tinySig(batch int) string {
	return fmt.Sprintf("batch = %d\n%s", batch, tinySignature)
}

// Flags out of range are usage errors (exit 2) naming the flag and the
// range, before anything listens or loads.
func TestHostileServeFlags(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		fragments []string
	}{
		{"max-n-negative", []string{"--max-n", "-1"}, []string{"--max-n -1", "from 1 to 4096"}},
		{"max-n-zero", []string{"--max-n", "0"}, []string{"--max-n 0", "from 1 to 4096"}},
		{"max-n-huge", []string{"--max-n", "1000000000000"}, []string{"--max-n", "from 1 to 4096"}},
		{"max-export-n-zero", []string{"--max-export-n", "0"}, []string{"--max-export-n 0", "samples per export from 1 to 100000"}},
		{"max-export-n-huge", []string{"--max-export-n", "100001"}, []string{"--max-export-n 100001", "from 1 to 100000"}},
		{"timeout-negative", []string{"--timeout", "-5s"}, []string{"--timeout -5s", "from 1ms to 24h"}},
		{"timeout-zero", []string{"--timeout", "0s"}, []string{"--timeout 0s", "from 1ms"}},
		{"timeout-not-a-duration", []string{"--timeout", "soon"}, []string{"timeout"}},
		{"max-concurrent-zero", []string{"--max-concurrent", "0"}, []string{"--max-concurrent 0", "from 1 to 256"}},
		{"max-concurrent-negative", []string{"--max-concurrent", "-1"}, []string{"--max-concurrent -1", "from 1 to 256"}},
		{"threads-negative", []string{"--threads", "-3"}, []string{"--threads -3", "from 1 to 1024"}},
		{"threads-huge", []string{"--threads", "100000"}, []string{"--threads 100000", "from 1 to 1024"}},
		{"max-conns-zero", []string{"--max-conns", "0"}, []string{"--max-conns 0", "from 1 to 65536"}},
		{"idle-timeout-zero", []string{"--idle-timeout", "0s"}, []string{"--idle-timeout 0s", "from 1s to 1h"}},
		{"grace-negative", []string{"--grace", "-1s"}, []string{"--grace -1s", "from 0s to 10m"}},
		{"argument-given", []string{"101"}, []string{"takes no arguments"}},
		{"device-unknown", []string{"--device", "tpu"}, []string{"tpu"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			before := treeState(t, work)
			r := zoo(t, []string{"ZOO_CONFIG_DIR=" + work}, append([]string{"serve", "--addr", "127.0.0.1:0"}, c.args...)...)
			wantFail(t, r, 2, c.fragments...)
			if strings.Contains(r.stderr, "http://") {
				t.Errorf("zoo serve started listening: %s", r.stderr)
			}
			unchanged(t, before, work)
		})
	}
	t.Run("addr-in-use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		r := zoo(t, nil, "serve", "--addr", ln.Addr().String())
		wantFail(t, r, 1, "address already in use", "--addr 127.0.0.1:0")
	})
}

// Bad requests get 4xx with a reason; none reaches a model or panics the
// server, which answers normally afterwards.
func TestHostileServeRequests(t *testing.T) {
	cat := serveCatalog(t,
		hostileModel{id: "90011_TINY", module: "tiny_generator.pt", sig: tinySignature},
		// 8192x8192 outputs: one sample a block fits serve's budget, 64 do not.
		hostileModel{id: "90012_LARGE", module: "tiny_generator.pt", sig: "batch = 1\nlatent = [8]\n" + sigOutput("image", "image", 1, 8192, 8192, -1, 1)},
		// Two outputs of 4096x4096 in blocks of 16: each output within the
		// catalog's limit, both together past serve's budget.
		hostileModel{id: "90013_HUGE_BLOCK", module: "tiny_generator.pt", sig: "latent = [8]\n" +
			sigOutput("image", "image", 1, 4096, 4096, -1, 1) + sigOutput("mask", "mask", 1, 4096, 4096, 0, 1)},
	)
	s := startServe(t, []string{"ZOO_CATALOG=" + cat})
	api := s.base + "/api/models/"
	cases := []struct {
		name, path string
		code       int
		fragments  []string
	}{
		{"n-huge", "101/image?n=1000000000000", 400, []string{"n=", "from 1 to 64"}},
		{"n-negative", "101/image?n=-1", 400, []string{"n=", "from 1 to 64"}},
		{"n-zero", "101/image?n=0", 400, []string{"n="}},
		{"n-not-a-number", "101/image?n=ten", 400, []string{"n="}},
		{"seed-negative", "101/image?seed=-1", 400, []string{"seed"}},
		{"seed-overflow", "101/image?seed=18446744073709551616", 400, []string{"seed"}},
		{"index-huge", "101/image?index=99999999999", 400, []string{"index"}},
		{"cols-huge", "101/image?cols=100000", 400, []string{"cols", "1024"}},
		{"groups-huge", "101/image?groups=1000000", 400, []string{"groups"}},
		{"groups-beyond-latent", "101/image?groups=500&offsets=" + strings.Repeat("0,", 499) + "0", 400, []string{"only 100"}},
		{"offsets-nan", "101/image?groups=1&offsets=NaN", 400, []string{"offsets", "-10 to 10"}},
		{"shift-nan", "101/image?shift=NaN", 400, []string{"shift", "-10 to 10"}},
		{"shift-infinite", "101/image?shift=-Inf", 400, []string{"shift"}},
		{"offsets-count-mismatch", "101/image?groups=3&offsets=1,2", 400, []string{"one offset per group"}},
		{"format-unknown", "101/image?format=exe", 400, []string{"png or zip"}},
		{"condition-bad-value", "102/image?condition=plane=oblique", 400, []string{"axial"}},
		{"condition-unknown-name", "102/image?condition=colour=red", 400, []string{"colour"}},
		{"condition-no-equals", "102/image?condition=plane", 400, []string{"NAME=VALUE"}},
		{"model-unknown", "99999_NOPE/image", 404, []string{"99999_NOPE"}},
		{"model-not-runnable", "8/image", 422, []string{"python-package"}},
		{"model-image-to-image", "104/image", 422, []string{"image-to-image"}},
		{"n-too-large-for-model", "90012_LARGE/image?n=64", 400, []string{"n=64", "ask for at most"}},
		{"block-too-large-for-serve", "90013_HUGE_BLOCK/image", 422, []string{"90013_HUGE_BLOCK", "too large to serve"}},
		{"thumbnail-not-runnable", "8/thumbnail", 422, []string{"no thumbnail", "python-package"}},
		{"thumbnail-image-to-image", "104/thumbnail", 422, []string{"no thumbnail", "image-to-image"}},
		{"thumbnail-too-large-for-serve", "90013_HUGE_BLOCK/thumbnail", 422, []string{"90013_HUGE_BLOCK", "too large to serve"}},
		{"thumbnail-model-unknown", "99999_NOPE/thumbnail", 404, []string{"99999_NOPE"}},
		{"links-model-unknown", "99999_NOPE/links", 404, []string{"99999_NOPE"}},
		{"endpoint-unknown", "/api/nothing", 404, []string{"/api/models"}},
		{"limit-negative", "/api/models?limit=-1", 400, []string{"limit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := api + c.path
			if strings.HasPrefix(c.path, "/") {
				url = s.base + c.path
			}
			wantStatus(t, get(url), c.code, c.fragments...)
		})
	}
	t.Run("method-post", func(t *testing.T) {
		resp, err := client.Post(api+"101/image", "application/json", strings.NewReader(`{"n": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || !bytes.Contains(body, []byte("GET requests only")) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	raw := func(t *testing.T, request string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		status, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return status
	}
	// Requests too large or not HTTP at all, written raw to the socket:
	// the status line says which limit they broke.
	for _, tc := range []struct{ name, request, status string }{
		// A terabyte announced, a few bytes sent: refused without reading.
		{"body-declared-huge", "GET /api/models/101/image HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\n{}", " 413 "},
		{"body-chunked", "GET /api/models/101/image HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", " 413 "},
		{"headers-huge", "GET /api/models HTTP/1.1\r\nHost: x\r\nX-Junk: " + strings.Repeat("a", 200<<10) + "\r\n\r\n", " 431 "},
		{"url-huge", "GET /api/models/101/image?offsets=" + strings.Repeat("1,", 100<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", " 431 "},
		{"not-http", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n", " 400 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status := raw(t, tc.request); !strings.Contains(status, tc.status) {
				t.Fatalf("%q", status)
			}
		})
	}
	t.Run("path-traversal", func(t *testing.T) {
		for _, p := range []string{"/../go.mod", "/%2e%2e/%2e%2e/go.mod", "/..%2fserver.go", "/web/../../cli/app.go"} {
			a := get(s.base + p)
			if a.err != nil || (a.code == 200 && !bytes.Contains(a.body, []byte("<!doctype html"))) {
				t.Errorf("%s: %d, %d bytes, %v", p, a.code, len(a.body), a.err)
			}
		}
	})
	t.Run("still-answers", func(t *testing.T) {
		a := get(api + "90011_TINY/image?n=3&seed=2")
		if a.err != nil || a.code != 200 || !bytes.HasPrefix(a.body, []byte("\x89PNG")) {
			t.Fatalf("%d %v %.200s", a.code, a.err, a.body)
		}
		if strings.Contains(s.logText(), "panic") {
			t.Fatalf("the server panicked:\n%s", s.logText())
		}
	})
}

// Models that fail answer 422 with the model's own reason; their runner
// stays up, so the next request needs no restart.
func TestHostileServeModelFailures(t *testing.T) {
	cases := []struct {
		name, id, module, sig string
		fragments             []string
	}{
		{"nan-generator", "90021_NAN", "nan_generator.pt", tinySignature, []string{"90021_NAN", "non-finite"}},
		{"wrong-shape", "90022_WRONG_SHAPE", "wrong_shape.pt", tinySignature, []string{"90022_WRONG_SHAPE"}},
		{"raise-always", "90023_RAISE", "raise_always.pt", tinySignature, []string{"90023_RAISE", "this model always fails"}},
		{"boom", "90024_BOOM", "boom.pt", tinySignature, []string{"90024_BOOM"}},
		{"truncating", "90025_TRUNCATING", "truncating.pt", tinySignature, []string{"90025_TRUNCATING"}},
		{"empty-list", "90026_EMPTY_LIST", "empty_list.pt", tinySignature, []string{"90026_EMPTY_LIST"}},
		{"huge-out", "90027_HUGE_OUT", "huge_out.pt", tinySig(1), []string{"90027_HUGE_OUT"}},
		{"garbage-artifact", "90028_GARBAGE", "garbage.pt", tinySignature, []string{"90028_GARBAGE"}},
		{"empty-artifact", "90029_EMPTY", "empty.pt", tinySignature, []string{"90029_EMPTY"}},
		{"truncated-artifact", "90030_TRUNCATED", "truncated.pt", tinySignature, []string{"90030_TRUNCATED"}},
		{"state-dict-artifact", "90031_STATE_DICT", "state_dict.pt", tinySignature, []string{"90031_STATE_DICT"}},
		{"pickled-module-artifact", "90032_PICKLED", "pickled_module.pt", tinySignature, []string{"90032_PICKLED"}},
	}
	var models []hostileModel
	for _, c := range cases {
		models = append(models, hostileModel{id: c.id, module: c.module, sig: c.sig})
	}
	models = append(models,
		hostileModel{id: "90033_BAD_SUM", module: "tiny_generator.pt", sig: tinySignature, sha256: strings.Repeat("0", 64)},
		hostileModel{id: "90034_MISSING", module: "no_such_module.pt", sig: tinySignature, sha256: strings.Repeat("1", 64)})
	cat := serveCatalog(t, models...)
	catDir := filepath.Dir(cat)
	modules := testmodules.Dir(t)
	before := treeState(t, catDir, modules)
	s := startServe(t, []string{"ZOO_CATALOG=" + cat})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantStatus(t, get(s.base+"/api/models/"+c.id+"/image?n=2"), 422, c.fragments...)
		})
	}
	t.Run("thumbnails", func(t *testing.T) {
		// A thumbnail fails as the model's images do, and no failure is
		// kept as a thumbnail: asked again, it fails the same way.
		for _, c := range cases {
			for range 2 {
				wantStatus(t, get(s.base+"/api/models/"+c.id+"/thumbnail"), 422, c.fragments...)
			}
		}
		wantStatus(t, get(s.base+"/api/models/90033_BAD_SUM/thumbnail"), 502, "90033_BAD_SUM", "fetching the artifact")
	})
	t.Run("checksum-mismatch", func(t *testing.T) {
		wantStatus(t, get(s.base+"/api/models/90033_BAD_SUM/image"), 502, "90033_BAD_SUM", "fetching the artifact")
	})
	t.Run("artifact-missing", func(t *testing.T) {
		wantStatus(t, get(s.base+"/api/models/90034_MISSING/image"), 502, "90034_MISSING", "fetching the artifact")
	})
	t.Run("model-error-keeps-runner", func(t *testing.T) {
		wantStatus(t, get(s.base+"/api/models/90021_NAN/image?seed=7"), 422, "non-finite")
		if pids := s.runnerPids("90021_NAN"); len(pids) != 1 {
			t.Fatalf("runners of 90021_NAN: %v (want one, reused)", pids)
		}
	})
	unchanged(t, before, catDir, modules)
}

// A forward that never returns costs its request a 503, its runner a kill,
// and nothing else: other models answer meanwhile, and the next request
// starts a fresh runner. A runner that dies costs its request a 502.
func TestHostileServeRunners(t *testing.T) {
	cat := serveCatalog(t,
		hostileModel{id: "90041_HANG", module: "hang.pt", sig: tinySignature},
		hostileModel{id: "90042_TINY", module: "tiny_generator.pt", sig: tinySignature})
	s := startServe(t, []string{"ZOO_CATALOG=" + cat}, "--timeout", "3s", "--max-concurrent", "2")
	hang := s.base + "/api/models/90041_HANG/image"
	tiny := s.base + "/api/models/90042_TINY/image?seed=4&n=2"
	want := get(tiny)
	if want.code != 200 {
		t.Fatalf("tiny model: %d %s", want.code, want.body)
	}
	t.Run("hang-timeout", func(t *testing.T) {
		hung := make(chan answer, 1)
		go func() { hung <- get(hang) }()
		pid := s.waitRunner(t, "90041_HANG", 1)
		// While the forward hangs, the other model answers, the same bytes.
		if a := get(tiny); a.code != 200 || !bytes.Equal(a.body, want.body) {
			t.Errorf("tiny model during the hang: %d, same bytes %v", a.code, bytes.Equal(a.body, want.body))
		}
		wantStatus(t, <-hung, 503, "90041_HANG", "did not finish within 3s", "runner was stopped")
		waitGone(t, pid, 5*time.Second)
	})
	t.Run("hang-again-fresh-runner", func(t *testing.T) {
		wantStatus(t, get(hang), 503, "did not finish within 3s")
		pids := s.runnerPids("90041_HANG")
		if len(pids) != 2 || pids[0] == pids[1] {
			t.Fatalf("hang runners %v: want a fresh one per request", pids)
		}
	})
	for _, sig := range []struct {
		name   string
		signal syscall.Signal
		status string
	}{
		{"runner-killed", syscall.SIGKILL, "signal: killed"},
		{"runner-segfault", syscall.SIGSEGV, "died"},
		{"runner-abort", syscall.SIGABRT, "died"},
	} {
		t.Run(sig.name, func(t *testing.T) {
			n := len(s.runnerPids("90041_HANG")) + 1
			hung := make(chan answer, 1)
			go func() { hung <- get(hang) }()
			pid := s.waitRunner(t, "90041_HANG", n)
			time.Sleep(200 * time.Millisecond) // let the request reach its forward
			if err := syscall.Kill(pid, sig.signal); err != nil {
				t.Fatal(err)
			}
			a := <-hung
			if a.code == 503 {
				t.Skipf("the signal came after the timeout: %s", a.msg)
			}
			wantStatus(t, a, 502, "90041_HANG", "runner process", sig.status, "next request starts a fresh runner")
		})
	}
	t.Run("idle-runner-dies", func(t *testing.T) {
		pid := s.waitRunner(t, "90042_TINY", 1)
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone(t, pid, 5*time.Second)
		a := get(tiny)
		if a.code != 200 || !bytes.Equal(a.body, want.body) {
			t.Fatalf("after its runner died: %d %s; same bytes %v", a.code, a.msg, bytes.Equal(a.body, want.body))
		}
		if pids := s.runnerPids("90042_TINY"); len(pids) != 2 {
			t.Fatalf("tiny runners %v: want a fresh one", pids)
		}
	})
}

// SIGTERM or SIGINT with a forward that never returns in flight: zoo serve
// gives it the grace period, kills the runner, answers 503 and exits 0.
func TestHostileServeSignals(t *testing.T) {
	cat := serveCatalog(t, hostileModel{id: "90051_HANG", module: "hang.pt", sig: tinySignature})
	for _, c := range []struct {
		name   string
		signal syscall.Signal
	}{{"sigterm-with-hung-request", syscall.SIGTERM}, {"sigint-with-hung-request", syscall.SIGINT}} {
		t.Run(c.name, func(t *testing.T) {
			s := startServe(t, []string{"ZOO_CATALOG=" + cat}, "--timeout", "120s", "--grace", "1s")
			hung := make(chan answer, 1)
			go func() { hung <- get(s.base + "/api/models/90051_HANG/image") }()
			pid := s.waitRunner(t, "90051_HANG", 1)
			time.Sleep(200 * time.Millisecond)
			s.cmd.Process.Signal(c.signal)
			if code := s.waitExit(t, 15*time.Second); code != 0 {
				t.Fatalf("exit %d; log:\n%s", code, s.logText())
			}
			a := <-hung
			if a.err == nil {
				wantStatus(t, a, 503, "shutting down")
			}
			if !strings.Contains(s.logText(), "zoo serve: stopped") {
				t.Errorf("log: %s", s.logText())
			}
			waitGone(t, pid, 5*time.Second)
		})
	}
	t.Run("serve-killed-runner-dies", func(t *testing.T) {
		s := startServe(t, []string{"ZOO_CATALOG=" + cat}, "--timeout", "120s")
		go get(s.base + "/api/models/90051_HANG/image")
		pid := s.waitRunner(t, "90051_HANG", 1)
		s.cmd.Process.Kill()
		s.waitExit(t, 10*time.Second)
		waitGone(t, pid, 10*time.Second)
	})
}

// Idle and slow connections cannot lock real clients out.
func TestHostileServeConnections(t *testing.T) {
	s := startServe(t, nil, "--max-conns", "16", "--idle-timeout", "2s")
	url := s.base + "/api/models/101"
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	fresh := func() answer {
		c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return answer{code: resp.StatusCode, body: body}
	}
	t.Run("idle-keepalive-crowd", func(t *testing.T) {
		// 200 keep-alive connections, each after one answered request.
		for range 200 {
			c := dial(t)
			io.WriteString(c, "GET /api/models/101 HTTP/1.1\r\nHost: x\r\n\r\n")
			r := bufio.NewReader(c)
			resp, err := http.ReadResponse(r, nil)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		if a := fresh(); a.err != nil || a.code != 200 {
			t.Fatalf("a new client behind 200 idle connections: %v %d", a.err, a.code)
		}
	})
	t.Run("silent-connection-crowd", func(t *testing.T) {
		// 300 connections that never send a byte.
		for range 300 {
			dial(t)
		}
		if a := fresh(); a.err != nil || a.code != 200 {
			t.Fatalf("a new client behind 300 silent connections: %v %d", a.err, a.code)
		}
	})
	t.Run("idle-timeout", func(t *testing.T) {
		c := dial(t)
		io.WriteString(c, "GET /api/models/101 HTTP/1.1\r\nHost: x\r\n\r\n")
		r := bufio.NewReader(c)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("an idle connection was not closed by the server: %v", err)
		}
	})
	t.Run("slowloris-header", func(t *testing.T) {
		// Every slot taken by clients trickling a header, one byte a second.
		var conns []net.Conn
		for range 16 {
			c := dial(t)
			io.WriteString(c, "GET /api/models/101 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
			conns = append(conns, c)
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
					for _, c := range conns {
						c.Write([]byte("a"))
					}
				}
			}
		}()
		time.Sleep(1500 * time.Millisecond) // they are all mid-header now, not idle
		if a := fresh(); a.err != nil || a.code != 200 {
			t.Fatalf("a new client behind 16 slowloris connections: %v %d", a.err, a.code)
		}
		// The header timeout ends every one of them (408 or a close).
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			b, err := io.ReadAll(c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("slowloris connection %d still open after 20 s: %q", i, b)
			}
		}
	})
}

// TestHostileServeSlowLoad: a --timeout shorter than a runner start (about
// a second for LibTorch and the model) answers 503 "still loading" while
// the start goes on, and a later request is served by it. Cutting starts
// short at the request's timeout would kill every runner mid-load, and no
// request would ever be served (what a loaded machine did before).
func TestHostileServeSlowLoad(t *testing.T) {
	cat := serveCatalog(t, hostileModel{id: "90043_TINY", module: "tiny_generator.pt", sig: tinySignature})
	s := startServe(t, []string{"ZOO_CATALOG=" + cat}, "--timeout", "100ms")
	url := s.base + "/api/models/90043_TINY/image?seed=1"
	t.Run("timeout-shorter-than-runner-start", func(t *testing.T) {
		wantStatus(t, get(url), 503, "90043_TINY is still loading", "retry in a moment")
		deadline := time.Now().Add(30 * time.Second)
		// A loaded machine may take past 100 ms for the forward itself:
		// that request's runner is then stopped, as it must be, and the
		// next one starts afresh. Only those stops may add runners; a
		// request that times out while the runner loads must not.
		stopped := 0
		for {
			a := get(url)
			if a.code == 200 {
				break
			}
			if strings.Contains(a.msg, "did not finish within") {
				stopped++
			}
			if time.Now().After(deadline) {
				t.Fatalf("never served: last %d %s", a.code, a.msg)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if pids := s.runnerPids("90043_TINY"); len(pids) != 1+stopped {
			t.Fatalf("runners started: %v, want one (and one per forward stopped at the timeout: %d)", pids, stopped)
		}
	})
}
