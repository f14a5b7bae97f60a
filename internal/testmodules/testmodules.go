// Package testmodules builds the TorchScript fixtures that tests run, by
// calling scripts/make_test_modules.py with Debian's python3-torch once per
// test binary.
package testmodules

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	err  error
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	d, e := os.Getwd()
	if e != nil {
		tb.Fatal(e)
	}
	for {
		if _, e := os.Stat(filepath.Join(d, "go.mod")); e == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			tb.Fatal("go.mod not found above the test directory")
		}
		d = parent
	}
}

// Python is the interpreter with Debian's python3-torch.
const Python = "/usr/bin/python3"

// Dir returns a directory holding the fixture modules, building them on
// first use. The directory lives until the test process exits.
func Dir(tb testing.TB) string {
	tb.Helper()
	once.Do(func() {
		root := RepoRoot(tb)
		dir, err = os.MkdirTemp("", "zoo-test-modules-")
		if err != nil {
			return
		}
		cmd := exec.Command(Python, filepath.Join(root, "scripts", "make_test_modules.py"), dir)
		cmd.Stderr = os.Stderr
		err = cmd.Run()
	})
	if err != nil {
		tb.Fatalf("building TorchScript test modules (needs %s with python3-torch): %v", Python, err)
	}
	return dir
}

// Path returns the path of one fixture module.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), name)
}

var (
	exOnce sync.Once
	exDir  string
	exErr  error
)

// Extractors returns a directory holding the random-weight feature
// extractors of scripts/export_extractors.py (inception-v3-random.pt,
// radimagenet-resnet50-random.pt, each with its .toml spec), exporting them
// on first use (about 20 s).
func Extractors(tb testing.TB) string {
	tb.Helper()
	exOnce.Do(func() {
		root := RepoRoot(tb)
		exDir, exErr = os.MkdirTemp("", "zoo-test-extractors-")
		if exErr != nil {
			return
		}
		cmd := exec.Command(Python, filepath.Join(root, "scripts", "export_extractors.py"), "--out", exDir)
		cmd.Stderr = os.Stderr
		exErr = cmd.Run()
	})
	if exErr != nil {
		tb.Fatalf("exporting feature extractors (needs %s with python3-torch and python3-torchvision): %v", Python, exErr)
	}
	return exDir
}
