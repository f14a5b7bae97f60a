// Package zenodotest is a Zenodo deposition API on 127.0.0.1 for tests:
// zenodo.org cannot be reached from CI. It implements the endpoints zoo
// publish uses as developers.zenodo.org documents them (create a
// deposition, PUT a file to its bucket, PUT its metadata, publish, and the
// public download of a published record's file), checks every request
// (token, JSON bodies, metadata fields, upload length, order), and answers
// with injected faults (401, 413, 429 with Retry-After, 5xx) on demand.
package zenodotest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Steps, for faults and the call log.
const (
	Create   = "create"
	Upload   = "upload"
	Metadata = "metadata"
	Publish  = "publish"
	Download = "download"
)

// Fault is an answer given instead of the real one.
type Fault struct {
	Status int
	Header map[string]string
	Body   string // JSON; a Zenodo-like {"message", "status"} when empty
}

// Deposition is one deposition the server holds.
type Deposition struct {
	ID        int64
	Bucket    string
	Files     map[string][]byte
	Metadata  map[string]any // the last metadata PUT
	Published bool
}

// Server is the fake Zenodo. Its API is URL()+"/api".
type Server struct {
	*httptest.Server
	Token string

	mu          sync.Mutex
	calls       []string
	problems    []string
	faults      map[string][]Fault
	depositions map[int64]*Deposition
	buckets     map[string]*Deposition
	nextID      int64
}

// New starts a server that accepts token.
func New(t testing.TB, token string) *Server {
	s := &Server{Token: token, faults: map[string][]Fault{}, depositions: map[int64]*Deposition{},
		buckets: map[string]*Deposition{}, nextID: 4711}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// API is the base URL a client is given.
func (s *Server) API() string { return s.URL + "/api" }

// FailNext makes the next n requests of step answer f.
func (s *Server) FailNext(step string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.faults[step] = append(s.faults[step], f)
	}
}

// Calls is the steps requested, in order (faulted ones included).
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Problems is what was wrong with the requests the server saw.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

// Deposition returns deposition id (nil if there is none).
func (s *Server) Deposition(id int64) *Deposition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.depositions[id]
}

// Depositions is how many depositions were created.
func (s *Server) Depositions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.depositions)
}

func (s *Server) problem(format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := r.URL.Path
	parts := strings.Split(strings.Trim(path, "/"), "/")
	step := ""
	switch {
	case r.Method == http.MethodPost && path == "/api/deposit/depositions":
		step = Create
	case r.Method == http.MethodPut && len(parts) == 4 && parts[0] == "api" && parts[1] == "files":
		step = Upload
	case r.Method == http.MethodPut && len(parts) == 4 && parts[0] == "api" && parts[1] == "deposit" && parts[2] == "depositions":
		step = Metadata
	case r.Method == http.MethodPost && len(parts) == 6 && parts[1] == "deposit" && parts[4] == "actions" && parts[5] == "publish":
		step = Publish
	case r.Method == http.MethodGet && len(parts) == 4 && parts[0] == "records" && parts[2] == "files":
		step = Download
	default:
		s.problem("unexpected request %s %s", r.Method, path)
		answer(w, http.StatusNotFound, map[string]any{"message": "The requested URL was not found on the server.", "status": 404})
		return
	}
	s.calls = append(s.calls, step)
	if step != Download {
		if got := r.Header.Get("Authorization"); got != "Bearer "+s.Token {
			if !strings.HasPrefix(got, "Bearer ") {
				s.problem("%s: Authorization header %q is not a bearer token", step, got)
			}
			answer(w, http.StatusUnauthorized, map[string]any{"message": "The server could not verify that you are authorized to access the URL requested.", "status": 401})
			return
		}
		if strings.Contains(r.URL.RawQuery, "access_token") {
			s.problem("%s: the token is in the URL", step)
		}
	}
	if q := s.faults[step]; len(q) > 0 {
		f := q[0]
		s.faults[step] = q[1:]
		io.Copy(io.Discard, r.Body)
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		body := f.Body
		if body == "" {
			data, _ := json.Marshal(map[string]any{"message": http.StatusText(f.Status), "status": f.Status})
			body = string(data)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		io.WriteString(w, body)
		return
	}
	switch step {
	case Create:
		s.create(w, r)
	case Upload:
		s.upload(w, r, parts[2], parts[3])
	case Metadata:
		s.metadata(w, r, parts[3])
	case Publish:
		s.publish(w, parts[3])
	case Download:
		s.download(w, parts[1], parts[3])
	}
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) jsonBody(step string, r *http.Request) map[string]any {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.problem("%s: Content-Type %q, want application/json", step, ct)
	}
	var v map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&v); err != nil {
		s.problem("%s: body is not a JSON object: %v", step, err)
	}
	return v
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	s.jsonBody(Create, r)
	s.nextID++
	d := &Deposition{ID: s.nextID, Bucket: fmt.Sprintf("5ce1b0c7-0000-4000-8000-%012d", s.nextID), Files: map[string][]byte{}}
	s.depositions[d.ID] = d
	s.buckets[d.Bucket] = d
	answer(w, http.StatusCreated, s.resource(d))
}

// resource is the deposition as the API shows it.
func (s *Server) resource(d *Deposition) map[string]any {
	id := strconv.FormatInt(d.ID, 10)
	api := s.API() + "/deposit/depositions/" + id
	res := map[string]any{
		"id": d.ID, "record_id": d.ID, "submitted": d.Published, "state": "unsubmitted",
		"links": map[string]any{"self": api, "bucket": s.API() + "/files/" + d.Bucket, "html": s.URL + "/deposit/" + id,
			"publish": api + "/actions/publish"},
		"metadata": map[string]any{"prereserve_doi": map[string]any{"doi": "10.5072/zenodo." + id, "recid": d.ID}},
	}
	if d.Published {
		res["state"] = "done"
		res["doi"] = "10.5072/zenodo." + id
		res["doi_url"] = "https://doi.org/10.5072/zenodo." + id
		res["links"].(map[string]any)["record_html"] = s.URL + "/records/" + id
	}
	return res
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request, bucket, name string) {
	d := s.buckets[bucket]
	if d == nil {
		answer(w, http.StatusNotFound, map[string]any{"message": "bucket not found", "status": 404})
		return
	}
	if d.Published {
		s.problem("upload to a published deposition")
	}
	if r.ContentLength < 0 {
		s.problem("upload without Content-Length")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<30))
	if err != nil {
		s.problem("upload: %v", err)
		return
	}
	if int64(len(data)) != r.ContentLength {
		s.problem("upload: Content-Length %d, body %d bytes", r.ContentLength, len(data))
	}
	d.Files[name] = data
	sum := md5.Sum(data)
	answer(w, http.StatusCreated, map[string]any{"key": name, "size": len(data), "checksum": "md5:" + hex.EncodeToString(sum[:]),
		"mimetype": "application/zip", "links": map[string]any{"self": s.API() + "/files/" + bucket + "/" + name}})
}

func (s *Server) deposition(w http.ResponseWriter, id string) *Deposition {
	n, _ := strconv.ParseInt(id, 10, 64)
	d := s.depositions[n]
	if d == nil {
		answer(w, http.StatusNotFound, map[string]any{"message": "PID does not exist.", "status": 404})
	}
	return d
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request, id string) {
	d := s.deposition(w, id)
	if d == nil {
		return
	}
	body := s.jsonBody(Metadata, r)
	md, _ := body["metadata"].(map[string]any)
	if md == nil {
		s.problem("metadata: no \"metadata\" object")
		answer(w, http.StatusBadRequest, map[string]any{"message": "Validation error.", "status": 400})
		return
	}
	var missing []map[string]any
	for _, field := range []string{"upload_type", "title", "description", "access_right", "license"} {
		if v, _ := md[field].(string); v == "" {
			missing = append(missing, map[string]any{"field": field, "message": "Field may not be null."})
		}
	}
	if c, _ := md["creators"].([]any); len(c) == 0 {
		missing = append(missing, map[string]any{"field": "creators", "message": "Shorter than minimum length 1."})
	}
	switch md["upload_type"] {
	case "publication", "poster", "presentation", "dataset", "image", "video", "software", "lesson", "physicalobject", "other":
	default:
		missing = append(missing, map[string]any{"field": "upload_type", "message": "Invalid upload type."})
	}
	if len(missing) > 0 {
		s.problem("metadata: %v", missing)
		answer(w, http.StatusBadRequest, map[string]any{"message": "Validation error.", "status": 400, "errors": missing})
		return
	}
	d.Metadata = md
	answer(w, http.StatusOK, s.resource(d))
}

func (s *Server) publish(w http.ResponseWriter, id string) {
	d := s.deposition(w, id)
	if d == nil {
		return
	}
	if d.Metadata == nil || len(d.Files) == 0 {
		s.problem("publish before the metadata and a file")
		answer(w, http.StatusBadRequest, map[string]any{"message": "Validation error.", "status": 400,
			"errors": []map[string]any{{"field": "metadata", "message": "missing"}}})
		return
	}
	d.Published = true
	answer(w, http.StatusAccepted, s.resource(d))
}

func (s *Server) download(w http.ResponseWriter, id, name string) {
	n, _ := strconv.ParseInt(id, 10, 64)
	d := s.depositions[n]
	if d == nil || !d.Published || d.Files[name] == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(d.Files[name])))
	w.Write(d.Files[name])
}
