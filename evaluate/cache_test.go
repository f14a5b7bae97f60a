package evaluate

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"medzoo/internal/files"
	"medzoo/zoo"
)

// TestCacheAndRecordRefuseLinks: the feature cache and the measured-metrics
// catalog are files zoo writes under directories a user (or an attacker
// with write access to them) may have planted links or FIFOs in.
func TestCacheAndRecordRefuseLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	c := featureCache{dir: filepath.Join(dir, "cache")}
	os.MkdirAll(filepath.Join(c.dir, "features"), 0o755)

	// A link under an entry's name is refused, its target untouched.
	os.Symlink(victim, c.path("linked"))
	var nr *files.NotRegularError
	if err := c.store("linked", []float32{1, 2}, 1, 2, nil); !errors.As(err, &nr) {
		t.Errorf("storing over a link: %v", err)
	}
	if _, ok := c.load("linked", 1, 2); ok {
		t.Error("loaded features through a link")
	}
	// The warnings of an extraction come back with its cached features,
	// and a link under the notes' name is refused like one under the rows'.
	if err := c.store("noted", []float32{1, 2}, 1, 2, []string{"16-bit gray PNGs clipped"}); err != nil {
		t.Fatal(err)
	}
	if got := c.loadNotes("noted"); len(got) != 1 || got[0] != "16-bit gray PNGs clipped" {
		t.Errorf("notes %q", got)
	}
	os.Symlink(victim, c.notesPath("linkednotes"))
	if err := c.store("linkednotes", []float32{1, 2}, 1, 2, []string{"x"}); !errors.As(err, &nr) {
		t.Errorf("storing notes over a link: %v", err)
	}
	// A FIFO under an entry's name neither blocks the load nor is trusted.
	if err := syscall.Mkfifo(c.path("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.load("fifo", 1, 2); ok {
		t.Error("loaded features from a FIFO")
	}
	// An ordinary entry round-trips.
	if err := c.store("ok", []float32{1, 2}, 1, 2, nil); err != nil {
		t.Fatal(err)
	}
	if rows, ok := c.load("ok", 1, 2); !ok || rows[1] != 2 {
		t.Errorf("round trip: %v %v", rows, ok)
	}

	// evaluate --record's catalog.
	config := filepath.Join(dir, "config")
	os.MkdirAll(filepath.Join(config, "catalogs"), 0o755)
	os.Symlink(victim, filepath.Join(config, "catalogs", RecordFile))
	m := &zoo.Model{ID: "00001_TEST"}
	if _, err := Record(m, &Card{}, config); !errors.As(err, &nr) {
		t.Errorf("recording over a link: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("victim now %q", b)
	}
}
