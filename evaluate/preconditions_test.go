package evaluate

import (
	"errors"
	"strings"
	"testing"

	"medzoo/features"
	"medzoo/imagein"
)

// sizedSet is a set of n images that are never read: preconditions look
// only at sizes.
type sizedSet struct{ n int }

func (s sizedSet) Len() int            { return s.n }
func (s sizedSet) Name(i int) string   { return "img" }
func (s sizedSet) Describe() string    { return "test set" }
func (s sizedSet) Fingerprint() string { return "test" }
func (s sizedSet) Image(int) (imagein.Image, imagein.Units, error) {
	return imagein.Image{}, imagein.Units{}, errors.New("preconditions must not read images")
}

// TestPreconditionsPerMetric: a metric the sizes rule out is listed with
// its reason and the others go on; only when every asked metric is ruled
// out is the evaluation refused.
func TestPreconditionsPerMetric(t *testing.T) {
	opt := Options{Real: sizedSet{4}, Fake: sizedSet{3}, Metrics: []string{FID, PRDC, Ratio}}
	failed, err := CheckPreconditions(opt)
	if err != nil {
		t.Fatalf("FID can be computed, yet: %v", err)
	}
	if len(failed) != 1 || failed[0].Metric != PRDC || !strings.Contains(failed[0].Reason, "PRDC with k=5 needs at least 6 images in each set, REAL has 4") {
		t.Fatalf("failed: %+v; want PRDC alone, with its reason", failed)
	}
	opt.Metrics = []string{PRDC, Ratio}
	opt.Real = sizedSet{3}
	failed, err = CheckPreconditions(opt)
	var all *AllFailedError
	if !errors.As(err, &all) || len(failed) != 2 || !strings.Contains(err.Error(), "nothing was extracted") || !strings.Contains(err.Error(), "FID ratio") {
		t.Fatalf("every metric ruled out: err %v, failed %+v", err, failed)
	}
}

// TestComputeFailureKeepsOthers: a metric that fails while computing (here
// PRDC, whose k the merged sets are too small for) is on the card with the
// metric's own reason, in the order asked, and the others have values.
func TestComputeFailureKeepsOthers(t *testing.T) {
	real, rn := testRows(5, 0, 1)
	fake, fn := testRows(5, 0.5, 2)
	opt := Options{Extractor: &features.Extractor{Spec: features.Spec{Dim: testDim}}, Metrics: []string{PRDC, FID, KID},
		KIDSubsets: 3, KIDSubsetSize: 4, PRDCK: 5}.withDefaults()
	c := &Card{}
	rs, fs := &featureSet{rows: real, n: 5, names: rn}, &featureSet{rows: fake, n: 5, names: fn}
	c.computeAll(rs, fs, opt)
	if len(c.Failed) != 1 || c.Failed[0].Metric != PRDC || !strings.Contains(c.Failed[0].Reason, "PRDC") {
		t.Fatalf("failed: %+v", c.Failed)
	}
	if len(c.Results) != 2 || c.Results[0].Metric != "FID" || c.Results[1].Metric != "KID" || c.Err() != nil {
		t.Fatalf("results %+v, err %v", c.Results, c.Err())
	}
	var text strings.Builder
	c.WriteText(&text)
	if !strings.Contains(text.String(), "prdc") || !strings.Contains(text.String(), "not computed: PRDC") {
		t.Errorf("the text card does not give PRDC's reason:\n%s", text.String())
	}
	c = &Card{}
	c.computeAll(rs, fs, Options{Extractor: opt.Extractor, Metrics: []string{PRDC}, PRDCK: 5}.withDefaults())
	var all *AllFailedError
	if !errors.As(c.Err(), &all) {
		t.Fatalf("PRDC alone failed, yet Err is %v", c.Err())
	}
}
