package server

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"medzoo/imagein"
	"medzoo/internal/files"
	"medzoo/zoo"
)

// Image-to-image models in the explorer: an input image uploaded (POST
// /api/models/{id}/generate) or one of the model's bundled example inputs
// (GET /api/models/{id}/image?example=NAME), run as `zoo generate ID --input
// FILE` runs it: the same decoder (imagein), the same loader path in the
// model's runner, the same provenance (the input's name and its digest).

// MaxUploadBytes bounds the body of one upload: 16 MiB, four times a
// 1024×1024 16-bit DICOM slice. Larger bodies get 413 before they are read
// (Content-Length) or once they pass the limit (http.MaxBytesReader).
const MaxUploadBytes = 16 << 20

// UploadHeader is the header the explorer's page sets on its uploads. A
// page of another site cannot send a custom header without a CORS
// preflight, which zoo serve never grants, so a POST without it is refused:
// with Origin and Sec-Fetch-Site checks (sameOrigin) this keeps a page
// elsewhere from running models through a browser's loopback access.
const UploadHeader = "X-Zoo-Upload"

// examplesFS holds the example inputs of bundled image-to-image models,
// examples/<model id>/<file>: copies of the files the catalog names
// (00104's are docs/models/00104_inputs, which a test keeps them equal to).
//
//go:embed examples
var examplesFS embed.FS

// upload: POST /api/models/{id}/generate?name=FILE&seed=&format=png|zip|values&output=
// with the input image's bytes as the body.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if err := sameOrigin(r); err != nil {
		httpError(w, http.StatusForbidden, "%v", err)
		return
	}
	m, ok := s.imageToImageModel(w, r)
	if !ok {
		return
	}
	if r.ContentLength > MaxUploadBytes {
		httpError(w, http.StatusRequestEntityTooLarge, "the upload is %d bytes, more than the %d MiB zoo serve takes as one input image; use zoo generate %s --input FILE", r.ContentLength, MaxUploadBytes>>20, m.ID)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxUploadBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpError(w, http.StatusRequestEntityTooLarge, "the upload is more than the %d MiB zoo serve takes as one input image; use zoo generate %s --input FILE", MaxUploadBytes>>20, m.ID)
		return
	case err != nil:
		httpError(w, http.StatusBadRequest, "reading the upload: %v", err)
		return
	case len(data) == 0:
		httpError(w, http.StatusBadRequest, "the upload is empty: POST the input image file's bytes (PNG, JPEG, NPY or DICOM) as the body")
		return
	}
	name, err := uploadName(r.URL.Query().Get("name"), data)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.runInput(w, r, m, name, data)
}

// exampleRun answers GET /api/models/{id}/image for an image-to-image
// model: with ?example=NAME, the model run on that example input.
func (s *Server) exampleRun(w http.ResponseWriter, r *http.Request, m *zoo.Model) {
	name := r.URL.Query().Get("example")
	if name == "" {
		httpError(w, http.StatusUnprocessableEntity, "model %s is image-to-image: it needs an input image; POST one to /api/models/%s/generate (header %s: 1), or pick an example input with ?example=NAME (GET /api/models/%s/examples lists them); or use zoo generate --input",
			m.ID, m.ID, UploadHeader, m.ID)
		return
	}
	data, err := exampleBytes(m.ID, name)
	if err != nil {
		httpError(w, http.StatusNotFound, "%v", err)
		return
	}
	s.runInput(w, r, m, name, data)
}

// imageToImageModel resolves the path's model and answers the error when
// it is not a runnable model with exactly one image input.
func (s *Server) imageToImageModel(w http.ResponseWriter, r *http.Request) (*zoo.Model, bool) {
	m, ok := s.runnableModel(w, r)
	if !ok {
		return nil, false
	}
	switch n := len(m.Signature.ImageInputs()); {
	case n == 0:
		httpError(w, http.StatusUnprocessableEntity, "model %s makes images from noise and takes no input image; GET /api/models/%s/image instead", m.ID, m.ID)
		return nil, false
	case n > 1:
		httpError(w, http.StatusUnprocessableEntity, "model %s takes %d input images per sample; the explorer takes one: use zoo generate %s --input DIR --named-input NAME=DIR", m.ID, n, m.ID)
		return nil, false
	}
	return m, true
}

// runInput runs m on one input image, data, named name: written to a
// private temporary folder, decoded and checked here (so that a file the
// model cannot take is the caller's 400 or 422, not the runner's), then
// read by the runner as zoo generate --input reads it.
func (s *Server) runInput(w http.ResponseWriter, r *http.Request, m *zoo.Model, name string, data []byte) {
	req, err := s.parseRequest(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if req.n != 1 || req.index != 0 {
		httpError(w, http.StatusBadRequest, "n=%d, index=%d: one input image makes one sample, index 0; leave n and index out", req.n, req.index)
		return
	}
	if req.hasLatentOp {
		httpError(w, http.StatusBadRequest, "model %s is image-to-image: it has no latent for offsets or shift to move", m.ID)
		return
	}
	spec := m.Signature.ImageInputs()[0]
	var out *zoo.TensorSpec
	if req.format == "values" {
		if out, err = grayOutput(m, r.URL.Query().Get("output")); err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if status, err := checkSize(m, 1); err != nil {
		httpError(w, status, "%v", err)
		return
	}
	dir, err := os.MkdirTemp("", "zoo-serve-input-*")
	if err != nil {
		httpError(w, http.StatusInternalServerError, "a folder for the input: %v", err)
		return
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, name)
	if err := files.WriteAtomicBytes(file, data); err != nil {
		httpError(w, http.StatusInternalServerError, "writing the input: %v", err)
		return
	}
	img, err := imagein.Read(file, spec.Range)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := imagein.Check(img, name, spec, m.ID); err != nil {
		httpError(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	req.inputs, req.inputName = []string{file}, name
	samples, ok := s.run(w, r, m, req)
	if !ok {
		return
	}
	switch req.format {
	case "zip":
		s.writeZip(w, m, req, samples)
	case "values":
		writeValues(w, m, req, samples[0], out)
	default:
		s.writeFigure(w, m, req, samples)
	}
}

// sameOrigin refuses a POST that may come from a page of another site.
func sameOrigin(r *http.Request) error {
	if r.Header.Get(UploadHeader) != "1" {
		return fmt.Errorf("a POST to zoo serve must come from its explorer page, which sends the header %s: 1; a page of another site cannot (no CORS is allowed)", UploadHeader)
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("a POST from a %s page (Sec-Fetch-Site) is refused: only the explorer's own page may upload", site)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return fmt.Errorf("a POST from origin %s is refused: only the explorer's own page (http://%s) may upload", o, r.Host)
	}
	return nil
}

// uploadName is the name an upload is read and recorded under: the base
// of the page's file name, reduced to letters, digits, '.', '-' and '_',
// with the extension of what the bytes are when the name has none zoo
// reads (imagein picks its decoder by extension, as for --input files).
func uploadName(given string, data []byte) (string, error) {
	base := path.Base(strings.ReplaceAll(given, `\`, "/"))
	clean := strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			return c
		}
		return '_'
	}, base)
	clean = strings.TrimLeft(clean, ".")
	if len(clean) > 100 {
		clean = clean[len(clean)-100:]
	}
	if clean != "" && imagein.Supported(clean) {
		return clean, nil
	}
	ext := sniffExt(data)
	if ext == "" {
		return "", fmt.Errorf("the upload is not a PNG, JPEG, NPY or DICOM file (no known signature in its first bytes)")
	}
	if clean == "" || clean == "_" {
		clean = "upload"
	}
	return clean + ext, nil
}

// sniffExt names the input format data's signature says, "" for none.
func sniffExt(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return ".png"
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return ".jpg"
	case bytes.HasPrefix(data, []byte("\x93NUMPY")):
		return ".npy"
	case len(data) >= 132 && string(data[128:132]) == "DICM":
		return ".dcm"
	}
	return ""
}

// example is one example input of a model, as /api/models/{id}/examples
// lists it.
type example struct {
	Name string `json:"name"`
	URL  string `json:"url"` // the file itself
	Run  string `json:"run"` // the model run on it (a PNG figure)
}

// examples: GET /api/models/{id}/examples — the model's example inputs
// (an empty list for a model that has none).
func (s *Server) examples(w http.ResponseWriter, r *http.Request) {
	m, ok := s.pathModel(w, r)
	if !ok {
		return
	}
	list := []example{}
	for _, name := range exampleNames(m.ID) {
		list = append(list, example{Name: name, URL: "/api/models/" + m.ID + "/examples/" + name,
			Run: "/api/models/" + m.ID + "/image?example=" + name})
	}
	writeJSON(w, map[string]any{"model": m.ID, "examples": list})
}

// exampleFile: GET /api/models/{id}/examples/{name} — the input file.
func (s *Server) exampleFile(w http.ResponseWriter, r *http.Request) {
	m, ok := s.pathModel(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	data, err := exampleBytes(m.ID, name)
	if err != nil {
		httpError(w, http.StatusNotFound, "%v", err)
		return
	}
	ctype := "application/octet-stream"
	if strings.HasSuffix(strings.ToLower(name), ".png") {
		ctype = "image/png"
	}
	w.Header().Set("Content-Type", ctype)
	w.Write(data)
}

// exampleNames lists model id's example inputs, sorted.
func exampleNames(id string) []string {
	entries, err := fs.ReadDir(examplesFS, "examples/"+id)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && imagein.Supported(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// exampleBytes is model id's example input name.
func exampleBytes(id, name string) ([]byte, error) {
	names := exampleNames(id)
	for _, n := range names {
		if n == name {
			return examplesFS.ReadFile("examples/" + id + "/" + n)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("model %s has no example inputs here; upload an image instead", id)
	}
	return nil, fmt.Errorf("model %s has no example input %q; it has %s", id, name, strings.Join(names, ", "))
}
