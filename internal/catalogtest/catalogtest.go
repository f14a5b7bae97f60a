// Package catalogtest holds what the catalog and search tests share: a
// minimal catalog entry and a TestMain that keeps the developer's own
// configuration out of the tests.
package catalogtest

import (
	"os"
	"strings"
	"testing"
)

// Entry is a minimal valid catalog entry, with extra lines of TOML added to
// its model table.
func Entry(id, title string, extra ...string) string {
	return "[[model]]\nid = \"" + id + "\"\ntitle = \"" + title + "\"\n" + strings.Join(extra, "\n") +
		"\n[model.artifact]\nurl = \"x.zip\"\nformat = \"python-package\"\n\n"
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
