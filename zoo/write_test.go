package zoo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// upsertChildEnv makes this test binary one of the processes of
// TestUpsertEntryConcurrent: it upserts the entries it is told, then exits.
const upsertChildEnv = "ZOO_TEST_UPSERT_CHILD"

// upsertSome writes entries [from, from+n) of the concurrency tests.
func upsertSome(path string, from, n int) error {
	for i := from; i < from+n; i++ {
		m := Model{ID: fmt.Sprintf("%05d_LOCK_TEST", i), Overlay: true,
			Metrics: map[string]Metric{"FID": {Value: float64(i), Direction: "lower"}}}
		if err := UpsertEntry(path, "# test\n", m); err != nil {
			return err
		}
	}
	return nil
}

// wantAllEntries fails unless the catalog at path holds entries [0, n).
func wantAllEntries(t *testing.T, path string, n int) {
	t.Helper()
	data, err := ReadCatalogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := Parse(data, path)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, m := range cat.Models {
		have[m.ID] = true
	}
	var lost []string
	for i := 0; i < n; i++ {
		if id := fmt.Sprintf("%05d_LOCK_TEST", i); !have[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 || len(cat.Models) != n {
		t.Errorf("%d entries in %s, want %d; lost %v", len(cat.Models), path, n, lost)
	}
}

// Upserts of different entries at once, from goroutines and from
// processes, all survive: each read-modify-write holds the file's lock,
// where without it a writer puts back what it read and drops the entry
// another wrote meanwhile.
func TestUpsertEntryConcurrent(t *testing.T) {
	if path := os.Getenv(upsertChildEnv); path != "" {
		from, _ := strconv.Atoi(os.Getenv(upsertChildEnv + "_FROM"))
		if err := upsertSome(path, from, 8); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	const workers, each = 8, 8

	t.Run("goroutines", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "catalogs", "measured.toml")
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- upsertSome(path, w*each, each)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		wantAllEntries(t, path, workers*each)
	})

	t.Run("processes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "catalogs", "measured.toml")
		var cmds []*exec.Cmd
		for w := 0; w < workers; w++ {
			cmd := exec.Command(os.Args[0], "-test.run=^TestUpsertEntryConcurrent$")
			cmd.Env = append(os.Environ(), upsertChildEnv+"="+path, upsertChildEnv+"_FROM="+strconv.Itoa(w*each))
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		for _, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("upserting process: %v", err)
			}
		}
		wantAllEntries(t, path, workers*each)
	})
}

// A link planted at the lock's name is refused, not written through.
func TestUpsertEntryLockIsLink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "measured.toml")
	target := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(target, path+".lock"); err != nil {
		t.Fatal(err)
	}
	err := UpsertEntry(path, "# test\n", Model{ID: "90001_TEST_GAN", Overlay: true})
	if err == nil || !strings.Contains(err.Error(), path+".lock") || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("lock file a link: %v", err)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the link's target was created: %v", err)
	}
}
