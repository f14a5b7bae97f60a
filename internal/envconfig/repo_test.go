package envconfig

// Tests that hold the rest of the repository to this package: no other
// code reads the environment, every ZOO_ name it mentions exists, and the
// README's table is the one the table here writes.

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's environment table from Vars")

// repoRoot is the module root, two levels up.
const repoRoot = "../.."

// notRead are ZOO_ names zoo's code mentions but never reads.
var notRead = map[string]string{
	"ZOO_THREADS": "set by zoo import for scripts/zoo_capture.py",
}

// goFiles lists the module's Go files, tests excluded when withTests is
// false; build output and vendored trees are skipped.
func goFiles(t *testing.T, withTests bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "build", "lib", "bin", "testdata", "node_modules":
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), ".") && path != repoRoot {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && (withTests || !strings.HasSuffix(path, "_test.go")) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found only %d Go files under %s: is this the repository?", len(out), repoRoot)
	}
	return out
}

func inThisPackage(path string) bool {
	return filepath.Dir(path) == filepath.Join(repoRoot, "internal", "envconfig")
}

// TestNoDirectReads fails for any os.Getenv, os.LookupEnv or
// syscall.Getenv outside this package (tests may set and read their own
// variables): a variable read elsewhere would be missing from Vars, the
// README and zoo env.
func TestNoDirectReads(t *testing.T) {
	fset := token.NewFileSet()
	for _, path := range goFiles(t, false) {
		if inThisPackage(path) {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch pkg.Name + "." + sel.Sel.Name {
			case "os.Getenv", "os.LookupEnv", "syscall.Getenv":
				t.Errorf("%s: %s.%s: read environment variables through internal/envconfig, which documents them",
					fset.Position(sel.Pos()), pkg.Name, sel.Sel.Name)
			}
			return true
		})
	}
}

var zooName = regexp.MustCompile(`\bZOO_[A-Z][A-Z0-9_]*[A-Z0-9]\b`)

// TestMentionedNamesExist fails when zoo's code (messages, comments) or
// the README names a ZOO_ variable the table does not define: a typo, or a
// variable that was removed.
func TestMentionedNamesExist(t *testing.T) {
	check := func(path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, name := range zooName.FindAllString(line, -1) {
				if _, ok := Lookup(name); !ok && notRead[name] == "" {
					t.Errorf("%s:%d names %s, which internal/envconfig does not define", path, i+1, name)
				}
			}
		}
	}
	for _, path := range goFiles(t, false) {
		check(path)
	}
	check(filepath.Join(repoRoot, "README.md"))
}

const (
	tableStart = "<!-- env table:"
	tableEnd   = "<!-- end env table -->"
)

// TestREADMETable fails when README.md's environment table is not the one
// Markdown writes (a variable missing from either, or a changed default or
// description); -update rewrites it.
func TestREADMETable(t *testing.T) {
	path := filepath.Join(repoRoot, "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, tableStart)
	end := strings.Index(readme, tableEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md has no %q … %q block for the environment table", tableStart, tableEnd)
	}
	start += strings.Index(readme[start:], "\n") + 1
	got, want := readme[start:end], Markdown()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:start]+want+readme[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	missing, extra := tableNames(want), tableNames(got)
	for n := range extra {
		delete(missing, n)
	}
	for n := range tableNames(want) {
		delete(extra, n)
	}
	t.Errorf("README.md's environment table differs from internal/envconfig's (missing %v, not defined %v); "+
		"go test ./internal/envconfig -run TestREADMETable -update rewrites it. Want:\n%s", keys(missing), keys(extra), want)
}

func tableNames(table string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			if name, _, ok := strings.Cut(rest, "`"); ok {
				names[name] = true
			}
		}
	}
	return names
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
