// Package catalogtest holds what the catalog and search tests share: a
// minimal catalog entry, medigan's own catalog to compare with, and a
// TestMain that keeps the developer's own configuration out of the tests.
package catalogtest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Entry is a minimal valid catalog entry, with extra lines of TOML added to
// its model table.
func Entry(id, title string, extra ...string) string {
	return "[[model]]\nid = \"" + id + "\"\ntitle = \"" + title + "\"\n" + strings.Join(extra, "\n") +
		"\n[model.artifact]\nurl = \"x.zip\"\nformat = \"python-package\"\n\n"
}

// Medigan returns the path and the bytes of medigan's own catalog,
// shared/data/medigan_global.json, the reference the parity tests compare
// zoo with. shared/ stands beside the repository (CI checks it out there),
// so the path is found from the module root whatever the package's depth;
// without it the test is skipped.
func Medigan(t testing.TB) (path string, data []byte) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(root, "..", "shared", "data", "medigan_global.json")
	data, err = os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s not present (shared/ is not checked out beside the repo)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

// moduleRoot is the nearest directory at or above the working directory
// (a test's package directory) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the test's directory")
		}
		dir = parent
	}
}

// Isolate points the config dir and the catalog list of one test away
// from the user's, and returns the config dir.
func Isolate(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	t.Setenv("ZOO_CONFIG_DIR", cfg)
	t.Setenv("ZOO_CATALOG", "")
	return cfg
}

// Main runs a package's tests with an empty config dir (ZOO_CONFIG_DIR),
// so the user's ~/.config/medzoo catalogs never leak in; a test that needs
// one sets its own.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "zoo-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("ZOO_CONFIG_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
