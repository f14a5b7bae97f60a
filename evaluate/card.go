package evaluate

import (
	"fmt"
	"io"
	"math"
	"strings"

	"medzoo/features"
	"medzoo/metrics"
	"medzoo/torch"
	"medzoo/zoo"
)

// Card is the metric card: every result with how it was obtained.
type Card struct {
	Zoo       string        `json:"zoo"`
	Date      string        `json:"date"`
	Extractor ExtractorInfo `json:"extractor"`
	Normalize string        `json:"normalize"`
	// Protocol is whose preprocessing made the features: zoo, clean-fid,
	// pytorch-fid or torch-fidelity (features.Protocols); ProtocolNotes
	// say, for a reference's, what is that reference's and what is zoo's.
	Protocol      string   `json:"protocol"`
	ProtocolNotes []string `json:"protocol_notes,omitempty"`
	Preprocessing string   `json:"preprocessing"`
	Real          SetInfo  `json:"real"`
	Fake          SetInfo  `json:"fake"`
	Seed          uint64   `json:"seed"`
	// Metrics are the metrics asked; each has results or is on Failed.
	Metrics []string `json:"metrics"`
	Results []Result `json:"results"`
	// Failed lists the asked metrics without a value, each with its reason.
	Failed []Failure `json:"failed,omitempty"`
	// Memorization lists the synthetic images closest to a real one.
	Memorization *MemorizationInfo `json:"memorization,omitempty"`
	Warnings     []string          `json:"warnings,omitempty"`
	// Shards, on a card merged from zoo evaluate --partial files, lists
	// them; Seconds is then the merge's own time.
	Shards  *ShardsInfo `json:"shards,omitempty"`
	Seconds float64     `json:"seconds"`
}

// ShardsInfo says which partial files a merged card was made from.
type ShardsInfo struct {
	Count int        `json:"count"`
	Parts []PartInfo `json:"parts"`
}

// PartInfo is one shard's part: its file and the images it holds.
type PartInfo struct {
	Shard string `json:"shard"` // "K/M"
	File  string `json:"file"`
	Real  [2]int `json:"real"` // image range [start, end)
	Fake  [2]int `json:"fake"`
	Date  string `json:"date"`
}

// ExtractorInfo identifies the feature extractor.
type ExtractorInfo struct {
	Name    string `json:"name"`
	Title   string `json:"title,omitempty"`
	SHA256  string `json:"sha256"`
	Path    string `json:"path"`
	Weights string `json:"weights,omitempty"`
	Output  string `json:"output,omitempty"`
	Dim     int    `json:"dim"`
	// Optimized: run frozen with LibTorch's inference optimizations
	// (same function; features equal within float rounding).
	Optimized bool `json:"optimized"`
}

// SetInfo describes one side.
type SetInfo struct {
	Describe    string             `json:"describe"`
	Fingerprint string             `json:"fingerprint"`
	Images      int                `json:"images"`
	Cached      bool               `json:"features_cached"`
	Skipped     []features.Skipped `json:"skipped,omitempty"`
	Warnings    []string           `json:"warnings,omitempty"`
}

// Result is one metric value.
type Result struct {
	Metric    string         `json:"metric"` // catalog name: FID, KID, precision, ...
	Value     float64        `json:"value"`
	Std       float64        `json:"std,omitempty"`
	Direction string         `json:"direction"` // lower or higher is better
	Meaning   string         `json:"meaning"`
	Details   map[string]any `json:"details,omitempty"`
}

// MemorizationInfo summarises the memorization report.
type MemorizationInfo struct {
	Quantile   float64                     `json:"quantile"`
	Threshold  float64                     `json:"threshold"`
	RealNNMed  float64                     `json:"real_nn_median"`
	NearCopies int                         `json:"near_copies"`
	Closest    []metrics.MemorizationEntry `json:"closest"` // up to 10, closest first
}

// add appends a result, with its direction from the metric registry (the
// one place that says which way is better, which search and catalog
// validation read too).
func (c *Card) add(r Result) {
	r.Direction = zoo.LookupMetric(r.Metric).Better.String()
	c.Results = append(c.Results, r)
}

func (c *Card) compute(m string, real, fake *featureSet, opt Options) error {
	dim := opt.Extractor.Spec.Dim
	switch m {
	case FID:
		sr, err := real.stats(dim)
		if err != nil {
			return fmt.Errorf("FID: real features: %w", err)
		}
		sf, err := fake.stats(dim)
		if err != nil {
			return fmt.Errorf("FID: fake features: %w", err)
		}
		res, err := metrics.FrechetWith(sr, sf, torch.Linalg{})
		if err != nil {
			return fmt.Errorf("FID: %w", err)
		}
		for _, w := range res.Warnings {
			// The sample-count warning is on the set already.
			if !strings.Contains(w, "rank-deficient") {
				c.Warnings = append(c.Warnings, w)
			}
		}
		c.add(Result{Metric: "FID", Value: res.FID,
			Meaning: "Fréchet distance between Gaussians fitted to real and synthetic features",
			Details: map[string]any{"route": res.Route, "mean_term": res.MeanTerm, "trace_real": res.TraceA, "trace_fake": res.TraceB, "trace_sqrt": res.TraceSqrt,
				"clipped_eigenvalues": res.ClippedA + res.ClippedM, "most_negative_eigenvalue": math.Min(res.MinEigA, res.MinEigM)}})
	case KID:
		kid := metrics.KID
		if opt.Prep.Protocol == features.ProtocolTorchFidelity {
			kid = metrics.KIDNumpySubsets // torch-fidelity's own subsets
		}
		res, err := kid(real.matrix(dim), fake.matrix(dim), opt.KIDSubsets, opt.KIDSubsetSize, opt.Seed)
		if err != nil {
			return fmt.Errorf("KID: %w", err)
		}
		c.Warnings = append(c.Warnings, res.Warnings...)
		c.add(Result{Metric: "KID", Value: res.Mean, Std: res.Std,
			Meaning: "unbiased squared MMD with a cubic polynomial kernel (mean ± std over subsets)",
			Details: map[string]any{"subsets": len(res.Subsets), "subset_size": res.SubsetSize}})
	case PRDC:
		res, err := metrics.PRDC(real.matrix(dim), fake.matrix(dim), opt.PRDCK)
		if err != nil {
			return fmt.Errorf("PRDC: %w", err)
		}
		k := map[string]any{"k": res.K}
		c.add(Result{Metric: "precision", Value: res.Precision, Meaning: "share of synthetic images inside the real k-NN manifold (fidelity)", Details: k})
		c.add(Result{Metric: "recall", Value: res.Recall, Meaning: "share of real images inside the synthetic k-NN manifold (diversity)", Details: k})
		c.add(Result{Metric: "density", Value: res.Density, Meaning: "how many real neighbourhoods hold each synthetic image, / k", Details: k})
		c.add(Result{Metric: "coverage", Value: res.Coverage, Meaning: "share of real images with a synthetic image in their neighbourhood", Details: k})
	case Ratio:
		return c.ratio(real, fake, opt)
	case Memorization:
		rep, err := metrics.Memorization(real.matrix(dim), fake.matrix(dim), real.names, fake.names, opt.NearCopyQuantile)
		if err != nil {
			return fmt.Errorf("memorization: %w", err)
		}
		c.Warnings = append(c.Warnings, rep.Warnings...)
		info := &MemorizationInfo{Quantile: rep.Quantile, Threshold: rep.Threshold, RealNNMed: rep.RealNNMed, NearCopies: rep.NearCopies}
		info.Closest = rep.Entries[:min(10, len(rep.Entries))]
		c.Memorization = info
		c.add(Result{Metric: "near_copies", Value: float64(rep.NearCopies),
			Meaning: fmt.Sprintf("synthetic images closer to a real one than %g%% of real images are to their nearest neighbour", 100*rep.Quantile)})
	}
	return nil
}

// ratio is medigan's FID ratio: FID(real half A, real half B) / FID(real,
// fake), the second computed with as many images per side as each half.
func (c *Card) ratio(real, fake *featureSet, opt Options) error {
	dim := opt.Extractor.Spec.Dim
	a, b := metrics.SplitHalves(real.matrix(dim), opt.Seed)
	half := len(a)
	if half < 2 {
		return fmt.Errorf("FID ratio: %d real images; the real-vs-real split needs at least 4", real.n)
	}
	fk := fake.matrix(dim)
	if len(fk) > half {
		fk = fk[:half]
	}
	stats := func(rows [][]float32) (*metrics.Stats, error) {
		flat := make([]float32, 0, len(rows)*dim)
		for _, r := range rows {
			flat = append(flat, r...)
		}
		m, err := momentsOf(flat, dim)
		if err != nil {
			return nil, err
		}
		return m.Stats()
	}
	sa, err := stats(a)
	if err != nil {
		return fmt.Errorf("FID ratio: %w", err)
	}
	sb, err := stats(b)
	if err != nil {
		return fmt.Errorf("FID ratio: %w", err)
	}
	sf, err := stats(fk)
	if err != nil {
		return fmt.Errorf("FID ratio: %w", err)
	}
	rr, err := metrics.FrechetWith(sa, sb, torch.Linalg{})
	if err != nil {
		return fmt.Errorf("FID ratio: %w", err)
	}
	rf, err := metrics.FrechetWith(sa, sf, torch.Linalg{})
	if err != nil {
		return fmt.Errorf("FID ratio: %w", err)
	}
	v, err := metrics.FIDRatio(rr.FID, rf.FID)
	if err != nil {
		return fmt.Errorf("FID ratio: %w", err)
	}
	c.add(Result{Metric: "FID_ratio", Value: v,
		Meaning: "medigan's FID ratio: FID(real half, other real half) / FID(real half, synthetic); 1 = as close as real images are to each other",
		Details: map[string]any{"fid_real_real": rr.FID, "fid_real_fake": rf.FID, "images_per_side": half}})
	return nil
}

// WriteText prints the card for people.
func (c *Card) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%-12s %12s  %s\n", "METRIC", "VALUE", "BETTER")
	for _, r := range c.Results {
		v := fmt.Sprintf("%.6g", r.Value)
		if r.Std != 0 {
			v += fmt.Sprintf(" ± %.2g", r.Std)
		}
		fmt.Fprintf(w, "%-12s %12s  %s\n", r.Metric, v, r.Direction)
	}
	for _, f := range c.Failed {
		fmt.Fprintf(w, "%-12s %12s  %s\n", f.Metric, "—", "not computed: "+f.Reason)
	}
	fmt.Fprintln(w)
	out := c.Extractor.Output
	if out == "" {
		out = fmt.Sprintf("%d-d features", c.Extractor.Dim)
	}
	fmt.Fprintf(w, "extractor:     %s (sha256 %s): %s\n", c.Extractor.Name, short(c.Extractor.SHA256), out)
	if c.Extractor.Weights != "" {
		fmt.Fprintf(w, "weights:       %s\n", c.Extractor.Weights)
	}
	fmt.Fprintf(w, "protocol:      %s\n", c.protocolLine())
	fmt.Fprintf(w, "preprocessing: %s\n", c.Preprocessing)
	for _, s := range []struct {
		role string
		info SetInfo
	}{{"real", c.Real}, {"fake", c.Fake}} {
		cached := ""
		if s.info.Cached {
			cached = ", features from cache"
		}
		fmt.Fprintf(w, "%-14s %s: %d images used%s (fingerprint %s)\n", s.role+":", s.info.Describe, s.info.Images, cached, short(s.info.Fingerprint))
		for _, k := range s.info.Skipped {
			fmt.Fprintf(w, "  skipped %s: %s\n", k.Name, k.Reason)
		}
	}
	fmt.Fprintf(w, "zoo:           %s, %s, seed %d, %.1f s\n", c.Zoo, c.Date, c.Seed, c.Seconds)
	if c.Shards != nil {
		fmt.Fprintf(w, "shards:        merged from %d shards (zoo evaluate --shard K/%d --partial)\n", c.Shards.Count, c.Shards.Count)
	}
	if m := c.Memorization; m != nil {
		fmt.Fprintf(w, "\nmemorization: %d near-copies (cosine distance ≤ %.4g, the %g quantile of real-to-real nearest-neighbour distances; median %.4g)\n",
			m.NearCopies, m.Threshold, m.Quantile, m.RealNNMed)
		for _, e := range m.Closest[:min(5, len(m.Closest))] {
			flag := ""
			if e.NearCopy {
				flag = "  NEAR-COPY"
			}
			fmt.Fprintf(w, "  %s ~ %s: distance %.4g (%.2f× median)%s\n", e.FakeName, e.RealName, e.Distance, e.Relative, flag)
		}
	}
	for _, n := range c.ProtocolNotes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, warn := range c.allWarnings() {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func (c *Card) allWarnings() []string {
	var out []string
	for _, s := range []SetInfo{c.Real, c.Fake} {
		out = append(out, s.Warnings...)
	}
	seen := map[string]bool{}
	for _, w := range append(out, c.Warnings...) {
		if !seen[w] {
			seen[w] = true
		}
	}
	var uniq []string
	for _, w := range append(out, c.Warnings...) {
		if seen[w] {
			uniq = append(uniq, w)
			seen[w] = false
		}
	}
	return uniq
}

// protocolLine names the protocol for people: a reference's, or zoo's own.
func (c *Card) protocolLine() string {
	if c.Protocol == "" || c.Protocol == string(features.ProtocolZoo) {
		return "zoo (zoo's own preprocessing; --protocol clean-fid, pytorch-fid or torch-fidelity reproduce a reference's)"
	}
	return c.Protocol + " (that reference's reading, resize and quantization, reproduced)"
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return strings.TrimSpace(h)
}
