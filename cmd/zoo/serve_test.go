package main_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// zoo serve listens on loopback, answers, and stops cleanly on SIGTERM.
// With --json it says where it listens in one JSON line on stdout, and
// its logs stay on stderr.
func TestServeStartsAndStops(t *testing.T) {
	cmd := exec.Command(zooBin, "serve", "--addr", "127.0.0.1:0", "--max-n", "9", "--json")
	cmd.Env = append(os.Environ(), "ZOO_CACHE="+filepath.Join(t.TempDir(), "cache"), "ZOO_CATALOG=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewReader(stderr)
	first, err := lines.ReadString('\n')
	if err != nil {
		t.Fatalf("no start line: %v", err)
	}
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(first)
	if addr == nil {
		t.Fatalf("start line: %q", first)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no --json line on stdout: %v", err)
	}
	var ready struct {
		URL      string `json:"url"`
		Address  string `json:"address"`
		Models   int    `json:"models"`
		Runnable int    `json:"runnable"`
		MaxN     int    `json:"max_n"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Address != addr[1] || ready.URL != "http://"+addr[1]+"/" ||
		ready.Models < 23 || ready.Runnable < 1 || ready.Runnable >= ready.Models || ready.MaxN != 9 {
		t.Fatalf("--json line %q (%v), stderr says %s", line, err, addr[1])
	}
	resp, err := http.Get("http://" + addr[1] + "/api/models/101/image?n=2")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || len(body) == 0 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + addr[1] + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("index: %v %v", err, resp)
	}
	resp.Body.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(lines)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(string(rest), "stopped") {
			t.Errorf("after SIGTERM: %v, %q", err, rest)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("zoo serve did not stop on SIGTERM")
	}
	// A non-loopback default is never used: the flag's default is loopback.
	r := mustOK(t, zoo(t, nil, "serve", "--help"))
	if !strings.Contains(r.stdout, "127.0.0.1:8080") {
		t.Errorf("serve --help: %s", r.stdout)
	}
}
