package main_test

// Hostile-input corpus, area "import": medigan packages whose code hangs,
// exhausts memory, exits, crashes, floods its output or leaves processes
// behind, run by zoo import in its sandbox (testdata/packages/tinygan's
// `behaviour` argument).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHostileImport(t *testing.T) {
	pkg, ck := tinygan(t)
	for _, tc := range []struct {
		name, behaviour string
		flags           []string
		fragments       []string // in stderr; nil: the import succeeds
	}{
		{"package-hangs", "hang", []string{"--timeout", "5s"}, []string{"took longer than 5s and was stopped", "--timeout"}},
		{"package-exhausts-memory", "memory", []string{"--memory-mb", "1024"}, []string{"ran out of memory", "--memory-mb"}},
		{"package-exits", "exit", nil, []string{"exited with status 3 before zoo's capture finished"}},
		{"package-segfaults", "segfault", nil, []string{"killed by signal 11 (segmentation fault)", "a crash in its code"}},
		{"package-floods-output", "flood", nil, nil},
		{"package-leaves-a-process", "fork", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newImportEnv(t)
			marker := fmt.Sprintf("zoo-hostile-%d", time.Now().UnixNano())
			args := append([]string{"import", "--package", pkg, "--checkpoint", ck,
				"--arg", fmt.Sprintf("behaviour=%q", tc.behaviour), "--arg", fmt.Sprintf("target=%q", marker)}, tc.flags...)
			shared := treeState(t, pkg)
			r := zoo(t, e.vars(), args...)
			if tc.fragments != nil {
				wantFail(t, r, 1, append(tc.fragments, "nothing was imported")...)
				if _, err := os.Stat(e.importedCatalog()); err == nil {
					t.Error("a failed import wrote the catalog")
				}
			} else {
				mustOK(t, r)
			}
			if len(r.stderr) > 256<<10 {
				t.Errorf("zoo import printed %d bytes of package output: not bounded", len(r.stderr))
			}
			if tc.behaviour == "flood" && !strings.Contains(r.stderr, "more lines of package output not shown") {
				t.Errorf("flooded output is not said to be cut:\n%.2000s", r.stderr)
			}
			if left := e.leftovers(t); len(left) > 0 {
				t.Errorf("the import left %v in its temp dir", left)
			}
			if pids := processesWith(marker); len(pids) > 0 {
				t.Errorf("processes of the package still run after zoo import returned: %v", pids)
			}
			unchanged(t, shared, pkg)
		})
	}
}

// processesWith lists the pids whose command line contains s.
func processesWith(s string) []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}
