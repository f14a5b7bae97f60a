package evaluate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"medzoo/features"
	"medzoo/internal/shard"
	"medzoo/metrics"
)

// Merge joins the partial files of every shard of one evaluation into its
// metric card. It checks that the parts belong together (same extractor,
// preprocessing, sets, metrics and options, same zoo) and that each shard
// 0..M-1 is there exactly once, before it reads any features. FID comes
// from the shards' exact moments summed, which are the moments of the whole
// sets bit for bit, so it is the single-process FID; KID, PRDC, the FID
// ratio and the memorization report are computed from the shards' feature
// rows joined in index order, as one process computes them.
func Merge(paths []string) (*Card, error) {
	t0 := time.Now()
	if len(paths) == 0 {
		return nil, fmt.Errorf("evaluate merge needs the partial files of every shard")
	}
	parts := make([]*part, 0, len(paths))
	for _, p := range paths {
		pt, err := readPartHeader(p)
		if err != nil {
			return nil, err
		}
		parts = append(parts, pt)
	}
	first := parts[0]
	for _, p := range parts[1:] {
		if err := sameEvaluation(first, p); err != nil {
			return nil, err
		}
	}
	m := first.h.M
	byK := make([]*part, m)
	for _, p := range parts {
		if q := byK[p.h.K]; q != nil {
			return nil, fmt.Errorf("shard %d/%d given twice: %s and %s; give each shard's file once", p.h.K, m, q.path, p.path)
		}
		byK[p.h.K] = p
	}
	var missing []string
	for k, p := range byK {
		if p == nil {
			missing = append(missing, missingShard(first.h, k))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%d of %d shards missing:\n  %s", len(missing), m, strings.Join(missing, "\n  "))
	}

	h := first.h
	dim := h.Extractor.Dim
	proto := features.Protocol(protocolName(features.Protocol(h.Protocol)))
	card := &Card{Zoo: h.Zoo, Date: t0.UTC().Format(time.RFC3339), Extractor: h.Extractor, Normalize: h.Normalize,
		Protocol: string(proto), ProtocolNotes: protocolNotes(proto, h.Extractor.Name, h.Metrics, h.PRDCK),
		Preprocessing: h.Preprocessing, Seed: h.Seed, Warnings: slices.Clone(h.Warnings), Shards: &ShardsInfo{Count: m}}
	var sets [2]*featureSet
	infos := [2]*SetInfo{&card.Real, &card.Fake}
	for i := range sets {
		mom, err := metrics.NewMoments(dim)
		if err != nil {
			return nil, err
		}
		sets[i] = &featureSet{moments: mom}
		ps := h.Real
		if i == 1 {
			ps = h.Fake
		}
		*infos[i] = SetInfo{Describe: ps.Describe, Fingerprint: ps.Fingerprint, Cached: true}
	}
	for _, p := range byK {
		fs, err := p.readBody()
		if err != nil {
			return nil, err
		}
		for i, ps := range []partSet{p.h.Real, p.h.Fake} {
			s := sets[i]
			s.rows = append(s.rows, fs[i].rows...)
			s.names = append(s.names, fs[i].names...)
			s.n += fs[i].n
			if err := s.moments.Merge(fs[i].moments); err != nil {
				return nil, err
			}
			info := infos[i]
			info.Cached = info.Cached && ps.Cached
			info.Skipped = append(info.Skipped, ps.Skipped...)
			for _, w := range ps.Warnings {
				if !slices.Contains(info.Warnings, w) {
					info.Warnings = append(info.Warnings, w)
				}
			}
		}
		card.Shards.Parts = append(card.Shards.Parts, PartInfo{Shard: fmt.Sprintf("%d/%d", p.h.K, m), File: p.path,
			Real: [2]int{p.h.Real.Start, p.h.Real.End}, Fake: [2]int{p.h.Fake.Start, p.h.Fake.End}, Date: p.h.Date})
	}
	for i, role := range []string{"real", "fake"} {
		infos[i].Images = sets[i].n
		if err := checkSet(role, sets[i], infos[i], dim); err != nil {
			return nil, err
		}
	}
	opt := Options{Extractor: &features.Extractor{Spec: features.Spec{Name: h.Extractor.Name, Dim: dim}},
		Metrics: h.Metrics, Seed: h.Seed, KIDSubsets: h.KIDSubsets, KIDSubsetSize: h.KIDSubsetSize,
		PRDCK: h.PRDCK, NearCopyQuantile: h.NearCopyQuantile, Prep: features.Prep{Protocol: proto}}.withDefaults()
	card.Metrics = slices.Clone(opt.Metrics)
	card.computeAll(sets[0], sets[1], opt)
	card.Seconds = time.Since(t0).Seconds()
	return card, card.Err()
}

// sameEvaluation says how p differs from first, if it does, in anything
// that would make their features or results incomparable.
func sameEvaluation(first, p *part) error {
	a, b := first.h, p.h
	differ := func(what string, x, y any) error {
		return fmt.Errorf("%s and %s are not parts of one evaluation: %s %v vs %v; merge the parts of one zoo evaluate run (same sets, --features, options and --shard K/M)",
			first.path, p.path, what, x, y)
	}
	switch {
	case a.M != b.M:
		return differ("number of shards", a.M, b.M)
	case a.Zoo != b.Zoo:
		return differ("zoo version", a.Zoo, b.Zoo)
	case a.Extractor.Name != b.Extractor.Name || a.Extractor.SHA256 != b.Extractor.SHA256 || a.Extractor.Dim != b.Extractor.Dim:
		return differ("extractor", a.Extractor.Name+" "+short(a.Extractor.SHA256), b.Extractor.Name+" "+short(b.Extractor.SHA256))
	case protocolName(features.Protocol(a.Protocol)) != protocolName(features.Protocol(b.Protocol)):
		return fmt.Errorf("%s and %s were evaluated with --protocol %s and --protocol %s: features of two protocols are not comparable; make every shard with one --protocol and merge those",
			first.path, p.path, protocolName(features.Protocol(a.Protocol)), protocolName(features.Protocol(b.Protocol)))
	case a.Preprocessing != b.Preprocessing || a.Normalize != b.Normalize:
		return differ("preprocessing", a.Preprocessing, b.Preprocessing)
	case !slices.Equal(a.Metrics, b.Metrics):
		return differ("--metrics", strings.Join(a.Metrics, ","), strings.Join(b.Metrics, ","))
	case a.Seed != b.Seed:
		return differ("--seed", a.Seed, b.Seed)
	case a.KIDSubsets != b.KIDSubsets || a.KIDSubsetSize != b.KIDSubsetSize || a.PRDCK != b.PRDCK || a.NearCopyQuantile != b.NearCopyQuantile:
		return differ("metric options", fmt.Sprint(a.KIDSubsets, a.KIDSubsetSize, a.PRDCK, a.NearCopyQuantile), fmt.Sprint(b.KIDSubsets, b.KIDSubsetSize, b.PRDCK, b.NearCopyQuantile))
	case a.Skip != b.Skip:
		return differ("--skip-unreadable", a.Skip, b.Skip)
	}
	for _, s := range []struct {
		role string
		x, y partSet
	}{{"real", a.Real, b.Real}, {"fake", a.Fake, b.Fake}} {
		if s.x.Fingerprint != s.y.Fingerprint || s.x.Len != s.y.Len || s.x.Block != s.y.Block {
			return differ(s.role+" set", fmt.Sprintf("%s (fingerprint %s)", s.x.Describe, short(s.x.Fingerprint)), fmt.Sprintf("%s (fingerprint %s)", s.y.Describe, short(s.y.Fingerprint)))
		}
	}
	return nil
}

// missingShard names shard k with its images and the command that makes it.
func missingShard(h partHeader, k int) string {
	sh := shard.Shard{K: k, M: h.M}
	rs, re := sh.Range(h.Real.Len, h.Real.Block)
	fs, fe := sh.Range(h.Fake.Len, h.Fake.Block)
	cmd := h.Command
	if cmd == "" {
		cmd = "zoo evaluate REAL FAKE ..."
	}
	return fmt.Sprintf("shard %s (real images %s, fake images %s): make it with\n    %s --shard %s --partial PART-%d",
		sh, rangeText(rs, re), rangeText(fs, fe), cmd, sh, k)
}

func rangeText(start, end int) string {
	if start == end {
		return "none"
	}
	return fmt.Sprintf("%d..%d", start, end-1)
}
