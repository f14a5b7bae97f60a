package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvaluatePreconditionsFirst: a metric the sets are too small for is
// listed on the card with its reason, naming the flag that fixes it, and
// the other metrics have values (exit 0); when every asked metric is ruled
// out the command fails before any feature is extracted (the feature cache
// stays empty). --prdc-k, --kid-subsets and --kid-subset-size then reach
// the card.
func TestEvaluatePreconditionsFirst(t *testing.T) {
	ex := resnetExtractor(t)
	work := t.TempDir()
	cache := filepath.Join(work, "cache")
	env := []string{"ZOO_CACHE=" + cache, "ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real, fake := filepath.Join(work, "real"), filepath.Join(work, "fake")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "4", "--seed", "1", "-o", real, "-q"))
	mustOK(t, zoo(t, env, "generate", "101", "-n", "3", "--seed", "2", "-o", fake, "-q"))

	// Alone, PRDC with k=5 (4 and 3 images are too few) and the FID ratio
	// (3 real images) are refused before extraction.
	wantFail(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--metrics", "prdc"), 1,
		"PRDC with k=5 needs at least 6 images in each set, REAL has 4", "--prdc-k", "nothing was extracted")
	wantFail(t, zoo(t, env, "evaluate", fake, real, "--features", ex, "--metrics", "ratio,prdc"), 1,
		"FID ratio splits REAL in two halves of at least 2, REAL has 3", "PRDC with k=5")
	if entries, _ := os.ReadDir(filepath.Join(cache, "features")); len(entries) != 0 {
		t.Fatalf("features were extracted before the refusal: %d cache entries", len(entries))
	}
	// The default metrics (fid,kid,prdc): FID and KID have values, PRDC
	// its reason, and the command succeeds.
	r := mustOK(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--json"))
	var partly cardJSON
	if err := json.Unmarshal([]byte(r.stdout), &partly); err != nil {
		t.Fatal(err)
	}
	partly.value(t, "FID")
	partly.value(t, "KID")
	if len(partly.Failed) != 1 || partly.Failed[0].Metric != "prdc" || !strings.Contains(partly.Failed[0].Reason, "--prdc-k") {
		t.Errorf("failed metrics on the card: %+v; want prdc with its reason", partly.Failed)
	}
	text := mustOK(t, zoo(t, env, "evaluate", real, fake, "--features", ex)).stdout
	if !strings.Contains(text, "not computed: PRDC with k=5") {
		t.Errorf("the text card does not say why PRDC has no value:\n%s", text)
	}
	wantFail(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--prdc-k", "0"), 2, "--prdc-k")

	r = mustOK(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--prdc-k", "2", "--kid-subsets", "3", "--kid-subset-size", "2", "--json"))
	var card cardJSON
	if err := json.Unmarshal([]byte(r.stdout), &card); err != nil {
		t.Fatal(err)
	}
	for _, res := range card.Results {
		switch res.Metric {
		case "precision":
			if res.Details["k"] != float64(2) {
				t.Errorf("PRDC k on the card: %v", res.Details)
			}
		case "KID":
			if res.Details["subsets"] != float64(3) || res.Details["subset_size"] != float64(2) {
				t.Errorf("KID subsets on the card: %v", res.Details)
			}
		}
	}
	card.value(t, "precision")
	card.value(t, "KID")
}
