package search

import (
	"os"
	"testing"
)

// TestMain keeps the developer's own configuration (~/.config/medzoo
// catalogs) out of the tests: every test sees an empty config dir unless it
// sets its own.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zoo-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("ZOO_CONFIG_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
