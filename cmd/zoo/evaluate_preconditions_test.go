package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestEvaluatePreconditionsFirst: a metric the sets are too small for is
// refused before any feature is extracted (the feature cache stays empty),
// naming the flag that fixes it; --prdc-k, --kid-subsets and
// --kid-subset-size then reach the card.
func TestEvaluatePreconditionsFirst(t *testing.T) {
	ex := resnetExtractor(t)
	work := t.TempDir()
	cache := filepath.Join(work, "cache")
	env := []string{"ZOO_CACHE=" + cache, "ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real, fake := filepath.Join(work, "real"), filepath.Join(work, "fake")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "4", "--seed", "1", "-o", real, "-q"))
	mustOK(t, zoo(t, env, "generate", "101", "-n", "3", "--seed", "2", "-o", fake, "-q"))

	// The default metrics include PRDC with k=5: 4 and 3 images are too few.
	wantFail(t, zoo(t, env, "evaluate", real, fake, "--features", ex), 1,
		"PRDC with k=5 needs at least 6 images in each set, REAL has 4", "--prdc-k", "nothing was extracted")
	wantFail(t, zoo(t, env, "evaluate", fake, real, "--features", ex, "--metrics", "ratio"), 1,
		"FID ratio splits REAL in two halves of at least 2, REAL has 3")
	if entries, _ := os.ReadDir(filepath.Join(cache, "features")); len(entries) != 0 {
		t.Fatalf("features were extracted before the refusal: %d cache entries", len(entries))
	}
	wantFail(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--prdc-k", "0"), 2, "--prdc-k")

	r := mustOK(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--prdc-k", "2", "--kid-subsets", "3", "--kid-subset-size", "2", "--json"))
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
