package server

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCitationAPI: DOIs link to doi.org (or as given when already a URL),
// the Zenodo record comes from the artifact URL, and the BibTeX holds the
// entry's title, year, authors, DOI and URL.
func TestCitationAPI(t *testing.T) {
	ts := testServer(t, Options{})
	cite := func(id string) citation {
		t.Helper()
		code, _, body := get(t, ts.URL+"/api/models/"+id+"/links")
		var c citation
		if code != 200 || json.Unmarshal(body, &c) != nil {
			t.Fatalf("citation of %s: %d %s", id, code, body)
		}
		return c
	}

	c := cite("00001_DCGAN_MMG_CALC_ROI")
	if len(c.DOI) != 1 || c.DOI[0] != (citeLink{Text: "10.5281/zenodo.5187714", URL: "https://doi.org/10.5281/zenodo.5187714"}) {
		t.Errorf("00001's DOI links: %+v; want the bare DOI linked at doi.org", c.DOI)
	}
	if c.Zenodo != "https://zenodo.org/record/7031735" {
		t.Errorf("00001's Zenodo record: %q; want https://zenodo.org/record/7031735 (from its artifact URL)", c.Zenodo)
	}
	for _, want := range []string{"@misc{zoo:00001_DCGAN_MMG_CALC_ROI,",
		"title = {DCGAN Model for Mammogram Calcification Region of Interest Generation (Trained on INbreast)}",
		"year = {2021}", "doi = {10.5281/zenodo.5187714}", "url = {https://zenodo.org/record/7031735}",
		`note = {Generative model 00001\_DCGAN\_MMG\_CALC\_ROI, version 0.0.1, in the medzoo catalog}`} {
		if !strings.Contains(c.BibTeX, want) {
			t.Errorf("00001's BibTeX lacks %q:\n%s", want, c.BibTeX)
		}
	}
	if c.SampleImages != mediganSamples {
		t.Errorf("00001's sample images: %q; want medigan's README table", c.SampleImages)
	}
	if strings.Count(c.BibTeX, "{") != strings.Count(c.BibTeX, "}") || !strings.HasSuffix(c.BibTeX, "\n}\n") {
		t.Errorf("00001's BibTeX is not one balanced entry:\n%s", c.BibTeX)
	}

	// DOIs given as URLs stay as given; "records/" URLs keep their form.
	c = cite("00007_INPAINT_BRAIN_MRI")
	if len(c.DOI) != 2 || c.DOI[1] != (citeLink{Text: "10.1002/mp.14701", URL: "https://doi.org/10.1002/mp.14701"}) {
		t.Errorf("00007's DOI links: %+v", c.DOI)
	}
	if c.Zenodo != "https://zenodo.org/records/10214796" || c.Publication == nil || c.Publication.URL != "" || c.Publication.Text != "Medical Physics Journal" {
		t.Errorf("00007: Zenodo %q, publication %+v; want the records/ link and the publication as text", c.Zenodo, c.Publication)
	}
	if !strings.Contains(c.BibTeX, "publication: Medical Physics Journal") {
		t.Errorf("00007's BibTeX does not name its publication:\n%s", c.BibTeX)
	}

	// A publication that is a URL is a link.
	c = cite("00022_WGAN_CARDIAC_AGING")
	if c.Publication == nil || c.Publication.URL != "https://www.frontiersin.org/articles/10.3389/fcvm.2022.983091" {
		t.Errorf("00022's publication: %+v; want its URL as the link", c.Publication)
	}

	// Authors are in the entry; a bundled model has no Zenodo record.
	c = cite("00101_DCGAN_MRI_COLIN27_DEMO")
	if !strings.Contains(c.BibTeX, "author = {{medzoo developers}}") || c.Zenodo != "" || c.SampleImages != "" {
		t.Errorf("00101: Zenodo %q, BibTeX:\n%s\nwant its authors and no Zenodo record", c.Zenodo, c.BibTeX)
	}
	wantError(t, ts, "/api/models/nope/links", 404, "nope")
}

func TestCiteLinksRefuseOtherSchemes(t *testing.T) {
	for _, d := range []string{"javascript:alert(1)", "ftp://doi.org/10.1/x", "https://", "10.1/too-short-prefix", `https://a.b/"x`} {
		l, ok := doiLink(d)
		if ok && l.URL != "" {
			t.Errorf("doiLink(%q) links to %q; want no link", d, l.URL)
		}
	}
	if z := zenodoRecord("https://zenodo.org.evil.example/record/1/files/x"); z != "" {
		t.Errorf("a look-alike host gives the Zenodo record %q", z)
	}
	if got := bibEscape(`50% & {x}_y`); got != `50\% \& \{x\}\_y` {
		t.Errorf("bibEscape: %q", got)
	}
}

// TestRowMetricsAPI: every hit carries the metric its row shows (the
// headline, FID first, when the search ranks by none; the rank_by metric
// otherwise), with the catalog's source, and /api/metrics lists the
// catalog's metrics for the rank-by control.
func TestRowMetricsAPI(t *testing.T) {
	ts := testServer(t, Options{})
	type hit struct {
		ID          string
		Shown       *rowMetric `json:"shown_metric"`
		Thumbnail   string
		NoThumbnail string `json:"no_thumbnail"`
	}
	search := func(q string) []hit {
		t.Helper()
		code, _, body := get(t, ts.URL+"/api/models?"+q)
		var res struct{ Results []hit }
		if code != 200 || json.Unmarshal(body, &res) != nil || len(res.Results) == 0 {
			t.Fatalf("search %s: %d %s", q, code, body)
		}
		return res.Results
	}
	byID := map[string]hit{}
	for _, h := range search("") {
		byID[h.ID] = h
	}
	if s := byID["00001_DCGAN_MMG_CALC_ROI"].Shown; s == nil || s.Name != "FID" || s.Source != "self-reported (medigan)" || s.Better != "lower" {
		t.Errorf("00001's row metric: %+v; want its self-reported FID", s)
	}
	if s := byID["00101_DCGAN_MRI_COLIN27_DEMO"].Shown; s == nil || s.Name != "FID" || s.Source != "measured by zoo" {
		t.Errorf("00101's row metric: %+v; want its FID measured by zoo", s)
	}

	for id, want := range map[string]bool{"00101_DCGAN_MRI_COLIN27_DEMO": true, "00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO": true,
		"00104_PIX2PIX_MRI_MASK_TO_T1_DEMO": false, "00001_DCGAN_MMG_CALC_ROI": false} {
		if got := byID[id].Thumbnail; (got != "") != want || (want && got != "/api/models/"+id+"/thumbnail") {
			t.Errorf("%s's thumbnail URL: %q; want one: %v", id, got, want)
		}
		if why := byID[id].NoThumbnail; (why == "") != want {
			t.Errorf("%s's no_thumbnail: %q; want a reason only when it has no thumbnail", id, why)
		}
	}

	if why := byID["00104_PIX2PIX_MRI_MASK_TO_T1_DEMO"].NoThumbnail; !strings.Contains(why, "image-to-image") {
		t.Errorf("00104's no_thumbnail: %q; want it to say image-to-image", why)
	}

	ranked := search("rank_by=KID")
	with := 0
	for _, h := range ranked {
		switch {
		case h.Shown == nil:
		case h.Shown.Name != "KID":
			t.Errorf("ranked by KID, %s shows %+v", h.ID, h.Shown)
		default:
			with++
		}
	}
	if with == 0 || with == len(ranked) || ranked[0].Shown == nil {
		t.Errorf("ranked by KID: %d of %d rows show KID; want the models with KID first, the others without a metric", with, len(ranked))
	}

	code, _, body := get(t, ts.URL+"/api/metrics")
	var ms struct{ Metrics []metricOption }
	if code != 200 || json.Unmarshal(body, &ms) != nil || len(ms.Metrics) == 0 {
		t.Fatalf("/api/metrics: %d %s", code, body)
	}
	if m := ms.Metrics[0]; m.Name != "FID" || m.Better != "lower" || m.Models < 20 {
		t.Errorf("the most common metric: %+v; want FID, lower is better, in most entries", m)
	}
}
