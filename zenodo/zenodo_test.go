package zenodo_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"medzoo/internal/zenodotest"
	"medzoo/zenodo"
	"medzoo/zoo"
)

const token = "tok-1234567890abcdef"

// archive writes a file of n pseudo-random bytes to upload.
func archive(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	x := uint32(2463534242)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	p := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func entry() *zoo.Model {
	return &zoo.Model{
		ID: "90077_DCGAN_TEST", Version: "1.2.0", Title: "A test DCGAN", Description: "Makes <test> images.",
		Authors: []string{"Doe, Jane", "Roe, Rich"}, License: "CC-BY-4.0",
		DOI:         []string{"https://doi.org/10.1234/paper.1", "10.1234/PAPER.1", "10.5555/other"},
		Publication: "Some Workshop 2024",
		Tags:        []string{"gan", "Demo"}, Modality: []string{"MRI", "gan"}, Organ: []string{"brain"},
	}
}

// client is a client of srv whose waits are recorded, not slept.
func client(srv *zenodotest.Server, tok string, waits *[]time.Duration, notes *[]string) *zenodo.Client {
	c := zenodo.New(srv.API(), tok)
	c.Sleep = func(ctx context.Context, d time.Duration) error { *waits = append(*waits, d); return nil }
	c.Notify = func(msg string) { *notes = append(*notes, msg) }
	return c
}

func upload(t *testing.T, path string, draft bool) zenodo.Upload {
	t.Helper()
	md, err := zenodo.EntryMetadata(entry(), []byte("# Card\n\nIntended use: tests.\nLimitations: many.\n"))
	if err != nil {
		t.Fatal(err)
	}
	return zenodo.Upload{Path: path, Name: "90077_DCGAN_TEST-1.2.0.zip", Metadata: md, Draft: draft}
}

func noProblems(t *testing.T, srv *zenodotest.Server) {
	t.Helper()
	for _, p := range srv.Problems() {
		t.Errorf("server saw: %s", p)
	}
}

func TestPublish(t *testing.T) {
	srv := zenodotest.New(t, token)
	path, data := archive(t, 3<<20+17)
	var waits []time.Duration
	var notes []string
	c := client(srv, token, &waits, &notes)
	var last, total int64
	c.Progress = func(done, tot int64) { last, total = done, tot }
	res, err := c.Publish(context.Background(), upload(t, path, false))
	if err != nil {
		t.Fatal(err)
	}
	noProblems(t, srv)
	if got, want := srv.Calls(), []string{"create", "upload", "metadata", "publish"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	d := srv.Deposition(res.DepositionID)
	if d == nil || !d.Published || string(d.Files["90077_DCGAN_TEST-1.2.0.zip"]) != string(data) {
		t.Fatalf("the server holds %+v", d)
	}
	sum := md5.Sum(data)
	id := "4712"
	want := zenodo.Result{DepositionID: 4712, RecordID: 4712, DOI: "10.5072/zenodo." + id, RecordURL: srv.URL + "/records/" + id,
		FileURL: srv.URL + "/records/" + id + "/files/90077_DCGAN_TEST-1.2.0.zip?download=1", DraftURL: srv.URL + "/deposit/" + id,
		Published: true, Size: int64(len(data)), MD5: hex.EncodeToString(sum[:])}
	if *res != want {
		t.Errorf("result\n%+v, want\n%+v", *res, want)
	}
	if last != int64(len(data)) || total != int64(len(data)) {
		t.Errorf("progress ended at %d of %d", last, total)
	}
	if len(waits)+len(notes) != 0 {
		t.Errorf("waited %v: %q", waits, notes)
	}
	// The metadata as Zenodo received it.
	md := d.Metadata
	for k, v := range map[string]any{"upload_type": "software", "title": "A test DCGAN", "access_right": "open",
		"license": "cc-by-4.0", "version": "1.2.0", "prereserve_doi": true} {
		if md[k] != v {
			t.Errorf("metadata %s = %v, want %v", k, md[k], v)
		}
	}
	if got := md["creators"]; !reflect.DeepEqual(got, []any{map[string]any{"name": "Doe, Jane"}, map[string]any{"name": "Roe, Rich"}}) {
		t.Errorf("creators %v", got)
	}
	if got := md["keywords"]; !reflect.DeepEqual(got, []any{"gan", "Demo", "MRI", "brain"}) {
		t.Errorf("keywords %v", got)
	}
	wantRel := []any{
		map[string]any{"identifier": "10.1234/paper.1", "relation": "isSupplementTo", "scheme": "doi"},
		map[string]any{"identifier": "10.5555/other", "relation": "isSupplementTo", "scheme": "doi"},
	}
	if got := md["related_identifiers"]; !reflect.DeepEqual(got, wantRel) {
		t.Errorf("related_identifiers %v", got)
	}
	if got := md["references"]; !reflect.DeepEqual(got, []any{"Some Workshop 2024"}) {
		t.Errorf("references %v", got)
	}
	desc, _ := md["description"].(string)
	for _, s := range []string{"Makes &lt;test&gt; images.", "<code>90077_DCGAN_TEST</code>", "Intended use: tests.<br>\nLimitations: many."} {
		if !strings.Contains(desc, s) {
			t.Errorf("description lacks %q:\n%s", s, desc)
		}
	}
}

// --draft: everything but the publish call; the reserved DOI is reported.
func TestDraft(t *testing.T) {
	srv := zenodotest.New(t, token)
	path, _ := archive(t, 1000)
	var waits []time.Duration
	var notes []string
	res, err := client(srv, token, &waits, &notes).Publish(context.Background(), upload(t, path, true))
	if err != nil {
		t.Fatal(err)
	}
	noProblems(t, srv)
	if got, want := srv.Calls(), []string{"create", "upload", "metadata"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if res.Published || res.DOI != "10.5072/zenodo.4712" || res.RecordID != 4712 || srv.Deposition(4712).Published {
		t.Errorf("draft result %+v", res)
	}
}

// A wrong token: 401 at the first call, nothing created, the fix named,
// the token nowhere in the message.
func TestUnauthorized(t *testing.T) {
	srv := zenodotest.New(t, token)
	path, _ := archive(t, 100)
	var waits []time.Duration
	var notes []string
	wrong := "wrong-token-value-42"
	_, err := client(srv, wrong, &waits, &notes).Publish(context.Background(), upload(t, path, false))
	var se *zenodo.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401", err)
	}
	msg := err.Error()
	for _, s := range []string{"401", "ZENODO_TOKEN", "deposit:write", "deposit:actions", srv.URL + "/account/settings/applications/tokens/new/"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q: %s", s, msg)
		}
	}
	if strings.Contains(msg, wrong) {
		t.Errorf("message shows the token: %s", msg)
	}
	var de *zenodo.DraftError
	if errors.As(err, &de) || srv.Depositions() != 0 || len(waits) != 0 {
		t.Errorf("a refused create: draft error %v, %d depositions, waits %v", de, srv.Depositions(), waits)
	}
}

// 413 on upload: the size and the limit are said, and the draft left named.
func TestTooLarge(t *testing.T) {
	srv := zenodotest.New(t, token)
	srv.FailNext(zenodotest.Upload, 1, zenodotest.Fault{Status: http.StatusRequestEntityTooLarge})
	path, _ := archive(t, 5000)
	var waits []time.Duration
	var notes []string
	_, err := client(srv, token, &waits, &notes).Publish(context.Background(), upload(t, path, false))
	var de *zenodo.DraftError
	if !errors.As(err, &de) || de.Draft.ID != 4712 {
		t.Fatalf("err = %v, want a DraftError", err)
	}
	msg := err.Error()
	for _, s := range []string{"413", "4.9 KiB (5000 bytes)", "50 GB", "draft deposition 4712", srv.URL + "/deposit/4712",
		"curl -X DELETE", srv.API() + "/deposit/depositions/4712"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q: %s", s, msg)
		}
	}
	if got := srv.Calls(); !reflect.DeepEqual(got, []string{"create", "upload"}) || len(waits) != 0 {
		t.Errorf("calls %v, waits %v: a 413 is not retried", got, waits)
	}
}

// 429 with Retry-After: the client waits what Zenodo asks, says so, and
// then succeeds; one longer than the bound is reported, not slept.
func TestRateLimited(t *testing.T) {
	srv := zenodotest.New(t, token)
	srv.FailNext(zenodotest.Create, 1, zenodotest.Fault{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "1"}})
	srv.FailNext(zenodotest.Metadata, 2, zenodotest.Fault{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "3"}})
	path, _ := archive(t, 2000)
	var waits []time.Duration
	var notes []string
	res, err := client(srv, token, &waits, &notes).Publish(context.Background(), upload(t, path, false))
	if err != nil {
		t.Fatal(err)
	}
	noProblems(t, srv)
	if !res.Published || srv.Depositions() != 1 {
		t.Errorf("result %+v with %d depositions", res, srv.Depositions())
	}
	if want := []time.Duration{time.Second, 3 * time.Second, 3 * time.Second}; !reflect.DeepEqual(waits, want) {
		t.Errorf("waited %v, want %v", waits, want)
	}
	if len(notes) != 3 || !strings.Contains(notes[0], "429 Too Many Requests while creating the deposition; waiting 1s") ||
		!strings.Contains(notes[2], "attempt 3 of 5") {
		t.Errorf("notes %q", notes)
	}

	// Retry-After beyond two minutes: an error that says how long.
	srv2 := zenodotest.New(t, token)
	srv2.FailNext(zenodotest.Create, 1, zenodotest.Fault{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "3600"}})
	waits, notes = nil, nil
	_, err = client(srv2, token, &waits, &notes).Publish(context.Background(), upload(t, path, false))
	if err == nil || !strings.Contains(err.Error(), "rate limit asks to wait 1h0m0s") || len(waits) != 0 {
		t.Errorf("Retry-After 3600: %v, waits %v", err, waits)
	}
}

// 500 during the upload: retried from the first byte, then a success;
// a persistent 500 fails naming the draft, after a bounded number of tries.
func TestServerErrorDuringUpload(t *testing.T) {
	srv := zenodotest.New(t, token)
	srv.FailNext(zenodotest.Upload, 2, zenodotest.Fault{Status: http.StatusInternalServerError})
	path, data := archive(t, 1<<20)
	var waits []time.Duration
	var notes []string
	res, err := client(srv, token, &waits, &notes).Publish(context.Background(), upload(t, path, false))
	if err != nil {
		t.Fatal(err)
	}
	noProblems(t, srv)
	if got := srv.Calls(); !reflect.DeepEqual(got, []string{"create", "upload", "upload", "upload", "metadata", "publish"}) {
		t.Errorf("calls %v", got)
	}
	if string(srv.Deposition(res.DepositionID).Files["90077_DCGAN_TEST-1.2.0.zip"]) != string(data) {
		t.Error("the retried upload stored other bytes")
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !reflect.DeepEqual(waits, want) {
		t.Errorf("waited %v, want %v (backoff)", waits, want)
	}

	srv2 := zenodotest.New(t, token)
	srv2.FailNext(zenodotest.Upload, 100, zenodotest.Fault{Status: http.StatusServiceUnavailable})
	waits, notes = nil, nil
	_, err = client(srv2, token, &waits, &notes).Publish(context.Background(), upload(t, path, false))
	var de *zenodo.DraftError
	if !errors.As(err, &de) || de.Draft.ID != 4712 {
		t.Fatalf("err = %v, want a DraftError", err)
	}
	for _, s := range []string{"503 Service Unavailable", "after 5 attempts", "draft deposition 4712", "curl -X DELETE", "zoo pack makes the same archive"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}
	if n := len(srv2.Calls()); n != 1+5 || len(waits) != 4 {
		t.Errorf("%d calls (%v), waits %v: want 1 create and 5 uploads", n, srv2.Calls(), waits)
	}
}

// A 500 on publish is not repeated (the record may be out): the draft is
// named so its page can be checked.
func TestServerErrorOnPublish(t *testing.T) {
	srv := zenodotest.New(t, token)
	srv.FailNext(zenodotest.Publish, 1, zenodotest.Fault{Status: http.StatusInternalServerError})
	path, _ := archive(t, 100)
	var waits []time.Duration
	var notes []string
	_, err := client(srv, token, &waits, &notes).Publish(context.Background(), upload(t, path, false))
	var de *zenodo.DraftError
	if !errors.As(err, &de) || len(waits) != 0 || !strings.Contains(err.Error(), "refused publishing: 500") {
		t.Fatalf("err = %v, waits %v", err, waits)
	}
}

// A server that answers nothing: a timeout naming the step, no hang.
func TestTimeout(t *testing.T) {
	srv := zenodotest.New(t, token)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	path, _ := archive(t, 100)
	var waits []time.Duration
	var notes []string
	c := client(srv, token, &waits, &notes)
	c.CallTimeout = 50 * time.Millisecond
	_, err := c.Publish(context.Background(), upload(t, path, false))
	if err == nil || !strings.Contains(err.Error(), "did not answer creating the deposition within 50ms") {
		t.Fatalf("err = %v", err)
	}
}

// Zenodo's answers are bounded, and a bucket on another server is refused
// (the token would go there).
func TestHostileAnswers(t *testing.T) {
	path, _ := archive(t, 100)
	for name, body := range map[string]string{
		"huge":           `{"id": 1, "pad": "` + strings.Repeat("x", 2<<20) + `"}`,
		"foreign bucket": `{"id": 7, "links": {"bucket": "https://evil.example/api/files/x", "html": "h"}}`,
		"no bucket":      `{"id": 7, "links": {}}`,
	} {
		srv := zenodotest.New(t, token)
		srv.FailNext(zenodotest.Create, 1, zenodotest.Fault{Status: http.StatusCreated, Body: body})
		var waits []time.Duration
		var notes []string
		_, err := client(srv, token, &waits, &notes).Publish(context.Background(), upload(t, path, false))
		want := map[string]string{"huge": "is over 1.0 MiB", "foreign bucket": "another server", "no bucket": "has no links.bucket"}[name]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
		if calls := srv.Calls(); len(calls) != 1 {
			t.Errorf("%s: calls %v after the create", name, calls)
		}
	}
}

func TestEntryMetadataProblems(t *testing.T) {
	m := entry()
	m.Authors = nil
	m.License = "BSD"
	m.DOI = []string{"not a doi"}
	_, err := zenodo.EntryMetadata(m, nil)
	var pe *zenodo.ProblemsError
	if !errors.As(err, &pe) || len(pe.Problems) != 3 {
		t.Fatalf("err = %v, want 3 problems", err)
	}
	for _, s := range []string{"authors is empty", "BSD-2-Clause or BSD-3-Clause", `doi "not a doi" is not a DOI`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}
	for in, want := range map[string]string{"MIT": "mit", "BSD-3-Clause": "bsd-3-clause", "GPL-3.0-or-later": "gpl-3.0-or-later"} {
		if got, problem := zenodo.License(in); got != want || problem != "" {
			t.Errorf("License(%q) = %q, %q", in, got, problem)
		}
	}
	if _, problem := zenodo.License("MIT OR Apache-2.0"); !strings.Contains(problem, "not an SPDX licence id") {
		t.Errorf("an expression: %q", problem)
	}
}
