// Package server is `zoo serve`: a web explorer of the catalog and an HTTP
// API over the same search engine and generators as the command line. One
// process, assets embedded, loopback by default. Each model runs in its own
// child runner process (package runner), started on first use and kept, so
// a forward that never returns or a crash inside LibTorch costs one request,
// not the server: a request that runs out of time kills its model's runner,
// and the next request starts a fresh one. Generation runs under a
// concurrency limit and a per-request timeout, connections under header,
// idle and write timeouts and a connection limit (see Serve).
package server

import (
	"archive/zip"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"medzoo/figure"
	"medzoo/internal/limits"
	"medzoo/internal/pipeline"
	"medzoo/loader"
	"medzoo/output"
	"medzoo/runner"
	"medzoo/zoo"
	"medzoo/zoo/search"
	"medzoo/zoo/store"
)

//go:embed web
var webFS embed.FS

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Catalog *zoo.Catalog
	Store   *store.Store
	Device  string // auto, cpu, cuda:N
	// Threads is LibTorch's intra-op thread count in each runner (0: one
	// per CPU core).
	Threads int
	// MaxN caps the samples of one generate request (default 64).
	MaxN int
	// MaxExportN caps the samples of one data-set export, which streams
	// (default DefaultMaxExportN; see export.go).
	MaxExportN int
	// Timeout bounds a generate request's wait for its model and a slot,
	// and then, separately, its run (default 30 s).
	Timeout time.Duration
	// MaxConcurrent is how many generate requests run at once (default 4);
	// the others wait for a slot until their timeout.
	MaxConcurrent int
	// Runner starts a model's child process (default: this executable's
	// hidden `runner` subcommand, which zoo-torch has).
	Runner runner.Command
	// Log receives runner lifecycle lines and the runners' own standard
	// error (default os.Stderr).
	Log io.Writer

	// Connection limits, used by Serve.
	MaxConns    int           // open connections at once (default 128)
	IdleTimeout time.Duration // a keep-alive connection's wait for its next request (default 30 s)
	Grace       time.Duration // how long shutdown lets requests in flight finish (default 5 s)
}

// Server serves the explorer and the API.
type Server struct {
	opt   Options
	slots chan struct{}

	// index is the catalog's search index, built once on the first search
	// rather than on every /api/models request.
	indexOnce sync.Once
	index     *search.Index
	indexErr  error

	mu     sync.Mutex
	models map[string]*modelSlot // by model id
	closed bool                  // Close was called: refuse new generation

	thumbs thumbCache // thumbnails by artifact (thumbs.go)
	hits   hitInfo    // what the catalog page shows beside each hit (hits.go)
}

// modelSlot is one model's runner. turn holds one token: a request takes it
// to use the runner, so requests to one model run one after another (their
// forwards would be serial inside LibTorch anyway) and a timed-out request
// can kill the runner without hurting a neighbour's forward.
type modelSlot struct {
	turn chan struct{}
	proc *runner.Process // guarded by Server.mu; nil or exited: start one

	// A model whose artifact does not load fails the same way every time:
	// remember why, for the artifact file as it is (path, size, mtime),
	// instead of paying a runner start per request. Guarded by turn.
	loadErr   error
	loadStamp string

	// starting is a runner being started, nil when none is. Starting
	// LibTorch and a model takes a second or more, several under load: a
	// start is never cut short by a request's timeout (that would kill
	// every runner mid-load, under load, in a spiral of restarts). A
	// request that runs out of time while its model loads gets 503, and
	// the load goes on for the next one. Guarded by turn.
	starting *pendingStart
}

// pendingStart is a runner start running on its own, with a time limit of
// its own (runnerLoadTimeout).
type pendingStart struct {
	done  chan struct{}
	stamp string
	p     *runner.Process
	err   error
}

// runnerLoadTimeout bounds one runner start (LibTorch and the model
// loading), independently of any request's --timeout.
const runnerLoadTimeout = 5 * time.Minute

// errLoading answers a request whose time ran out while its model's runner
// was still starting.
type errLoading struct{ id string }

func (e errLoading) Error() string {
	return fmt.Sprintf("model %s is still loading (its runner process is starting); retry in a moment", e.id)
}

// New makes a server over the catalog.
func New(opt Options) *Server {
	if opt.MaxN <= 0 {
		opt.MaxN = 64
	}
	if opt.MaxExportN <= 0 {
		opt.MaxExportN = DefaultMaxExportN
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
	if opt.Runner.Path == "" {
		self, _ := os.Executable()
		opt.Runner = runner.Command{Path: self, Args: []string{"runner"}}
	}
	if opt.Log == nil {
		opt.Log = os.Stderr
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 128
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 30 * time.Second
	}
	if opt.Grace <= 0 {
		opt.Grace = 5 * time.Second
	}
	return &Server{opt: opt, slots: make(chan struct{}, opt.MaxConcurrent), models: map[string]*modelSlot{}}
}

// Close stops every runner at once, forward in progress or not, and makes
// later generate requests answer 503. Requests waiting on a runner get 503.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	var procs []*runner.Process
	for _, slot := range s.models {
		if slot.proc != nil {
			procs = append(procs, slot.proc)
			slot.proc = nil
		}
	}
	s.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for _, p := range procs {
		p.Wait(2 * time.Second)
	}
}

// Runners returns the process ids of the runners alive now.
func (s *Server) Runners() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pids []int
	for _, slot := range s.models {
		if slot.proc != nil && !slot.proc.Exited() {
			pids = append(pids, slot.proc.Pid)
		}
	}
	return pids
}

func (s *Server) logf(format string, args ...any) {
	fmt.Fprintf(s.opt.Log, "zoo serve: "+format+"\n", args...)
}

// Handler routes the API and the embedded assets.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/models", s.search)
	mux.HandleFunc("GET /api/models/{id}", s.details)
	mux.HandleFunc("GET /api/models/{id}/image", s.image)
	mux.HandleFunc("GET /api/models/{id}/values", s.values)
	mux.HandleFunc("GET /api/models/{id}/examples", s.examples)
	mux.HandleFunc("GET /api/models/{id}/examples/{name}", s.exampleFile)
	mux.HandleFunc("GET /api/models/{id}/thumbnail", s.thumbnail)
	mux.HandleFunc("GET /api/models/{id}/links", s.links)
	mux.HandleFunc("GET /api/metrics", s.metrics)
	mux.HandleFunc("GET /api/models/{id}/export", s.export)
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, "no such API endpoint %s; see /api/models", r.URL.Path)
	})
	web, _ := fs.Sub(webFS, "web")
	// http.FileServerFS serves only what is embedded; cleaned paths cannot
	// leave it.
	mux.Handle("GET /", http.FileServerFS(web))
	// The one route that takes a body (upload.go); every other keeps
	// onlyGET's rules.
	top := http.NewServeMux()
	top.HandleFunc("POST /api/models/{id}/generate", s.upload)
	top.Handle("/", onlyGET(mux))
	return securityHeaders(top)
}

// onlyGET refuses what the API never takes, with a JSON reason instead of
// the mux's plain text: other methods, and request bodies (parameters go
// in the query string), which are never read, so their size cannot matter.
func onlyGET(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, "method %s is not allowed: the explorer and the API take GET requests only", r.Method)
			return
		}
		if r.ContentLength != 0 {
			httpError(w, http.StatusRequestEntityTooLarge, "a %s request takes no body: give the parameters in the query string (see /api/models)", r.Method)
			return
		}
		h.ServeHTTP(w, r)
	})
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
	q := search.Query{Terms: strings.Fields(v.Get("q")), Modality: v["modality"], Organ: v["organ"],
		Function: v.Get("function"), RankBy: v.Get("rank_by"), Order: v.Get("order"),
		// Messages name this API's query parameters (rank_by, order).
		ParamName: queryParamName}
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
	ix, err := s.searchIndex()
	if err != nil {
		httpError(w, http.StatusInternalServerError, "search index: %v", err)
		return
	}
	res, err := ix.Search(q)
	var qe *search.QueryError
	switch {
	case errors.As(err, &qe):
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	case err != nil:
		httpError(w, http.StatusInternalServerError, "search: %v", err)
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
	writeJSON(w, s.withHeadlines(res))
}

// queryParamName spells a search parameter as /api/models takes it.
func queryParamName(p string) string {
	switch p {
	case "asc", "desc":
		return "order=" + p
	}
	return strings.ReplaceAll(p, "-", "_")
}

func (s *Server) searchIndex() (*search.Index, error) {
	s.indexOnce.Do(func() {
		s.index, s.indexErr = search.OpenIndexBytes(search.BuildIndex(s.opt.Catalog))
	})
	return s.index, s.indexErr
}

// details: the catalog entry, with the catalog's key names.
func (s *Server) details(w http.ResponseWriter, r *http.Request) {
	m, ok := s.pathModel(w, r)
	if !ok {
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
	format      string // png or zip (values: pixels.go)
	hasLatentOp bool
	// inputs are the input files of an image-to-image request (upload.go),
	// inputName the name its provenance gives the one input.
	inputs    []string
	inputName string
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
			if err != nil || !(x >= -10 && x <= 10) { // NaN fails both
				return nil, fmt.Errorf("offsets: %q is not a number from -10 to 10", f)
			}
			req.offsets = append(req.offsets, x)
		}
		req.hasLatentOp = true
	}
	if s := v.Get("shift"); s != "" {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || !(x >= -10 && x <= 10) {
			return nil, fmt.Errorf("shift=%q: want a number from -10 to 10", s)
		}
		req.shift, req.hasLatentOp = x, true
	}
	if len(req.offsets) > 0 && req.groups != len(req.offsets) {
		return nil, fmt.Errorf("offsets has %d values for groups=%d: give one offset per group", len(req.offsets), req.groups)
	}
	switch f := v.Get("format"); f {
	case "", "png":
	case "zip", "values":
		req.format = f
	default:
		return nil, fmt.Errorf("format=%q: want png or zip, or values for one sample's raw values", f)
	}
	return req, nil
}

// image: /api/models/{id}/image — n samples as one PNG figure (masks beside
// their images) or, with format=zip, one PNG per output in a zip.
func (s *Server) image(w http.ResponseWriter, r *http.Request) {
	m, ok := s.runnableModel(w, r)
	if !ok {
		return
	}
	req, err := s.parseRequest(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if len(m.Signature.ImageInputs()) > 0 {
		s.exampleRun(w, r, m) // upload.go: ?example=NAME
		return
	}
	if req.format == "values" {
		httpError(w, http.StatusBadRequest, "format=values: one sample's values come from /api/models/%s/values?seed=&index=&output=", m.ID)
		return
	}
	if status, err := checkSize(m, req.n); err != nil {
		httpError(w, status, "%v", err)
		return
	}
	samples, ok := s.run(w, r, m, req)
	if !ok {
		return
	}
	if req.format == "zip" {
		s.writeZip(w, m, req, samples)
		return
	}
	s.writeFigure(w, m, req, samples)
}

// run generates req's samples in m's runner, or answers the failure and
// returns false.
func (s *Server) run(w http.ResponseWriter, r *http.Request, m *zoo.Model, req *request) ([]loader.Sample, bool) {
	// Waiting ends at the timeout or when the client leaves, and costs
	// nothing. The run then gets a timeout of its own, counted from when it
	// starts: ending a forward means killing the runner, so it must not
	// happen to a healthy one just because its request queued (under load
	// that would restart runners in a spiral), nor because the client left
	// (a client could then kill runners at will).
	wait, cancel := context.WithTimeout(r.Context(), s.opt.Timeout)
	defer cancel()
	// First the model's turn, then a generation slot: a request queued
	// behind a busy model holds no slot that other models could use.
	slot := s.slotFor(m.ID)
	releaseTurn, err := s.takeTurn(wait, slot, m.ID)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "%v", err)
		return nil, false
	}
	defer releaseTurn()
	releaseSlot, err := s.takeSlot(wait)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "%v", err)
		return nil, false
	}
	defer releaseSlot()
	run, cancelRun := context.WithTimeout(context.WithoutCancel(r.Context()), s.opt.Timeout)
	defer cancelRun()
	samples, err := s.generate(run, slot, m, req)
	if err != nil {
		s.failed(w, m, err)
		return nil, false
	}
	return samples, true
}

// maxRequestValues bounds the float32 values one request may make a runner
// hold (latents and outputs of its compute blocks), so that a request, or
// a catalog declaring a 100000x100000 output, cannot exhaust memory: 1 GiB.
const maxRequestValues = 1 << 28

// checkSize refuses, before anything is allocated, a request whose samples
// would not fit: 422 when even the model's one compute block is too large,
// 400 when n is.
func checkSize(m *zoo.Model, n int) (int, error) {
	per, ok := valuesPerSample(m.Signature)
	block := m.Signature.Batch
	if block <= 0 {
		block = zoo.DefaultBatch
	}
	if !ok || per > maxRequestValues/int64(block) {
		return http.StatusUnprocessableEntity, fmt.Errorf("model %s declares more values per sample (latent and outputs) than zoo serve computes in one request (%d in all, for its compute block of %d): it is too large to serve; use zoo generate", m.ID, maxRequestValues, block)
	}
	if per*int64(n+block) > maxRequestValues {
		return http.StatusBadRequest, fmt.Errorf("n=%d: samples of model %s are too large to make %d in one request; ask for at most %d", n, m.ID, n, max(1, maxRequestValues/per-int64(block)))
	}
	return 0, nil
}

// valuesPerSample is one sample's latent plus output values, with every
// product checked for overflow; ok is false when a dimension is not
// positive where it must be, or the total is past maxRequestValues.
func valuesPerSample(sig *zoo.Signature) (int64, bool) {
	var total int64
	add := func(dims ...int64) bool {
		prod, ok := limits.Product(maxRequestValues, dims...)
		total += prod
		return ok && total <= maxRequestValues
	}
	if len(sig.Latent) > 0 && !add(sig.Latent...) {
		return 0, false
	}
	for _, o := range sig.Outputs {
		if !add(int64(o.Channels), int64(o.Height), int64(o.Width)) {
			return 0, false
		}
	}
	return total, true
}

func (s *Server) slotFor(id string) *modelSlot {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, ok := s.models[id]
	if !ok {
		slot = &modelSlot{turn: make(chan struct{}, 1)}
		s.models[id] = slot
	}
	return slot
}

// errClosing answers requests that reach a runner after Close.
var errClosing = errors.New("zoo serve is shutting down; retry when it is back")

// fetchError is an artifact that could not be fetched.
type fetchError struct{ err error }

func (e fetchError) Error() string { return e.err.Error() }
func (e fetchError) Unwrap() error { return e.err }

// generate runs the request in the model's runner, starting one when there
// is none. The caller holds slot.turn.
func (s *Server) generate(ctx context.Context, slot *modelSlot, m *zoo.Model, req *request) ([]loader.Sample, error) {
	p, err := s.process(ctx, slot, m)
	if err != nil {
		return nil, err
	}
	samples, err := p.Generate(ctx, runner.Request{Start: req.index, Count: req.n, Seed: req.seed, Conditions: req.conditions,
		MoveLatent: req.hasLatentOp, Groups: req.groups, Offsets: req.offsets, Shift: req.shift, Inputs: req.inputs})
	var me *runner.ModelError
	if err != nil && !errors.As(err, &me) {
		s.mu.Lock()
		if slot.proc == p {
			slot.proc = nil // killed or dead: the next request starts a fresh one
		}
		s.mu.Unlock()
	}
	switch {
	case err == nil || errors.As(err, &me): // the runner is fine
	case ctx.Err() != nil:
		s.logf("model %s: a request ran past %s; stopped its runner (pid %d)", m.ID, s.opt.Timeout, p.Pid)
	default:
		s.logf("model %s: %v", m.ID, err)
	}
	return samples, err
}

// process returns the model's live runner, or starts one.
func (s *Server) process(ctx context.Context, slot *modelSlot, m *zoo.Model) (*runner.Process, error) {
	s.mu.Lock()
	p, closed := slot.proc, s.closed
	s.mu.Unlock()
	if closed {
		return nil, errClosing
	}
	if p != nil && !p.Exited() {
		// A start whose request gave up has made it the slot's runner
		// (startRunner); nothing is left to wait for.
		slot.starting = nil
		return p, nil
	}
	path, err := s.opt.Store.Fetch(ctx, m.StoreArtifact())
	if err != nil {
		return nil, fetchError{err}
	}
	stamp := fileStamp(path)
	if slot.loadErr != nil && slot.loadStamp == stamp {
		return nil, slot.loadErr
	}
	if slot.starting == nil {
		start := &pendingStart{done: make(chan struct{}), stamp: stamp}
		slot.starting = start
		go s.startRunner(slot, start, m, path)
	}
	start := slot.starting
	select {
	case <-start.done:
		slot.starting = nil
	case <-ctx.Done():
		return nil, errLoading{m.ID}
	}
	var me *runner.ModelError
	if errors.As(start.err, &me) {
		slot.loadErr, slot.loadStamp = start.err, start.stamp
	}
	if start.err != nil {
		return nil, start.err
	}
	slot.loadErr = nil
	return start.p, nil
}

// startRunner starts a runner for m on its own (see modelSlot.starting)
// and, unless Close ran meanwhile, makes it the slot's runner: under the
// lock Close takes, so Close either sees it or it sees Close.
func (s *Server) startRunner(slot *modelSlot, start *pendingStart, m *zoo.Model, path string) {
	defer close(start.done)
	ctx, cancel := context.WithTimeout(context.Background(), runnerLoadTimeout)
	defer cancel()
	p, err := runner.Start(ctx, s.opt.Runner, m, path, s.opt.Device, s.opt.Threads, s.opt.Log)
	if err != nil {
		start.err = err
		return
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		slot.proc = p
	}
	s.mu.Unlock()
	if closed {
		p.Kill()
		start.err = errClosing
		return
	}
	s.logf("model %s: runner started (pid %d)", m.ID, p.Pid)
	start.p = p
}

// fileStamp identifies a file's current content cheaply.
func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s %d %d", path, fi.Size(), fi.ModTime().UnixNano())
}

// failed answers a failed generation with the status that says whose
// fault it is (README, "zoo serve", lists them): 400 a condition the model
// does not take; 422 the model failed (cannot load, raised, returned
// non-finite values or the wrong shape); 502 its runner process died or its
// artifact could not be fetched; 503 out of time (the runner was stopped)
// or shutting down; 500 anything else, a fault of zoo itself.
func (s *Server) failed(w http.ResponseWriter, m *zoo.Model, err error) {
	var me *runner.ModelError
	var died *runner.DiedError
	var fe fetchError
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed || errors.Is(err, errClosing):
		httpError(w, http.StatusServiceUnavailable, "%v", errClosing)
	case errors.As(err, new(errLoading)):
		httpError(w, http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		httpError(w, http.StatusServiceUnavailable, "model %s did not finish within %s, so its runner was stopped and the next request starts a fresh one; ask for fewer samples or retry", m.ID, s.opt.Timeout)
	case errors.As(err, &me) && me.BadRequest:
		httpError(w, http.StatusBadRequest, "%v", err)
	case errors.As(err, &me):
		httpError(w, http.StatusUnprocessableEntity, "%v", err)
	case errors.As(err, &died):
		httpError(w, http.StatusBadGateway, "%v; the next request starts a fresh runner", err)
	case errors.As(err, &fe):
		httpError(w, http.StatusBadGateway, "fetching the artifact of model %s: %v", m.ID, err)
	default:
		httpError(w, http.StatusInternalServerError, "%v", err)
	}
}

// origin is what the request's files say made them: the provenance zoo
// generate writes, modality and organ included. Latents moved by the
// explorer's sliders are not the seed's, and the provenance says so (a
// figure's text says it too).
func origin(m *zoo.Model, req *request) pipeline.Origin {
	o := pipeline.Origin{Model: m, Seed: req.seed}
	if req.hasLatentOp {
		o.Latents = fmt.Sprintf("the seed's, moved by groups %v and shift %g (zoo serve)", req.offsets, req.shift)
	}
	if req.inputName != "" {
		// As zoo generate --input FILE digests its one input's name.
		o.InputsDigest = output.InputsDigest([]string{req.inputName})
	}
	return o
}

func (s *Server) writeFigure(w http.ResponseWriter, m *zoo.Model, req *request, samples []loader.Sample) {
	cols := req.cols
	if cols <= 0 {
		cols = min(req.n, 8)
	}
	rows, labels := figure.Grid(figure.Rows(samples, cols))
	what := fmt.Sprintf("samples %d-%d", req.index, req.index+req.n-1)
	if req.hasLatentOp {
		what += fmt.Sprintf(", latent moved by groups %v and shift %g", req.offsets, req.shift)
	}
	png, _, err := origin(m, req).Figure(rows, labels, req.index, what)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}

func (s *Server) writeZip(w http.ResponseWriter, m *zoo.Model, req *request, samples []loader.Sample) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	enc, _ := output.Lookup("png")
	for _, smp := range samples {
		err := origin(m, req).Encode(enc, smp, func(out string, data []byte) error {
			f, err := zw.Create(fmt.Sprintf("%05d_%s.png", smp.Index, out))
			if err == nil {
				_, err = f.Write(data)
			}
			return err
		})
		if err != nil {
			httpError(w, http.StatusInternalServerError, "%v", err)
			return
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
