package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"medzoo/internal/zenodotest"
	catalog "medzoo/zoo"
)

// TestPublish: zoo publish --zenodo against a local Zenodo API uploads the
// packed demo model, writes an entry that parses, and zoo pull fetches the
// published file through that entry and verifies it. Draft, refusals and a
// wrong token are covered as well.
func TestPublish(t *testing.T) {
	const token = "e2e-zenodo-token-0123456789"
	srv := zenodotest.New(t, token)
	env := []string{"ZENODO_TOKEN=" + token, "ZOO_ZENODO_URL=" + srv.API()}
	dir := demoModelDir(t)
	out := t.TempDir()
	entryPath := filepath.Join(out, "demo.toml")

	r := mustOK(t, zoo(t, env, "publish", dir, "--zenodo", "-o", entryPath, "--json"))
	var got struct {
		DepositionID int64  `json:"deposition_id"`
		DOI          string `json:"doi"`
		RecordURL    string `json:"record_url"`
		FileURL      string `json:"file_url"`
		Published    bool   `json:"published"`
		SHA256       string `json:"sha256"`
		Size         int64  `json:"size"`
		Entry        string `json:"entry"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	for _, p := range srv.Problems() {
		t.Errorf("server saw: %s", p)
	}
	if calls := srv.Calls(); !reflect.DeepEqual(calls, []string{"create", "upload", "metadata", "publish"}) {
		t.Errorf("calls %v", calls)
	}
	const name = "00101_DCGAN_MRI_COLIN27_DEMO-1.0.0.zip"
	d := srv.Deposition(got.DepositionID)
	if d == nil || !d.Published || d.Files[name] == nil {
		t.Fatalf("server holds %+v", d)
	}
	if !got.Published || got.DOI == "" || got.Entry != entryPath || got.Size != int64(len(d.Files[name])) ||
		got.SHA256 != sha256Hex(d.Files[name]) || got.FileURL != got.RecordURL+"/files/"+name+"?download=1" {
		t.Fatalf("publish --json: %+v", got)
	}
	// What was uploaded is zoo pack's archive, byte for byte.
	packed := filepath.Join(out, "packed.zip")
	mustOK(t, zoo(t, nil, "pack", dir, "-o", packed))
	if sha256File(t, packed) != got.SHA256 {
		t.Error("the uploaded archive is not zoo pack's")
	}
	if md := d.Metadata; md["license"] != "bsd-3-clause" || md["upload_type"] != "software" ||
		!reflect.DeepEqual(md["creators"], []any{map[string]any{"name": "medzoo developers"}}) {
		t.Errorf("metadata %v", md)
	}

	// The entry parses, names the Zenodo file, and pulls and verifies.
	data, err := os.ReadFile(entryPath)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Parse(data, entryPath)
	if err != nil {
		t.Fatalf("the written entry does not parse: %v\n%s", err, data)
	}
	a := cat.Models[0].Artifact
	if len(cat.Models) != 1 || a.URL != got.FileURL || a.SHA256 != got.SHA256 || a.Size != got.Size || a.Path != "model.pt" ||
		!strings.Contains(string(data), "DOI "+got.DOI) {
		t.Fatalf("entry:\n%s", data)
	}
	r = mustOK(t, zoo(t, []string{"ZOO_CATALOG=" + entryPath}, "pull", "101", "--json"))
	var pulled map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &pulled); err != nil {
		t.Fatal(err)
	}
	if pulled["sha256"] != got.SHA256 || pulled["url"] != got.FileURL {
		t.Fatalf("pull: %s", r.stdout)
	}
	if n := strings.Count(strings.Join(srv.Calls(), " "), "download"); n != 1 {
		t.Errorf("%d downloads from the record, want 1", n)
	}

	// Refusals, before anything reaches Zenodo.
	before := len(srv.Calls())
	wantFail(t, zoo(t, env, "publish", dir, "--zenodo", "-o", entryPath), 1, "exists: pass --force")
	wantFail(t, zoo(t, env, "publish", dir, "-o", filepath.Join(out, "x.toml")), 2, "needs a target: --zenodo")
	wantFail(t, zoo(t, env, "publish", "--zenodo"), 2, "takes one model directory")
	wantFail(t, zoo(t, env, "publish", dir, "--zenodo", "--sandbox"), 2, "--sandbox and ZOO_ZENODO_URL")
	wantFail(t, zoo(t, []string{"ZENODO_TOKEN=", "ZOO_ZENODO_URL=" + srv.API()}, "publish", dir, "--zenodo"), 1,
		"ZENODO_TOKEN is not set", "deposit:write")
	wantFail(t, zoo(t, env, "publish", dir, "--zenodo", "-o", filepath.Join(dir, "zenodo.toml")), 2, "inside the model directory")
	broken := demoModelDir(t)
	os.Remove(filepath.Join(broken, "LICENSE"))
	wantFail(t, zoo(t, env, "publish", broken, "--zenodo", "-o", filepath.Join(out, "b.toml")), 1, "LICENSE: missing")
	if after := len(srv.Calls()); after != before {
		t.Errorf("refused publishes made %d requests", after-before)
	}

	// A wrong token: Zenodo's 401 with the fix, the token not shown.
	const wrong = "not-the-right-token-987"
	r = zoo(t, []string{"ZENODO_TOKEN=" + wrong, "ZOO_ZENODO_URL=" + srv.API()}, "publish", dir, "--zenodo", "-o", filepath.Join(out, "w.toml"))
	wantFail(t, r, 1, "401 Unauthorized", "ZENODO_TOKEN", "deposit:actions")
	if strings.Contains(r.stdout+r.stderr, wrong) {
		t.Errorf("the token is shown:\n%s", r.stderr)
	}

	// --draft, written to the default DIR.zenodo.toml: no publish call.
	before = len(srv.Calls())
	r = mustOK(t, zoo(t, env, "publish", dir, "--zenodo", "--draft"))
	if calls := srv.Calls()[before:]; !reflect.DeepEqual(calls, []string{"create", "upload", "metadata"}) {
		t.Errorf("draft calls %v", calls)
	}
	if !strings.Contains(r.stdout, "draft on Zenodo, not published") {
		t.Errorf("draft output:\n%s", r.stdout)
	}
	if _, err := catalog.Parse(mustRead(t, dir+".zenodo.toml"), "draft"); err != nil {
		t.Errorf("the draft's entry: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
