package evaluate

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"medzoo/features"
)

// Failure is an asked metric that has no value, and why: its precondition
// failed or its computation did. A card lists it beside the results, so
// one metric's failure never discards the others.
type Failure struct {
	Metric string `json:"metric"` // as asked: fid, kid, prdc, ratio, memorization
	Reason string `json:"reason"`
}

// AllFailedError is an evaluation in which no asked metric has a value.
type AllFailedError struct{ Failed []Failure }

func (e *AllFailedError) Error() string {
	var parts []string
	for _, f := range e.Failed {
		parts = append(parts, f.Reason)
	}
	return "no metric could be computed: " + strings.Join(parts, "; ")
}

// CheckPreconditions says, before any feature is extracted, which asked
// metrics the sets' sizes cannot give, and why: extraction is nearly all
// of an evaluation's time (a minute for a few hundred images on CPU), so a
// PRDC k or a FID-ratio split that cannot work must not be found after it,
// nor cost the metrics that can. The rules are the metrics' own
// (metrics.PRDC, metrics.KID, the covariance of FID, the FID ratio's real
// split). When every asked metric fails, it returns an *AllFailedError and
// nothing need be extracted. With --skip-unreadable a set may still shrink
// below a rule during extraction; that metric then fails on the card.
func CheckPreconditions(opt Options) ([]Failure, error) {
	opt = opt.withDefaults()
	nr, nf := opt.Real.Len(), opt.Fake.Len()
	var failed []Failure
	need := func(metric, name string, min int, fix string) {
		for _, s := range []struct {
			role string
			n    int
		}{{"REAL", nr}, {"FAKE", nf}} {
			if s.n < min {
				failed = append(failed, Failure{metric, fmt.Sprintf("%s needs at least %d images in each set, %s has %d: %s", name, min, s.role, s.n, fix)})
				return
			}
		}
	}
	for _, m := range opt.Metrics {
		switch m {
		case FID:
			need(m, "FID", 2, "a covariance needs two images; add images")
		case KID:
			need(m, "KID", 2, "add images")
			if opt.Prep.Protocol == features.ProtocolTorchFidelity && opt.Seed > math.MaxUint32 {
				failed = append(failed, Failure{m, fmt.Sprintf("--seed %d: torch-fidelity draws KID subsets with numpy's RandomState, which takes 0..%d; give a smaller --seed", opt.Seed, uint64(math.MaxUint32))})
			}
		case PRDC:
			need(m, fmt.Sprintf("PRDC with k=%d", opt.PRDCK), opt.PRDCK+1, "add images, lower --prdc-k, or leave prdc out of --metrics")
		case Ratio:
			if nr < 4 {
				failed = append(failed, Failure{m, fmt.Sprintf("the FID ratio splits REAL in two halves of at least 2, REAL has %d: add images or leave ratio out of --metrics", nr)})
			}
		case Memorization:
			if nr < 2 || nf < 1 {
				failed = append(failed, Failure{m, fmt.Sprintf("memorization needs at least 2 real images (a real nearest-neighbour distance) and 1 synthetic one, REAL has %d and FAKE %d: add images", nr, nf)})
			}
		}
	}
	if len(failed) > 0 && len(without(opt.Metrics, failed)) == 0 {
		for i := range failed {
			failed[i].Reason += " (nothing was extracted)"
		}
		return failed, &AllFailedError{failed}
	}
	return failed, nil
}

// without returns metrics less the failed ones, in order.
func without(metrics []string, failed []Failure) []string {
	return slices.DeleteFunc(slices.Clone(metrics), func(m string) bool {
		return slices.ContainsFunc(failed, func(f Failure) bool { return f.Metric == m })
	})
}
