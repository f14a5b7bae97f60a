package evaluate

import (
	"fmt"
	"math"
	"strings"

	"medzoo/features"
)

// CheckPreconditions refuses, before any feature is extracted, metrics that
// the sets' sizes cannot give: extraction is nearly all of an evaluation's
// time (a minute for a few hundred images on CPU), so a PRDC k or a KID
// subset that cannot work must not be found after it. The rules are the
// metrics' own (metrics.PRDC, metrics.KID, the covariance of FID, the
// FID ratio's real split). With --skip-unreadable a set may still shrink
// below them during extraction; the metric then fails as before.
func CheckPreconditions(opt Options) error {
	opt = opt.withDefaults()
	nr, nf := opt.Real.Len(), opt.Fake.Len()
	var problems []string
	need := func(metric string, min int, fix string) {
		for _, s := range []struct {
			role string
			n    int
		}{{"REAL", nr}, {"FAKE", nf}} {
			if s.n < min {
				problems = append(problems, fmt.Sprintf("%s needs at least %d images in each set, %s has %d: %s", metric, min, s.role, s.n, fix))
				return
			}
		}
	}
	for _, m := range opt.Metrics {
		switch m {
		case FID:
			need("FID", 2, "a covariance needs two images; add images")
		case KID:
			need("KID", 2, "add images")
			if opt.Prep.Protocol == features.ProtocolTorchFidelity && opt.Seed > math.MaxUint32 {
				problems = append(problems, fmt.Sprintf("--seed %d: torch-fidelity draws KID subsets with numpy's RandomState, which takes 0..%d; give a smaller --seed", opt.Seed, uint64(math.MaxUint32)))
			}
		case PRDC:
			need(fmt.Sprintf("PRDC with k=%d", opt.PRDCK), opt.PRDCK+1, "add images, lower --prdc-k, or leave prdc out of --metrics")
		case Ratio:
			if nr < 4 {
				problems = append(problems, fmt.Sprintf("the FID ratio splits REAL in two halves of at least 2, REAL has %d: add images or leave ratio out of --metrics", nr))
			}
		case Memorization:
			if nr < 2 || nf < 1 {
				problems = append(problems, fmt.Sprintf("memorization needs at least 2 real images (a real nearest-neighbour distance) and 1 synthetic one, REAL has %d and FAKE %d: add images", nr, nf))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s (nothing was extracted)", strings.Join(problems, "; "))
	}
	return nil
}
