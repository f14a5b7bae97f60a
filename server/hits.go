package server

import (
	"net/http"
	"net/url"
	"sort"
	"sync"

	"medzoo/zoo"
	"medzoo/zoo/search"
)

// The catalog page shows one metric in each row and offers a rank-by
// control over the metrics the catalog has. The search index carries a
// hit's metric only when the search ranks by one; hitInfo adds, for the
// other searches, each model's headline metric from the catalog, and lists
// the catalog's metrics for the control.

// headlineOrder is which metric a row shows when the search ranks by none:
// the first of these the model has, else its first metric by name. FID
// first because nearly every entry has one and papers lead with it.
var headlineOrder = []string{"FID", "FID_RADIMAGENET", "KID", "SSIM", "PSNR", "MSE"}

// hitInfo is built once from the catalog (a server's catalog does not
// change while it runs).
type hitInfo struct {
	once      sync.Once
	headline  map[string]*rowMetric // by model id; nil entry: no metrics
	thumbnail map[string]thumbInfo  // by model id
	metrics   []metricOption
}

// thumbInfo is a model's thumbnail URL, or why it has none.
type thumbInfo struct{ url, why string }

// rowMetric is the metric a catalog row shows, with whether the value is
// self-reported or measured (the catalog's source) and which way is better.
type rowMetric struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Source    string  `json:"source,omitempty"`
	Extractor string  `json:"extractor,omitempty"`
	Better    string  `json:"better"`
}

// metricOption is one metric of the rank-by control.
type metricOption struct {
	Name    string `json:"name"`
	Models  int    `json:"models"` // entries that have it
	Better  string `json:"better"` // lower, higher, target, unknown
	Meaning string `json:"meaning,omitempty"`
}

func (hi *hitInfo) build(c *zoo.Catalog) {
	hi.once.Do(func() {
		hi.headline, hi.thumbnail = map[string]*rowMetric{}, map[string]thumbInfo{}
		count := map[string]int{}
		direction := map[string]string{}
		for i := range c.Models {
			m := &c.Models[i]
			for name, v := range m.Metrics {
				count[name]++
				if direction[name] == "" {
					direction[name] = v.Direction
				}
			}
			hi.headline[m.ID] = headlineOf(m)
			if err := noThumbnail(m); err != nil {
				hi.thumbnail[m.ID] = thumbInfo{why: err.Error()}
			} else {
				hi.thumbnail[m.ID] = thumbInfo{url: "/api/models/" + url.PathEscape(m.ID) + "/thumbnail"}
			}
		}
		for name, n := range count {
			mi := zoo.MetricInfoFor(name, direction[name])
			hi.metrics = append(hi.metrics, metricOption{Name: name, Models: n, Better: mi.Better.String(), Meaning: mi.Meaning})
		}
		// Most common first: those rank the most models against each other.
		sort.Slice(hi.metrics, func(i, j int) bool {
			a, b := hi.metrics[i], hi.metrics[j]
			if a.Models != b.Models {
				return a.Models > b.Models
			}
			return a.Name < b.Name
		})
	})
}

func headlineOf(m *zoo.Model) *rowMetric {
	if len(m.Metrics) == 0 {
		return nil
	}
	name := ""
	for _, n := range headlineOrder {
		if _, ok := m.Metrics[n]; ok {
			name = n
			break
		}
	}
	if name == "" {
		names := make([]string, 0, len(m.Metrics))
		for n := range m.Metrics {
			names = append(names, n)
		}
		sort.Strings(names)
		name = names[0]
	}
	v := m.Metrics[name]
	return &rowMetric{Name: name, Value: v.Value, Source: v.Source, Extractor: v.Extractor,
		Better: zoo.MetricInfoFor(name, v.Direction).Better.String()}
}

// hitOut is a search hit with the metric its row shows: the rank_by
// metric when the search ranks by one (nil for a model without it), else
// the model's headline metric.
type hitOut struct {
	search.Hit
	Shown *rowMetric `json:"shown_metric,omitempty"`
	// Thumbnail is the URL of the model's thumbnail, for models that have
	// one (thumbs.go): runnable, and not image-to-image; NoThumbnail says
	// why the others have none.
	Thumbnail   string `json:"thumbnail,omitempty"`
	NoThumbnail string `json:"no_thumbnail,omitempty"`
}

// resultsOut is search.Results with hitOut hits: its results field
// shadows the embedded one.
type resultsOut struct {
	*search.Results
	Hits []hitOut `json:"results"`
}

// withHeadlines adds each hit's shown metric to a search's results.
func (s *Server) withHeadlines(res *search.Results) resultsOut {
	s.hits.build(s.opt.Catalog)
	out := resultsOut{Results: res, Hits: make([]hitOut, len(res.Hits))}
	for i, h := range res.Hits {
		out.Hits[i].Hit = h
		t := s.hits.thumbnail[h.ID]
		out.Hits[i].Thumbnail, out.Hits[i].NoThumbnail = t.url, t.why
		switch {
		case h.Metric != nil:
			mi := zoo.MetricInfoFor(h.Metric.Name, h.Metric.Direction)
			out.Hits[i].Shown = &rowMetric{Name: h.Metric.Name, Value: h.Metric.Value, Source: h.Metric.Source,
				Extractor: h.Metric.Extractor, Better: mi.Better.String()}
		case res.Metric == nil:
			out.Hits[i].Shown = s.hits.headline[h.ID]
		}
	}
	return out
}

// metrics: GET /api/metrics — the metrics the catalog has, most common
// first, for the catalog page's rank-by control.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	s.hits.build(s.opt.Catalog)
	writeJSON(w, map[string]any{"metrics": s.hits.metrics,
		"note": "rank with /api/models?rank_by=NAME&order=asc|desc; values computed with different feature extractors are never ranked against each other"})
}
