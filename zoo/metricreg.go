package zoo

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// The metric registry is the one place that says what a metric name means
// and which way is better. Catalogs carry a direction per metric too (a
// catalog may hold metrics this build has never heard of), but for a name
// the registry knows, the registry wins: `zoo search --rank-by` ranks with
// it and `zoo catalog validate` flags entries that disagree.

// Better is which values of a metric are better.
type Better int

const (
	// BetterUnknown: neither the registry nor the catalog says.
	BetterUnknown Better = iota
	// BetterLower: smaller is better (FID, KID, MSE, a loss).
	BetterLower
	// BetterHigher: larger is better (SSIM, PSNR, Dice, AUC, F1).
	BetterHigher
	// BetterTarget: closest to MetricInfo.Target is best (a visual Turing
	// test's reader AUC or accuracy, where 0.5 means readers cannot tell).
	BetterTarget
)

func (b Better) String() string {
	switch b {
	case BetterLower:
		return "lower"
	case BetterHigher:
		return "higher"
	case BetterTarget:
		return "target"
	}
	return "unknown"
}

// Metric families. Values are compared only within a family, and in the
// FID-like families only when computed with the same feature extractor.
const (
	FamilyFrechet    = "frechet"    // FID, FID_RADIMAGENET: distances between feature statistics
	FamilyKernel     = "kernel"     // KID and friends
	FamilyFIDRatio   = "fid-ratio"  // real-vs-real FID over real-vs-synthetic FID
	FamilyInception  = "inception"  // Inception Score
	FamilyPaired     = "paired"     // SSIM, PSNR, MSE: synthetic image vs its paired real target
	FamilyDownstream = "downstream" // a task model trained with synthetic data, tested on real data
	FamilyDelta      = "delta"      // change of a downstream score when synthetic data is added
	FamilyTuring     = "turing"     // readers telling real from synthetic
	FamilyOther      = "other"
)

// MetricInfo is what the registry knows about one metric name.
type MetricInfo struct {
	Name    string // the name as asked for (catalog spelling)
	Pattern string // the registry rule that matched, for messages
	Better  Better
	Target  float64 // for BetterTarget
	Family  string
	Meaning string
	// SameExtractor: values computed with different feature extractors
	// (ImageNet vs RadImageNet Inception, CLIP, ...) measure different
	// things and must never be ranked against each other.
	SameExtractor bool
	// Extractor is the usual extractor of this metric, used when a catalog
	// entry does not name one.
	Extractor string
}

// Known reports whether the registry had a rule for the name.
func (mi MetricInfo) Known() bool { return mi.Pattern != "" }

// Describe says which way is better, in words.
func (mi MetricInfo) Describe() string {
	switch mi.Better {
	case BetterLower:
		return "lower is better"
	case BetterHigher:
		return "higher is better"
	case BetterTarget:
		return fmt.Sprintf("closest to %g is best", mi.Target)
	}
	return "direction unknown"
}

// Key orders values so that smaller keys are better: rankings sort by Key
// ascending whatever the direction.
func (mi MetricInfo) Key(v float64) float64 {
	switch mi.Better {
	case BetterHigher:
		return -v
	case BetterTarget:
		return math.Abs(v - mi.Target)
	}
	return v
}

const (
	extractorImageNet    = "inception-v3 (ImageNet)"
	extractorRadImageNet = "inception-v3 (RadImageNet)"
)

// exactMetrics are whole names (compared ignoring case).
var exactMetrics = map[string]MetricInfo{
	"fid": {Better: BetterLower, Family: FamilyFrechet, SameExtractor: true, Extractor: extractorImageNet,
		Meaning: "Frechet Inception Distance between real and synthetic image features; lower is closer"},
	"fid_radimagenet": {Better: BetterLower, Family: FamilyFrechet, SameExtractor: true, Extractor: extractorRadImageNet,
		Meaning: "FID on features of an Inception-v3 trained on RadImageNet (medical images); not comparable with ImageNet FIDs"},
	"kid": {Better: BetterLower, Family: FamilyKernel, SameExtractor: true, Extractor: extractorImageNet,
		Meaning: "Kernel Inception Distance (squared MMD of Inception features); lower is closer"},
	"kid_radimagenet": {Better: BetterLower, Family: FamilyKernel, SameExtractor: true, Extractor: extractorRadImageNet,
		Meaning: "KID on RadImageNet Inception-v3 features"},
	"fid_ratio": {Better: BetterHigher, Family: FamilyFIDRatio, SameExtractor: true, Extractor: extractorImageNet,
		Meaning: "FID(real, real) / FID(real, synthetic); 1 means synthetic is as close as real to real"},
	"fid_radimagenet_ratio": {Better: BetterHigher, Family: FamilyFIDRatio, SameExtractor: true, Extractor: extractorRadImageNet,
		Meaning: "FID_ratio on RadImageNet Inception-v3 features"},
	"is": {Better: BetterHigher, Family: FamilyInception, SameExtractor: true, Extractor: extractorImageNet,
		Meaning: "Inception Score of the synthetic images"},
	"ssim":    {Better: BetterHigher, Family: FamilyPaired, Meaning: "structural similarity to the paired real image; 1 is identical"},
	"ms-ssim": {Better: BetterHigher, Family: FamilyPaired, Meaning: "multi-scale structural similarity; 1 is identical"},
	"ms_ssim": {Better: BetterHigher, Family: FamilyPaired, Meaning: "multi-scale structural similarity; 1 is identical"},
	"psnr":    {Better: BetterHigher, Family: FamilyPaired, Meaning: "peak signal-to-noise ratio (dB) against the paired real image"},
	"mse":     {Better: BetterLower, Family: FamilyPaired, Meaning: "mean squared error against the paired real image"},
	"nsme":    {Better: BetterLower, Family: FamilyPaired, Meaning: "normalised mean squared error against the paired real image (medigan spells it NSME)"},
	"nmse":    {Better: BetterLower, Family: FamilyPaired, Meaning: "normalised mean squared error against the paired real image"},
	"mae":     {Better: BetterLower, Family: FamilyPaired, Meaning: "mean absolute error against the paired real image"},
	"lpips": {Better: BetterLower, Family: FamilyPaired, SameExtractor: true,
		Meaning: "learned perceptual image patch similarity (a distance); lower is closer"},
	"precision": {Better: BetterHigher, Family: FamilyOther, SameExtractor: true,
		Meaning: "generative precision: share of synthetic samples inside the real feature manifold"},
	"recall": {Better: BetterHigher, Family: FamilyOther, SameExtractor: true,
		Meaning: "generative recall: share of real samples inside the synthetic feature manifold"},
	"density": {Better: BetterHigher, Family: FamilyOther, SameExtractor: true,
		Meaning: "generative density (Naeem et al. 2020): how many real k-NN neighbourhoods hold each synthetic sample, / k"},
	"coverage": {Better: BetterHigher, Family: FamilyOther, SameExtractor: true,
		Meaning: "generative coverage: share of real samples with a synthetic sample inside their k-NN neighbourhood"},
	"near_copies": {Better: BetterLower, Family: FamilyOther, SameExtractor: true,
		Meaning: "synthetic images closer to a real image than most real images are to their nearest neighbour (memorisation)"},
	"turing_test": {Better: BetterTarget, Target: 0.5, Family: FamilyTuring,
		Meaning: "visual Turing test result; 0.5 is chance, so values near 0.5 are best"},
}

// lastPartMetrics are the scores of downstream tasks, matched on the last
// dotted part of a name like CLF.trained_on_real_and_fake.f1.
var lastPartMetrics = map[string]MetricInfo{
	"accuracy":          {Better: BetterHigher, Meaning: "accuracy"},
	"acc":               {Better: BetterHigher, Meaning: "accuracy"},
	"balanced_accuracy": {Better: BetterHigher, Meaning: "balanced accuracy"},
	"precision":         {Better: BetterHigher, Meaning: "precision"},
	"recall":            {Better: BetterHigher, Meaning: "recall (sensitivity)"},
	"sensitivity":       {Better: BetterHigher, Meaning: "sensitivity"},
	"specificity":       {Better: BetterHigher, Meaning: "specificity"},
	"f1":                {Better: BetterHigher, Meaning: "F1 score"},
	"auc":               {Better: BetterHigher, Meaning: "area under the ROC curve"},
	"auroc":             {Better: BetterHigher, Meaning: "area under the ROC curve"},
	"auprc":             {Better: BetterHigher, Meaning: "area under the precision-recall curve"},
	"map":               {Better: BetterHigher, Meaning: "mean average precision"},
	"dice":              {Better: BetterHigher, Meaning: "Dice similarity coefficient"},
	"iou":               {Better: BetterHigher, Meaning: "intersection over union"},
	"jaccard":           {Better: BetterHigher, Meaning: "Jaccard index"},
	"dice_loss":         {Better: BetterLower, Meaning: "Dice loss (1 - Dice)"},
	"loss":              {Better: BetterLower, Meaning: "a loss"},
	"hd95":              {Better: BetterLower, Meaning: "95th percentile Hausdorff distance"},
	"hausdorff":         {Better: BetterLower, Meaning: "Hausdorff distance"},
}

// LookupMetric returns what the registry knows about a metric name. The
// result's Pattern is empty when no rule matched; Better is then
// BetterUnknown and callers fall back on the catalog's direction.
func LookupMetric(name string) MetricInfo {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "downstream_task.")
	if mi, ok := exactMetrics[n]; ok {
		mi.Name, mi.Pattern = name, n
		return mi
	}
	switch {
	case strings.HasPrefix(n, "turing_test."):
		mi := exactMetrics["turing_test"]
		mi.Name, mi.Pattern = name, "turing_test.*"
		return mi
	case strings.HasSuffix(n, "_delta"):
		return MetricInfo{Name: name, Pattern: "*_delta", Better: BetterHigher, Family: FamilyDelta,
			Meaning: "change of a downstream score when synthetic images are added to the real ones; positive helps"}
	}
	last := n
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		last = n[i+1:]
	}
	if strings.Contains(n, ".") || n != last {
		if mi, ok := lastPartMetrics[last]; ok {
			mi.Name, mi.Pattern, mi.Family = name, "*."+last, FamilyDownstream
			return mi
		}
		if strings.HasPrefix(last, "dice_") && last != "dice_loss" {
			return MetricInfo{Name: name, Pattern: "*.dice_*", Better: BetterHigher, Family: FamilyDownstream,
				Meaning: "Dice similarity coefficient on one label"}
		}
	} else if mi, ok := lastPartMetrics[last]; ok {
		// A bare downstream score name ("dice", "auc").
		mi.Name, mi.Pattern, mi.Family = name, last, FamilyDownstream
		return mi
	}
	return MetricInfo{Name: name, Family: FamilyOther}
}

// MetricInfoFor combines the registry with what a catalog says (its
// direction, "lower" or "higher"), for names the registry does not know.
func MetricInfoFor(name, catalogDirection string) MetricInfo {
	mi := LookupMetric(name)
	if mi.Known() {
		return mi
	}
	switch catalogDirection {
	case "lower":
		mi.Better = BetterLower
	case "higher":
		mi.Better = BetterHigher
	}
	return mi
}

// MetricWarning is a disagreement between a catalog entry and the registry.
type MetricWarning struct {
	Metric  string
	Field   string // the metric's key the warning is about ("" for the table)
	Message string
}

// CheckMetric compares one catalog metric with the registry: a direction
// that contradicts it, or an FID-like figure that does not say which
// feature extractor computed it.
func CheckMetric(name string, m Metric) []MetricWarning {
	mi := LookupMetric(name)
	if !mi.Known() {
		return nil
	}
	var out []MetricWarning
	want := ""
	switch mi.Better {
	case BetterLower:
		want = "lower"
	case BetterHigher:
		want = "higher"
	case BetterTarget:
		// Either direction is a simplification of "closest to the target".
	}
	if want != "" && m.Direction != "" && m.Direction != want {
		out = append(out, MetricWarning{name, "direction", fmt.Sprintf("metric %s: direction %q, but for %s %s (zoo ranks with the registry's direction)",
			name, m.Direction, mi.Pattern, mi.Describe())})
	}
	if mi.SameExtractor && strings.TrimSpace(m.Extractor) == "" {
		out = append(out, MetricWarning{name, "", fmt.Sprintf("metric %s: no extractor given; %s values from different feature extractors are not comparable (zoo assumes %s)",
			name, mi.Pattern, mi.Extractor)})
	}
	return out
}

// RegistryRules lists the registry's rules, for `zoo search --help` and docs.
func RegistryRules() []MetricInfo {
	var out []MetricInfo
	for k, mi := range exactMetrics {
		mi.Pattern = k
		out = append(out, mi)
	}
	out = append(out,
		MetricInfo{Pattern: "turing_test.*", Better: BetterTarget, Target: 0.5, Family: FamilyTuring},
		MetricInfo{Pattern: "*_delta", Better: BetterHigher, Family: FamilyDelta})
	for k, mi := range lastPartMetrics {
		mi.Pattern, mi.Family = "*."+k, FamilyDownstream
		out = append(out, mi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern < out[j].Pattern })
	return out
}

// CatalogWarnings checks every metric of a parsed catalog against the
// registry. data is the catalog's text, for line numbers.
func CatalogWarnings(c *Catalog, data []byte) []Problem {
	lines := scanLines(string(data))
	var out []Problem
	for i := range c.Models {
		m := &c.Models[i]
		for _, name := range sortedMetricNames(m.Metrics) {
			for _, w := range CheckMetric(name, m.Metrics[name]) {
				p := join(modelPath(i), "metrics", name)
				if w.Field != "" {
					p = append(p, w.Field)
				}
				out = append(out, Problem{Source: m.Source, Line: lines.find(p), Message: "model " + m.ID + ": " + w.Message})
			}
		}
	}
	return out
}
