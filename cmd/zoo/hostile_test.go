package main_test

// The hostile-input corpus (docs/reliability.md): inputs an attacker or a
// careless user gives zoo, each asserting the exit code, a message naming
// the problem, and that nothing outside the output directory changed.
// Cases live in hostile_*_test.go by area; this file holds what they share.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"medzoo/internal/testmodules"
)

// treeState records every entry under the roots: a file's sha256, a link's
// target, a directory's mode, so a later call can prove nothing changed.
func treeState(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				state[p] = "link -> " + target
			case fi.IsDir():
				state[p] = "dir " + fi.Mode().String()
			case fi.Mode().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				h := sha256.Sum256(b)
				state[p] = "file " + hex.EncodeToString(h[:])
			default:
				state[p] = "special " + fi.Mode().String()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return state
}

// unchanged fails when anything under the roots differs from before.
func unchanged(t *testing.T, before map[string]string, roots ...string) {
	t.Helper()
	after := treeState(t, roots...)
	var diff []string
	for p, v := range before {
		if after[p] != v {
			diff = append(diff, fmt.Sprintf("%s: was %q, now %q", p, v, after[p]))
		}
	}
	for p, v := range after {
		if _, ok := before[p]; !ok {
			diff = append(diff, fmt.Sprintf("%s: new (%s)", p, v))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("changed outside the output directory:\n%s", strings.Join(diff, "\n"))
	}
}

// moduleCatalog writes a user catalog holding one model, id 90009_HOSTILE,
// whose artifact is the test module file (from scripts/make_test_modules.py)
// and whose [model.signature] body is sig (TOML lines). It returns the
// catalog path, for ZOO_CATALOG.
func moduleCatalog(t *testing.T, module, sig string) string {
	t.Helper()
	return serveCatalog(t, hostileModel{id: "90009_HOSTILE", module: module, sig: sig})
}

// hostileModel is one catalog entry of a test module.
type hostileModel struct {
	id, module, sig string
	sha256          string // "" = the module's own
}

// serveCatalog writes a user catalog of several test modules.
func serveCatalog(t *testing.T, models ...hostileModel) string {
	t.Helper()
	entries := make([]catalogEntry, len(models))
	for i, m := range models {
		path := testmodules.Path(t, m.module)
		sum := m.sha256
		if sum == "" {
			sum = sha256File(t, path)
		}
		entries[i] = catalogEntry{id: m.id, title: "Hostile test module " + m.module, url: path, sha256: sum, signature: m.sig}
	}
	return writeCatalog(t, entries...)
}

// catalogEntry is one [[model]] of a test catalog. Every test catalog of
// runnable models is written through its String, so those catalogs differ
// only in the fields a test is about.
type catalogEntry struct {
	id, title   string
	function    string // "" = noise-to-image
	url, sha256 string
	format      string // "" = torchscript
	artifact    string // more [model.artifact] lines, each ending in a newline
	signature   string // the [model.signature] body (TOML lines); "" = no signature table
}

func (e catalogEntry) String() string {
	function, format := e.function, e.format
	if function == "" {
		function = "noise-to-image"
	}
	if format == "" {
		format = "torchscript"
	}
	s := fmt.Sprintf("[[model]]\nid = %q\ntitle = %q\nversion = \"0.0.1\"\nfunction = %q\n[model.artifact]\nurl = %q\nsha256 = %q\nformat = %q\n%s",
		e.id, e.title, function, e.url, e.sha256, format, e.artifact)
	if e.signature != "" {
		s += "[model.signature]\n" + strings.TrimSuffix(e.signature, "\n") + "\n"
	}
	return s
}

// writeCatalog writes a user catalog (schema 1) of the entries.
func writeCatalog(t *testing.T, entries ...catalogEntry) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("schema = 1\n")
	for _, e := range entries {
		b.WriteString(e.String())
	}
	return catalogFile(t, b.String())
}

// sigInput is a [model.signature.input] table: name, kind,
// channels×height×width, values in [lo, hi].
func sigInput(name, kind string, c, h, w int, lo, hi float64) string {
	return "[model.signature.input]\n" + tensorTOML(name, kind, c, h, w, lo, hi)
}

// sigOutput is one [[model.signature.outputs]] table, as sigInput.
func sigOutput(name, kind string, c, h, w int, lo, hi float64) string {
	return "[[model.signature.outputs]]\n" + tensorTOML(name, kind, c, h, w, lo, hi)
}

func tensorTOML(name, kind string, c, h, w int, lo, hi float64) string {
	return fmt.Sprintf("name = %q\nkind = %q\nchannels = %d\nheight = %d\nwidth = %d\nrange = [%.1f, %.1f]\n", name, kind, c, h, w, lo, hi)
}

// tinySignature is the signature of the 8 -> 1x4x4 test modules.
var tinySignature = "latent = [8]\n" + sigOutput("image", "image", 1, 4, 4, -1, 1)

// catalogFile writes text as a catalog file in a temporary directory.
func catalogFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "user.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
