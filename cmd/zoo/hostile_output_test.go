package main_test

// Hostile-input corpus, area "output": output directories with planted
// links and special files, resumes that do not fit, failing models and
// signals while a model call cannot return. The links point at files in a
// temp dir, never at system files.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// victim is a file outside the output directory that a planted link points
// at; the returned state proves it unchanged.
func victim(t *testing.T) (path string, state map[string]string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "victim.txt")
	if err := os.WriteFile(path, []byte("must not be overwritten\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, treeState(t, dir)
}

// smallRun generates n samples of the bundled demo model 101 into a new
// directory and returns it.
func smallRun(t *testing.T, n string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	mustOK(t, zoo(t, nil, "generate", "101", "-n", n, "-o", dir, "--quiet"))
	return dir
}

func TestHostileOutput(t *testing.T) {
	// Links planted in an output directory, under every name zoo writes.
	for _, tc := range []struct {
		name, entry string
		run         bool   // plant into a finished 4-sample run (else an empty dir)
		mode        string // --resume or --force
	}{
		{"link-as-sample-resume", "00009.png", true, "--resume"},
		{"link-as-sample-force", "00009.png", true, "--force"},
		{"link-as-existing-sample-resume", "00000.png", true, "--resume"},
		{"link-as-manifest-resume", "manifest.jsonl", true, "--resume"},
		{"link-as-manifest-force", "manifest.jsonl", false, "--force"},
		{"link-as-run-file-resume", "zoo-run.json", true, "--resume"},
		{"link-as-run-file-force", "zoo-run.json", false, "--force"},
		{"dangling-link-force", "00001.png", false, "--force"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, before := victim(t)
			dir := filepath.Join(t.TempDir(), "out")
			if tc.run {
				dir = smallRun(t, "4")
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, tc.entry)
			os.Remove(link)
			pointTo := target
			if strings.HasPrefix(tc.name, "dangling") {
				pointTo = filepath.Join(filepath.Dir(target), "absent.png")
			}
			if err := os.Symlink(pointTo, link); err != nil {
				t.Fatal(err)
			}
			outDir := treeState(t, dir)
			r := zoo(t, nil, "generate", "101", "-n", "12", "-o", dir, tc.mode, "--quiet")
			wantFail(t, r, 1, link, "is a symbolic link to "+pointTo, "never writes through links")
			unchanged(t, before, filepath.Dir(target))
			unchanged(t, outDir, dir) // refused before anything was written
		})
	}

	t.Run("fifo-in-output-dir", func(t *testing.T) {
		dir := smallRun(t, "2")
		fifo := filepath.Join(dir, "00002.png")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		before := treeState(t, dir)
		r := zoo(t, nil, "generate", "101", "-n", "4", "-o", dir, "--resume", "--quiet")
		wantFail(t, r, 1, fifo, "named pipe")
		unchanged(t, before, dir)
	})

	t.Run("manifest-lists-a-path", func(t *testing.T) {
		dir := smallRun(t, "2")
		target, before := victim(t)
		m := filepath.Join(dir, "manifest.jsonl")
		data, _ := os.ReadFile(m)
		rel, _ := filepath.Rel(dir, target)
		data = bytes.Replace(data, []byte(`"00001.png"`), []byte(`"`+rel+`"`), 1)
		os.WriteFile(m, data, 0o644)
		r := zoo(t, nil, "generate", "101", "-n", "4", "-o", dir, "--resume", "--quiet")
		wantFail(t, r, 1, "sample 1's file "+rel+" is not a regular file in")
		unchanged(t, before, filepath.Dir(target))
	})

	t.Run("resume-fewer-than-done", func(t *testing.T) {
		dir := smallRun(t, "6")
		before := treeState(t, dir)
		r := zoo(t, nil, "generate", "101", "-n", "4", "-o", dir, "--resume", "--quiet")
		wantFail(t, r, 1, "cannot resume with -n 4", "already holds 6 samples", "-n 6 or more")
		unchanged(t, before, dir) // zoo-run.json still says 6
	})

	t.Run("resume-more-than-asked", func(t *testing.T) {
		dir := smallRun(t, "3")
		mustOK(t, zoo(t, nil, "generate", "101", "-n", "5", "-o", dir, "--resume", "--quiet"))
		if recs := readManifest(t, dir); len(recs) != 5 {
			t.Fatalf("manifest holds %d samples, want 5", len(recs))
		}
	})

	t.Run("damaged-run-file", func(t *testing.T) {
		dir := smallRun(t, "2")
		os.WriteFile(filepath.Join(dir, "zoo-run.json"), []byte("{not json"), 0o644)
		before := treeState(t, dir)
		wantFail(t, zoo(t, nil, "generate", "101", "-n", "4", "-o", dir, "--resume", "--quiet"), 1, "zoo-run.json is damaged", "--force")
		unchanged(t, before, dir)
	})

	t.Run("huge-run-file", func(t *testing.T) {
		dir := smallRun(t, "2")
		os.WriteFile(filepath.Join(dir, "zoo-run.json"), bytes.Repeat([]byte(" "), 2<<20), 0o644)
		before := treeState(t, dir)
		wantFail(t, zoo(t, nil, "generate", "101", "-n", "4", "-o", dir, "--resume", "--quiet"), 1, "too large to be what zoo wrote")
		unchanged(t, before, dir)
	})

	t.Run("overlong-manifest-line", func(t *testing.T) {
		// A manifest whose last line is 1 MiB without a newline: cut off
		// like a partial line, and the run continues from the valid prefix.
		dir := smallRun(t, "2")
		f, _ := os.OpenFile(filepath.Join(dir, "manifest.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
		f.Write(bytes.Repeat([]byte("x"), 1<<20))
		f.Close()
		mustOK(t, zoo(t, nil, "generate", "101", "-n", "3", "-o", dir, "--resume", "--quiet"))
		if recs := readManifest(t, dir); len(recs) != 3 {
			t.Fatalf("manifest holds %d samples, want 3", len(recs))
		}
	})

	t.Run("output-is-a-file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "out")
		os.WriteFile(file, []byte("keep"), 0o644)
		before := treeState(t, filepath.Dir(file))
		wantFail(t, zoo(t, nil, "generate", "101", "-n", "2", "-o", file, "--quiet"), 1, "output directory", "not a directory")
		unchanged(t, before, filepath.Dir(file))
	})

	t.Run("model-always-fails-leaves-dir-empty", func(t *testing.T) {
		cat := moduleCatalog(t, "raise_always.pt", tinySignature)
		dir := filepath.Join(t.TempDir(), "out")
		env := []string{"ZOO_CATALOG=" + cat}
		for try := 0; try < 2; try++ { // the rerun is a fresh start, not "not empty"
			r := zoo(t, env, "generate", "90009_HOSTILE", "-n", "2", "-o", dir, "--quiet")
			wantFail(t, r, 1, "this model always fails", "0 of 2 samples")
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("a run that made nothing left %d entries", len(entries))
			}
		}
	})

	t.Run("figure-over-a-link", func(t *testing.T) {
		target, before := victim(t)
		link := filepath.Join(t.TempDir(), "grid.png")
		os.Symlink(target, link)
		for _, args := range [][]string{{"grid", "101", "-n", "4", "-o", link}, {"grid", "101", "-n", "4", "-o", link, "--force"}} {
			wantFail(t, zoo(t, nil, args...), 2, link, "is a symbolic link to "+target)
		}
		unchanged(t, before, filepath.Dir(target))
	})

	// Signals while a forward never returns (hang.pt loops forever): the
	// process exits, and the directory holds a run --resume can continue.
	for _, tc := range []struct {
		name  string
		sigs  []syscall.Signal
		code  int
		named string
	}{
		{"sigterm-during-endless-forward", []syscall.Signal{syscall.SIGTERM}, 143, "stopped by terminated"},
		{"sigint-during-endless-forward", []syscall.Signal{syscall.SIGINT}, 130, "stopped by interrupt"},
		{"second-sigint-stops-at-once", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 130, "stopped by interrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat := moduleCatalog(t, "hang.pt", tinySignature)
			dir := filepath.Join(t.TempDir(), "out")
			cmd, _, stderr := startWithOutput(t, []string{"ZOO_CATALOG=" + cat}, "generate", "90009_HOSTILE", "-n", "2", "-o", dir, "--quiet")
			waitForFile(t, filepath.Join(dir, "zoo-run.json"), cmd)
			time.Sleep(300 * time.Millisecond) // into the forward call
			for _, s := range tc.sigs {
				cmd.Process.Signal(s)
				time.Sleep(50 * time.Millisecond)
			}
			code := waitExit(t, cmd, 30*time.Second)
			if code != tc.code || !strings.Contains(stderr.String(), tc.named) || !strings.Contains(stderr.String(), "--resume continues") {
				t.Fatalf("exit %d (want %d), stderr:\n%s", code, tc.code, stderr)
			}
			if recs := readManifest(t, dir); len(recs) != 0 {
				t.Fatalf("manifest lists %d samples of a model that never returned", len(recs))
			}
		})
	}
}

// waitForFile waits until path exists (the command got that far), failing
// if the command exits first or a minute passes.
func waitForFile(t *testing.T, path string, cmd *exec.Cmd) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	t.Fatalf("%s did not appear", path)
}

// waitExit waits for the command's exit code; a command still running after
// limit is a hang, killed and failed.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		cmd.Process.Kill()
		t.Fatalf("still running %v after the signal: a hang", limit)
		return -1
	}
}
