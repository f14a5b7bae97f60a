package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"medzoo/loader"
	"medzoo/zoo"
)

// The explorer's pixel readout and window/level: one sample's raw values,
// as the model made them, with what they mean physically (the catalog's
// units, scale, offset and stored_bits, which the DICOM encoder applies
// too), so that the page maps them to HU or MR signal itself and windows
// them without asking the server again.

// ValuesHeader carries the JSON description (ValuesMeta) of a values
// response's body.
const ValuesHeader = "X-Zoo-Values"

// ValuesMeta describes a values body: Height × Width float32 values,
// little-endian, row-major, in the model's declared Range.
type ValuesMeta struct {
	Model     string     `json:"model"`
	Output    string     `json:"output"`
	Kind      string     `json:"kind"`
	Index     int        `json:"index"`
	Seed      uint64     `json:"seed"`
	Input     string     `json:"input,omitempty"` // an image-to-image sample's input name
	Height    int        `json:"height"`
	Width     int        `json:"width"`
	Range     [2]float64 `json:"range"`
	Encoding  string     `json:"encoding"`
	Synthetic bool       `json:"synthetic"`
	// Units is HU, MR or "" (none declared). HU = Offset + Scale × value;
	// MR is stored as DICOM stores it, the range quantised onto
	// 0..2^StoredBits-1.
	Units      string  `json:"units,omitempty"`
	Scale      float64 `json:"scale"`
	Offset     float64 `json:"offset"`
	StoredBits int     `json:"stored_bits,omitempty"`
}

// values: GET /api/models/{id}/values?seed=&index=&condition=&groups=&offsets=&shift=&output=NAME
// — one sample's values of one gray output (the first one when output is
// not given), raw float32.
func (s *Server) values(w http.ResponseWriter, r *http.Request) {
	m, ok := s.runnableModel(w, r)
	if !ok {
		return
	}
	if len(m.Signature.ImageInputs()) > 0 {
		httpError(w, http.StatusUnprocessableEntity, "model %s is image-to-image: its values come with its input, from POST /api/models/%s/generate?format=values or /api/models/%s/image?example=NAME&format=values", m.ID, m.ID, m.ID)
		return
	}
	req, err := s.parseRequest(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if req.n != 1 || (req.format != "png" && req.format != "values") {
		httpError(w, http.StatusBadRequest, "/values returns one sample's raw values: leave n and format out (choose the sample with seed and index)")
		return
	}
	out, err := grayOutput(m, r.URL.Query().Get("output"))
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if status, err := checkSize(m, 1); err != nil {
		httpError(w, status, "%v", err)
		return
	}
	samples, ok := s.run(w, r, m, req)
	if !ok {
		return
	}
	writeValues(w, m, req, samples[0], out)
}

// grayOutput is m's output named name, or its first one-channel output
// when name is "": the readout shows gray values only.
func grayOutput(m *zoo.Model, name string) (*zoo.TensorSpec, error) {
	var gray []string
	for i := range m.Signature.Outputs {
		o := &m.Signature.Outputs[i]
		if o.Channels == 1 {
			gray = append(gray, o.Name)
		}
		if o.Name == name || (name == "" && o.Channels == 1) {
			if o.Channels != 1 {
				return nil, fmt.Errorf("output=%s has %d channels; raw values are served for one-channel (gray) outputs only", name, o.Channels)
			}
			return o, nil
		}
	}
	if len(gray) == 0 {
		return nil, fmt.Errorf("model %s has no one-channel (gray) output; raw values are served for gray outputs only", m.ID)
	}
	return nil, fmt.Errorf("output=%s: model %s has no such gray output; it has %s", name, m.ID, strings.Join(gray, ", "))
}

// writeValues answers one output of one sample as raw float32 values.
func writeValues(w http.ResponseWriter, m *zoo.Model, req *request, smp loader.Sample, spec *zoo.TensorSpec) {
	var data []float32
	for _, o := range smp.Outputs {
		if o.Spec.Name == spec.Name {
			data = o.Data
		}
	}
	if len(data) != spec.Height*spec.Width {
		httpError(w, http.StatusInternalServerError, "model %s: output %s has %d values, not %dx%d", m.ID, spec.Name, len(data), spec.Width, spec.Height)
		return
	}
	meta := ValuesMeta{Model: m.ID, Output: spec.Name, Kind: spec.Kind, Index: smp.Index, Seed: req.seed, Input: smp.Input,
		Height: spec.Height, Width: spec.Width, Range: spec.Range, Encoding: "float32 little-endian, row-major",
		Synthetic: true, Units: spec.Units, Scale: spec.PhysicalScale(), Offset: spec.Offset, StoredBits: spec.StoredBits}
	head, err := json.Marshal(meta)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	body := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(v))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(ValuesHeader, string(head))
	w.Write(body)
}
