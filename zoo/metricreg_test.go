package zoo

import (
	"strings"
	"testing"
)

func TestMetricRegistryDirections(t *testing.T) {
	for name, want := range map[string]Better{
		"FID": BetterLower, "fid": BetterLower, "FID_RADIMAGENET": BetterLower, "KID": BetterLower, "KID_RADIMAGENET": BetterLower,
		"FID_ratio": BetterHigher, "FID_RADIMAGENET_ratio": BetterHigher, "IS": BetterHigher,
		"SSIM": BetterHigher, "PSNR": BetterHigher, "MSE": BetterLower, "NSME": BetterLower, "LPIPS": BetterLower,
		"CLF.trained_on_real_and_fake.f1": BetterHigher, "CLF.trained_on_real.AUC": BetterHigher,
		"CLF.trained_on_fake.accuracy": BetterHigher, "DET.trained_on_real.AUC": BetterHigher,
		"downstream_task.CLF.trained_on_real.AUPRC": BetterHigher,
		"SEG.trained_on_fake.Dice":                  BetterHigher, "SEG.trained_on_real.dice": BetterHigher, "SEG.trained_on_fake.dice_tumor": BetterHigher,
		"SEG.trained_on_fake.IoU": BetterHigher, "SEG.trained_on_fake.dice_loss": BetterLower, "dice": BetterHigher,
		"CLF_delta": BetterHigher, "SEG_delta": BetterHigher,
		"turing_test.AUC.reader1": BetterTarget, "turing_test.accuracy.reader2": BetterTarget,
		"made_up_score": BetterUnknown,
	} {
		mi := LookupMetric(name)
		if mi.Better != want {
			t.Errorf("%s: %v, want %v", name, mi.Better, want)
		}
	}
	// FID-like metrics are compared only with the same extractor.
	for _, n := range []string{"FID", "FID_RADIMAGENET", "KID", "FID_ratio", "IS"} {
		if !LookupMetric(n).SameExtractor {
			t.Errorf("%s: not extractor-bound", n)
		}
	}
	if LookupMetric("FID").Extractor == LookupMetric("FID_RADIMAGENET").Extractor {
		t.Error("FID and FID_RADIMAGENET share an extractor")
	}
	// Keys order best first.
	fid, ssim, tt := LookupMetric("FID"), LookupMetric("SSIM"), LookupMetric("turing_test.AUC.reader1")
	if !(fid.Key(10) < fid.Key(20)) || !(ssim.Key(0.9) < ssim.Key(0.5)) || !(tt.Key(0.52) < tt.Key(0.40)) || !(tt.Key(0.45) < tt.Key(0.6)) {
		t.Error("keys do not order best first")
	}
	// Unknown names take the catalog's word.
	if MetricInfoFor("made_up_score", "higher").Better != BetterHigher {
		t.Error("catalog direction ignored for an unknown metric")
	}
}

// Every metric of the built-in catalog is known to the registry and agrees
// with it.
func TestEmbeddedCatalogAgreesWithRegistry(t *testing.T) {
	c, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Models {
		for name := range m.Metrics {
			if !LookupMetric(name).Known() {
				t.Errorf("%s: metric %s unknown to the registry", m.ID, name)
			}
		}
	}
	if w := CatalogWarnings(c, embeddedCatalog); len(w) != 0 {
		t.Errorf("warnings on the built-in catalog: %v", w)
	}
}

func TestCatalogWarningsHaveLines(t *testing.T) {
	src := "schema = 1\n" + userEntry("90001_X", "x") +
		"[model.metrics.FID]\nvalue = 3.0\ndirection = \"higher\"\n\n[model.metrics.KID]\nvalue = 0.1\ndirection = \"lower\"\n"
	c, err := Parse([]byte(src), "w.toml")
	if err != nil {
		t.Fatal(err)
	}
	w := CatalogWarnings(c, []byte(src))
	if len(w) != 3 {
		t.Fatalf("%d warnings: %v", len(w), w)
	}
	lines := strings.Split(src, "\n")
	for _, p := range w {
		if p.Source != "w.toml" || p.Line < 1 || p.Line > len(lines) {
			t.Errorf("%v", p)
			continue
		}
		at := lines[p.Line-1]
		if strings.Contains(p.Message, "direction") && !strings.HasPrefix(at, "direction") ||
			strings.Contains(p.Message, "extractor") && !strings.HasPrefix(at, "[model.metrics.") {
			t.Errorf("%v points at %q", p, at)
		}
	}
}
