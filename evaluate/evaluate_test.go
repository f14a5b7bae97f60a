package evaluate

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"medzoo/zoo"
	"medzoo/zoo/store"
)

func TestFeatureCacheRoundTrip(t *testing.T) {
	c := featureCache{dir: t.TempDir()}
	rows := []float32{1, 2, 3, 4, 5, 6}
	if err := c.store("k", rows, 2, 3, nil); err != nil {
		t.Fatal(err)
	}
	got, ok := c.load("k", 2, 3)
	if !ok || len(got) != 6 || got[5] != 6 {
		t.Fatalf("%v %v", got, ok)
	}
	if _, ok := c.load("k", 3, 2); ok {
		t.Error("entry of another shape accepted")
	}
	// A truncated entry is a miss, never short features.
	p := c.path("k")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, data[:len(data)-4], 0o644)
	if _, ok := c.load("k", 2, 3); ok {
		t.Error("truncated entry accepted")
	}
	if _, ok := (featureCache{}).load("k", 2, 3); ok {
		t.Error("disabled cache hit")
	}
}

func testCard(fid float64) *Card {
	return &Card{Zoo: "medzoo zoo test", Date: "2026-11-27T00:00:00Z", Preprocessing: "normalize none",
		Extractor: ExtractorInfo{Name: "x-random", SHA256: "0123456789abcdef0123"},
		Real:      SetInfo{Describe: "folder /r (10 images)", Fingerprint: "ffff", Images: 10},
		Fake:      SetInfo{Describe: "model m", Fingerprint: "eeee", Images: 20},
		Results: []Result{{Metric: "FID", Value: fid, Direction: "lower", Meaning: "m"},
			{Metric: "near_copies", Value: 0, Direction: "lower"}}}
}

// --record writes a catalog entry that loads, replaces itself when run
// again, and keeps a self-reported value under another name.
func TestRecord(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv(zoo.ConfigDirEnv, cfg)
	t.Setenv(zoo.CatalogEnv, "")
	cat, err := zoo.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	demo, _ := cat.Resolve("101")
	medigan, _ := cat.Resolve("1") // has a self-reported FID
	selfReported := medigan.Metrics["FID"]
	for _, fid := range []float64{12.5, 11.25} {
		for _, m := range []*zoo.Model{demo, medigan} {
			if _, err := Record(m, testCard(fid), cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	merged, _, err := zoo.LoadWith(context.Background(), zoo.LoadOptions{Store: store.NewStore(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{demo.ID, medigan.ID} {
		m, err := merged.Resolve(id)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Metrics["FID"]
		if got.Value != 11.25 || got.Source != "measured by zoo" || got.Images != 10 || got.Extractor != "x-random (sha256 0123456789ab…)" {
			t.Errorf("%s: %+v", id, got)
		}
		if _, ok := m.Metrics["near_copies"]; ok {
			t.Errorf("%s: near_copies recorded as a metric", id)
		}
		if len(m.Overlays) != 1 || filepath.Base(m.Overlays[0]) != RecordFile {
			t.Errorf("%s: overlays %v, want %s", id, m.Overlays, RecordFile)
		}
		if m.Title == "" || m.Artifact.URL == "" {
			t.Errorf("%s: the overlay lost the base entry's fields: %+v", id, m)
		}
	}
	m, _ := merged.Resolve(medigan.ID)
	if kept := m.Metrics["FID_self_reported"]; kept.Value != selfReported.Value || kept.Source == "measured by zoo" {
		t.Errorf("self-reported FID: %+v, was %+v", kept, selfReported)
	}
	data, _ := os.ReadFile(filepath.Join(cfg, "catalogs", RecordFile))
	recorded, err := zoo.Parse(data, "measured.toml")
	if err != nil || len(recorded.Models) != 2 {
		t.Fatalf("recorded file: %v, %d models", err, len(recorded.Models))
	}
}
