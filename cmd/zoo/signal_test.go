package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"medzoo/output"
)

// TestSignalExitCodes: a command stopped by SIGINT exits 130, by SIGTERM
// 143, with a one-line message naming the signal; with --json the failure
// is a JSON object on stdout too. Real signals to real processes.
func TestSignalExitCodes(t *testing.T) {
	// zoo pull from a server that takes the request and never answers:
	// bin/zoo itself (no LibTorch) stops on its cancelled context.
	arrived := make(chan struct{}, 8)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cat := tinyCatalog(t, srv.URL+"/tiny.pt", strings.Repeat("0", 64))
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		code int
		json bool
		word string // how the message names the signal
	}{
		{"pull-sigint", syscall.SIGINT, 130, false, "interrupt"},
		{"pull-sigterm", syscall.SIGTERM, 143, false, "terminated"},
		{"pull-sigint-json", syscall.SIGINT, 130, true, "interrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"pull", "90001"}
			if tc.json {
				args = append(args, "--json")
			}
			cmd, stdout, stderr := startWithOutput(t, []string{"ZOO_CATALOG=" + cat}, args...)
			select {
			case <-arrived:
			case <-time.After(time.Minute):
				t.Fatalf("the download never started; stderr:\n%s", stderr)
			}
			cmd.Process.Signal(tc.sig)
			code := waitExit(t, cmd, 30*time.Second)
			msg := stderr.String()
			if code != tc.code || !strings.HasPrefix(msg, "zoo: stopped by "+tc.word) || strings.Count(msg, "\n") != 1 {
				t.Fatalf("exit %d (want %d), stderr:\n%s", code, tc.code, msg)
			}
			if !tc.json {
				if stdout.Len() != 0 {
					t.Fatalf("stdout without --json: %q", stdout)
				}
				return
			}
			var f struct {
				Error, Code string
				Exit        int
			}
			if err := json.Unmarshal(stdout.Bytes(), &f); err != nil || f.Code != "interrupted" || f.Exit != 130 || "zoo: "+f.Error+"\n" != msg {
				t.Fatalf("--json: %v %+v\nstdout: %s", err, f, stdout)
			}
		})
	}

	// zoo generate stopping between blocks (it was exit 1 before): 130,
	// and the message still says how to resume.
	t.Run("generate-sigint", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		cmd, _, stderr := startWithOutput(t, nil, "generate", "101", "-n", "1000000", "-o", dir, "--quiet")
		manifest := filepath.Join(dir, output.ManifestFile)
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if b, err := os.ReadFile(manifest); err == nil && bytes.Count(b, []byte("\n")) >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no sample within 2 minutes; stderr:\n%s", stderr)
			}
		}
		cmd.Process.Signal(syscall.SIGINT)
		code := waitExit(t, cmd, 30*time.Second)
		if msg := stderr.String(); code != 130 || !strings.Contains(msg, "zoo: stopped by interrupt: interrupted after") || !strings.Contains(msg, "--resume") {
			t.Fatalf("exit %d (want 130), stderr:\n%s", code, msg)
		}
	})
}

// startWithOutput starts the binary as zoo() runs it, keeping both streams.
func startWithOutput(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd, stdout, stderr := zooCommand(t, env, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, stdout, stderr
}
