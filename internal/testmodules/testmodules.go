// Package testmodules builds the TorchScript fixtures that tests run, by
// calling scripts/make_test_modules.py (and scripts/export_extractors.py for
// feature extractors) with Debian's python3-torch once per test binary.
package testmodules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
	return fixtures.get(tb, "building TorchScript test modules (needs %s with python3-torch)", "make_test_modules.py")
}

// generated is a directory a script fills once per test binary.
type generated struct {
	once sync.Once
	dir  string
	err  error
}

var fixtures, extractors generated

// get runs scripts/script with the directory as its last argument (after
// args) on first use and returns the directory.
func (g *generated) get(tb testing.TB, failure, script string, args ...string) string {
	tb.Helper()
	g.once.Do(func() {
		root := RepoRoot(tb)
		if g.dir, g.err = os.MkdirTemp("", "zoo-test-"+strings.TrimSuffix(script, ".py")+"-"); g.err != nil {
			return
		}
		cmd := exec.Command(Python, append(append([]string{filepath.Join(root, "scripts", script)}, args...), g.dir)...)
		cmd.Stderr = os.Stderr
		g.err = cmd.Run()
	})
	if g.err != nil {
		tb.Fatalf(failure+": %v", Python, g.err)
	}
	return g.dir
}

// Path returns the path of one fixture module.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), name)
}

// Extractors returns a directory holding the random-weight feature
// extractors of scripts/export_extractors.py (inception-v3-random.pt,
// radimagenet-resnet50-random.pt, each with its .toml spec), exporting them
// on first use (about 20 s).
func Extractors(tb testing.TB) string {
	tb.Helper()
	return extractors.get(tb, "exporting feature extractors (needs %s with python3-torch and python3-torchvision)", "export_extractors.py", "--out")
}
