package search

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"medzoo/internal/catalogtest"
	"medzoo/zoo"
)

// The expectations below are computed from medigan's own metadata
// (shared/data/medigan_global.json) with rules stated in each test, not
// copied from zoo's output.

type mgModel struct {
	ID        string
	Selection struct {
		Performance map[string]any `json:"performance"`
		Modality    []string       `json:"modality"`
		Organ       []string       `json:"organ"`
		Generates   []string       `json:"generates"`
		Tags        []string       `json:"tags"`
		Type        string         `json:"type"`
		License     *string        `json:"license"`
		Dataset     []string       `json:"dataset"`
		Height      any            `json:"height"`
		Width       any            `json:"width"`
		Condition   []string       `json:"condition"`
		UseCases    []string       `json:"use_cases"`
	} `json:"selection"`
	Description struct {
		Title   string `json:"title"`
		Comment string `json:"comment"`
	} `json:"description"`
}

// medigan returns medigan's models in file order.
func medigan(t *testing.T) []mgModel {
	t.Helper()
	_, data := catalogtest.Medigan(t)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	// Keep the file's order: decode the keys in sequence.
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.Token()
	var out []mgModel
	for dec.More() {
		k, _ := dec.Token()
		var m mgModel
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		m.ID = k.(string)
		out = append(out, m)
	}
	return out
}

func ids(ms []mgModel, keep func(m mgModel) bool) []string {
	var out []string
	for _, m := range ms {
		if keep(m) {
			out = append(out, m.ID)
		}
	}
	return out
}

func anyContains(v []string, subs ...string) bool {
	for _, s := range v {
		l := strings.ToLower(s)
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				return true
			}
		}
	}
	return false
}

func anyEqual(v []string, want string) bool {
	for _, s := range v {
		if strings.EqualFold(strings.TrimSpace(s), want) {
			return true
		}
	}
	return false
}

func perf(m mgModel, key string) (float64, bool) {
	v, ok := m.Selection.Performance[key]
	if !ok || v == nil {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return x, true
	}
	return 0, false
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		var f float64
		json.Unmarshal([]byte(x), &f)
		return f
	}
	return 0
}

var embeddedIndex *Index

func search(t *testing.T, q Query) *Results {
	t.Helper()
	if embeddedIndex == nil {
		c, err := zoo.Embedded()
		if err != nil {
			t.Fatal(err)
		}
		// Only the medigan models: demo models may be added to zoo.toml.
		var med zoo.Catalog
		med.Sources = c.Sources
		for _, m := range c.Models {
			if !m.Demo {
				med.Models = append(med.Models, m)
			}
		}
		ix, err := OpenIndexBytes(BuildIndex(&med))
		if err != nil {
			t.Fatal(err)
		}
		embeddedIndex = ix
	}
	r, err := embeddedIndex.Search(q)
	if err != nil {
		t.Fatalf("%+v: %v", q, err)
	}
	return r
}

func hitIDs(r *Results) []string {
	var out []string
	for _, h := range r.Hits {
		out = append(out, h.ID)
	}
	return out
}

func sorted(v []string) []string {
	out := append([]string(nil), v...)
	sort.Strings(out)
	return out
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(sorted(got), sorted(want)) {
		t.Errorf("%s:\n got  %v\n want %v", what, sorted(got), sorted(want))
	}
}

// isMammography: medigan lists some spelling of mammography (MMG,
// Mammography, Mammogram, ...) among the modalities.
func isMammography(m mgModel) bool { return anyContains(m.Selection.Modality, "mammogra", "mmg") }

func TestSearchSynonymsFindEveryModelOfAModality(t *testing.T) {
	ms := medigan(t)
	mmg := ids(ms, isMammography)
	if len(mmg) < 10 {
		t.Fatalf("expected a dozen mammography models in medigan's catalog, found %v", mmg)
	}
	// Each spelling finds them all, typos included.
	for _, term := range []string{"mammography", "MMG", "mammogram", "Mammograms", "mamography", "mammograhpy", "MAMMOGRAPHY"} {
		sameSet(t, term, hitIDs(search(t, Query{Terms: []string{term}})), mmg)
	}
	// medigan's exact match of "mammography" finds only the models that
	// spell it so; zoo finds those and every other one.
	exact := ids(ms, func(m mgModel) bool { return anyEqual(m.Selection.Modality, "mammography") })
	got := hitIDs(search(t, Query{Where: []string{"modality=mammography"}}))
	for _, id := range exact {
		if !contains(got, id) {
			t.Errorf("--where modality=mammography misses %s, which medigan finds", id)
		}
	}
	sameSet(t, "--where modality=mammography", got, mmg)
	sameSet(t, "--modality MMG", hitIDs(search(t, Query{Modality: []string{"MMG"}})), mmg)

	// Chest x-rays: medigan modality x-ray / xray / CXR, not mammography.
	cxr := ids(ms, func(m mgModel) bool {
		return anyContains(m.Selection.Modality, "x-ray", "xray", "cxr") && !isMammography(m)
	})
	for _, term := range [][]string{{"CXR"}, {"chest x-ray"}, {"chest", "x-ray"}, {`"chest xray"`}, {"chest radiograph"}} {
		sameSet(t, strings.Join(term, " "), hitIDs(search(t, Query{Terms: term})), cxr)
	}

	// MRI, MR and magnetic resonance: modality MRI or an MRI sequence
	// (T1, T2, DCE-MRI).
	mri := ids(ms, func(m mgModel) bool {
		for _, s := range m.Selection.Modality {
			l := strings.ToLower(s)
			if strings.Contains(l, "mri") || l == "t1" || l == "t2" {
				return true
			}
		}
		return false
	})
	for _, term := range []string{"MRI", "MR", "magnetic resonance", "Magnetic Resonance Imaging"} {
		sameSet(t, term, hitIDs(search(t, Query{Terms: []string{term}})), mri)
	}
	sameSet(t, "--modality MR", hitIDs(search(t, Query{Modality: []string{"MR"}})), mri)
	// T1 is narrower: it does not find every MRI model.
	t1 := ids(ms, func(m mgModel) bool {
		return anyEqual(m.Selection.Modality, "t1") || anyEqual(m.Selection.Generates, "t1")
	})
	sameSet(t, "T1", hitIDs(search(t, Query{Terms: []string{"T1"}})), t1)

	// Polyps are seen through an endoscope.
	endo := ids(ms, func(m mgModel) bool { return anyContains(m.Selection.Modality, "endoscopy") })
	sameSet(t, "polyp", hitIDs(search(t, Query{Terms: []string{"polyp"}})), endo)
	sameSet(t, "endoscopy", hitIDs(search(t, Query{Terms: []string{"endoscopy"}})), endo)
	sameSet(t, "--modality polyp", hitIDs(search(t, Query{Modality: []string{"polyp"}})), endo)
}

func contains(v []string, s string) bool {
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

var massWord = regexp.MustCompile(`(?i)\bmass(es)?\b`)

// mentionsMass: the word mass(es) anywhere in what describes the model.
func mentionsMass(m mgModel) bool {
	s := m.ID + " " + m.Description.Title + " " + m.Description.Comment + " " +
		strings.Join(m.Selection.Generates, " ") + " " + strings.Join(m.Selection.Tags, " ") + " " +
		strings.Join(m.Selection.UseCases, " ")
	return massWord.MatchString(strings.ReplaceAll(s, "_", " "))
}

// rankByMedigan orders ids by a medigan performance value, best first,
// models without it last in catalog order.
func rankByMedigan(ms []mgModel, keep func(mgModel) bool, key string, lowerBetter bool) (ranked, missing []string) {
	type kv struct {
		id string
		v  float64
	}
	var have []kv
	for _, m := range ms {
		if !keep(m) {
			continue
		}
		if v, ok := perf(m, key); ok {
			have = append(have, kv{m.ID, v})
		} else {
			missing = append(missing, m.ID)
		}
	}
	sort.SliceStable(have, func(i, j int) bool {
		if lowerBetter {
			return have[i].v < have[j].v
		}
		return have[i].v > have[j].v
	})
	for _, x := range have {
		ranked = append(ranked, x.id)
	}
	return ranked, missing
}

func TestSearchFindThenRank(t *testing.T) {
	ms := medigan(t)
	keep := func(m mgModel) bool { return isMammography(m) && mentionsMass(m) }
	ranked, missing := rankByMedigan(ms, keep, "FID", true)
	if len(ranked) < 4 {
		t.Fatalf("expected several mammography mass models with an FID: %v", ranked)
	}
	r := search(t, Query{Terms: []string{"mammography", "mass"}, RankBy: "FID"})
	got := hitIDs(r)
	if !reflect.DeepEqual(got[:len(ranked)], ranked) {
		t.Errorf("ranked by FID:\n got  %v\n want %v", got, ranked)
	}
	sameSet(t, "unranked tail", got[len(ranked):], missing)
	if r.Metric == nil || r.Metric.Better != "lower" || r.Metric.Order != "asc" || r.Metric.Ranked != len(ranked) {
		t.Errorf("rank info %+v", r.Metric)
	}
	for _, h := range r.Hits[:len(ranked)] {
		if h.Metric == nil || h.Metric.Extractor != "inception-v3 (ImageNet)" || !strings.Contains(h.Metric.Source, "self-reported") || h.Metric.Images == 0 {
			t.Errorf("%s: provenance %+v", h.ID, h.Metric)
		}
	}
	// The references differ between these models: say so.
	if !hasNote(r, "different reference data") {
		t.Errorf("no note on differing reference sets: %v", r.Notes)
	}

	// Higher is better for FID_ratio: largest first.
	ranked, _ = rankByMedigan(ms, isMammography, "FID_ratio", false)
	r = search(t, Query{Terms: []string{"MMG"}, RankBy: "fid_ratio"})
	if got := hitIDs(r)[:len(ranked)]; !reflect.DeepEqual(got, ranked) {
		t.Errorf("FID_ratio:\n got  %v\n want %v", got, ranked)
	}
	if r.Metric.Order != "desc" {
		t.Errorf("FID_ratio order %q", r.Metric.Order)
	}
	// --asc overrides the registry, and says so.
	asc, _ := rankByMedigan(ms, isMammography, "FID_ratio", true)
	r = search(t, Query{Terms: []string{"MMG"}, RankBy: "FID_ratio", Order: "asc"})
	if got := hitIDs(r)[:len(asc)]; !reflect.DeepEqual(got, asc) {
		t.Errorf("FID_ratio --asc:\n got  %v\n want %v", got, asc)
	}
	if !hasNote(r, "asc lists the smallest") {
		t.Errorf("no note on --asc against the registry: %v", r.Notes)
	}
	// --desc on a lower-is-better metric.
	desc, _ := rankByMedigan(ms, isMammography, "FID", false)
	r = search(t, Query{Terms: []string{"MMG"}, RankBy: "FID", Order: "desc"})
	if got := hitIDs(r)[:len(desc)]; !reflect.DeepEqual(got, desc) {
		t.Errorf("FID --desc:\n got  %v\n want %v", got, desc)
	}
}

// TestSearchMediganParity: what medigan's ModelSelector does, on its own
// catalog.
func TestSearchMediganParity(t *testing.T) {
	ms := medigan(t)
	lic := func(m mgModel) string {
		if m.Selection.License == nil {
			return ""
		}
		return *m.Selection.License
	}

	// get_models_by_key_value_pair("license", "MIT").
	mit := ids(ms, func(m mgModel) bool { return strings.EqualFold(lic(m), "MIT") })
	sameSet(t, "--where license=MIT", hitIDs(search(t, Query{Where: []string{"license=MIT"}})), mit)
	sameSet(t, "--where license==mit", hitIDs(search(t, Query{Where: []string{"license==mit"}})), mit)
	// ... and beyond medigan: GPL finds "GNU GENERAL PUBLIC LICENSE".
	gpl := ids(ms, func(m mgModel) bool { return strings.Contains(strings.ToLower(lic(m)), "gnu general public") })
	sameSet(t, "--where license=GPL", hitIDs(search(t, Query{Where: []string{"license=GPL"}})), gpl)
	sameSet(t, "--license gpl", hitIDs(search(t, Query{License: []string{"gpl"}})), gpl)
	// != is the complement of =.
	notMIT := ids(ms, func(m mgModel) bool { return !strings.EqualFold(lic(m), "MIT") })
	sameSet(t, "--where license!=MIT", hitIDs(search(t, Query{Where: []string{"license!=MIT"}})), notMIT)
	// Nested key, medigan's alias "type" for the architecture.
	cyc := ids(ms, func(m mgModel) bool { return strings.EqualFold(m.Selection.Type, "CycleGAN") })
	sameSet(t, "--where type=cyclegan", hitIDs(search(t, Query{Where: []string{"type=cyclegan"}})), cyc)
	// Numbers.
	big := ids(ms, func(m mgModel) bool { return num(m.Selection.Height) >= 512 })
	sameSet(t, "--where height>=512", hitIDs(search(t, Query{Where: []string{"height>=512"}})), big)
	low := ids(ms, func(m mgModel) bool { v, ok := perf(m, "FID"); return ok && v < 100 })
	sameSet(t, "--where FID<100", hitIDs(search(t, Query{Where: []string{"FID<100"}})), low)
	sameSet(t, "--where metrics.FID.value<100", hitIDs(search(t, Query{Where: []string{"metrics.FID.value<100"}})), low)
	sameSet(t, "--where performance.FID<100", hitIDs(search(t, Query{Where: []string{"performance.FID<100"}})), low)
	// Contains.
	bcdr := ids(ms, func(m mgModel) bool { return anyContains(m.Selection.Dataset, "bcd") })
	sameSet(t, "--where dataset~bcd", hitIDs(search(t, Query{Where: []string{"dataset~bcd"}})), bcdr)

	// find_matching_models_by_values with AND, OR, XOR.
	brain := ids(ms, func(m mgModel) bool { return anyContains(m.Selection.Organ, "brain") })
	endo := ids(ms, func(m mgModel) bool { return anyContains(m.Selection.Modality, "endoscopy") })
	sameSet(t, "brain AND endoscopy", hitIDs(search(t, Query{Terms: []string{"brain", "endoscopy"}})), nil)
	sameSet(t, "brain OR endoscopy", hitIDs(search(t, Query{Terms: []string{"brain", "endoscopy"}, Op: "or"})), append(brain, endo...))
	sameSet(t, "brain XOR endoscopy", hitIDs(search(t, Query{Terms: []string{"brain", "endoscopy"}, Op: "XOR"})), append(brain, endo...))
	// XOR drops models matching both.
	mass := ids(ms, func(m mgModel) bool { return isMammography(m) != mentionsMass(m) })
	sameSet(t, "mammography XOR mass", hitIDs(search(t, Query{Terms: []string{"mammography", "mass"}, Op: "xor"})), mass)

	// rank_models_by_performance with a nested metric.
	ranked, _ := rankByMedigan(ms, func(mgModel) bool { return true }, "FID_RADIMAGENET", true)
	r := search(t, Query{RankBy: "FID_RADIMAGENET", SkipMissing: true})
	if !reflect.DeepEqual(hitIDs(r), ranked) {
		t.Errorf("FID_RADIMAGENET:\n got  %v\n want %v", hitIDs(r), ranked)
	}
	// medigan's downstream_task.CLF... path names the same metric.
	var f1 []string
	type kv struct {
		id string
		v  float64
	}
	var vals []kv
	for _, m := range ms {
		clf, _ := m.Selection.Performance["CLF"].(map[string]any)
		if clf == nil {
			if dt, ok := m.Selection.Performance["downstream_task"].(map[string]any); ok {
				clf, _ = dt["CLF"].(map[string]any)
			}
		}
		raf, _ := clf["trained_on_real_and_fake"].(map[string]any)
		if v, ok := raf["f1"]; ok && v != nil {
			vals = append(vals, kv{m.ID, num(v)})
		}
	}
	sort.SliceStable(vals, func(i, j int) bool { return vals[i].v > vals[j].v })
	for _, x := range vals {
		f1 = append(f1, x.id)
	}
	r = search(t, Query{RankBy: "downstream_task.CLF.trained_on_real_and_fake.f1", SkipMissing: true})
	if len(f1) == 0 || !reflect.DeepEqual(hitIDs(r), f1) {
		t.Errorf("CLF f1:\n got  %v\n want %v", hitIDs(r), f1)
	}

	// find_models_and_rank with a filter and missing metrics left out.
	mitRanked, _ := rankByMedigan(ms, func(m mgModel) bool { return strings.EqualFold(lic(m), "MIT") }, "FID_RADIMAGENET", true)
	r = search(t, Query{Where: []string{"license=MIT"}, RankBy: "FID_RADIMAGENET", SkipMissing: true})
	if !reflect.DeepEqual(hitIDs(r), mitRanked) {
		t.Errorf("MIT by FID_RADIMAGENET:\n got  %v\n want %v", hitIDs(r), mitRanked)
	}
}

func TestSearchMissingMetricsAndTargets(t *testing.T) {
	ms := medigan(t)
	// SSIM: higher is better; one medigan model reports it.
	withSSIM := ids(ms, func(m mgModel) bool { _, ok := perf(m, "SSIM"); return ok })
	r := search(t, Query{RankBy: "SSIM"})
	if len(withSSIM) == 0 || !reflect.DeepEqual(hitIDs(r)[:len(withSSIM)], withSSIM) || r.Total != len(ms) {
		t.Errorf("SSIM: %v (total %d)", hitIDs(r), r.Total)
	}
	for _, h := range r.Hits[len(withSSIM):] {
		if h.Metric != nil {
			t.Errorf("%s has an SSIM?", h.ID)
		}
	}
	// The unranked keep catalog order.
	rest := ids(ms, func(m mgModel) bool { return !contains(withSSIM, m.ID) })
	if !reflect.DeepEqual(hitIDs(r)[len(withSSIM):], rest) {
		t.Errorf("unranked order %v", hitIDs(r)[len(withSSIM):])
	}
	if !hasNote(r, "no SSIM value") {
		t.Errorf("notes %v", r.Notes)
	}
	r = search(t, Query{RankBy: "SSIM", SkipMissing: true})
	if !reflect.DeepEqual(hitIDs(r), withSSIM) {
		t.Errorf("SSIM --skip-missing: %v", hitIDs(r))
	}
	r = search(t, Query{RankBy: "PSNR", Limit: 1})
	if r.Metric.Better != "higher" || r.Total != len(ms) || len(r.Hits) != 1 {
		t.Errorf("PSNR %+v total %d", r.Metric, r.Total)
	}

	// Turing tests: the readers' AUC closest to chance (0.5) is best.
	r = search(t, Query{RankBy: "turing_test.AUC", SkipMissing: true})
	if len(r.Hits) == 0 || r.Metric.Better != "target" || r.Metric.Target != 0.5 || len(r.Metric.Metrics) < 2 {
		t.Fatalf("turing test: %+v", r.Metric)
	}
	var best float64 = math.Inf(1)
	for _, m := range ms {
		tt, _ := m.Selection.Performance["turing_test"].(map[string]any)
		if tt == nil || tt["AUC"] == nil {
			continue
		}
		for _, v := range tt["AUC"].([]any) {
			best = math.Min(best, math.Abs(num(v)-0.5))
		}
	}
	if h := r.Hits[0]; h.Metric == nil || math.Abs(math.Abs(h.Metric.Value-0.5)-best) > 1e-9 {
		t.Errorf("turing test top value %+v, want |v-0.5| = %g", h.Metric, best)
	}
}

func hasNote(r *Results, frag string) bool {
	for _, n := range r.Notes {
		if strings.Contains(n, frag) {
			return true
		}
	}
	return false
}

func TestSearchFilters(t *testing.T) {
	ms := medigan(t)
	c, _ := zoo.Embedded()
	// --with-mask: medigan says the model generates masks (or its id does).
	mask := ids(ms, func(m mgModel) bool {
		return anyContains(m.Selection.Generates, "mask") || strings.Contains(m.ID, "MASK")
	})
	sameSet(t, "--with-mask", hitIDs(search(t, Query{WithMask: true})), mask)
	// --conditional: a conditional architecture, a condition, or a
	// description that says conditional.
	cond := regexp.MustCompile(`(?i)(^|[^n])\bconditional\b`)
	conditional := ids(ms, func(m mgModel) bool {
		return len(m.Selection.Condition) > 0 || cond.MatchString(m.Selection.Type) ||
			cond.MatchString(m.Description.Title) || cond.MatchString(m.Description.Comment)
	})
	sameSet(t, "--conditional", hitIDs(search(t, Query{Conditional: true})), conditional)
	// --min-size and --function (the catalog's function field).
	var i2iBig []string
	for _, m := range c.Models {
		if !m.Demo && m.Function == zoo.FunctionImageToImage && m.Width >= 512 && m.Height >= 512 {
			i2iBig = append(i2iBig, m.ID)
		}
	}
	sameSet(t, "--function i2i --min-size 512", hitIDs(search(t, Query{Function: "image-to-image", MinSize: 512})), i2iBig)
	sameSet(t, "--function i2i", hitIDs(search(t, Query{Function: "i2i", MinSize: 512})), i2iBig)
	// Field filters, with synonyms.
	lung := ids(ms, func(m mgModel) bool { return anyContains(m.Selection.Organ, "lung") })
	sameSet(t, "--organ lungs", hitIDs(search(t, Query{Organ: []string{"lungs"}})), lung)
	dcgan := ids(ms, func(m mgModel) bool { return strings.Contains(strings.ToLower(m.Selection.Type), "dcgan") })
	sameSet(t, "--arch dcgan", hitIDs(search(t, Query{Arch: []string{"DCGAN"}})), dcgan)
	opt := ids(ms, func(m mgModel) bool { return anyContains(m.Selection.Dataset, "optimam") })
	sameSet(t, "--dataset optimam", hitIDs(search(t, Query{Dataset: []string{"OPTIMAM"}})), opt)
	// Repeated values of one filter: any of them.
	sameSet(t, "--organ lung --organ brain", hitIDs(search(t, Query{Organ: []string{"lung", "brain"}})),
		ids(ms, func(m mgModel) bool { return anyContains(m.Selection.Organ, "lung", "brain") }))
}

func TestSearchMalformedQueries(t *testing.T) {
	all := search(t, Query{})
	if all.Total == 0 {
		t.Fatal("the empty query finds nothing")
	}
	for _, terms := range [][]string{nil, {""}, {"  "}, {"", "\t"}} {
		r := search(t, Query{Terms: terms})
		if r.Total != all.Total {
			t.Errorf("%q: %d models, want all %d", terms, r.Total, all.Total)
		}
	}
	// Only punctuation: ignored, with a note.
	r := search(t, Query{Terms: []string{"***", "!!"}})
	if r.Total != all.Total || !hasNote(r, "no letters or digits") {
		t.Errorf("punctuation: %d, notes %v", r.Total, r.Notes)
	}
	// Quotes: a quoted phrase inside one argument, an unbalanced quote.
	r = search(t, Query{Terms: []string{`"chest x-ray" nodules`}})
	if r.Total == 0 || len(r.Terms) != 2 || r.Terms[0].Term != "chest x-ray" {
		t.Errorf("quoted phrase: %+v", r.Terms)
	}
	r = search(t, Query{Terms: []string{`"lung nodules`}})
	if r.Total == 0 || !hasNote(r, "unbalanced quote") {
		t.Errorf("unbalanced quote: total %d notes %v", r.Total, r.Notes)
	}
	r = search(t, Query{Terms: []string{"“mass”"}}) // typographic quotes
	if r.Total == 0 {
		t.Error("typographic quotes found nothing")
	}
	// Unicode: accents fold, other scripts are words that match nothing.
	if r := search(t, Query{Terms: []string{"tumör"}}); r.Total == 0 {
		t.Error("tumör finds no tumor model")
	}
	if r := search(t, Query{Terms: []string{"МРТ"}}); r.Total != 0 || !hasNote(r, "matches no model") {
		t.Errorf("Cyrillic: %d, %v", r.Total, r.Notes)
	}
	if r := search(t, Query{Terms: []string{strings.Repeat("x", 5000)}}); r.Total != 0 {
		t.Error("a 5000-letter word matched")
	}
	search(t, Query{Terms: []string{"\x00\xff\xfe", "a\u0301"}}) // invalid UTF-8, combining marks: no panic

	// Usage errors.
	for _, q := range []Query{
		{Op: "nand"},
		{MinSize: -1},
		{Limit: -2},
		{Order: "sideways", RankBy: "FID"},
		{Order: "asc"},
		{RankBy: "FIDD"},
		{RankBy: "dice"},
		{RankBy: "CLF.trained_on_real"},
		{Where: []string{"license"}},
		{Where: []string{"=MIT"}},
		{Where: []string{"license="}},
		{Where: []string{"height>tall"}},
		{Where: []string{"licence=MIT"}},
		{Where: []string{"FID~3"}},
		{Function: "teleport"},
		{Modality: []string{"   "}},
		{Modality: []string{"%%"}},
	} {
		_, err := embeddedIndex.Search(q)
		var qe *QueryError
		if !errors.As(err, &qe) {
			t.Errorf("%+v: %v, want a QueryError", q, err)
		}
	}
	// The messages help.
	_, err := embeddedIndex.Search(Query{RankBy: "FIDD"})
	if err == nil || !strings.Contains(err.Error(), "FID") {
		t.Errorf("--rank-by FIDD: %v", err)
	}
	_, err = embeddedIndex.Search(Query{RankBy: "dice"})
	if err == nil || !strings.Contains(err.Error(), "SEG.trained_on_fake.dice") {
		t.Errorf("--rank-by dice: %v", err)
	}
	_, err = embeddedIndex.Search(Query{Where: []string{"licence=MIT"}})
	if err == nil || !strings.Contains(err.Error(), "license") {
		t.Errorf("--where licence: %v", err)
	}
}

func TestSearchLimitAndScores(t *testing.T) {
	r := search(t, Query{Terms: []string{"mammography"}, Limit: 3})
	if len(r.Hits) != 3 || r.Total <= 3 {
		t.Fatalf("limit: %d hits of %d", len(r.Hits), r.Total)
	}
	for i, h := range r.Hits {
		if h.Rank != i+1 || h.Score <= 0 || len(h.Matched) == 0 {
			t.Errorf("hit %d: %+v", i, h)
		}
	}
	// An id word outranks a description mention.
	r = search(t, Query{Terms: []string{"polyp"}})
	if !strings.Contains(r.Hits[0].ID, "POLYP") {
		t.Errorf("polyp: top hit %s", r.Hits[0].ID)
	}
	// Explanations name the synonym used.
	r = search(t, Query{Terms: []string{"mamography"}})
	if !hasNote(r, `read as "mammography"`) {
		t.Errorf("typo note missing: %v", r.Notes)
	}
	// Only the closest correction counts: "tomography" is two edits away.
	for _, h := range r.Hits {
		if !slices.Contains(h.Modality, "MMG") {
			t.Errorf("mamography found %s (%v): %+v", h.ID, h.Modality, h.Matched)
		}
	}
}

// Different feature extractors are never ranked together.
func TestSearchProtocolGroups(t *testing.T) {
	c := &zoo.Catalog{Sources: []string{"t"}}
	add := func(id string, fid float64, extractor, ref string, images int) {
		c.Models = append(c.Models, zoo.Model{ID: id, Title: "breast " + id, Modality: []string{"MMG"}, Source: "t",
			Metrics: map[string]zoo.Metric{"FID": {Value: fid, Direction: "lower", Extractor: extractor, Reference: ref, Images: images, Source: "measured by zoo"}}})
	}
	add("a", 30, "inception-v3 (ImageNet)", "INbreast", 1000)
	add("b", 5, "clip-vit-b/32", "INbreast", 1000)
	add("c", 20, "inception-v3 (ImageNet)", "INbreast", 1000)
	add("d", 2, "clip-vit-b/32", "INbreast", 500)
	add("e", 10, "inception-v3 (ImageNet)", "INbreast", 1000)
	c.Models = append(c.Models, zoo.Model{ID: "f", Title: "breast f", Source: "t"})
	r, err := Catalog(c, Query{Terms: []string{"breast"}, RankBy: "FID"})
	if err != nil {
		t.Fatal(err)
	}
	if got := hitIDs(r); !reflect.DeepEqual(got, []string{"e", "c", "a", "d", "b", "f"}) {
		t.Errorf("order %v", got)
	}
	if len(r.Metric.Groups) != 2 || r.Metric.Groups[0].Extractor != "inception-v3 (ImageNet)" || r.Metric.Groups[1].Count != 2 {
		t.Errorf("groups %+v", r.Metric.Groups)
	}
	if !hasNote(r, "not comparable across them") || !hasNote(r, "different numbers of images") {
		t.Errorf("notes %v", r.Notes)
	}
	// Same reference set: no note about references.
	if hasNote(r, "reference data") {
		t.Errorf("a reference note without cause: %v", r.Notes)
	}
}

// Errors and notes name parameters the way the caller spells them: the
// CLI's flags, the HTTP API's query parameters, or plain names.
func TestSearchParamNames(t *testing.T) {
	flag := func(p string) string { return "--" + p }
	httpParam := func(p string) string { return strings.ReplaceAll(p, "-", "_") }
	for _, c := range []struct {
		style func(string) string
		want  string
	}{
		{nil, "asc/desc order a ranking: add rank-by METRIC"},
		{flag, "--asc/--desc order a ranking: add --rank-by METRIC"},
		{httpParam, "asc/desc order a ranking: add rank_by METRIC"},
	} {
		_, err := search0(t).Search(Query{Order: "asc", ParamName: c.style})
		if err == nil || err.Error() != c.want {
			t.Errorf("error %q, want %q", err, c.want)
		}
	}
	r, err := search0(t).Search(Query{Terms: []string{"MMG"}, RankBy: "FID", Order: "desc", ParamName: flag})
	if err != nil || !hasNote(r, "--desc lists the largest") {
		t.Errorf("notes %v (%v)", r.Notes, err)
	}
	for _, q := range []Query{{Op: "nand"}, {MinSize: -1}, {Where: []string{"licence=MIT"}}, {Modality: []string{" "}}, {Function: "x"}} {
		_, err := search0(t).Search(q)
		if err == nil || strings.Contains(err.Error(), "{{") || strings.Contains(err.Error(), "--") {
			t.Errorf("%+v: %v names a flag or an unrendered parameter", q, err)
		}
	}
}

// search0 is the medigan index the tests share.
func search0(t *testing.T) *Index {
	search(t, Query{})
	return embeddedIndex
}

// TestKeysMatchLikeMedigan: medigan's selector tests search with
// are_keys_also_matched, so catalog key names count: "clf" (a metric key)
// and "modality" (a field name). zoo matches them in the keys field, weighted
// below every value, and the explanation says so. medigan's four cases:
// three find models, and "modalities", no key or value, finds none.
func TestKeysMatchLikeMedigan(t *testing.T) {
	for _, tc := range []struct {
		terms []string
		want  []string // at least these, when set
		none  bool
	}{
		{terms: []string{"dcgan", "mMg", "ClF", "modality"}, want: []string{"00001_DCGAN_MMG_CALC_ROI", "00002_DCGAN_MMG_MASS_ROI", "00005_DCGAN_MMG_MASS_ROI"}},
		{terms: []string{"dcgan", "mMg", "ClF", "modality", "inbreast"}, want: []string{"00001_DCGAN_MMG_CALC_ROI"}},
		{terms: []string{"dcgan", "mMg", "ClF", "modality", "optimam"}, want: []string{"00002_DCGAN_MMG_MASS_ROI"}},
		{terms: []string{"dcgan", "mMg", "ClF", "modalities"}, none: true},
	} {
		r := search(t, Query{Terms: tc.terms})
		got := hitIDs(r)
		if tc.none {
			if len(got) != 0 {
				t.Errorf("%v: %v, want no model (medigan finds none)", tc.terms, got)
			}
			continue
		}
		for _, id := range tc.want {
			if !slices.Contains(got, id) {
				t.Errorf("%v: %v lacks %s", tc.terms, got, id)
			}
		}
		if len(r.Hits) > 0 && !strings.Contains(strings.Join(r.Hits[0].Matched, "; "), "modality in keys (metric and field names)") {
			t.Errorf("%v: the explanation %q does not say modality matched a key", tc.terms, r.Hits[0].Matched)
		}
	}
	// A word found as a value outranks the same word found only as a key:
	// "dataset" is a field name of every model and a word of some
	// descriptions.
	r := search(t, Query{Terms: []string{"dataset"}})
	keyOnly, valueHits := 0, 0
	for _, h := range r.Hits {
		if strings.Contains(strings.Join(h.Matched, "; "), "in keys") {
			keyOnly++
			continue
		}
		valueHits++
		if keyOnly > 0 {
			t.Errorf("%s matches dataset as a value but ranks below a model matching it only as a key", h.ID)
		}
	}
	if keyOnly == 0 || valueHits == 0 {
		t.Errorf(`"dataset": %d hits as a key, %d as a value; want both (the test needs them)`, keyOnly, valueHits)
	}
}

// TestMediganSelectorSuite translates medigan's own selector tests
// (tests/test_model_selector.py: its twelve parametrized cases) one for one,
// with medigan's assertions: at least one model found, the first ranked
// value beyond the second in the asked order, at least 21 models with an
// FID, and key-value lookups that find at least as many models as medigan
// expects and do not fail on a metric path. Until zoo matched key names,
// the first case found nothing.
func TestMediganSelectorSuite(t *testing.T) {
	// test_search_for_models_method: AND, keys matched, case-insensitive.
	for _, terms := range [][]string{{"dcgan", "mMg", "ClF", "modality"}, {"DCGAN", "Mammography"}} {
		if r := search(t, Query{Terms: terms}); len(r.Hits) == 0 {
			t.Errorf("search %v: no model; medigan finds some", terms)
		}
	}
	// inOrder is medigan's check on a ranking: the first hit's value
	// beyond the second's (below it for an ascending FID, where medigan
	// asserts nothing).
	inOrder := func(what string, r *Results, desc bool) {
		t.Helper()
		if len(r.Hits) == 0 || r.Hits[0].ID == "" {
			t.Errorf("%s: no ranked model", what)
			return
		}
		if len(r.Hits) < 2 {
			return
		}
		a, b := r.Hits[0].Metric, r.Hits[1].Metric
		if a == nil || b == nil {
			t.Errorf("%s: the first two hits lack the metric: %v, %v", what, a, b)
			return
		}
		if desc && !(a.Value > b.Value) {
			t.Errorf("%s: %s %g then %s %g, want descending", what, r.Hits[0].ID, a.Value, r.Hits[1].ID, b.Value)
		}
		if !desc && a.Value > b.Value {
			t.Errorf("%s: %s %g then %s %g, want ascending", what, r.Hits[0].ID, a.Value, r.Hits[1].ID, b.Value)
		}
	}
	// test_find_and_rank_models_by_performance: dcgan AND MMG, ranked
	// descending.
	for _, metric := range []string{"CLF.trained_on_real_and_fake.f1", "turing_test.AUC"} {
		r := search(t, Query{Terms: []string{"dcgan", "MMG"}, RankBy: metric, Order: "desc", SkipMissing: true})
		inOrder("dcgan MMG by "+metric, r, true)
	}
	// test_rank_models_by_performance: every model, by each metric.
	for _, tc := range []struct {
		metric string
		order  string
	}{{"FID", "asc"}, {"FID_RADIMAGENET_ratio", "desc"}, {"CLF.trained_on_real_and_fake.f1", "desc"}, {"turing_test.AUC", "desc"}} {
		r := search(t, Query{RankBy: tc.metric, Order: tc.order, SkipMissing: true})
		inOrder("rank by "+tc.metric, r, tc.order == "desc")
		if tc.metric == "FID" && len(r.Hits) < 21 {
			t.Errorf("rank by FID: %d models, medigan expects at least 21", len(r.Hits))
		}
	}
	// test_get_models_by_key_value_pair, case-insensitive.
	for _, tc := range []struct {
		where string
		least int
	}{
		{"modality=Full-Field Mammography", 2},
		{"license=BSD", 2},
		{"performance.CLF.trained_on_real_and_fake.f1=0.96", 0},
		{"performance.turing_test.AUC=0.56", 0},
	} {
		r, err := search0(t).Search(Query{Where: []string{tc.where}})
		if err != nil {
			t.Errorf("--where %q: %v", tc.where, err)
			continue
		}
		if len(r.Hits) < tc.least {
			t.Errorf("--where %q: %d models, medigan expects at least %d", tc.where, len(r.Hits), tc.least)
		}
	}
}
