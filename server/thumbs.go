package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"medzoo/internal/files"
	"medzoo/loader"
	"medzoo/output"
	"medzoo/zoo"
)

// A model's thumbnail is one sample, always the same one (thumbRecipe), so
// it is made once per artifact and then served from memory or from disk:
// the catalog page shows a thumbnail per runnable model without starting a
// runner per page view. The catalog page never waits for it either: each
// <img> loads its own /api/models/{id}/thumbnail after the list is shown.

// thumbRecipe names what a thumbnail is, in its cache key: a change to the
// recipe must not serve thumbnails made the old way.
const thumbRecipe = "v1-seed0-index0-first-output"

// thumbDir is the store's subdirectory for thumbnails. The store's own
// commands (zoo cache list, rm, prune) look only at blobs/, unpacked/ and
// tmp/, so thumbnails neither count as artifacts nor get in their way;
// removing the directory is always safe.
const thumbDir = "thumbnails"

// maxThumbBytes bounds one thumbnail read back from disk, and
// maxThumbMemory all thumbnails kept in memory (past it they are served
// from disk only), so that a catalog of large models cannot grow the
// server without bound.
const (
	maxThumbBytes  = 16 << 20
	maxThumbMemory = 64 << 20
)

// thumbCache holds thumbnails by key (thumbKey).
type thumbCache struct {
	mu    sync.Mutex
	mem   map[string][]byte
	bytes int
}

func (c *thumbCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.mem[key]
	return b, ok
}

func (c *thumbCache) put(key string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mem[key]; ok || c.bytes+len(b) > maxThumbMemory {
		return
	}
	if c.mem == nil {
		c.mem = map[string][]byte{}
	}
	c.mem[key] = b
	c.bytes += len(b)
}

// thumbKey identifies a thumbnail: the artifact's digest and the recipe.
// An artifact without a digest (pinned on first use) has no stable key: its
// thumbnail is kept in memory under its URL only, never on disk.
func thumbKey(m *zoo.Model) (key string, onDisk bool) {
	if d := m.Artifact.SHA256; len(d) == 64 && isHex(d) {
		return "sha256-" + d + "-" + thumbRecipe, true
	}
	sum := sha256.Sum256([]byte(m.Artifact.URL))
	return "url-" + hex.EncodeToString(sum[:]) + "-" + thumbRecipe, false
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// thumbRequest is the one sample a thumbnail shows: seed 0, index 0, each
// condition at its first value (a number condition at its default).
func thumbRequest(m *zoo.Model) *request {
	req := &request{n: 1, format: "png", conditions: map[string]string{}}
	for _, c := range m.Signature.Conditions {
		switch {
		case c.IsFloat():
			req.conditions[c.Name] = strconv.FormatFloat(c.Default, 'g', -1, 64)
		case len(c.Values) > 0:
			req.conditions[c.Name] = c.Values[0]
		}
	}
	return req
}

// noThumbnail says why the thumbnail endpoint makes none for m (nil: it
// makes one): the endpoint's 422 and the catalog row's placeholder both
// come from here.
func noThumbnail(m *zoo.Model) error {
	switch {
	case !m.Runnable():
		return fmt.Errorf("no thumbnail: %w", loader.NotRunnableError(m))
	case len(m.Signature.ImageInputs()) > 0:
		return fmt.Errorf("no thumbnail: model %s is image-to-image, so a sample needs an input image; its page shows how to run it", m.ID)
	case len(m.Signature.Outputs) == 0:
		return fmt.Errorf("no thumbnail: model %s declares no outputs", m.ID)
	}
	if _, err := checkSize(m, 1); err != nil {
		return fmt.Errorf("no thumbnail: %w", err)
	}
	return nil
}

// thumbnail: GET /api/models/{id}/thumbnail — the model's first output of
// sample 0 with seed 0 as a PNG with provenance, at the model's own size.
// X-Zoo-Thumbnail says where it came from: memory, disk or generated.
func (s *Server) thumbnail(w http.ResponseWriter, r *http.Request) {
	m, ok := s.pathModel(w, r)
	if !ok {
		return
	}
	if err := noThumbnail(m); err != nil {
		httpError(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	key, onDisk := thumbKey(m)
	data, from, err := s.thumbBytes(r.Context(), m, key, onDisk)
	var busy errBusy
	switch {
	case errors.As(err, &busy):
		httpError(w, http.StatusServiceUnavailable, "%v", err)
		return
	case err != nil:
		s.failed(w, m, err)
		return
	}
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	// The URL names a model id, whose artifact a catalog update may change:
	// browsers keep it an hour, then ask again with the ETag (a 304 costs
	// nothing, the thumbnail being cached here).
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("ETag", etag)
	w.Header().Set("X-Zoo-Thumbnail", from)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

// etagMatches reads If-None-Match: a list of tags, or *.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// thumbBytes returns the thumbnail from memory, from disk, or made now in
// the model's runner (under its turn and a generation slot, like any
// request, so a thumbnail never runs beside another forward of its model).
func (s *Server) thumbBytes(ctx context.Context, m *zoo.Model, key string, onDisk bool) ([]byte, string, error) {
	if b, ok := s.thumbs.get(key); ok {
		return b, "memory", nil
	}
	path := ""
	if onDisk && s.opt.Store != nil && s.opt.Store.Dir != "" {
		path = filepath.Join(s.opt.Store.Dir, thumbDir, key+".png")
		if b, ok := s.readThumb(path, m); ok {
			s.thumbs.put(key, b)
			return b, "disk", nil
		}
	}
	wait, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	slot := s.slotFor(m.ID)
	releaseTurn, err := s.takeTurn(wait, slot, m.ID)
	if err != nil {
		return nil, "", err
	}
	defer releaseTurn()
	// A request that waited for the turn may find the thumbnail made by the
	// one before it.
	if b, ok := s.thumbs.get(key); ok {
		return b, "memory", nil
	}
	releaseSlot, err := s.takeSlot(wait)
	if err != nil {
		return nil, "", err
	}
	defer releaseSlot()
	run, cancelRun := context.WithTimeout(context.WithoutCancel(ctx), s.opt.Timeout)
	defer cancelRun()
	// A runner started only for a thumbnail is stopped after it: the
	// catalog page asks for the thumbnail of every runnable model in view,
	// and keeping a LibTorch process per model it lists would hold memory
	// for models nobody opens. A model already running stays so.
	s.mu.Lock()
	running := slot.proc != nil && !slot.proc.Exited()
	s.mu.Unlock()
	req := thumbRequest(m)
	samples, err := s.generate(run, slot, m, req)
	if !running {
		s.stopRunner(slot)
	}
	if err != nil {
		return nil, "", err
	}
	if len(samples) != 1 || len(samples[0].Outputs) == 0 {
		return nil, "", fmt.Errorf("model %s: the runner returned %d samples for a thumbnail; want 1 with outputs", m.ID, len(samples))
	}
	smp := samples[0]
	smp.Outputs = smp.Outputs[:1]
	enc, _ := output.Lookup("png")
	var data []byte
	o := origin(m, req)
	o.Conditions = req.conditions
	if err := o.Encode(enc, smp, func(_ string, b []byte) error { data = b; return nil }); err != nil {
		return nil, "", err
	}
	s.thumbs.put(key, data)
	if path != "" {
		// A thumbnail that cannot be kept on disk is still served: the
		// next server start makes it again.
		if err := files.WriteAtomicBytes(path, data); err != nil {
			s.logf("model %s: keeping its thumbnail in %s: %v", m.ID, path, err)
		}
	}
	return data, "generated", nil
}

// stopRunner stops the slot's runner, if any. The caller holds slot.turn,
// so no request is using it.
func (s *Server) stopRunner(slot *modelSlot) {
	s.mu.Lock()
	p := slot.proc
	slot.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.Kill()
		p.Wait(2 * time.Second)
	}
}

// readThumb reads a thumbnail written earlier, trusting it only if it is a
// regular file (never through a link), within maxThumbBytes, and a PNG of
// the model's first output's size: anything else is made again.
func (s *Server) readThumb(path string, m *zoo.Model) ([]byte, bool) {
	data, err := files.ReadNoFollow(path, maxThumbBytes)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.logf("model %s: ignoring its cached thumbnail %s: %v", m.ID, path, err)
		}
		return nil, false
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	o := m.Signature.Outputs[0]
	if err != nil || cfg.Width != o.Width || cfg.Height != o.Height {
		s.logf("model %s: ignoring its cached thumbnail %s: not a %dx%d PNG", m.ID, path, o.Width, o.Height)
		return nil, false
	}
	return data, true
}
