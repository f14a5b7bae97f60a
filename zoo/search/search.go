// Package search finds and ranks catalog models: free-text terms with
// synonyms and typo tolerance, field filters, --where clauses, and ranking
// by a metric with the registry's direction and protocol groups (see
// zoo.LookupMetric). It builds a compact index of a catalog, cached on disk
// and memory-mapped so that a search of a large catalog does not parse it.
package search

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"medzoo/zoo"
)

// Query is a `zoo search`: free-text terms, filters, and an optional
// metric to rank by. The zero Query matches every model in catalog order.
type Query struct {
	// Terms are words or phrases. A term with spaces is a phrase (its words
	// must occur together in one field); literal double quotes inside a
	// term mark phrases too. Consecutive words that form a known phrase of
	// the field ("chest x-ray", "magnetic resonance") are read as one.
	Terms []string
	// Op combines the terms: "and" (default: every term matches), "or"
	// (any), "xor" (exactly one), like medigan's target_values_operator.
	Op string

	// Field filters: the value must match in that field (synonyms, stems
	// and typos included). Several values of one filter: any of them.
	Modality, Organ, Arch, Dataset, License []string
	Function                                string // noise-to-image, image-to-image (or i2i, unconditional, ...)
	MinSize                                 int    // width and height at least this
	WithMask                                bool   // generates segmentation masks with the images
	Conditional                             bool   // takes a condition (class, age, ...)
	// Where clauses, "key OP value": = (equal, ignoring case, synonyms
	// allowed), == (equal, ignoring case), != (not =), ~ (contains), and
	// < <= > >= (numbers). Keys are catalog paths (license, modality,
	// artifact.format, metrics.FID.extractor) or a metric name (FID<100).
	Where []string

	// RankBy names a metric (FID, SSIM, CLF.trained_on_real_and_fake.f1, a
	// medigan path like downstream_task.CLF..., or a prefix of per-reader
	// metrics like turing_test.AUC).
	RankBy string
	// Order overrides the registry's direction: "asc" (smallest first) or
	// "desc".
	Order string
	// SkipMissing leaves out models without the RankBy metric (otherwise
	// they follow the ranked ones).
	SkipMissing bool
	// Limit caps the hits returned (0: all). Results.Total counts them all.
	Limit int
	// ParamName spells a parameter's name (op, min-size, rank-by, where, …)
	// in errors and notes the way the caller's users write it: the CLI as
	// a flag (--rank-by), the HTTP API as a query parameter (rank_by). Nil
	// leaves the plain name.
	ParamName func(string) string `json:"-"`
}

// QueryError is a malformed query (a usage error, not a failure). Its
// message names the query's parameters the way Query.ParamName renders
// them, so the CLI can say --rank-by and the HTTP API rank_by.
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return e.Msg }

func queryErrorf(format string, args ...any) error {
	return &QueryError{fmt.Sprintf(format, args...)}
}

// Messages and notes name a parameter as {{name}}, with the Query field's
// name in the CLI's spelling (rank-by, min-size); renderParams replaces
// each with how the caller spells it.
var paramRef = regexp.MustCompile(`\{\{([a-z][a-z-]*)\}\}`)

func renderParams(s string, name func(string) string) string {
	if name == nil {
		name = func(p string) string { return p }
	}
	return paramRef.ReplaceAllStringFunc(s, func(m string) string { return name(m[2 : len(m)-2]) })
}

// Results is what a search found.
type Results struct {
	Total int   `json:"total"` // matches before Limit
	Hits  []Hit `json:"results"`
	// Terms says how each term was understood.
	Terms  []TermInfo `json:"terms,omitempty"`
	Metric *RankInfo  `json:"rank_by,omitempty"`
	// Notes are things the user should know: protocols that differ,
	// missing metrics, typos corrected, terms ignored.
	Notes []string `json:"notes,omitempty"`
}

// TermInfo is one search term as zoo read it.
type TermInfo struct {
	Term    string   `json:"term"`
	Matches int      `json:"matches"` // models it matched (before other terms and filters)
	Via     []string `json:"via,omitempty"`
}

// RankInfo describes the ranking metric.
type RankInfo struct {
	Name    string      `json:"name"`
	Metrics []string    `json:"metrics"` // catalog metric names ranked (several for per-reader prefixes)
	Better  string      `json:"better"`  // lower, higher, target
	Target  float64     `json:"target,omitempty"`
	Order   string      `json:"order"`   // asc or desc: the order of the values listed
	Rule    string      `json:"rule"`    // the registry rule used, or "catalog"
	Family  string      `json:"family"`  // metric family
	Groups  []RankGroup `json:"groups"`  // comparable groups, in listing order
	Ranked  int         `json:"ranked"`  // hits with a value
	Missing int         `json:"missing"` // hits without (listed last unless SkipMissing)
}

// RankGroup is a set of values computed with one protocol (for FID-like
// metrics, one feature extractor). Values of different groups are never
// ranked against each other.
type RankGroup struct {
	Extractor string `json:"extractor,omitempty"`
	Count     int    `json:"count"`
}

// Hit is one model found.
type Hit struct {
	Rank         int        `json:"rank"`
	ID           string     `json:"id"`
	Title        string     `json:"title"`
	Modality     []string   `json:"modality,omitempty"`
	Organ        []string   `json:"organ,omitempty"`
	Architecture string     `json:"architecture,omitempty"`
	License      string     `json:"license,omitempty"`
	Dataset      []string   `json:"dataset,omitempty"`
	Width        int        `json:"width,omitempty"`
	Height       int        `json:"height,omitempty"`
	Depth        int        `json:"depth,omitempty"`
	Runnable     bool       `json:"runnable"`
	Demo         bool       `json:"demo,omitempty"`
	Score        float64    `json:"score,omitempty"`
	Matched      []string   `json:"matched,omitempty"`
	Metric       *HitMetric `json:"metric,omitempty"`
	Source       string     `json:"catalog"`
	Line         int        `json:"line,omitempty"`
}

// HitMetric is a hit's value of the ranking metric, with its provenance.
type HitMetric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Group int     `json:"group"` // index into RankInfo.Groups
	Provenance
}

// Catalog runs q over the catalog c (indexing it first; use an Index for
// repeated searches or large catalogs).
func Catalog(c *zoo.Catalog, q Query) (*Results, error) {
	ix, err := OpenIndexBytes(BuildIndex(c))
	if err != nil {
		return nil, err
	}
	return ix.Search(q)
}

// Search runs q over the index.
func (ix *Index) Search(q Query) (res *Results, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, errBadIndex) {
				res, err = nil, errBadIndex
				return
			}
			panic(r)
		}
	}()
	s := &searcher{ix: ix, n: ix.nDocs, res: &Results{}}
	res, err = s.run(q)
	var qe *QueryError
	if errors.As(err, &qe) {
		qe.Msg = renderParams(qe.Msg, q.ParamName)
	}
	if res != nil {
		for i, n := range res.Notes {
			res.Notes[i] = renderParams(n, q.ParamName)
		}
	}
	return res, err
}

type searcher struct {
	ix    *Index
	provs []*Provenance
	n     int
	res   *Results
	// scratch for phrase matching, reused
	curMask, tmpMask []uint16
	curW, tmpW       []float32
}

func (s *searcher) note(format string, args ...any) {
	s.res.Notes = append(s.res.Notes, fmt.Sprintf(format, args...))
}

func (s *searcher) run(q Query) (*Results, error) {
	op := strings.ToLower(strings.TrimSpace(q.Op))
	switch op {
	case "", "and", "all":
		op = "and"
	case "or", "any":
		op = "or"
	case "xor", "one":
		op = "xor"
	default:
		return nil, queryErrorf("{{op}} %q: use and, or or xor", q.Op)
	}
	if q.MinSize < 0 {
		return nil, queryErrorf("{{min-size}} must not be negative, got %d", q.MinSize)
	}
	if q.Limit < 0 {
		return nil, queryErrorf("{{limit}} must not be negative, got %d", q.Limit)
	}
	order := strings.ToLower(strings.TrimSpace(q.Order))
	switch order {
	case "", "asc", "desc":
	default:
		return nil, queryErrorf("order %q: use asc or desc", q.Order)
	}
	if order != "" && strings.TrimSpace(q.RankBy) == "" {
		return nil, queryErrorf("{{asc}}/{{desc}} order a ranking: add {{rank-by}} METRIC")
	}

	pass := make([]bool, s.n)
	for i := range pass {
		pass[i] = s.ix.docU32(i, dFlags)&flagDeleted == 0
	}
	and := func(set []bool) {
		for i, ok := range set {
			if !ok {
				pass[i] = false
			}
		}
	}

	// Filters on flags and sizes.
	var fn uint32
	if f := strings.TrimSpace(q.Function); f != "" {
		var err error
		if fn, err = functionFlag(f); err != nil {
			return nil, err
		}
	}
	if fn != 0 || q.MinSize > 0 || q.WithMask || q.Conditional {
		for d := 0; d < s.n; d++ {
			if !pass[d] {
				continue
			}
			flags := s.ix.docU32(d, dFlags)
			switch {
			case fn != 0 && flags&fn == 0,
				q.WithMask && flags&flagMask == 0,
				q.Conditional && flags&flagConditional == 0,
				q.MinSize > 0 && (int(s.ix.docU32(d, dWidth)) < q.MinSize || int(s.ix.docU32(d, dHeight)) < q.MinSize):
				pass[d] = false
			}
		}
	}

	// Field filters.
	for _, f := range []struct {
		name   string
		values []string
		field  uint16
	}{
		{"{{modality}}", q.Modality, 1 << fModality},
		{"{{organ}}", q.Organ, 1 << fOrgan},
		{"{{arch}}", q.Arch, 1 << fArchitecture},
		{"{{dataset}}", q.Dataset, 1 << fDataset},
		{"{{license}}", q.License, 1 << fLicense},
	} {
		var vals []string
		for _, v := range f.values {
			if strings.TrimSpace(v) != "" {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			if len(f.values) > 0 {
				return nil, queryErrorf("%s needs a value", f.name)
			}
			continue
		}
		set := make([]bool, s.n)
		for _, v := range vals {
			words := baseWords(v)
			if len(words) == 0 {
				return nil, queryErrorf("%s %q has no letters or digits", f.name, v)
			}
			sc := s.scoreTerm(queryTerm{raw: v, words: words}, f.field)
			for d, x := range sc.score {
				if x > 0 {
					set[d] = true
				}
			}
			if sc.corrected != "" {
				s.note("%s %q: read as %q (typo)", f.name, v, sc.corrected)
			}
		}
		and(set)
	}

	// Where clauses.
	for _, w := range q.Where {
		set, err := s.where(w)
		if err != nil {
			return nil, err
		}
		and(set)
	}

	// Terms.
	terms, termNotes := parseTerms(q.Terms)
	s.res.Notes = append(s.res.Notes, termNotes...)
	score := make([]float64, s.n)
	var scored []*termScore
	if len(terms) > 0 {
		hits := make([]int, s.n)
		for _, t := range terms {
			sc := s.scoreTerm(t, 1<<numFields-1)
			scored = append(scored, sc)
			df := 0
			for _, x := range sc.score {
				if x > 0 {
					df++
				}
			}
			idf := math.Log(1 + float64(s.n)/float64(max(df, 1)))
			for d, x := range sc.score {
				if x > 0 {
					hits[d]++
					score[d] += float64(x) * idf
				}
			}
			ti := TermInfo{Term: t.raw, Matches: df, Via: sc.via}
			s.res.Terms = append(s.res.Terms, ti)
			if sc.corrected != "" {
				s.note("%q: no model says that; read as %q (typo)", t.raw, sc.corrected)
			}
			if df == 0 {
				s.note("%q matches no model", t.raw)
			}
		}
		for d := range pass {
			switch op {
			case "and":
				pass[d] = pass[d] && hits[d] == len(terms)
			case "or":
				pass[d] = pass[d] && hits[d] > 0
			case "xor":
				pass[d] = pass[d] && hits[d] == 1
			}
		}
	}

	var docs []int
	for d, ok := range pass {
		if ok {
			docs = append(docs, d)
		}
	}
	// Relevance order: score, then catalog order.
	sort.Slice(docs, func(i, j int) bool {
		a, b := docs[i], docs[j]
		if score[a] != score[b] {
			return score[a] > score[b]
		}
		return s.ix.docU32(a, dOrder) < s.ix.docU32(b, dOrder)
	})

	var values *rankedValues
	if strings.TrimSpace(q.RankBy) != "" {
		var err error
		docs, values, err = s.rank(q, docs, order)
		if err != nil {
			return nil, err
		}
	}

	s.res.Total = len(docs)
	if q.Limit > 0 && len(docs) > q.Limit {
		docs = docs[:q.Limit]
	}
	s.res.Hits = make([]Hit, 0, len(docs))
	for i, d := range docs {
		r := s.ix.doc(d)
		h := Hit{
			Rank: i + 1, ID: r.ID, Title: r.Title, Modality: r.Modality, Organ: r.Organ,
			Architecture: r.Architecture, License: r.License, Dataset: r.Dataset,
			Width: r.Width, Height: r.Height, Depth: r.Depth,
			Runnable: r.Flags&flagRunnable != 0, Demo: r.Flags&flagDemo != 0,
			Score: math.Round(score[d]*100) / 100, Source: r.Source, Line: r.Line,
		}
		for ti, sc := range scored {
			if m := sc.explain(s.ix, d, terms[ti].raw); m != "" {
				h.Matched = append(h.Matched, m)
			}
		}
		if values != nil && values.has[d] {
			v := values.vals[d]
			h.Metric = &HitMetric{Name: v.name, Value: v.value, Group: v.group, Provenance: *s.provOf(v.prov)}
		}
		s.res.Hits = append(s.res.Hits, h)
	}
	return s.res, nil
}

func functionFlag(f string) (uint32, error) {
	k := strings.Join(baseWords(f), " ")
	switch k {
	case "image to image", "i2i", "image translation", "translation", "imagetoimage", "mask to image":
		return flagFuncI2I, nil
	case "noise to image", "noise", "unconditional", "noisetoimage", "sampling":
		return flagFuncNoise, nil
	}
	return 0, queryErrorf("{{function}} %q: use %s or %s", f, zoo.FunctionNoiseToImage, zoo.FunctionImageToImage)
}

// ---- terms ----

type queryTerm struct {
	raw   string
	words []string
}

// parseTerms turns command-line terms into words and phrases. An argument
// with spaces is a phrase; literal "quotes" mark phrases inside an
// argument; consecutive single words that make a phrase the synonym tables
// know ("chest" "x-ray") are joined.
func parseTerms(args []string) ([]queryTerm, []string) {
	var notes []string
	type piece struct {
		text   string
		phrase bool
	}
	var pieces []piece
	for _, a := range args {
		if strings.TrimSpace(a) == "" {
			notes = append(notes, "empty search term ignored")
			continue
		}
		if !strings.ContainsAny(a, "\"“”") {
			pieces = append(pieces, piece{strings.TrimSpace(a), strings.IndexFunc(strings.TrimSpace(a), unicode.IsSpace) >= 0})
			continue
		}
		// Quotes inside the argument.
		a = strings.NewReplacer("“", "\"", "”", "\"").Replace(a)
		parts := strings.Split(a, "\"")
		if len(parts)%2 == 0 {
			notes = append(notes, fmt.Sprintf("unbalanced quote in %q: the phrase runs to the end", a))
		}
		for i, p := range parts {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if i%2 == 1 {
				pieces = append(pieces, piece{p, true})
				continue
			}
			for _, w := range strings.Fields(p) {
				pieces = append(pieces, piece{w, false})
			}
		}
	}
	var out []queryTerm
	for i := 0; i < len(pieces); i++ {
		p := pieces[i]
		if !p.phrase {
			// Longest run of following single words that is a known phrase.
			for j := min(len(pieces), i+4); j > i+1; j-- {
				ok := true
				var texts []string
				for _, x := range pieces[i:j] {
					if x.phrase {
						ok = false
						break
					}
					texts = append(texts, x.text)
				}
				if !ok {
					continue
				}
				joined := strings.Join(texts, " ")
				if len(synIndex[strings.Join(baseWords(joined), " ")]) > 0 {
					p = piece{joined, true}
					i = j - 1
					break
				}
			}
		}
		ws := baseWords(p.text)
		if len(ws) == 0 {
			notes = append(notes, fmt.Sprintf("%q has no letters or digits: ignored", p.text))
			continue
		}
		out = append(out, queryTerm{raw: p.text, words: ws})
	}
	return out, notes
}

// A weighted vocabulary term, and how it relates to the query word.
type wterm struct {
	id   int
	w    float32
	kind string // exact, stem, prefix, typo
}

type slot []wterm

// alt is one way a term can match: all its slots (words) in one field.
type alt struct {
	slots []slot
	w     float32
	label string // what matched, for explanations
	kind  string // literal, synonym, narrower, related, typo
}

const (
	wExact    = 1.0
	wStem     = 0.85
	wPrefix   = 0.5
	wTypo1    = 0.6
	wTypo2    = 0.45
	wSynonym  = 0.85
	wNarrower = 0.75
	wRelated  = 0.5
)

// expandWord finds the vocabulary words that stand for w.
func (s *searcher) expandWord(w string, fuzzy bool) (slot, bool) {
	var out slot
	seen := map[int]bool{}
	add := func(id int, wt float32, kind string) {
		if id >= 0 && !seen[id] {
			seen[id] = true
			out = append(out, wterm{id, wt, kind})
		}
	}
	exact := s.ix.lookup(w)
	add(exact, wExact, "exact")
	for _, id := range s.ix.stemTerms(stem(w)) {
		add(int(id), wStem, "stem")
	}
	if !fuzzy {
		return out, exact >= 0
	}
	known := len(out) > 0 // the word itself or a word with its stem
	if len(w) >= 4 && !allDigits(w) {
		lo, hi := s.ix.prefixRange(w)
		for id := lo; id < hi && id < lo+200; id++ {
			add(id, wPrefix, "prefix")
		}
	}
	// Typos only for words the catalog does not contain: "mass" must not
	// find "mask". Only the closest corrections count, as in a spelling
	// checker: "mamography" is one edit from "mammography" and two from
	// "tomography", and means only the first.
	if k := typoBudget(w); k > 0 && !known {
		var closest []int
		for id := s.ix.firstPlain; id < s.ix.nTerms; id++ {
			if seen[id] {
				continue
			}
			t := s.ix.termBytes(id)
			if t[0] >= '0' && t[0] <= '9' && allDigits(string(t)) {
				continue
			}
			if d, ok := withinDistanceB(w, t, k); ok && d > 0 {
				if d < k {
					k, closest = d, closest[:0]
				}
				closest = append(closest, id)
			}
		}
		weight := float32(wTypo2)
		if k == 1 {
			weight = wTypo1
		}
		for _, id := range closest {
			add(id, weight, "typo")
		}
	}
	return out, exact >= 0
}

// termScore is one term's score for every doc, and why.
type termScore struct {
	score     []float32
	alt       []int16 // best alt per doc
	term      []int32 // best vocabulary word per doc (single-word alts), else -1
	field     []uint8 // best field per doc
	alts      []alt
	via       []string
	corrected string
}

func (ts *termScore) explain(ix *Index, d int, raw string) string {
	if ts.score[d] <= 0 {
		return ""
	}
	a := ts.alts[ts.alt[d]]
	what := a.label
	kind := a.kind
	if id := ts.term[d]; id >= 0 {
		what = ix.term(int(id))
		for _, sl := range a.slots {
			for _, wt := range sl {
				if wt.id == int(id) && wt.kind != "exact" {
					if kind == "literal" {
						kind = wt.kind
					} else {
						kind += "+" + wt.kind
					}
				}
			}
		}
	}
	out := fmt.Sprintf("%s: %s in %s", raw, what, fieldNames[ts.field[d]])
	if kind != "literal" {
		out += " (" + kind + ")"
	}
	return out
}

// scoreTerm scores every doc for a term, counting only matches in the
// fields of fieldMask.
func (s *searcher) scoreTerm(t queryTerm, fieldMask uint16) *termScore {
	ts := &termScore{
		score: make([]float32, s.n), alt: make([]int16, s.n), term: make([]int32, s.n), field: make([]uint8, s.n),
	}
	var alts []alt
	// The words as written (with stems, prefixes and typos).
	lit := alt{w: 1, label: strings.Join(t.words, " "), kind: "literal"}
	allExact := true
	for _, w := range t.words {
		sl, exact := s.expandWord(w, true)
		allExact = allExact && exact
		lit.slots = append(lit.slots, sl)
	}
	alts = append(alts, lit)
	if len(t.words) > 1 {
		c := strings.Join(t.words, "")
		if sl, _ := s.expandWord(c, false); len(sl) > 0 {
			alts = append(alts, alt{slots: []slot{sl}, w: 1, label: c, kind: "literal"})
		}
	}
	// The field's synonyms, narrower terms and related terms.
	addSyn := func(ws []string, factor float32, typo bool) {
		for _, ref := range synonymsOf(ws) {
			w := float32(wSynonym)
			switch ref.kind {
			case "narrower":
				w = wNarrower
			case "related":
				w = wRelated
			}
			kind := ref.kind
			if typo {
				kind = "typo+" + kind
			}
			a := alt{w: w * factor, label: strings.Join(ref.words, " "), kind: kind}
			ok := true
			for _, rw := range ref.words {
				sl, _ := s.expandWord(rw, false)
				if len(sl) == 0 {
					ok = false
					break
				}
				a.slots = append(a.slots, sl)
			}
			if ok {
				alts = append(alts, a)
			}
			if len(ref.words) > 1 {
				c := strings.Join(ref.words, "")
				if sl, _ := s.expandWord(c, false); len(sl) > 0 {
					alts = append(alts, alt{slots: []slot{sl}, w: w * factor, label: c, kind: kind})
				}
			}
			if ok || len(ref.words) > 1 {
				ts.via = appendUnique(ts.via, ref.phrase+" ("+ref.kind+")")
			}
		}
	}
	addSyn(t.words, 1, false)
	// A misspelt word the catalog does not contain: correct it against the
	// field's vocabulary, so "mamografy" still finds MMG models.
	if !allExact && len(t.words) == 1 {
		w := t.words[0]
		if _, known := synIndex[w]; !known {
			if c := closestSynWord(w); c != "" {
				ts.corrected = c
				if sl, exact := s.expandWord(c, false); exact {
					alts = append(alts, alt{slots: []slot{sl}, w: wTypo1, label: c, kind: "typo"})
				}
				addSyn([]string{c}, wTypo1, true)
			}
		}
	}
	ts.alts = alts

	for ai, a := range alts {
		if len(a.slots) == 1 {
			for _, wt := range a.slots[0] {
				base := a.w * wt.w
				s.ix.postings(wt.id, func(doc uint32, mask uint16) {
					m := mask & fieldMask
					if m == 0 {
						return
					}
					f, fw := bestField(m)
					v := base*fw + bonus(m)
					if v > ts.score[doc] {
						ts.score[doc], ts.alt[doc], ts.term[doc], ts.field[doc] = v, int16(ai), int32(wt.id), uint8(f)
					}
				})
			}
			continue
		}
		// A phrase: every word in a common field.
		for _, h := range s.phrase(a.slots, fieldMask) {
			doc, m := h.doc, h.mask
			f, fw := bestField(m)
			v := a.w*h.w*fw + bonus(m)
			if v > ts.score[doc] {
				ts.score[doc], ts.alt[doc], ts.term[doc], ts.field[doc] = v, int16(ai), -1, uint8(f)
			}
		}
	}
	// Typo and prefix matches of the literal words, for the explanation.
	for _, sl := range lit.slots {
		exact := len(sl) > 0 && sl[0].kind == "exact"
		for _, wt := range sl {
			if wt.kind == "typo" || wt.kind == "stem" || wt.kind == "prefix" && !exact {
				ts.via = appendUnique(ts.via, s.ix.term(wt.id)+" ("+wt.kind+")")
			}
		}
	}
	if len(ts.via) > 12 {
		ts.via = append(ts.via[:12], fmt.Sprintf("and %d more", len(ts.via)-12))
	}
	return ts
}

func appendUnique(v []string, s string) []string {
	for _, x := range v {
		if x == s {
			return v
		}
	}
	return append(v, s)
}

// closestSynWord corrects w against the synonym tables' words.
func closestSynWord(w string) string {
	k := typoBudget(w)
	if k == 0 {
		return ""
	}
	best, bestD := "", k+1
	for _, c := range synVocab {
		if d, ok := withinDistance(w, c, k); ok && d > 0 && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// bestField returns the highest-weighted field in m and its weight.
func bestField(m uint16) (int, float32) {
	bf, bw := 0, float32(0)
	for m != 0 {
		f := bits.TrailingZeros16(m)
		if fieldWeights[f] > bw {
			bf, bw = f, fieldWeights[f]
		}
		m &= m - 1
	}
	return bf, bw
}

// bonus rewards a word found in several fields, a little.
func bonus(m uint16) float32 {
	n := bits.OnesCount16(m)
	return 0.15 * float32(min(n-1, 3))
}

type phraseHit struct {
	doc  uint32
	mask uint16
	w    float32
}

// phrase finds the docs where every slot has a word in a common field,
// with those fields and the weight of the weakest word.
func (s *searcher) phrase(slots []slot, fieldMask uint16) []phraseHit {
	if s.curMask == nil {
		s.curMask, s.tmpMask = make([]uint16, s.n), make([]uint16, s.n)
		s.curW, s.tmpW = make([]float32, s.n), make([]float32, s.n)
	}
	var cur []uint32
	for i, sl := range slots {
		var touched []uint32
		for _, wt := range sl {
			s.ix.postings(wt.id, func(doc uint32, mask uint16) {
				m := mask & fieldMask
				if m == 0 {
					return
				}
				if s.tmpMask[doc] == 0 {
					touched = append(touched, doc)
				}
				s.tmpMask[doc] |= m
				s.tmpW[doc] = max(s.tmpW[doc], wt.w)
			})
		}
		if i == 0 {
			for _, d := range touched {
				s.curMask[d], s.curW[d] = s.tmpMask[d], s.tmpW[d]
			}
			cur = touched
		} else {
			next := cur[:0]
			for _, d := range cur {
				if m := s.curMask[d] & s.tmpMask[d]; m != 0 {
					s.curMask[d] = m
					s.curW[d] = min(s.curW[d], s.tmpW[d])
					next = append(next, d)
				} else {
					s.curMask[d], s.curW[d] = 0, 0
				}
			}
			cur = next
		}
		for _, d := range touched {
			s.tmpMask[d], s.tmpW[d] = 0, 0
		}
		if len(cur) == 0 {
			break
		}
	}
	out := make([]phraseHit, len(cur))
	for i, d := range cur {
		out[i] = phraseHit{d, s.curMask[d], s.curW[d]}
		s.curMask[d], s.curW[d] = 0, 0
	}
	return out
}

// ---- ranking ----

type metricValue struct {
	name  string
	value float64
	key   float64
	prov  int
	group int
}

// perReader matches the suffix of per-reader (per-run, per-fold) values
// that a prefix like turing_test.AUC stands for.
var perReader = regexp.MustCompile(`^(reader|rater|radiologist|observer|run|fold|seed|split|trial)_?[0-9]+$`)

// resolveMetric finds the metric columns a --rank-by name means.
func (ix *Index) resolveMetric(name string) ([]int, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, p := range []string{"selection.", "performance.", "metrics.", "downstream_task."} {
		n = strings.TrimPrefix(n, p)
	}
	n = strings.TrimSuffix(n, ".value")
	if n == "" {
		return nil, queryErrorf("{{rank-by}} needs a metric name")
	}
	names := ix.MetricNames()
	for i, m := range names {
		if strings.ToLower(m) == n {
			return []int{i}, nil
		}
	}
	// medigan's nested form "downstream_task.CLF..." lost its wrapper in
	// the catalog; and "turing_test.AUC" stands for its per-reader values.
	var ids []int
	for i, m := range names {
		lm := strings.ToLower(m)
		if rest, ok := strings.CutPrefix(lm, n+"."); ok && perReader.MatchString(rest) {
			ids = append(ids, i)
		}
	}
	if len(ids) > 0 {
		return ids, nil
	}
	var close []string
	for pass := 0; pass < 3; pass++ {
		for _, m := range names {
			lm := strings.ToLower(m)
			var ok bool
			switch pass {
			case 0: // the last part: "dice" for SEG.trained_on_fake.dice
				ok = strings.HasSuffix(lm, "."+n)
			case 1:
				ok = strings.Contains(lm, n) && !strings.HasSuffix(lm, "."+n)
			case 2:
				_, ok = withinDistance(n, lm, max(1, typoBudget(n)))
				ok = ok && !strings.Contains(lm, n)
			}
			if ok {
				close = append(close, m)
			}
		}
	}
	if len(close) > 8 {
		close = close[:8]
	}
	msg := fmt.Sprintf("no model in the catalog has a metric %q", name)
	if len(close) > 0 {
		msg += "; did you mean: " + strings.Join(close, ", ")
	} else if len(names) > 0 {
		msg += fmt.Sprintf(" (%d metric names exist; e.g. %s)", len(names), strings.Join(names[:min(6, len(names))], ", "))
	}
	return nil, &QueryError{msg}
}

// provCached decodes each provenance record once per search.
func (s *searcher) provOf(p int) *Provenance {
	if s.provs == nil {
		s.provs = make([]*Provenance, s.ix.nProvs)
	}
	if s.provs[p] == nil {
		pv := s.ix.prov(p)
		s.provs[p] = &pv
	}
	return s.provs[p]
}

type rankedValues struct {
	vals []metricValue
	has  []bool
}

func (s *searcher) rank(q Query, docs []int, order string) ([]int, *rankedValues, error) {
	ids, err := s.ix.resolveMetric(q.RankBy)
	if err != nil {
		return nil, nil, err
	}
	// rel[d] is d's place in relevance order, +1; 0: not a candidate.
	rel := make([]int32, s.n)
	for i, d := range docs {
		rel[d] = int32(i + 1)
	}
	// The catalog's stated directions, for names the registry lacks.
	dirCount := map[string]int{}
	var names []string
	for _, id := range ids {
		names = append(names, s.ix.metricName(id))
		lo, hi := s.ix.metricRange(id)
		for k := lo; k < hi; k++ {
			doc, p, _ := s.ix.metricEntry(k)
			if rel[doc] != 0 {
				dirCount[s.provOf(p).Direction]++
			}
		}
	}
	catDir := ""
	if dirCount["lower"] > dirCount["higher"] {
		catDir = "lower"
	} else if dirCount["higher"] > 0 {
		catDir = "higher"
	}
	mi := zoo.MetricInfoFor(names[0], catDir)
	info := &RankInfo{Name: q.RankBy, Metrics: names, Better: mi.Better.String(), Family: mi.Family, Rule: mi.Pattern}
	if mi.Better == zoo.BetterTarget {
		info.Target = mi.Target
	}
	if !mi.Known() {
		info.Rule = "catalog"
		if dirCount["lower"] > 0 && dirCount["higher"] > 0 {
			s.note("%s is not in zoo's metric registry and catalog entries disagree on its direction (%d say lower, %d higher is better): ranked as %s is better",
				q.RankBy, dirCount["lower"], dirCount["higher"], catDir)
		} else if catDir != "" {
			s.note("%s is not in zoo's metric registry: ranked as the catalog says (%s is better)", q.RankBy, catDir)
		}
		if mi.Better == zoo.BetterUnknown {
			mi.Better = zoo.BetterLower
			info.Better = "unknown"
			s.note("nobody says which way %s is better: listed smallest first", q.RankBy)
		}
	} else if dirCount[oppositeDir(mi.Better)] > 0 {
		s.note("%d catalog entries state %s for %s; zoo's registry says %s and ranks by it",
			dirCount[oppositeDir(mi.Better)], oppositeDir(mi.Better)+" is better", mi.Pattern, mi.Describe())
	}

	// Each doc's value: the best of its names (one name, or several readers).
	has := make([]bool, s.n)
	vals := make([]metricValue, s.n)
	for _, id := range ids {
		name := s.ix.metricName(id)
		lo, hi := s.ix.metricRange(id)
		for k := lo; k < hi; k++ {
			doc, p, v := s.ix.metricEntry(k)
			if rel[doc] == 0 {
				continue
			}
			mv := metricValue{name: name, value: v, key: mi.Key(v), prov: p}
			if !has[doc] || mv.key < vals[doc].key {
				vals[doc], has[doc] = mv, true
			}
		}
	}
	if len(ids) > 1 {
		s.note("%s stands for %s: each model is ranked by its best value (%s)", q.RankBy, strings.Join(names, ", "), mi.Describe())
	}

	// Direction: the registry's, unless --asc/--desc overrides it.
	sortKey := func(v *metricValue) float64 { return v.key }
	switch order {
	case "asc":
		sortKey = func(v *metricValue) float64 { return v.value }
		if mi.Better == zoo.BetterHigher || mi.Better == zoo.BetterTarget {
			s.note("{{asc}} lists the smallest %s first, although %s", q.RankBy, mi.Describe())
		}
		info.Order = "asc"
	case "desc":
		sortKey = func(v *metricValue) float64 { return -v.value }
		if mi.Better == zoo.BetterLower || mi.Better == zoo.BetterTarget {
			s.note("{{desc}} lists the largest %s first, although %s", q.RankBy, mi.Describe())
		}
		info.Order = "desc"
	default:
		switch mi.Better {
		case zoo.BetterHigher:
			info.Order = "desc"
		case zoo.BetterTarget:
			info.Order = fmt.Sprintf("closest to %g first", mi.Target)
		default:
			info.Order = "asc"
		}
	}

	// Protocol groups: never rank values from different feature extractors
	// against each other.
	groupOf := map[string]int{}
	var groups []RankGroup
	provGroup := map[int]int{}
	assumed := 0
	var ranked, missing []int
	for _, d := range docs {
		if !has[d] {
			missing = append(missing, d)
			continue
		}
		ranked = append(ranked, d)
		v := &vals[d]
		g, ok := provGroup[v.prov]
		if !ok {
			k := ""
			if mi.SameExtractor {
				k = s.provOf(v.prov).Extractor
				if strings.TrimSpace(k) == "" {
					k = mi.Extractor + "\x00assumed"
				}
			}
			if g, ok = groupOf[k]; !ok {
				g = len(groups)
				groupOf[k] = g
				groups = append(groups, RankGroup{Extractor: strings.TrimSuffix(k, "\x00assumed")})
			}
			provGroup[v.prov] = g
		}
		if mi.SameExtractor && strings.TrimSpace(s.provOf(v.prov).Extractor) == "" {
			assumed++
		}
		groups[g].Count++
		v.group = g
	}
	// Merge an "assumed" group into the stated group of the same extractor.
	// (Kept apart above only to count them; the extractor is the same.)
	merged := map[string]int{}
	remap := make([]int, len(groups))
	var mgroups []RankGroup
	for i, g := range groups {
		if j, ok := merged[g.Extractor]; ok {
			mgroups[j].Count += g.Count
			remap[i] = j
			continue
		}
		merged[g.Extractor] = len(mgroups)
		remap[i] = len(mgroups)
		mgroups = append(mgroups, g)
	}
	// Biggest group first.
	perm := make([]int, len(mgroups))
	for i := range perm {
		perm[i] = i
	}
	sort.SliceStable(perm, func(a, b int) bool { return mgroups[perm[a]].Count > mgroups[perm[b]].Count })
	newIdx := make([]int, len(mgroups))
	sorted := make([]RankGroup, len(mgroups))
	for ni, oi := range perm {
		newIdx[oi] = ni
		sorted[ni] = mgroups[oi]
	}
	for _, d := range ranked {
		vals[d].group = newIdx[remap[vals[d].group]]
	}
	info.Groups = sorted

	sort.Slice(ranked, func(i, j int) bool {
		a, b := &vals[ranked[i]], &vals[ranked[j]]
		if a.group != b.group {
			return a.group < b.group
		}
		ka, kb := sortKey(a), sortKey(b)
		if ka != kb {
			return ka < kb
		}
		return rel[ranked[i]] < rel[ranked[j]]
	})
	info.Ranked, info.Missing = len(ranked), len(missing)
	s.res.Metric = info

	if len(sorted) > 1 {
		var parts []string
		for i, g := range sorted {
			parts = append(parts, fmt.Sprintf("group %d: %s (%d)", i+1, g.Extractor, g.Count))
		}
		s.note("%s values come from %d different feature extractors and are not comparable across them: ranked separately, %s",
			q.RankBy, len(sorted), strings.Join(parts, "; "))
	}
	if assumed > 0 {
		s.note("%d %s %s no feature extractor: taken to be %s", assumed, q.RankBy, plural(assumed, "value names", "values name"), mi.Extractor)
	}
	s.protocolNotes(q.RankBy, mi, ranked, vals)
	if len(missing) > 0 {
		if q.SkipMissing {
			s.note("%s no %s value and %s left out ({{skip-missing}})", countModels(len(missing), "has", "have"), q.RankBy, isAre(len(missing)))
			missing = nil
		} else {
			s.note("%s no %s value: listed after the ranked ones ({{skip-missing}} leaves them out)", countModels(len(missing), "has", "have"), q.RankBy)
		}
	}
	if len(ranked) == 0 && len(docs) > 0 {
		s.note("none of the matching models reports %s", q.RankBy)
	}
	return append(ranked, missing...), &rankedValues{vals, has}, nil
}

// countModels: "1 matching model has", "3 matching models have".
func countModels(n int, one, many string) string {
	if n == 1 {
		return "1 matching model " + one
	}
	return fmt.Sprintf("%d matching models %s", n, many)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func oppositeDir(b zoo.Better) string {
	switch b {
	case zoo.BetterLower:
		return "higher"
	case zoo.BetterHigher:
		return "lower"
	}
	return ""
}

// protocolNotes says where ranked values were obtained differently: other
// reference sets, image counts, or sources (self-reported vs measured).
func (s *searcher) protocolNotes(name string, mi zoo.MetricInfo, ranked []int, values []metricValue) {
	if len(ranked) < 2 {
		return
	}
	refs, imgs, srcs := map[string]bool{}, map[int]bool{}, map[string]bool{}
	var refList, srcList []string
	var imgList []int
	for _, d := range ranked {
		p := s.provOf(values[d].prov)
		if !refs[p.Reference] {
			refs[p.Reference] = true
			refList = append(refList, orDash(p.Reference, "unstated"))
		}
		if !imgs[p.Images] {
			imgs[p.Images] = true
			imgList = append(imgList, p.Images)
		}
		if !srcs[p.Source] {
			srcs[p.Source] = true
			srcList = append(srcList, orDash(p.Source, "unstated"))
		}
	}
	if len(refList) > 1 {
		shown := refList
		if len(shown) > 6 {
			shown = append(shown[:6:6], fmt.Sprintf("%d more", len(refList)-6))
		}
		what := "against different reference data"
		if mi.Family == zoo.FamilyDownstream || mi.Family == zoo.FamilyDelta {
			what = "on different test data"
		}
		s.note("%s values were computed %s (%s): the ranking is indicative, not a like-for-like comparison", name, what, strings.Join(shown, ", "))
	}
	if len(imgList) > 1 && (mi.Family == zoo.FamilyFrechet || mi.Family == zoo.FamilyKernel || mi.Family == zoo.FamilyFIDRatio || mi.Family == zoo.FamilyInception) {
		sort.Ints(imgList)
		var parts []string
		for _, n := range imgList {
			if n == 0 {
				parts = append(parts, "unstated")
			} else {
				parts = append(parts, strconv.Itoa(n))
			}
		}
		s.note("%s values use different numbers of images (%s); %s is biased by sample size", name, strings.Join(parts, ", "), name)
	}
	if len(srcList) > 1 {
		s.note("%s values mix sources (%s): self-reported figures were not re-measured", name, strings.Join(srcList, ", "))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func orDash(s, alt string) string {
	if strings.TrimSpace(s) == "" {
		return alt
	}
	return s
}

// ---- where ----

var whereOps = []string{"<=", ">=", "!=", "==", "~=", "=", "<", ">", "~"}

type whereClause struct {
	key, op, value string
}

func parseWhere(s string) (whereClause, error) {
	best, bestOp := -1, ""
	for _, op := range whereOps {
		if i := strings.Index(s, op); i >= 0 && (best < 0 || i < best || i == best && len(op) > len(bestOp)) {
			best, bestOp = i, op
		}
	}
	if best < 0 {
		return whereClause{}, queryErrorf("{{where}} %q: write KEY=VALUE (or KEY OP VALUE with ==, !=, ~, <, <=, >, >=), e.g. license=MIT", s)
	}
	w := whereClause{key: strings.TrimSpace(s[:best]), op: bestOp, value: strings.TrimSpace(s[best+len(bestOp):])}
	if bestOp == "~=" {
		w.op = "~"
	}
	if len(w.value) >= 2 && (w.value[0] == '"' && w.value[len(w.value)-1] == '"' || w.value[0] == '\'' && w.value[len(w.value)-1] == '\'') {
		w.value = w.value[1 : len(w.value)-1]
	}
	if w.key == "" {
		return w, queryErrorf("{{where}} %q has no key before %s", s, bestOp)
	}
	if strings.TrimSpace(w.value) == "" {
		return w, queryErrorf("{{where}} %q has no value after %s", s, bestOp)
	}
	return w, nil
}

var kvAliases = map[string]string{
	"type": "architecture", "condition": "signature.conditions.name", "conditions": "signature.conditions.name",
	"format": "artifact.format", "modalities": "modality", "organs": "organ", "tag": "tags", "use_case": "use_cases",
	"author": "authors",
}

var metricFields = []string{"source", "extractor", "reference", "images", "direction"}

// where evaluates one clause into a doc set.
func (s *searcher) where(raw string) ([]bool, error) {
	w, err := parseWhere(raw)
	if err != nil {
		return nil, err
	}
	key := strings.ToLower(w.key)
	key = strings.TrimPrefix(key, "selection.")
	if a, ok := kvAliases[key]; ok {
		key = a
	}
	numeric := w.op == "<" || w.op == "<=" || w.op == ">" || w.op == ">="
	var num float64
	if numeric {
		if num, err = strconv.ParseFloat(w.value, 64); err != nil {
			return nil, queryErrorf("{{where}} %q: %s compares numbers, and %q is not one", raw, w.op, w.value)
		}
	}
	set := make([]bool, s.n)

	// id and title are not --where terms: compare them directly.
	if key == "id" || key == "title" {
		if numeric {
			return nil, queryErrorf("{{where}} %q: %s is text; use =, ==, != or ~", raw, key)
		}
		want := normValue(w.value)
		for d := 0; d < s.n; d++ {
			f := dID
			if key == "title" {
				f = dTitle
			}
			got := normValue(s.ix.docStr(d, f))
			set[d] = matchText(w.op, got, want)
		}
		return set, nil
	}

	// Metric values: metrics.NAME[.value], performance.NAME, or NAME.
	metricKey := ""
	if rest, ok := strings.CutPrefix(key, "metrics."); ok {
		isField := false
		for _, f := range metricFields {
			if strings.HasSuffix(rest, "."+f) {
				isField = true
			}
		}
		if !isField {
			metricKey = rest
		}
	} else if rest, ok := strings.CutPrefix(key, "performance."); ok {
		metricKey = rest
	} else if !s.hasPath(key) {
		if _, err := s.ix.resolveMetric(key); err == nil {
			metricKey = key
		}
	}
	if metricKey != "" {
		ids, err := s.ix.resolveMetric(metricKey)
		if err != nil {
			return nil, err
		}
		if !numeric && w.op != "=" && w.op != "==" && w.op != "!=" {
			return nil, queryErrorf("{{where}} %q: metric values are numbers; use =, !=, <, <=, > or >=", raw)
		}
		if !numeric {
			if num, err = strconv.ParseFloat(w.value, 64); err != nil {
				return nil, queryErrorf("{{where}} %q: %q is not a number", raw, w.value)
			}
		}
		for _, id := range ids {
			lo, hi := s.ix.metricRange(id)
			for k := lo; k < hi; k++ {
				doc, _, v := s.ix.metricEntry(k)
				if compareNum(w.op, v, num) {
					set[doc] = true
				}
			}
		}
		if w.op == "!=" {
			// != is "not =": models without the metric pass too.
			eq := make([]bool, s.n)
			for _, id := range ids {
				lo, hi := s.ix.metricRange(id)
				for k := lo; k < hi; k++ {
					doc, _, v := s.ix.metricEntry(k)
					if compareNum("=", v, num) {
						eq[doc] = true
					}
				}
			}
			for d := range set {
				set[d] = !eq[d]
			}
		}
		return set, nil
	}

	if !s.hasPath(key) {
		return nil, queryErrorf("{{where}} %q: no catalog key %q%s", raw, w.key, s.suggestPath(key))
	}
	want := normValue(w.value)
	eqOp := w.op
	if eqOp == "!=" {
		eqOp = "="
	}
	var wantKeys map[string]bool
	if eqOp == "=" {
		wantKeys = synonymKeys(want)
	}
	lo, hi := s.ix.prefixRange(kvPrefix + key + "=")
	var matched []string
	for id := lo; id < hi; id++ {
		got := string(s.ix.termBytes(id)[len(kvPrefix)+len(key)+1:])
		ok := false
		switch {
		case numeric:
			if g, err := strconv.ParseFloat(got, 64); err == nil {
				ok = compareNum(w.op, g, num)
			}
		case eqOp == "=":
			ok = got == want || equalNumbers(got, want) || synonymMatch(got, wantKeys)
			if ok && got != want {
				matched = append(matched, got)
			}
		default:
			ok = matchText(eqOp, got, want)
		}
		if ok {
			s.ix.postings(id, func(doc uint32, _ uint16) { set[doc] = true })
		}
	}
	if w.op == "!=" {
		for d := range set {
			set[d] = !set[d]
		}
	}
	if len(matched) > 0 && w.op == "=" {
		if len(matched) > 8 {
			matched = append(matched[:8], "…")
		}
		s.note("{{where}} %s also matched %s (synonyms; == compares exactly)", raw, strings.Join(matched, ", "))
	}
	return set, nil
}

func matchText(op, got, want string) bool {
	switch op {
	case "=", "==":
		return got == want
	case "!=":
		return got != want
	case "~":
		return strings.Contains(got, want)
	}
	return false
}

func equalNumbers(a, b string) bool {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && x == y
}

func compareNum(op string, v, x float64) bool {
	switch op {
	case "<":
		return v < x
	case "<=":
		return v <= x
	case ">":
		return v > x
	case ">=":
		return v >= x
	case "=", "==":
		return v == x || math.Abs(v-x) <= 1e-9*math.Max(1, math.Abs(x))
	case "!=":
		return !compareNum("=", v, x)
	}
	return false
}

// synonymKeys are the phrase keys equal to want: itself and its synonyms.
func synonymKeys(want string) map[string]bool {
	keys := map[string]bool{}
	ws := baseWords(want)
	for _, k := range phraseKeys(want) {
		keys[k] = true
	}
	for _, ref := range synonymsOf(ws) {
		if ref.kind != "synonym" {
			continue
		}
		for _, k := range phraseKeys(ref.phrase) {
			keys[k] = true
		}
	}
	return keys
}

func synonymMatch(got string, keys map[string]bool) bool {
	for _, k := range phraseKeys(got) {
		if keys[k] {
			return true
		}
	}
	return false
}

func (s *searcher) hasPath(p string) bool {
	i := sort.Search(s.ix.nPaths, func(i int) bool { return s.ix.path(i) >= p })
	return i < s.ix.nPaths && s.ix.path(i) == p
}

func (s *searcher) suggestPath(p string) string {
	var close []string
	for i := 0; i < s.ix.nPaths; i++ {
		c := s.ix.path(i)
		if _, ok := withinDistance(p, c, 2); ok || strings.HasSuffix(c, "."+p) {
			close = append(close, c)
		}
	}
	if len(close) == 0 {
		var top []string
		for i := 0; i < s.ix.nPaths && len(top) < 12; i++ {
			if c := s.ix.path(i); !strings.Contains(c, ".") {
				top = append(top, c)
			}
		}
		return "; keys include " + strings.Join(top, ", ")
	}
	if len(close) > 6 {
		close = close[:6]
	}
	return "; did you mean " + strings.Join(close, ", ") + "?"
}
