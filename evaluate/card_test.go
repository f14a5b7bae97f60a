package evaluate

import (
	"testing"

	"medzoo/zoo"
)

// The card takes each metric's direction from the registry: every metric
// it reports must be one the registry knows, with a direction.
func TestCardMetricsAreRegistered(t *testing.T) {
	for _, name := range []string{"FID", "KID", "precision", "recall", "density", "coverage", "near_copies", "FID_ratio"} {
		var c Card
		c.add(Result{Metric: name})
		mi := zoo.LookupMetric(name)
		if !mi.Known() || (c.Results[0].Direction != "lower" && c.Results[0].Direction != "higher") {
			t.Errorf("%s: registry %+v, card direction %q", name, mi, c.Results[0].Direction)
		}
	}
	var c Card
	c.add(Result{Metric: "FID"})
	c.add(Result{Metric: "FID_ratio"})
	if c.Results[0].Direction != "lower" || c.Results[1].Direction != "higher" {
		t.Errorf("directions %+v", c.Results)
	}
}
