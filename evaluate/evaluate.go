// Package evaluate computes quality metrics of synthetic images against real
// ones (FID, KID, precision/recall/density/coverage, medigan's FID ratio, a
// memorization report) from features of a TorchScript extractor, and writes
// a metric card that records exactly how: extractor and its checksum,
// preprocessing, image counts, set fingerprints, zoo version.
package evaluate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"medzoo/features"
	"medzoo/imagein"
	"medzoo/internal/version"
	"medzoo/metrics"
)

// Metric names.
const (
	FID          = "fid"
	KID          = "kid"
	PRDC         = "prdc"
	Ratio        = "ratio"
	Memorization = "memorization"
)

// AllMetrics lists every metric in the order cards show them.
var AllMetrics = []string{FID, KID, PRDC, Ratio, Memorization}

// ParseMetrics reads a comma-separated metric list ("all" for every one).
func ParseMetrics(s string) ([]string, error) {
	if s == "" || s == "all" {
		return slices.Clone(AllMetrics), nil
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.ToLower(strings.TrimSpace(m))
		if !slices.Contains(AllMetrics, m) {
			return nil, fmt.Errorf("--metrics: unknown metric %q; known: %s", m, strings.Join(AllMetrics, ","))
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// Options say what to compare and how.
type Options struct {
	Real, Fake Set
	Extractor  *features.Extractor
	Prep       features.Prep
	Metrics    []string
	Batch      int
	Skip       bool   // leave out unreadable images instead of failing
	CacheDir   string // feature cache root ("" disables it)
	Seed       uint64 // KID subsets and the real split of the FID ratio

	KIDSubsets, KIDSubsetSize int     // default 100 subsets of up to 1000
	PRDCK                     int     // default 5
	NearCopyQuantile          float64 // default 0.01

	// Progress, when set, is called with the set ("real" or "fake"), the
	// images done and the total.
	Progress func(set string, done, total int)
}

// Run extracts (or loads cached) features of both sets and computes the
// requested metrics.
func Run(ctx context.Context, opt Options) (*Card, error) {
	t0 := time.Now()
	opt = opt.withDefaults()
	failed, err := CheckPreconditions(opt)
	if err != nil {
		return nil, err
	}
	card := newCard(opt, t0)
	card.Failed = failed
	cache := featureCache{dir: opt.CacheDir}
	real, err := setFeatures(ctx, opt, cache, opt.Real, "real", &card.Real, 0, opt.Real.Len())
	if err != nil {
		return nil, err
	}
	if err := checkSet("real", real, &card.Real, opt.Extractor.Spec.Dim); err != nil {
		return nil, err
	}
	fake, err := setFeatures(ctx, opt, cache, opt.Fake, "fake", &card.Fake, 0, opt.Fake.Len())
	if err != nil {
		return nil, err
	}
	if err := checkSet("fake", fake, &card.Fake, opt.Extractor.Spec.Dim); err != nil {
		return nil, err
	}
	card.computeAll(real, fake, opt)
	card.Seconds = time.Since(t0).Seconds()
	return card, card.Err()
}

// withDefaults fills the options left zero.
func (opt Options) withDefaults() Options {
	if len(opt.Metrics) == 0 {
		opt.Metrics = []string{FID}
	}
	if opt.KIDSubsets <= 0 {
		opt.KIDSubsets = 100
	}
	if opt.KIDSubsetSize <= 0 {
		opt.KIDSubsetSize = 1000
	}
	if opt.PRDCK <= 0 {
		opt.PRDCK = 5
	}
	if opt.NearCopyQuantile <= 0 {
		opt.NearCopyQuantile = 0.01
	}
	return opt
}

func newCard(opt Options, t0 time.Time) *Card {
	ex := opt.Extractor
	return &Card{
		Zoo:  version.Generator(),
		Date: t0.UTC().Format(time.RFC3339),
		Extractor: ExtractorInfo{Name: ex.Spec.Name, Title: ex.Spec.Title, SHA256: ex.SHA256, Path: ex.Path,
			Weights: ex.Spec.Weights, Output: ex.Spec.Output, Dim: ex.Spec.Dim, Optimized: ex.Optimized},
		Normalize:     opt.Prep.Normalize.String(),
		Protocol:      protocolName(opt.Prep.Protocol),
		ProtocolNotes: protocolNotes(opt.Prep.Protocol, ex.Spec.Name, opt.Metrics, opt.PRDCK),
		Preprocessing: opt.Prep.Describe(),
		Seed:          opt.Seed,
		Metrics:       slices.Clone(opt.Metrics),
		Warnings:      slices.Clone(ex.Notes),
	}
}

// computeAll computes opt.Metrics from both sets' features, in the order
// asked, except those already on c.Failed; a metric that fails is added
// there with its reason, and the others go on. A merged evaluation calls
// it with the shards' features joined in index order, so its results are
// those of one process.
func (c *Card) computeAll(real, fake *featureSet, opt Options) {
	for _, m := range without(opt.Metrics, c.Failed) {
		if err := c.compute(m, real, fake, opt); err != nil {
			c.Failed = append(c.Failed, Failure{Metric: m, Reason: err.Error()})
		}
	}
	// In the order asked, whether a precondition or the computation failed.
	slices.SortStableFunc(c.Failed, func(a, b Failure) int {
		return slices.Index(opt.Metrics, a.Metric) - slices.Index(opt.Metrics, b.Metric)
	})
}

// Err is an *AllFailedError when no asked metric has a value (the command
// then exits non-zero, after printing the card with the reasons), else nil.
func (c *Card) Err() error {
	if len(c.Results) == 0 && len(c.Failed) > 0 {
		return &AllFailedError{c.Failed}
	}
	return nil
}

// featureSet is one set's features.
type featureSet struct {
	rows  []float32 // n×dim
	n     int
	names []string
	// moments, when set, are the rows' exact sums (a merged evaluation
	// sums the shards'); stats computes them from rows otherwise.
	moments *metrics.Moments
}

func (f *featureSet) matrix(dim int) [][]float32 {
	out := make([][]float32, f.n)
	for i := range out {
		out[i] = f.rows[i*dim : (i+1)*dim]
	}
	return out
}

// stats is the set's mean and covariance, from its exact moments: the one
// code path of single-process and merged FID.
func (f *featureSet) stats(dim int) (*metrics.Stats, error) {
	if f.moments == nil {
		m, err := momentsOf(f.rows, dim)
		if err != nil {
			return nil, err
		}
		f.moments = m
	}
	return f.moments.Stats()
}

func momentsOf(rows []float32, dim int) (*metrics.Moments, error) {
	m, err := metrics.NewMoments(dim)
	if err != nil {
		return nil, err
	}
	if err := m.Add(rows); err != nil {
		return nil, err
	}
	return m, nil
}

// setFeatures extracts the features of images [start, end) of set (all of
// it, or one shard's part), in index order.
func setFeatures(ctx context.Context, opt Options, cache featureCache, set Set, role string, info *SetInfo, start, end int) (*featureSet, error) {
	ex := opt.Extractor
	dim := ex.Spec.Dim
	parts := []string{set.Fingerprint(), ex.SHA256, opt.Prep.Describe(), fmt.Sprint(opt.Skip)}
	if start != 0 || end != set.Len() {
		parts = append(parts, fmt.Sprintf("images %d-%d", start, end))
	}
	key := digest(strings.Join(parts, "\x00"))
	info.Describe = set.Describe()
	info.Fingerprint = set.Fingerprint()
	part := &subset{Set: set, start: start, n: end - start}
	fs := &featureSet{}
	if rows, ok := cache.load(key, part.Len(), dim); ok {
		fs.rows, fs.n = rows, part.Len()
		info.Cached = true
		info.Warnings = append(info.Warnings, cache.loadNotes(key)...)
		for i := 0; i < part.Len(); i++ {
			fs.names = append(fs.names, part.Name(i))
		}
	} else {
		rows := make([]float32, 0, part.Len()*dim)
		var progress func(int)
		if opt.Progress != nil {
			progress = func(done int) { opt.Progress(role, done, part.Len()) }
		}
		// What a reference protocol's reading loses is counted per set.
		prep := opt.Prep
		prep.Loss = &features.Loss{}
		skipped, err := ex.Extract(ctx, part, prep, features.Options{Batch: opt.Batch, Skip: opt.Skip, Progress: progress},
			func(idx []int, r []float32) error {
				rows = append(rows, r...)
				for _, i := range idx {
					fs.names = append(fs.names, part.Name(i))
				}
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("%s images: %w", role, err)
		}
		for i := range skipped {
			skipped[i].Index += start // the set's index, not the part's
		}
		fs.rows, fs.n = rows, len(rows)/dim
		info.Skipped = skipped
		notes := prep.Loss.Warnings(opt.Prep.Protocol)
		info.Warnings = append(info.Warnings, notes...)
		// Sets with skipped images are not cached: their key would not say
		// which images made it in once the files are fixed.
		if len(skipped) == 0 {
			if err := cache.store(key, rows, fs.n, dim, notes); err != nil {
				info.Warnings = append(info.Warnings, "features not cached: "+err.Error())
			}
		}
	}
	info.Images = fs.n
	return fs, nil
}

// checkSet refuses a set too small for any metric and warns of one too
// small for a full-rank covariance.
func checkSet(role string, fs *featureSet, info *SetInfo, dim int) error {
	if fs.n < 2 {
		return fmt.Errorf("%s set: %d usable images; metrics need at least 2", role, fs.n)
	}
	if fs.n < dim {
		info.Warnings = append(info.Warnings, fmt.Sprintf("%d images for %d feature dimensions: the covariance is rank-deficient and FID is biased upwards; use at least %d images (KID is unbiased at small sizes)", fs.n, dim, dim))
	}
	return nil
}

// subset is images [start, start+n) of a set, numbered from 0.
type subset struct {
	Set
	start, n int
}

func (s *subset) Len() int          { return s.n }
func (s *subset) Name(i int) string { return s.Set.Name(s.start + i) }
func (s *subset) Image(i int) (imagein.Image, imagein.Units, error) {
	return s.Set.Image(s.start + i)
}
