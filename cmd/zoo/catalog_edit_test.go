package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// zoo catalog add and diff as a contributor uses them on the repository's
// zoo.toml: the entry goes in, every other byte stays, zoo reads it, and
// diff shows what a pull request changes, with diff(1)'s exit codes.
func TestCatalogAddAndDiff(t *testing.T) {
	dir := t.TempDir()
	entry := func(version string) string {
		p := filepath.Join(dir, "model-"+version+".toml")
		text := "# model.toml of my model\nschema = 1\n\n# trained at the lab\n[[model]]\nid = \"90001_MY_MODEL\"\n" +
			"title = \"My model\"\nversion = \"" + version + "\"\nmodality = [\"MRI\"]\n" +
			"[model.artifact]\nurl = \"https://example.org/my.zip\"\nformat = \"python-package\"\n"
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	orig, err := os.ReadFile(filepath.Join("..", "..", "zoo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(dir, "zoo.toml")
	if err := os.WriteFile(cat, orig, 0o644); err != nil {
		t.Fatal(err)
	}

	r := mustOK(t, zoo(t, nil, "catalog", "add", entry("1.0.0"), "--to", cat))
	if !strings.Contains(r.stdout, "model 90001_MY_MODEL added") {
		t.Errorf("add: %s", r.stdout)
	}
	added, _ := os.ReadFile(cat)
	if !strings.HasPrefix(string(added), string(orig)+"\n# trained at the lab\n[[model]]\nid = \"90001_MY_MODEL\"") {
		t.Fatalf("the catalog's own bytes changed, or the entry is not appended as written:\n%s", added[len(orig)-100:])
	}
	mustOK(t, zoo(t, nil, "catalog", "validate", cat))
	if r := mustOK(t, zoo(t, nil, "list", "--catalog", cat)); !strings.Contains(r.stdout, "90001_MY_MODEL") {
		t.Errorf("list --catalog does not show the added model:\n%s", r.stdout)
	}

	// diff: the embedded catalog against the edited copy.
	r = zoo(t, nil, "catalog", "diff", "embedded", cat)
	wantFail(t, r, 1, "the catalogs differ: 1 added, 0 removed, 0 changed")
	if !strings.Contains(r.stdout, "+ 90001_MY_MODEL ("+cat+":") {
		t.Errorf("diff embedded: %s", r.stdout)
	}
	mustOK(t, zoo(t, nil, "catalog", "diff", cat, cat))

	// Adding it again is refused without --replace; with it, a new version.
	old := filepath.Join(dir, "old.toml")
	os.WriteFile(old, added, 0o644)
	wantFail(t, zoo(t, nil, "catalog", "add", entry("1.1.0"), "--to", cat), 1, "already in the catalog", "--replace")
	r = mustOK(t, zoo(t, nil, "catalog", "add", entry("1.1.0"), "--to", cat, "--replace", "--json"))
	var res map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res["replaced"] != true || res["id"] != "90001_MY_MODEL" {
		t.Errorf("add --replace --json: %v %s", err, r.stdout)
	}
	r = zoo(t, nil, "catalog", "diff", old, cat)
	wantFail(t, r, 1, "1 changed")
	if !strings.Contains(r.stdout, "~ 90001_MY_MODEL") || !strings.Contains(r.stdout, `version: "1.0.0" → "1.1.0"`) {
		t.Errorf("diff after --replace:\n%s", r.stdout)
	}
	r = zoo(t, nil, "catalog", "diff", old, cat, "--json")
	var d struct {
		Equal   bool
		Changed []struct {
			ID     string
			Fields []struct{ Key, Old, New string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || r.code != 1 || d.Equal || len(d.Changed) != 1 ||
		len(d.Changed[0].Fields) != 1 || d.Changed[0].Fields[0].Key != "version" || d.Changed[0].Fields[0].New != "1.1.0" {
		t.Errorf("diff --json (exit %d, %v): %s", r.code, err, r.stdout)
	}

	// A new catalog needs --create.
	mine := filepath.Join(dir, "mine.toml")
	wantFail(t, zoo(t, nil, "catalog", "add", entry("1.0.0"), "--to", mine), 1, "does not exist", "--create")
	mustOK(t, zoo(t, nil, "catalog", "add", entry("1.0.0"), "--to", mine, "--create"))
	mustOK(t, zoo(t, nil, "catalog", "validate", mine))

	// Usage and parse errors exit 2.
	wantFail(t, zoo(t, nil, "catalog", "add", entry("1.0.0")), 2, "--to CATALOG")
	wantFail(t, zoo(t, nil, "catalog", "add", "--to", cat), 2, "one entry file")
	wantFail(t, zoo(t, nil, "catalog", "diff", cat), 2, "two catalogs")
	wantFail(t, zoo(t, nil, "catalog", "diff", cat, cat, "--replace"), 2, "--replace is for zoo catalog add")
	wantFail(t, zoo(t, nil, "catalog", "diff", "embedded", filepath.Join(dir, "nosuch.toml")), 2, "does not exist", "embedded")
	broken := filepath.Join(dir, "broken.toml")
	os.WriteFile(broken, []byte("schema = 1\n[[model]]\nid = 3\n"), 0o644)
	wantFail(t, zoo(t, nil, "catalog", "diff", broken, cat), 2, broken+":3:")
	wantFail(t, zoo(t, nil, "catalog", "add", broken, "--to", cat), 1, broken+":3:")
}
