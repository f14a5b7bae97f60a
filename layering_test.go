package medzoo

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The packages' dependencies point one way (docs/architecture.md): the
// catalog knows nothing of search or LibTorch, the store nothing of
// catalogs, torch nothing of either, and only the command imports cli.
// go list reports the real import graph, build tags included.
func TestLayering(t *testing.T) {
	forbidden := map[string][]string{
		"medzoo/zoo/store":  {"medzoo/zoo", "medzoo/zoo/search", "medzoo/torch", "medzoo/loader", "medzoo/cli"},
		"medzoo/zoo":        {"medzoo/zoo/search", "medzoo/torch", "medzoo/loader", "medzoo/cli"},
		"medzoo/zoo/search": {"medzoo/torch", "medzoo/loader", "medzoo/cli"},
		"medzoo/torch":      {"medzoo/zoo", "medzoo/zoo/store", "medzoo/zoo/search", "medzoo/loader", "medzoo/cli"},
		"medzoo/loader":     {"medzoo/zoo/search", "medzoo/cli"},
		"medzoo/output":     {"medzoo/torch", "medzoo/cli"},
		"medzoo/server":     {"medzoo/cli"},
		"medzoo/share":      {"medzoo/torch", "medzoo/loader", "medzoo/cli"},
		"medzoo/validate":   {"medzoo/zoo/search", "medzoo/server", "medzoo/cli"},
		"medzoo/oci":        {"medzoo/zoo", "medzoo/zoo/store", "medzoo/share", "medzoo/torch", "medzoo/loader", "medzoo/cli"},
		"medzoo/zenodo":     {"medzoo/torch", "medzoo/loader", "medzoo/share", "medzoo/cli"},
		// slurm runs Slurm's commands for any command line; testslurm runs
		// the daemons. Neither knows zoo.
		"medzoo/slurm":              {"medzoo/zoo", "medzoo/torch", "medzoo/loader", "medzoo/output", "medzoo/cli"},
		"medzoo/internal/testslurm": {"medzoo/slurm", "medzoo/zoo", "medzoo/torch", "medzoo/cli"},
		"medzoo/k8sjob":             {"medzoo/zoo", "medzoo/torch", "medzoo/loader", "medzoo/cli"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, b := range bad {
			if deps[b] {
				t.Errorf("%s depends on %s", pkg, b)
			}
		}
	}
	// Only cmd/zoo imports cli.
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		for _, imp := range strings.Fields(imports) {
			if imp == "medzoo/cli" && pkg != "medzoo/cmd/zoo" {
				t.Errorf("%s imports medzoo/cli", pkg)
			}
		}
	}
}

// bin/zoo (no LibTorch) builds for systems other than Linux: the unix-only
// pieces (exec into zoo-torch, flock, O_NOFOLLOW) have their fallbacks.
func TestBuildsWithoutLibTorchElsewhere(t *testing.T) {
	for _, goos := range []string{"windows", "darwin"} {
		cmd := exec.Command("go", "build", "-tags", "notorch", "-o", os.DevNull, "./cmd/zoo")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s go build -tags notorch ./cmd/zoo: %v\n%s", goos, err, out)
		}
	}
}
