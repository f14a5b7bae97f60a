package server

import (
	"net/http"

	"medzoo/loader"
	"medzoo/zoo"
)

// pathModel resolves the request's {id}, or answers 404 naming it and
// returns false.
func (s *Server) pathModel(w http.ResponseWriter, r *http.Request) (*zoo.Model, bool) {
	m, err := s.opt.Catalog.Resolve(r.PathValue("id"))
	if err != nil {
		httpError(w, http.StatusNotFound, "%v", err)
		return nil, false
	}
	return m, true
}

// runnableModel is pathModel for the routes that run the model: one that
// cannot run here is answered 422 with the reason.
func (s *Server) runnableModel(w http.ResponseWriter, r *http.Request) (*zoo.Model, bool) {
	m, ok := s.pathModel(w, r)
	if ok && !m.Runnable() {
		httpError(w, http.StatusUnprocessableEntity, "%v", loader.NotRunnableError(m))
		return nil, false
	}
	return m, ok
}
