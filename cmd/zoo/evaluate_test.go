package main_test

// End-to-end tests of zoo evaluate: a folder against a model generated on
// the fly, the metric card, the feature cache, --record feeding zoo search,
// and bad input.

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"medzoo/internal/testmodules"
)

type cardJSON struct {
	Extractor struct {
		Name, SHA256 string
		Dim          int
	} `json:"extractor"`
	Preprocessing string `json:"preprocessing"`
	Real, Fake    struct {
		Describe, Fingerprint string
		Images                int
		Cached                bool `json:"features_cached"`
		Warnings              []string
	}
	Results []struct {
		Metric    string
		Value     float64
		Direction string
		Details   map[string]any
	} `json:"results"`
	Failed []struct {
		Metric, Reason string
	} `json:"failed"`
	Memorization *struct {
		Closest []struct {
			FakeName string `json:"fake_name"`
			RealName string `json:"real_name"`
		}
	} `json:"memorization"`
	Zoo string `json:"zoo"`
}

func (c cardJSON) value(t *testing.T, metric string) float64 {
	t.Helper()
	for _, r := range c.Results {
		if r.Metric == metric {
			return r.Value
		}
	}
	t.Fatalf("card has no %s: %+v", metric, c.Results)
	return 0
}

// resnetExtractor is the random-weight RadImageNet ResNet-50 feature
// extractor file these tests evaluate with (exported on first use).
func resnetExtractor(t *testing.T) string {
	return filepath.Join(testmodules.Extractors(t), "radimagenet-resnet50-random.pt")
}

func TestEvaluate(t *testing.T) {
	ex := resnetExtractor(t)
	work := t.TempDir()
	env := []string{"ZOO_CACHE=" + filepath.Join(work, "cache"), "ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real := filepath.Join(work, "real")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "12", "--seed", "1", "-o", real, "-q"))

	eval := func(args ...string) cardJSON {
		t.Helper()
		r := mustOK(t, zoo(t, env, append([]string{"evaluate"}, args...)...))
		var c cardJSON
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
			t.Fatalf("%v\n%s\n%s", err, r.stdout, r.stderr)
		}
		return c
	}
	args := []string{real, "101", "-n", "12", "--seed", "2", "--features", ex, "--metrics", "all", "--json"}
	first := eval(append(args, "--record")...)
	if first.Extractor.Name != "radimagenet-resnet50-random" || first.Extractor.SHA256 != sha256File(t, ex) || first.Extractor.Dim != 2048 {
		t.Errorf("extractor: %+v", first.Extractor)
	}
	if first.Real.Images != 12 || first.Fake.Images != 12 || !strings.Contains(first.Fake.Describe, "00101") || first.Real.Cached {
		t.Errorf("sets: %+v %+v", first.Real, first.Fake)
	}
	if !strings.Contains(strings.Join(first.Real.Warnings, " "), "rank-deficient") {
		t.Errorf("no warning for 12 images < 2048 dimensions: %v", first.Real.Warnings)
	}
	if first.value(t, "FID") <= 0 || first.value(t, "precision") < 0 || first.Memorization == nil || !strings.HasSuffix(first.Memorization.Closest[0].RealName, ".png") {
		t.Errorf("card: %+v", first)
	}
	if !strings.Contains(first.Preprocessing, "BGR") || !strings.Contains(first.Zoo, "zoo") {
		t.Errorf("card provenance: %q %q", first.Preprocessing, first.Zoo)
	}

	// Again: features come from the cache, results are identical.
	again := eval(args...)
	if !again.Real.Cached || !again.Fake.Cached || again.value(t, "FID") != first.value(t, "FID") {
		t.Errorf("cache: real %v fake %v, FID %v vs %v", again.Real.Cached, again.Fake.Cached, again.value(t, "FID"), first.value(t, "FID"))
	}
	// A changed file invalidates the real set's entry.
	files, _ := filepath.Glob(filepath.Join(real, "*.png"))
	data, _ := os.ReadFile(files[3])
	os.WriteFile(files[3], data, 0o644)
	os.Chtimes(files[3], first2000, first2000)
	if c := eval(args...); c.Real.Cached || !c.Fake.Cached {
		t.Errorf("after touching a file: real cached %v, fake cached %v", c.Real.Cached, c.Fake.Cached)
	}

	// A set against itself is at distance ~0.
	self := eval(real, real, "--features", ex, "--metrics", "fid", "--json")
	if v, scale := self.value(t, "FID"), self.Results[0].Details["trace_real"].(float64)+self.Results[0].Details["trace_fake"].(float64); math.Abs(v) > 1e-6*scale || scale <= 0 {
		t.Errorf("FID(real, real) = %g (traces %g)", v, scale)
	}

	// --record made the FID a measured metric of 00101 that search ranks by.
	r := mustOK(t, zoo(t, env, "search", "--rank-by", "FID", "--json", "--limit", "0"))
	var s searchJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range s.Results {
		if h.ID == "00101_DCGAN_MRI_COLIN27_DEMO" && h.Metric != nil {
			found = h.Metric.Source == "measured by zoo" && h.Metric.Value == first.value(t, "FID") &&
				strings.Contains(h.Metric.Extractor, "radimagenet-resnet50-random") && h.Metric.Images == 12
		}
	}
	if !found {
		t.Errorf("recorded FID not in search:\n%s", r.stdout)
	}
	mustOK(t, zoo(t, env, "catalog", "validate", filepath.Join(work, "config", "catalogs", "measured.toml")))

	// The text card.
	r = mustOK(t, zoo(t, env, "evaluate", real, "101", "-n", "12", "--seed", "2", "--features", ex, "--metrics", "fid,kid"))
	for _, want := range []string{"FID", "KID", "lower", "radimagenet-resnet50-random", "preprocessing:", "features from cache"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text card lacks %q:\n%s", want, r.stdout)
		}
	}
}

var first2000 = mustTime("2000-01-02T03:04:05Z")

func TestEvaluateBadInput(t *testing.T) {
	ex := resnetExtractor(t)
	work := t.TempDir()
	env := []string{"ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	one := filepath.Join(work, "one")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "1", "-o", one, "-q"))
	empty := filepath.Join(work, "empty")
	os.MkdirAll(empty, 0o755)
	wantFail(t, zoo(t, env, "evaluate", one), 2, "REAL and FAKE")
	wantFail(t, zoo(t, env, "evaluate", filepath.Join(work, "nope"), "101", "--features", ex), 2, "neither a folder nor a model id")
	wantFail(t, zoo(t, env, "evaluate", one, "101", "--features", ex), 2, "holds 1 image")
	wantFail(t, zoo(t, env, "evaluate", empty, "101", "--features", ex), 2, "holds no images")
	wantFail(t, zoo(t, env, "evaluate", one, one, "--normalize", "zscore"), 2, "--normalize")
	wantFail(t, zoo(t, env, "evaluate", one, one, "--metrics", "fid,is"), 2, "unknown metric")
	two := filepath.Join(work, "two")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "3", "-o", two, "-q"))
	wantFail(t, zoo(t, env, "evaluate", two, two, "--features", "alexnet"), 2, "not a built-in extractor")
	wantFail(t, zoo(t, env, "evaluate", two, two, "--features", ex, "--record"), 2, "--record needs FAKE to be a model id")
	// The standard Inception has no published digest and cannot be fetched
	// offline: the error says what to do instead.
	wantFail(t, zoo(t, env, "--offline", "evaluate", two, "101", "-n", "3", "--features", "inception-v3"), 1, "--features FILE.pt")
	// An unreadable image fails naming it, or is skipped and listed.
	os.WriteFile(filepath.Join(two, "zz.png"), []byte("garbage"), 0o644)
	// (FID and KID: the default PRDC's k=5 needs more images than these,
	// which is refused before any image is read.)
	wantFail(t, zoo(t, env, "evaluate", two, "101", "-n", "3", "--features", ex, "--metrics", "fid,kid"), 1, "zz.png")
	r := mustOK(t, zoo(t, env, "evaluate", two, "101", "-n", "3", "--features", ex, "--skip-unreadable", "--metrics", "kid"))
	if !strings.Contains(r.stdout, "skipped zz.png") {
		t.Errorf("skip not reported:\n%s", r.stdout)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
