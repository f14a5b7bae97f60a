package output

import (
	"bytes"
	"fmt"
)

// OpenStream is a run whose files go to put instead of a directory: zoo
// serve's data-set export streams them into a zip. It is the same Run as
// Open's, so the run record, the file names and the manifest are the same
// bytes zoo generate writes for info. put receives the run record
// (RunFile) at once, then each sample's files in index order (outputs in
// info.Outputs order) as Commit reaches them, and the manifest
// (ManifestFile) last, from Close, once every sample of info.N is
// committed. Samples finishing out of order wait in memory for their turn:
// as many as the writer has in flight, never the run. The manifest, one
// line per sample, is held until Close: callers bound info.N.
//
// put is called one file at a time (under the run's lock); its data is
// valid during the call only.
func OpenStream(info RunInfo, put func(name string, data []byte) error) (*Run, error) {
	info.Width = nameWidth(info)
	r := &Run{Info: info, pending: map[int]Record{}, End: info.N,
		stream: &stream{put: put, held: map[string][]byte{}}}
	if err := put(RunFile, r.infoJSON()); err != nil {
		return nil, err
	}
	return r, nil
}

// stream is a Run's destination when it has no directory.
type stream struct {
	put      func(name string, data []byte) error
	held     map[string][]byte // files of samples not yet committed, by name
	manifest bytes.Buffer
	closed   bool
}

// holdFile keeps a copy of one file until its sample's commit sends it. The
// caller's data is reused after the call (pipeline.Origin.Encode).
// Guarded by Run.mu, like emit, so the two never race on held.
func (r *Run) holdFile(name string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.stream.held[name]; dup {
		return fmt.Errorf("output file %s written twice in one run", name)
	}
	r.stream.held[name] = bytes.Clone(data)
	return nil
}

// emit sends rec's files, in the order of outputs, and forgets them. The
// caller holds Run.mu.
func (s *stream) emit(rec Record, outputs []string) error {
	for _, out := range outputs {
		name, ok := rec.Files[out]
		if !ok {
			continue
		}
		data, ok := s.held[name]
		if !ok {
			return fmt.Errorf("sample %d: its file %s was committed but never written", rec.Index, name)
		}
		delete(s.held, name)
		if err := s.put(name, data); err != nil {
			return err
		}
	}
	return nil
}

// finishStream puts the manifest of a complete stream, once; a stream
// that ends early puts nothing more and says how far it got.
func (r *Run) finishStream() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream.closed {
		return nil
	}
	r.stream.closed = true
	if r.next != r.End {
		return fmt.Errorf("the run ended after %d of %d samples; its manifest was not sent", r.next-r.Start, r.End-r.Start)
	}
	return r.stream.put(ManifestFile, r.stream.manifest.Bytes())
}
