package zoo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/internal/files"
)

// A catalog kept by hand: comments at the top, above, inside and after
// entries, a section marker directly after an entry's last key, and a
// multi-line string holding what looks like a comment and a blank line.
const handCatalog = `# my catalog: kept by hand
schema = 1

# BEGIN lab
# the first model
[[model]]
id = "90001_A"
title = "A"     # aligned comment
version = "1.0.0"
[model.artifact]
url = "a.zip"
format = "python-package"
# END lab

# the second
[[model]]
id = "90002_B"
title = "B"
description = """
# not a comment

"""

[model.artifact]
url   =   "b.zip"
format = "python-package"
`

const coreA = `[[model]]
id = "90001_A"
title = "A"     # aligned comment
version = "1.0.0"
[model.artifact]
url = "a.zip"
format = "python-package"
`

const coreB = `[[model]]
id = "90002_B"
title = "B"
description = """
# not a comment

"""

[model.artifact]
url   =   "b.zip"
format = "python-package"
`

// entryFile is a model.toml: a header comment and schema that stay out of
// the catalog, then the entry with its own comments.
func entryFile(id, version string) string {
	return "# model.toml of my model\nschema = 1\n\n# " + id + ", trained at the lab\n" + entryCore(id, version) + "# sha256 to come\n"
}

func entryCore(id, version string) string {
	return "[[model]]\nid = \"" + id + "\"\ntitle = \"new\"\nversion = \"" + version + "\"   # bumped\n" +
		"[model.artifact]\nurl = \"new.zip\"\nformat = \"python-package\"\n"
}

func TestMergeEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		catalog string // "-": no catalog yet (nil)
		entry   string
		replace bool
		want    string   // the merged text, byte for byte
		line    int      // the entry's [[model]] line in it
		errs    []string // or: fragments of the error
	}{
		{name: "add new", catalog: handCatalog, entry: entryFile("90003_C", "1.0.0"),
			want: handCatalog + "\n# 90003_C, trained at the lab\n" + entryCore("90003_C", "1.0.0") + "# sha256 to come\n", line: 29},
		{name: "add to a catalog without a final newline", catalog: strings.TrimSuffix(handCatalog, "\n"), entry: entryFile("90003_C", "1.0.0"),
			want: handCatalog + "\n# 90003_C, trained at the lab\n" + entryCore("90003_C", "1.0.0") + "# sha256 to come\n", line: 29},
		{name: "add to a catalog ending in blank lines", catalog: handCatalog + "\n\n", entry: entryFile("90003_C", "1.0.0"),
			want: handCatalog + "\n\n# 90003_C, trained at the lab\n" + entryCore("90003_C", "1.0.0") + "# sha256 to come\n", line: 30},
		{name: "add to a new catalog", catalog: "-", entry: entryFile("90003_C", "1.0.0"),
			want: "schema = 1\n\n# 90003_C, trained at the lab\n" + entryCore("90003_C", "1.0.0") + "# sha256 to come\n", line: 4},
		{name: "replace, comments around it stay", catalog: handCatalog, entry: entryFile("90001_A", "2.0.0"), replace: true,
			want: strings.Replace(handCatalog, coreA, entryCore("90001_A", "2.0.0"), 1), line: 6},
		{name: "replace the last entry, multi-line string and all", catalog: handCatalog, entry: entryFile("90002_B", "2.0.0"), replace: true,
			want: strings.Replace(handCatalog, coreB, entryCore("90002_B", "2.0.0"), 1), line: 16},
		{name: "replace matches ids ignoring case", catalog: handCatalog, entry: entryCore("90001_a", "2.0.0"), replace: true,
			want: strings.Replace(handCatalog, coreA, entryCore("90001_a", "2.0.0"), 1), line: 6},
		{name: "refuse an existing id without --replace", catalog: handCatalog, entry: entryFile("90001_a", "2.0.0"),
			errs: []string{"model 90001_A is already in the catalog, at cat.toml:6", "--replace"}},
		{name: "refuse an invalid entry", catalog: handCatalog, entry: "schema = 1\n[[model]]\nid = \"90003_C\"\n[model.artifact]\nurl = \"x.zip\"\nformat = \"zip\"\n",
			errs: []string{"e.toml:2: model 90003_C: missing title", "e.toml:6: model 90003_C: artifact.format \"zip\""}},
		{name: "refuse two entries", catalog: handCatalog, entry: entryCore("90003_C", "1") + "\n" + entryCore("90004_D", "1"),
			errs: []string{"e.toml holds 2 [[model]] entries (lines 1, 9)", "one at a time"}},
		{name: "refuse no entry", catalog: handCatalog, entry: "schema = 1\n",
			errs: []string{"e.toml holds no [[model]] entry"}},
		{name: "refuse a broken catalog", catalog: strings.Replace(handCatalog, `title = "B"`, `title = "B`, 1), entry: entryFile("90003_C", "1.0.0"),
			errs: []string{"cat.toml:18:", "fix it first", "zoo catalog validate cat.toml"}},
		{name: "refuse an entry of a newer schema", catalog: handCatalog, entry: strings.Replace(entryFile("90003_C", "1.0.0"), "schema = 1", "schema = 2", 1),
			errs: []string{"e.toml:2: catalog schema 2 is newer than this zoo understands"}},
		{name: "refuse models in an inline array", catalog: "schema = 1\nmodel = [{id = \"90009_I\", title = \"I\", artifact = {url = \"i.zip\", format = \"python-package\"}}]\n",
			entry: entryFile("90003_C", "1.0.0"), errs: []string{"cat.toml defines models in an inline array", "[[model]] table"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var catalog []byte
			if tc.catalog != "-" {
				catalog = []byte(tc.catalog)
			}
			got, res, err := MergeEntry(catalog, "cat.toml", []byte(tc.entry), "e.toml", tc.replace)
			if tc.errs != nil {
				if err == nil {
					t.Fatalf("no error; merged:\n%s", got)
				}
				for _, f := range tc.errs {
					if !strings.Contains(err.Error(), f) {
						t.Errorf("error lacks %q:\n%v", f, err)
					}
				}
				if got != nil {
					t.Errorf("a refused merge returned text")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("merged text:\n%s\nwant:\n%s", got, tc.want)
			}
			if res.Line != tc.line || res.Replaced != tc.replace {
				t.Errorf("result %+v, want line %d, replaced %v", res, tc.line, tc.replace)
			}
		})
	}
}

// Replacing any entry of the embedded catalog (section markers, long
// multi-line values, quoted metric names) by its own text gives back the
// same bytes, and replacing one by another version changes only its lines.
func TestMergeEntryEmbeddedCatalog(t *testing.T) {
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	data := EmbeddedTOML()
	lay := entryLayouts(data)
	if len(lay) != len(cat.Models) {
		t.Fatalf("%d layouts for %d models", len(lay), len(cat.Models))
	}
	for i, m := range cat.Models {
		core := data[lay[i].coreStart:lay[i].coreEnd]
		if !strings.HasPrefix(string(core), "[[model]]\nid = \""+m.ID+"\"") || strings.HasSuffix(string(core), "\n\n") {
			t.Fatalf("%s: core text starts %.40q, ends %q", m.ID, core, core[max(0, len(core)-20):])
		}
		if i%4 != 0 && i != len(cat.Models)-1 { // a sample keeps the test quick
			continue
		}
		got, _, err := MergeEntry(data, "zoo.toml", core, "e.toml", true)
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		if string(got) != string(data) {
			t.Errorf("%s: replacing the entry by itself changed the catalog", m.ID)
		}
	}
	// The demo block's markers stay around a replaced demo entry.
	demo := cat.Get("00105_WGANGP_CT_HEAD_DEMO")
	i := len(cat.Models) - 1
	if cat.Models[i].ID != demo.ID {
		t.Fatalf("last model is %s", cat.Models[i].ID)
	}
	got, _, err := MergeEntry(data, "zoo.toml", []byte(entryCore(demo.ID, "9.9.9")), "e.toml", true)
	if err != nil {
		t.Fatal(err)
	}
	want := string(data[:lay[i].coreStart]) + entryCore(demo.ID, "9.9.9") + string(data[lay[i].coreEnd:])
	if string(got) != want || !strings.HasSuffix(want, "\n# END demo\n") {
		t.Errorf("replacing the last demo entry: tail %q", got[len(got)-200:])
	}
}

func TestAddEntry(t *testing.T) {
	dir := t.TempDir()
	entry := filepath.Join(dir, "model.toml")
	if err := os.WriteFile(entry, []byte(entryFile("90003_C", "1.0.0")), 0o644); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(dir, "cat.toml")
	if err := os.WriteFile(cat, []byte(handCatalog), 0o644); err != nil {
		t.Fatal(err)
	}

	res, err := AddEntry(entry, cat, AddOptions{})
	if err != nil || res.ID != "90003_C" || res.Line != 29 || res.Replaced || res.Created {
		t.Fatalf("add: %+v, %v", res, err)
	}
	data, _ := os.ReadFile(cat)
	if !strings.HasPrefix(string(data), handCatalog) {
		t.Errorf("the catalog's own text changed:\n%s", data)
	}
	if _, err := AddEntry(entry, cat, AddOptions{}); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("second add: %v", err)
	}
	if again, _ := os.ReadFile(cat); string(again) != string(data) {
		t.Error("a refused add changed the catalog")
	}
	if res, err := AddEntry(entry, cat, AddOptions{Replace: true}); err != nil || !res.Replaced {
		t.Errorf("replace: %+v, %v", res, err)
	}
	if again, _ := os.ReadFile(cat); string(again) != string(data) {
		t.Error("replacing an entry by the same entry changed the catalog")
	}

	// The entry file given as the catalog too.
	if _, err := AddEntry(cat, cat, AddOptions{Replace: true}); err == nil || !strings.Contains(err.Error(), "is the catalog itself") {
		t.Errorf("add a catalog to itself: %v", err)
	}

	// A missing catalog: named, with the flag; no lock file left.
	missing := filepath.Join(dir, "sub", "new.toml")
	if _, err := AddEntry(entry, missing, AddOptions{}); err == nil || !strings.Contains(err.Error(), "--create") {
		t.Errorf("missing catalog: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused add left %s/sub: %v", dir, err)
	}
	if res, err := AddEntry(entry, missing, AddOptions{Create: true}); err != nil || !res.Created || res.Line != 4 {
		t.Errorf("--create: %+v, %v", res, err)
	}
	if got, _ := os.ReadFile(missing); !strings.HasPrefix(string(got), "schema = 1\n\n# 90003_C") {
		t.Errorf("created catalog:\n%s", got)
	}

	// A link is refused, its target untouched.
	link := filepath.Join(dir, "link.toml")
	if err := os.Symlink(cat, link); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(cat)
	other := filepath.Join(dir, "other.toml")
	os.WriteFile(other, []byte(entryFile("90004_D", "1.0.0")), 0o644)
	_, err = AddEntry(other, link, AddOptions{Create: true})
	var nr *files.NotRegularError
	if !errors.As(err, &nr) {
		t.Errorf("add through a link: %v", err)
	}
	if after, _ := os.ReadFile(cat); string(after) != string(before) {
		t.Error("the link's target changed")
	}
}
