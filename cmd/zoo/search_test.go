package main_test

// End-to-end tests of `zoo search` and `zoo catalog` through the built
// binary. The ranking and matching rules themselves are tested against
// medigan's data in zoo/search_test.go; these test the command: flags,
// output, exit codes, catalogs from every source, and --generate.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"medzoo/internal/testmodules"
)

// searchEnv isolates the config dir and cache of one test.
func searchEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	return append([]string{"ZOO_CONFIG_DIR=" + t.TempDir(), "ZOO_CACHE=" + filepath.Join(t.TempDir(), "cache")}, extra...)
}

type searchJSON struct {
	Query struct {
		Terms  []string `json:"terms"`
		RankBy string   `json:"rank_by"`
	} `json:"query"`
	Total   int `json:"total"`
	Results []struct {
		Rank     int      `json:"rank"`
		ID       string   `json:"id"`
		Title    string   `json:"title"`
		Modality []string `json:"modality"`
		Runnable bool     `json:"runnable"`
		Catalog  string   `json:"catalog"`
		Line     int      `json:"line"`
		Metric   *struct {
			Name      string  `json:"name"`
			Value     float64 `json:"value"`
			Source    string  `json:"source"`
			Extractor string  `json:"extractor"`
			Images    int     `json:"images"`
		} `json:"metric"`
	} `json:"results"`
	RankBy *struct {
		Better string `json:"better"`
		Order  string `json:"order"`
	} `json:"rank_by"`
	Notes  []string `json:"notes"`
	Models int      `json:"catalog_models"`
}

func TestSearchCommand(t *testing.T) {
	env := searchEnv(t)
	r := mustOK(t, zoo(t, env, "search", "mammography", "mass", "--rank-by", "FID", "--json"))
	var out searchJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if out.Total == 0 || len(out.Results) == 0 || out.RankBy == nil || out.RankBy.Better != "lower" || out.Models < 23 {
		t.Fatalf("%+v", out)
	}
	prev := -1.0
	for i, h := range out.Results {
		if h.Rank != i+1 || h.Catalog != "embedded" || h.Line == 0 {
			t.Errorf("hit %d: %+v", i, h)
		}
		if h.Metric != nil {
			if h.Metric.Value < prev || h.Metric.Extractor == "" || h.Metric.Source == "" {
				t.Errorf("hit %s: %+v after %g", h.ID, h.Metric, prev)
			}
			prev = h.Metric.Value
		}
	}

	// The table: header, ranked values with provenance, notes.
	r = mustOK(t, zoo(t, env, "search", "mammography", "mass", "--rank-by", "FID"))
	for _, want := range []string{"RANK", "PROVENANCE", "lower is better", "self-reported", "inception-v3 (ImageNet)", out.Results[0].ID, "note:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	// Flags after terms, global flags after the command, typos, --explain.
	r = mustOK(t, zoo(t, env, "search", "mamography", "--limit", "2", "--offline", "--explain"))
	if !strings.Contains(r.stdout, "2 of 12 models shown") || !strings.Contains(r.stdout, `read as "mammography"`) {
		t.Errorf("typo search:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "index:") {
		t.Errorf("--explain says nothing about the index: %s", r.stderr)
	}
	// Nothing found is not an error.
	r = mustOK(t, zoo(t, env, "search", "zzzqqq"))
	if !strings.Contains(r.stdout, "no models match") {
		t.Errorf("no match:\n%s", r.stdout)
	}
	// The index is cached under the cache dir.
	var cache string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "ZOO_CACHE="); ok {
			cache = v
		}
	}
	if files, _ := filepath.Glob(filepath.Join(cache, "index", "search-*.idx")); len(files) != 1 {
		t.Errorf("index files: %v", files)
	}

	// Usage errors: exit 2 with a message.
	for _, c := range []struct {
		args []string
		frag string
	}{
		{[]string{"search", "x", "--op", "nand"}, "--op"},
		{[]string{"search", "--rank-by", "FIDD"}, "did you mean"},
		{[]string{"search", "--rank-by", "FID", "--asc", "--desc"}, "contradict"},
		{[]string{"search", "--asc"}, "--rank-by"},
		{[]string{"search", "--where", "license"}, "KEY=VALUE"},
		{[]string{"search", "--where", "licence=MIT"}, "license"},
		{[]string{"search", "--function", "teleport"}, "image-to-image"},
		{[]string{"search", "--generate", "0", "-o", t.TempDir()}, "--generate"},
		{[]string{"search", "--generate", "2"}, "-o DIR"},
		{[]string{"search", "-o", t.TempDir()}, "--generate"},
		{[]string{"search", "--min-size", "-3"}, "min-size"},
	} {
		wantFail(t, zoo(t, env, c.args...), 2, c.frag)
	}
}

func TestSearchCatalogSources(t *testing.T) {
	cfg := t.TempDir()
	env := []string{"ZOO_CONFIG_DIR=" + cfg, "ZOO_CACHE=" + filepath.Join(t.TempDir(), "cache")}
	os.MkdirAll(filepath.Join(cfg, "catalogs"), 0o755)
	entry := func(id, title, modality string) string {
		return fmt.Sprintf("[[model]]\nid = %q\ntitle = %q\nmodality = [%q]\n[model.artifact]\nurl = \"x.zip\"\nformat = \"python-package\"\n\n", id, title, modality)
	}
	os.WriteFile(filepath.Join(cfg, "catalogs", "lab.toml"), []byte(entry("90010_LAB_US", "lab ultrasound model", "ultrasound")), 0o644)
	body := []byte(entry("90011_REMOTE_CT", "remote computed tomography model", "CT"))
	sum := sha256.Sum256(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	remote := srv.URL + "/cat.toml#sha256=" + hex.EncodeToString(sum[:])
	flagCat := filepath.Join(t.TempDir(), "flag.toml")
	os.WriteFile(flagCat, []byte(entry("00008_C-DCGAN_MMG_MASSES", "overridden by a flag", "ultrasound")), 0o644)

	r := mustOK(t, zoo(t, env, "--catalog", remote, "--catalog", flagCat, "search", "ultrasound", "--json"))
	var out searchJSON
	json.Unmarshal([]byte(r.stdout), &out)
	var got []string
	for _, h := range out.Results {
		got = append(got, h.ID)
	}
	if len(got) != 2 || !strings.Contains(strings.Join(got, " "), "00008_C-DCGAN_MMG_MASSES") || !strings.Contains(strings.Join(got, " "), "90010_LAB_US") {
		t.Errorf("ultrasound: %v", got)
	}
	r = mustOK(t, zoo(t, env, "--catalog", remote, "search", "CT", "--offline"))
	if !strings.Contains(r.stdout, "90011_REMOTE_CT") {
		t.Errorf("remote catalog not searched:\n%s", r.stdout)
	}
	srv.Close() // cached by digest from now on
	r = mustOK(t, zoo(t, append(env, "ZOO_OFFLINE=1"), "--catalog", remote, "search", "computed tomography"))
	if !strings.Contains(r.stdout, "90011_REMOTE_CT") {
		t.Errorf("cached remote catalog, offline:\n%s", r.stdout)
	}
	wantFail(t, zoo(t, env, "--catalog", srv.URL+"/cat.toml", "search", "x"), 1, "sha256")

	// catalog list: every source, in precedence order, with what it replaces.
	r = mustOK(t, zoo(t, env, "--catalog", remote, "--catalog", flagCat, "catalog", "list"))
	lines := strings.Split(r.stdout, "\n")
	order := []string{"embedded", "lab.toml", "cat.toml", "flag.toml"}
	at := 0
	for _, l := range lines {
		if at < len(order) && strings.Contains(l, order[at]) {
			at++
		}
	}
	if at != len(order) || !strings.Contains(r.stdout, "00008_C-DCGAN_MMG_MASSES") || !strings.Contains(r.stdout, "Later catalogs win") {
		t.Errorf("catalog list:\n%s", r.stdout)
	}
}

func TestCatalogValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("schema = 1\n[[model]]\nid = \"90001_OK\"\ntitle = \"fine\"\n[model.artifact]\nurl = \"x.zip\"\nformat = \"python-package\"\n"+
		"[model.metrics.FID]\nvalue = 12.0\ndirection = \"higher\"\nextractor = \"inception-v3 (ImageNet)\"\n"), 0o644)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("schema = 1\n[[model]]\nid = \"90002 BAD\"\ntitel = \"typo\"\n[model.artifact]\nformat = \"onnx\"\n"), 0o644)
	broken := filepath.Join(dir, "broken.toml")
	os.WriteFile(broken, []byte("schema = 1\n[[model]\nid = \"x\"\n"), 0o644)

	r := zoo(t, nil, "catalog", "validate", good, bad, broken)
	if r.code != 1 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		bad + ":2: model 90002 BAD: missing title",
		bad + ":3: model 90002 BAD: id \"90002 BAD\"",
		bad + `:4: model 90002 BAD: unknown key titel (did you mean "title"?)`,
		bad + ":5: model 90002 BAD: missing artifact.url",
		bad + ":6:",
		broken + ":2:",
		good + `:10: model 90001_OK: metric FID: direction "higher"`, "(warning)", good + ": ok, 1 model (1 warning)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "2 of 3 catalog files have problems") {
		t.Errorf("stderr: %s", r.stderr)
	}
	mustOK(t, zoo(t, nil, "catalog", "validate", good))
	wantFail(t, zoo(t, nil, "catalog", "validate", good, "--strict"), 1, "problems")
	r = zoo(t, nil, "catalog", "validate", "--json", bad)
	var reports []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &reports); err != nil || len(reports) != 1 || reports[0]["errors"] == nil {
		t.Errorf("json: %v %s", err, r.stdout)
	}
	wantFail(t, zoo(t, nil, "catalog", "validate"), 2, "catalog files")
	wantFail(t, zoo(t, nil, "catalog", "frob"), 2, "validate")
	wantFail(t, zoo(t, nil, "catalog", "validate", filepath.Join(dir, "missing.toml")), 1, "problems")
}

// find, rank, then generate with the top hit.
func TestSearchThenGenerate(t *testing.T) {
	module := testmodules.Path(t, "tiny_generator.pt")
	cat := tinyCatalog(t, module, sha256File(t, module))
	env := searchEnv(t, "ZOO_CATALOG="+cat)
	out := filepath.Join(t.TempDir(), "out")
	r := mustOK(t, zoo(t, env, "search", "tiny", "test", "--generate", "3", "-o", out, "--seed", "4", "--json"))
	var sum2 map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum2); err != nil || sum2["model"] != "90001_TINY_TEST" || sum2["generated"] != float64(3) {
		t.Fatalf("generate summary: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "generating with the top hit 90001_TINY_TEST") {
		t.Errorf("stderr: %s", r.stderr)
	}
	for _, f := range []string{"00000.png", "00002.png", "manifest.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// The same images as zoo generate with the same seed.
	direct := filepath.Join(t.TempDir(), "direct")
	mustOK(t, zoo(t, env, "generate", "90001", "-n", "3", "-o", direct, "--seed", "4", "-q"))
	sameDirs(t, out, direct)

	// A top hit zoo cannot run: the best runnable hit is used, and said so.
	out2 := filepath.Join(t.TempDir(), "out2")
	r = mustOK(t, zoo(t, env, "search", "--op", "or", "tiny", "mammography", "--generate", "1", "-o", out2, "-q"))
	if !strings.Contains(r.stderr, "cannot run; generating with 90001_TINY_TEST") && !strings.Contains(r.stderr, "top hit 90001_TINY_TEST") {
		t.Errorf("stderr: %s", r.stderr)
	}
	// Only Python packages match: nothing generated, exit 1.
	wantFail(t, zoo(t, env, "search", "mammography", "--generate", "1", "-o", filepath.Join(t.TempDir(), "o3")), 1, "cannot run")
}

// zoo search has zoo list's RUNS column, from the same rule: yes for a
// runnable model, demo for a runnable demonstration model, pkg for a
// Python package; and --json says the same through runnable and demo.
func TestSearchRunsColumn(t *testing.T) {
	module := testmodules.Path(t, "tiny_generator.pt")
	env := searchEnv(t, "ZOO_CATALOG="+tinyCatalog(t, module, sha256File(t, module)))
	want := map[string]string{"90001_TINY_TEST": "yes", "00101_DCGAN_MRI_COLIN27_DEMO": "demo", "00008_C-DCGAN_MMG_MASSES": "pkg"}

	// zoo list's column is the reference.
	list := map[string]string{}
	for _, line := range strings.Split(mustOK(t, zoo(t, env, "list")).stdout, "\n") {
		if f := strings.Fields(line); len(f) > 2 {
			list[f[0]] = f[1]
		}
	}
	args := []string{"search", "--op", "or", "tiny", "colin27", "mammography", "--limit", "0"}
	r := mustOK(t, zoo(t, env, args...))
	if !strings.Contains(r.stdout, "RANK  ID") || !strings.Contains(r.stdout, "RUNS: yes = ") {
		t.Fatalf("no RUNS column or legend:\n%s", r.stdout)
	}
	rows := 0
	table := strings.Split(r.stdout, "\n\n")[0] // the footer follows a blank line
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue // the header, a group separator
		}
		rows++
		if f[2] != list[f[1]] {
			t.Errorf("search says %s RUNS %q, list says %q:\n%s", f[1], f[2], list[f[1]], r.stdout)
		}
		if w, ok := want[f[1]]; ok && f[2] != w {
			t.Errorf("%s RUNS %q, want %q", f[1], f[2], w)
		}
		delete(want, f[1])
	}
	if len(want) > 0 || rows < 3 {
		t.Errorf("search rows lack %v (%d rows):\n%s", want, rows, r.stdout)
	}

	var out struct {
		Results []struct {
			ID       string `json:"id"`
			Runnable bool   `json:"runnable"`
			Demo     bool   `json:"demo"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(mustOK(t, zoo(t, env, append(args, "--json")...)).stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != rows {
		t.Errorf("--json has %d hits, the table %d rows", len(out.Results), rows)
	}
	for _, h := range out.Results {
		runs := "pkg"
		if h.Runnable && h.Demo {
			runs = "demo"
		} else if h.Runnable {
			runs = "yes"
		}
		if runs != list[h.ID] {
			t.Errorf("search --json: %s runnable %v demo %v, but list says RUNS %q", h.ID, h.Runnable, h.Demo, list[h.ID])
		}
	}
}
