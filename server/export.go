package server

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"medzoo/internal/pipeline"
	"medzoo/internal/version"
	"medzoo/loader"
	"medzoo/output"
	"medzoo/zoo"
)

// DefaultMaxExportN is how many samples one export may ask for unless
// Options.MaxExportN says otherwise. An export streams, so memory does not
// grow with n except for its manifest (one line, about 300 bytes, per
// sample), which is sent last: 10000 samples hold about 3 MB.
const DefaultMaxExportN = 10000

// Headers of an export's answer: what the page's progress bar counts
// against (the zip's entries arrive one file at a time).
const (
	headerExportSamples = "X-Zoo-Export-Samples"
	headerExportFiles   = "X-Zoo-Export-Files"
)

// exportRequest is a parsed /api/models/{id}/export request: what zoo
// generate ID -n N --seed S [-c NAME=VALUE ...] --format F takes.
type exportRequest struct {
	n          int
	seed       uint64
	conditions map[string]string
	format     string
	enc        output.Encoder
}

// parseExport reads ?n=&seed=&condition=NAME=VALUE&format=. Conditions
// left out cycle through their values, as zoo generate's do.
func (s *Server) parseExport(r *http.Request) (*exportRequest, error) {
	v := r.URL.Query()
	req := &exportRequest{format: "png", conditions: map[string]string{}}
	ns := v.Get("n")
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 || n > s.opt.MaxExportN {
		return nil, fmt.Errorf("n=%q: want the number of samples to export, from 1 to %d (zoo serve --max-export-n)", ns, s.opt.MaxExportN)
	}
	req.n = n
	if ss := v.Get("seed"); ss != "" {
		if req.seed, err = strconv.ParseUint(ss, 10, 64); err != nil {
			return nil, fmt.Errorf("seed=%q: want a non-negative integer", ss)
		}
	}
	for _, c := range v["condition"] {
		name, val, ok := strings.Cut(c, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("condition=%q: want NAME=VALUE", c)
		}
		if _, dup := req.conditions[name]; dup {
			return nil, fmt.Errorf("condition %s is given twice: give each condition once", name)
		}
		req.conditions[name] = val
	}
	if f := v.Get("format"); f != "" {
		req.format = strings.ToLower(f)
	}
	if req.enc, err = output.Lookup(req.format); err != nil {
		return nil, fmt.Errorf("format=%q: %v", req.format, err)
	}
	return req, nil
}

// export: /api/models/{id}/export — a data set as a zip streamed while it
// is generated, holding exactly the files zoo generate writes for the same
// model, n, seed, conditions and format: the images with their provenance,
// manifest.jsonl and zoo-run.json, the same bytes (the same code writes
// them: output.Run and pipeline.Writer). Everything that can be refused is
// refused before the first byte of zip: the parameters, the size, the
// model's load, a condition, and a format its outputs cannot take (the
// first block is generated and encoded first). After that an error can
// only cut the connection, which leaves a zip without its end: never a
// complete-looking one.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	m, ok := s.runnableModel(w, r)
	if !ok {
		return
	}
	if len(m.Signature.ImageInputs()) > 0 {
		httpError(w, http.StatusUnprocessableEntity, "model %s is image-to-image: an export makes samples from noise; use zoo generate %s --input DIR", m.ID, m.ID)
		return
	}
	req, err := s.parseExport(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	block := m.Signature.Batch
	if block <= 0 {
		block = zoo.DefaultBatch
	}
	// What one export holds at once: the block being computed, the one
	// waiting, and the writer's pool (pipeline.Writer: 3 per CPU).
	if status, err := checkSize(m, min(req.n, 2*block+3*runtime.NumCPU())); err != nil {
		httpError(w, status, "%v", err)
		return
	}
	ex := &exporter{s: s, m: m, req: req, block: block}
	first, err := ex.next(r.Context(), 0, min(ex.block, req.n))
	if err != nil {
		ex.failed(w, err)
		return
	}
	if r.Context().Err() != nil {
		return // the client left during the first block: nobody to answer
	}
	if err := ex.origin().Encode(req.enc, first[0], func(string, []byte) error { return nil }); err != nil {
		httpError(w, http.StatusUnprocessableEntity, "format %s cannot hold the outputs of model %s: %v; choose another format (%s)",
			req.format, m.ID, err, strings.Join(output.FormatNames(), ", "))
		return
	}

	ex.stream(w, r, first)
}

// stream answers with the export's zip, first being its first block.
func (e *exporter) stream(w http.ResponseWriter, r *http.Request, first []loader.Sample) {
	m, req := e.m, e.req
	outputs := make([]string, len(m.Signature.Outputs))
	for i, o := range m.Signature.Outputs {
		outputs[i] = o.Name
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("%s_seed%d_n%d_%s.zip", m.ID, req.seed, req.n, req.format)))
	h.Set("Cache-Control", "no-store")
	h.Set(headerExportSamples, strconv.Itoa(req.n))
	h.Set(headerExportFiles, strconv.Itoa(2+req.n*len(outputs)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return // the answer it would be, checked, without making the rest
	}

	zw := &zipStream{zw: zip.NewWriter(w), rc: http.NewResponseController(w), deadline: 2*e.s.opt.Timeout + writeSlack}
	// The run record is zoo generate's: conditions as given (those left
	// out cycle), no input, no --stack or --gzip.
	info := output.RunInfo{Model: m.ID, Version: m.Version, SHA256: m.Artifact.SHA256, Seed: req.seed, N: req.n,
		Format: req.format, Outputs: outputs, Conditions: req.conditions, Generator: version.Generator()}
	run, err := output.OpenStream(info, zw.put)
	if err == nil {
		wr := &pipeline.Writer{Run: run, Enc: req.enc, Origin: e.origin()}
		err = wr.Write(r.Context(), func(ctx context.Context) iter.Seq2[loader.Sample, error] {
			return e.samples(ctx, first)
		})
	}
	if err == nil {
		err = run.Close() // the manifest, last
	}
	if err == nil {
		err = zw.zw.Close()
	}
	if err != nil {
		done := 0
		if run != nil {
			done = run.Committed()
		}
		why := err.Error()
		if r.Context().Err() != nil {
			why = "the client left"
		}
		e.s.logf("model %s: export stopped after %d of %d samples: %s", m.ID, done, req.n, why)
		// Cut the connection: the client sees a failed download, not a
		// zip that looks whole.
		panic(http.ErrAbortHandler)
	}
}

// origin is the provenance of the export's files: zoo generate's for the
// same seed and conditions.
func (e *exporter) origin() pipeline.Origin {
	return pipeline.Origin{Model: e.m, Seed: e.req.seed, Conditions: e.req.conditions}
}

// exporter fetches an export's samples from its model's runner, one
// compute block per call. Each call takes the model's turn and a
// generation slot and gives them back after, so the explorer's own
// requests for the model (its figure, its grid) get their turn between
// blocks instead of waiting for the whole export. Each call has the
// server's --timeout, as a figure request has: the timeout bounds one
// block, not the export, which may run for as long as it makes progress.
type exporter struct {
	s     *Server
	m     *zoo.Model
	req   *exportRequest
	block int
}

// next generates the count samples from start. Waiting for the turn
// and a slot ends when ctx does (the client left); the forward itself
// never ends with the client, since ending it means killing a healthy
// runner (see Server.image).
func (e *exporter) next(ctx context.Context, start, count int) ([]loader.Sample, error) {
	s := e.s
	wait, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	slot := s.slotFor(e.m.ID)
	releaseTurn, err := s.takeTurn(wait, slot, e.m.ID)
	if err != nil {
		return nil, err
	}
	defer releaseTurn()
	releaseSlot, err := s.takeSlot(wait)
	if err != nil {
		return nil, err
	}
	defer releaseSlot()
	run, cancelRun := context.WithTimeout(context.WithoutCancel(ctx), s.opt.Timeout)
	defer cancelRun()
	return s.generate(run, slot, e.m, &request{n: count, index: start, seed: e.req.seed, conditions: e.req.conditions})
}

// samples yields the export's samples in order, first (block 0, made
// before the answer began) and then the others, computing the next block
// while the writer encodes the current one. It stops at the next block
// once ctx ends (the client left or a write failed), after the forward in
// flight, so the runner is left healthy and idle: the handler does not
// return (and the runner is not reused) before it.
func (e *exporter) samples(ctx context.Context, first []loader.Sample) iter.Seq2[loader.Sample, error] {
	blocks := func(yield func(int, int) bool) {
		for start := len(first); start < e.req.n; start += e.block {
			if !yield(start, min(e.block, e.req.n-start)) {
				return
			}
		}
	}
	return loader.Prefetch(ctx, first, blocks, e.next)
}

// failed answers an export that failed before its answer began.
func (e *exporter) failed(w http.ResponseWriter, err error) {
	var busy errBusy
	switch {
	case errors.As(err, &busy):
		httpError(w, http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, context.Canceled):
		// The client left while waiting: nobody reads the answer.
		httpError(w, http.StatusServiceUnavailable, "the request was cancelled")
	default:
		e.s.failed(w, e.m, err)
	}
}

// zipStream writes a run's files into a zip on the answer as they come.
// Each file is compressed whole before its entry starts, so its local
// header carries its sizes (no data descriptor): the page can walk the
// entries as they arrive and count them. Entries carry the zip epoch as
// their time, so the same export is the same zip, byte for byte.
type zipStream struct {
	zw       *zip.Writer
	rc       *http.ResponseController
	deadline time.Duration // the write deadline each file renews
	buf      bytes.Buffer
	fw       *flate.Writer
}

// zipEpoch is the earliest time a zip entry can hold.
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func (z *zipStream) put(name string, data []byte) error {
	// A long export keeps writing; what must not happen is a write that
	// waits forever on a client that stopped reading.
	z.rc.SetWriteDeadline(time.Now().Add(z.deadline))
	hdr := &zip.FileHeader{Name: name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(data),
		UncompressedSize64: uint64(len(data)), CompressedSize64: uint64(len(data)), Modified: zipEpoch}
	body := data
	if !strings.HasSuffix(name, ".png") {
		// PNGs are deflated already; NPY, DICOM, NIfTI and the JSON are
		// raw and shrink several times.
		z.buf.Reset()
		if z.fw == nil {
			z.fw, _ = flate.NewWriter(&z.buf, flate.BestSpeed)
		} else {
			z.fw.Reset(&z.buf)
		}
		z.fw.Write(data)
		if err := z.fw.Close(); err != nil {
			return err
		}
		if z.buf.Len() < len(data) {
			hdr.Method, hdr.CompressedSize64, body = zip.Deflate, uint64(z.buf.Len()), z.buf.Bytes()
		}
	}
	f, err := z.zw.CreateRaw(hdr)
	if err == nil {
		_, err = f.Write(body)
	}
	if err == nil {
		err = z.zw.Flush()
	}
	if err == nil {
		err = z.rc.Flush()
	}
	return err
}
