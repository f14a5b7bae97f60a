// Package server is `zoo serve`: a web explorer of the catalog and an HTTP
// API over the same search engine and generators as the command line. One
// process, assets embedded, loopback by default. Models are loaded once and
// shared by concurrent requests; generation runs under a concurrency limit
// and a per-request timeout, so a slow request never blocks the rest.
package server

import (
	"archive/zip"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"medzoo/figure"
	"medzoo/internal/version"
	"medzoo/loader"
	"medzoo/output"
	"medzoo/zoo"
)

//go:embed web
var webFS embed.FS

// Options configure a Server.
type Options struct {
	Catalog *zoo.Catalog
	Store   *zoo.Store
	Device  string // auto, cpu, cuda:N
	// MaxN caps the samples of one generate request (default 64).
	MaxN int
	// Timeout bounds one generate request, waiting included (default 30 s).
	Timeout time.Duration
	// MaxConcurrent is how many generate requests run at once (default 4);
	// the others wait for a slot until their timeout.
	MaxConcurrent int
}

// Server serves the explorer and the API.
type Server struct {
	opt   Options
	slots chan struct{}

	mu     sync.Mutex
	models map[string]*loaded // by model id
}

// loaded is a model opened once and shared; ready is closed when gen or
// err is set, so concurrent first requests wait for one load.
type loaded struct {
	ready chan struct{}
	gen   *loader.Generator
	err   error
}

// New makes a server over the catalog.
func New(opt Options) *Server {
	if opt.MaxN <= 0 {
		opt.MaxN = 64
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.MaxConcurrent <= 0 {
		opt.MaxConcurrent = 4
	}
	if opt.Device == "" {
		opt.Device = "auto"
	}
	return &Server{opt: opt, slots: make(chan struct{}, opt.MaxConcurrent), models: map[string]*loaded{}}
}

// Close frees the loaded models.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.models {
		select {
		case <-l.ready:
			if l.gen != nil {
				l.gen.Close()
			}
		default: // still loading: its loader closes nothing else
		}
		delete(s.models, id)
	}
}

// Handler routes the API and the embedded assets.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/models", s.search)
	mux.HandleFunc("GET /api/models/{id}", s.details)
	mux.HandleFunc("GET /api/models/{id}/image", s.image)
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, "no such API endpoint %s; see /api/models", r.URL.Path)
	})
	web, _ := fs.Sub(webFS, "web")
	// http.FileServerFS serves only what is embedded; cleaned paths cannot
	// leave it.
	mux.Handle("GET /", http.FileServerFS(web))
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// httpError writes {"error": "..."} with the status.
func httpError(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// search: /api/models?q=TERMS&modality=&organ=&function=&runnable=1&rank_by=&limit=
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := zoo.Query{Terms: strings.Fields(v.Get("q")), Modality: v["modality"], Organ: v["organ"],
		Function: v.Get("function"), RankBy: v.Get("rank_by"), Order: v.Get("order")}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			httpError(w, http.StatusBadRequest, "limit %q: want a number ≥ 0", l)
			return
		}
		q.Limit = n
	}
	runnable := v.Get("runnable") == "1" || v.Get("runnable") == "true"
	limit := q.Limit
	if runnable {
		q.Limit = 0 // filter first, then limit
	}
	res, err := s.opt.Catalog.Search(q)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if runnable {
		kept := res.Hits[:0]
		for _, h := range res.Hits {
			if h.Runnable {
				kept = append(kept, h)
			}
		}
		for i := range kept {
			kept[i].Rank = i + 1
		}
		res.Total = len(kept)
		if limit > 0 && len(kept) > limit {
			kept = kept[:limit]
		}
		res.Hits = kept
	}
	writeJSON(w, res)
}

// details: the catalog entry, with the catalog's key names.
func (s *Server) details(w http.ResponseWriter, r *http.Request) {
	m, err := s.opt.Catalog.Resolve(r.PathValue("id"))
	if err != nil {
		httpError(w, http.StatusNotFound, "%v", err)
		return
	}
	out, err := modelJSON(m)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, out)
}

func modelJSON(m *zoo.Model) (map[string]any, error) {
	out, err := m.Map()
	if err != nil {
		return nil, err
	}
	if !m.Runnable() {
		out["runnable_reason"] = loader.NotRunnableError(m).Error()
	}
	return out, nil
}

// request is a parsed generate request.
type request struct {
	n, cols     int
	seed        uint64
	index       int
	conditions  map[string]string
	groups      int
	offsets     []float64
	shift       float64
	format      string // png or zip
	hasLatentOp bool
}

// parseRequest reads ?n=&cols=&seed=&index=&condition=NAME=VALUE&groups=&offsets=a,b,..&shift=&format=
func (s *Server) parseRequest(r *http.Request) (*request, error) {
	v := r.URL.Query()
	req := &request{n: 1, format: "png", conditions: map[string]string{}}
	ints := []struct {
		key      string
		dst      *int
		lo, hi   int
		purposes string
	}{
		{"n", &req.n, 1, s.opt.MaxN, "samples"},
		{"cols", &req.cols, 0, 1024, "columns"},
		{"index", &req.index, 0, 1 << 30, "the first sample's index"},
		{"groups", &req.groups, 0, 1 << 16, "latent slider groups"},
	}
	for _, f := range ints {
		if s := v.Get(f.key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < f.lo || n > f.hi {
				return nil, fmt.Errorf("%s=%q: want %s from %d to %d", f.key, s, f.purposes, f.lo, f.hi)
			}
			*f.dst = n
		}
	}
	if s := v.Get("seed"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seed=%q: want a non-negative integer", s)
		}
		req.seed = n
	}
	for _, c := range v["condition"] {
		name, val, ok := strings.Cut(c, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("condition=%q: want NAME=VALUE", c)
		}
		req.conditions[name] = val
	}
	if s := v.Get("offsets"); s != "" {
		for _, f := range strings.Split(s, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || x < -10 || x > 10 {
				return nil, fmt.Errorf("offsets: %q is not a number from -10 to 10", f)
			}
			req.offsets = append(req.offsets, x)
		}
		req.hasLatentOp = true
	}
	if s := v.Get("shift"); s != "" {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || x < -10 || x > 10 {
			return nil, fmt.Errorf("shift=%q: want a number from -10 to 10", s)
		}
		req.shift, req.hasLatentOp = x, true
	}
	if len(req.offsets) > 0 && req.groups != len(req.offsets) {
		return nil, fmt.Errorf("offsets has %d values for groups=%d: give one offset per group", len(req.offsets), req.groups)
	}
	switch f := v.Get("format"); f {
	case "", "png":
	case "zip":
		req.format = "zip"
	default:
		return nil, fmt.Errorf("format=%q: want png or zip", f)
	}
	return req, nil
}

// image: /api/models/{id}/image — n samples as one PNG figure (masks beside
// their images) or, with format=zip, one PNG per output in a zip.
func (s *Server) image(w http.ResponseWriter, r *http.Request) {
	m, err := s.opt.Catalog.Resolve(r.PathValue("id"))
	if err != nil {
		httpError(w, http.StatusNotFound, "%v", err)
		return
	}
	if !m.Runnable() {
		httpError(w, http.StatusUnprocessableEntity, "%v", loader.NotRunnableError(m))
		return
	}
	if len(m.Signature.ImageInputs()) > 0 {
		httpError(w, http.StatusUnprocessableEntity, "model %s is image-to-image: it needs input images, which this API does not take; use zoo generate --input", m.ID)
		return
	}
	req, err := s.parseRequest(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.Timeout)
	defer cancel()
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		httpError(w, http.StatusServiceUnavailable, "busy: no generation slot within %s; retry later", s.opt.Timeout)
		return
	}
	gen, err := s.generator(ctx, m)
	if err != nil {
		s.failed(w, ctx, err)
		return
	}
	if err := gen.ValidateConditions(req.conditions); err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	opt := loader.Options{Seed: req.seed, Conditions: req.conditions}
	if req.hasLatentOp {
		if gen.LatentSize() == 0 {
			httpError(w, http.StatusBadRequest, "model %s has no latent to move", m.ID)
			return
		}
		if req.groups > gen.LatentSize() {
			httpError(w, http.StatusBadRequest, "groups=%d: the latent has only %d values", req.groups, gen.LatentSize())
			return
		}
		opt.Latent = shiftedLatent(req, m.Signature.Distribution, gen.LatentSize())
	}
	type result struct {
		samples []loader.Sample
		err     error
	}
	done := make(chan result, 1)
	go func() {
		smp, err := gen.Generate(ctx, req.index, req.n, opt)
		done <- result{smp, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		s.failed(w, ctx, ctx.Err())
		return
	}
	if res.err != nil {
		s.failed(w, ctx, res.err)
		return
	}
	if req.format == "zip" {
		s.writeZip(w, m, req, res.samples)
		return
	}
	s.writeFigure(w, m, req, res.samples)
}

// failed answers a failed load or generation: 503 when the request ran out
// of time (whichever step noticed it), else 500.
func (s *Server) failed(w http.ResponseWriter, ctx context.Context, err error) {
	if ctx.Err() != nil {
		httpError(w, http.StatusServiceUnavailable, "generation took longer than %s; ask for fewer samples or retry", s.opt.Timeout)
		return
	}
	httpError(w, http.StatusInternalServerError, "%v", err)
}

// shiftedLatent is the explorer's latent: sample (seed, index)'s latent
// with offsets[g] added to the g-th of `groups` equal runs of values, and
// shift added to all of them (medigan's visualizer sliders).
func shiftedLatent(req *request, dist string, size int) func(int, []float32) {
	return func(i int, dst []float32) {
		loader.FillLatent(dst, req.seed, uint64(i), dist)
		for j := range dst {
			d := req.shift
			if req.groups > 0 && len(req.offsets) > 0 {
				d += req.offsets[j*req.groups/size]
			}
			dst[j] += float32(d)
		}
	}
}

func (s *Server) generator(ctx context.Context, m *zoo.Model) (*loader.Generator, error) {
	s.mu.Lock()
	l, ok := s.models[m.ID]
	if !ok {
		l = &loaded{ready: make(chan struct{})}
		s.models[m.ID] = l
		s.mu.Unlock()
		path, err := s.opt.Store.Fetch(context.Background(), m)
		if err == nil {
			l.gen, err = loader.Open(m, path, s.opt.Device)
		}
		l.err = err
		close(l.ready)
		if err != nil { // let a later request try again
			s.mu.Lock()
			delete(s.models, m.ID)
			s.mu.Unlock()
		}
		return l.gen, l.err
	}
	s.mu.Unlock()
	select {
	case <-l.ready:
		return l.gen, l.err
	case <-ctx.Done():
		return nil, errors.New("model still loading; retry")
	}
}

func (s *Server) provenance(m *zoo.Model, req *request) output.Provenance {
	return output.Provenance{Synthetic: true, Model: m.ID, Version: m.Version, SHA256: m.Artifact.SHA256, Seed: req.seed,
		Index: req.index, Generator: version.Generator(), Demo: m.Demo}
}

func (s *Server) writeFigure(w http.ResponseWriter, m *zoo.Model, req *request, samples []loader.Sample) {
	cols := req.cols
	if cols <= 0 {
		cols = min(req.n, 8)
	}
	var rows [][]figure.Cell
	for i := 0; i < len(samples); i += cols {
		var row []figure.Cell
		for _, smp := range samples[i:min(i+cols, len(samples))] {
			row = append(row, figure.Cell(smp.Outputs))
		}
		rows = append(rows, row)
	}
	canvas, err := figure.Compose(rows)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	p := s.provenance(m, req)
	p.Output = "figure"
	p.Figure = fmt.Sprintf("samples %d-%d", req.index, req.index+req.n-1)
	if req.hasLatentOp {
		p.Figure += fmt.Sprintf(", latent moved by groups %v and shift %g", req.offsets, req.shift)
	}
	var buf bytes.Buffer
	if err := output.WritePNG(&buf, canvas, p); err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func (s *Server) writeZip(w http.ResponseWriter, m *zoo.Model, req *request, samples []loader.Sample) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	enc, _ := output.Lookup("png")
	for _, smp := range samples {
		for _, o := range smp.Outputs {
			p := s.provenance(m, req)
			p.Index, p.Output, p.Conditions = smp.Index, o.Spec.Name, smp.Conditions
			f, err := zw.Create(fmt.Sprintf("%05d_%s.png", smp.Index, o.Spec.Name))
			if err != nil {
				httpError(w, http.StatusInternalServerError, "%v", err)
				return
			}
			img := output.Image{Channels: o.Spec.Channels, Height: o.Spec.Height, Width: o.Spec.Width, Data: o.Data,
				Range: o.Spec.Range, Label: o.Spec.Kind == zoo.KindLabel}
			if err := enc.Encode(f, img, p); err != nil {
				httpError(w, http.StatusInternalServerError, "%v", err)
				return
			}
		}
	}
	if err := zw.Close(); err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", m.ID+".zip"))
	w.Write(buf.Bytes())
}
