// Package metrics computes quality metrics of generative models from feature
// vectors (one float32 row per image, e.g. Inception-v3 pool features): the
// Fréchet distance (FID) from streamed float64 statistics, KID, precision /
// recall / density / coverage, medigan's FID ratio and a memorization report.
//
// Everything here works on features already extracted; it never touches
// images or models.
package metrics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// statsBatch is how many rows Add buffers before folding them into the
// running co-moment with one parallel matrix product.
const statsBatch = 256

// Stats holds the mean and the unbiased covariance (divided by N-1, like
// numpy.cov and clean-fid) of N feature rows of dimension Dim, accumulated in
// float64.
//
// Rows are added one at a time with Add; they are buffered and folded in
// batches (batch mean and centred co-moment, merged with Chan et al.'s
// pairwise formula, so there is no sum-of-squares cancellation). Mean and
// Cov are up to date after Finalize, which Frechet calls itself.
type Stats struct {
	N    int       // rows added
	Dim  int       // feature dimension
	Mean []float64 // Dim
	Cov  []float64 // Dim×Dim, row-major, symmetric; valid after Finalize

	m2      []float64 // co-moment Σ (x-μ)(x-μ)ᵀ over folded rows (upper triangle kept current); nil when loaded from Cov
	folded  int       // rows folded into Mean/m2
	pending []float64 // buffered rows, row-major
	stale   bool      // Cov does not reflect m2 yet
}

// NewStats returns empty statistics for rows of dimension dim.
func NewStats(dim int) *Stats {
	if dim <= 0 {
		panic("metrics: NewStats with non-positive dimension")
	}
	return &Stats{Dim: dim, Mean: make([]float64, dim), Cov: make([]float64, dim*dim), m2: make([]float64, dim*dim)}
}

// Add accumulates one feature row. It rejects rows of the wrong length and
// rows with NaN or infinite values; the error names the row's index (the
// number of rows added before it).
func (s *Stats) Add(row []float32) error {
	if len(row) != s.Dim {
		return fmt.Errorf("metrics: row %d has %d features, want %d", s.N, len(row), s.Dim)
	}
	for j, v := range row {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("metrics: row %d: feature %d is %v", s.N, j, v)
		}
	}
	for _, v := range row {
		s.pending = append(s.pending, float64(v))
	}
	s.N++
	s.stale = true
	if len(s.pending) >= statsBatch*s.Dim {
		s.fold()
	}
	return nil
}

// AddRows calls Add for each row, stopping at the first error.
func (s *Stats) AddRows(rows [][]float32) error {
	for _, r := range rows {
		if err := s.Add(r); err != nil {
			return err
		}
	}
	return nil
}

// FromRows returns the finalized statistics of rows (dimension from the first row).
func FromRows(rows [][]float32) (*Stats, error) {
	if len(rows) == 0 {
		return nil, errors.New("metrics: no feature rows")
	}
	s := NewStats(len(rows[0]))
	if err := s.AddRows(rows); err != nil {
		return nil, err
	}
	if err := s.Finalize(); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureM2 rebuilds the co-moment from Cov for statistics that were loaded
// (UnmarshalBinary) rather than accumulated.
func (s *Stats) ensureM2() {
	if s.m2 != nil {
		return
	}
	s.m2 = make([]float64, s.Dim*s.Dim)
	if s.folded > 1 {
		f := float64(s.folded - 1)
		for i, v := range s.Cov {
			s.m2[i] = v * f
		}
	}
}

// fold merges the buffered rows into Mean and m2.
func (s *Stats) fold() {
	d := s.Dim
	nb := len(s.pending) / d
	if nb == 0 {
		return
	}
	s.ensureM2()
	x := s.pending
	bm := make([]float64, d)
	for r := 0; r < nb; r++ {
		row := x[r*d : (r+1)*d]
		for j, v := range row {
			bm[j] += v
		}
	}
	for j := range bm {
		bm[j] /= float64(nb)
	}
	for r := 0; r < nb; r++ {
		row := x[r*d : (r+1)*d]
		for j := range row {
			row[j] -= bm[j]
		}
	}
	// Batch co-moment XcᵀXc (d×d, upper triangle) added onto a scratch copy.
	bm2 := make([]float64, d*d)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1,
		blas64.General{Rows: nb, Cols: d, Stride: d, Data: x},
		blas64.General{Rows: nb, Cols: d, Stride: d, Data: x},
		0, blas64.General{Rows: d, Cols: d, Stride: d, Data: bm2})
	na, n := float64(s.folded), float64(s.folded+nb)
	w := na * float64(nb) / n
	delta := make([]float64, d)
	for j := range delta {
		delta[j] = bm[j] - s.Mean[j]
	}
	for i := 0; i < d; i++ {
		ri := s.m2[i*d : (i+1)*d]
		bi := bm2[i*d : (i+1)*d]
		di := delta[i] * w
		for j := i; j < d; j++ {
			ri[j] += bi[j] + di*delta[j]
		}
	}
	for j := range s.Mean {
		s.Mean[j] += delta[j] * float64(nb) / n
	}
	s.folded += nb
	s.pending = s.pending[:0]
}

// Finalize folds buffered rows and brings Cov up to date. It fails when
// fewer than 2 rows were added (the covariance is undefined).
func (s *Stats) Finalize() error {
	if s.N < 2 {
		return fmt.Errorf("metrics: %d feature rows; need at least 2 for a covariance", s.N)
	}
	if !s.stale && len(s.pending) == 0 {
		return nil
	}
	s.fold()
	d := s.Dim
	inv := 1 / float64(s.N-1)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			v := s.m2[i*d+j] * inv
			s.Cov[i*d+j] = v
			s.Cov[j*d+i] = v
		}
	}
	s.stale = false
	return nil
}

// Merge adds the rows summarised by o into s (both are folded first), as if
// every row of o had been added to s.
func (s *Stats) Merge(o *Stats) error {
	if o.Dim != s.Dim {
		return fmt.Errorf("metrics: merging statistics of dimension %d into %d", o.Dim, s.Dim)
	}
	if o.N == 0 {
		return nil
	}
	s.fold()
	o.fold()
	s.ensureM2()
	o.ensureM2()
	d := s.Dim
	na, nb := float64(s.N), float64(o.N)
	n := na + nb
	w := na * nb / n
	for i := 0; i < d; i++ {
		di := (o.Mean[i] - s.Mean[i]) * w
		for j := i; j < d; j++ {
			s.m2[i*d+j] += o.m2[i*d+j] + di*(o.Mean[j]-s.Mean[j])
		}
	}
	for j := range s.Mean {
		s.Mean[j] += (o.Mean[j] - s.Mean[j]) * nb / n
	}
	s.N += o.N
	s.folded = s.N
	s.stale = true
	if s.N >= 2 {
		return s.Finalize()
	}
	return nil
}

var statsMagic = [8]byte{'M', 'Z', 'S', 'T', 'A', 'T', 'S', '1'}

// MarshalBinary encodes finalized statistics: the 8-byte magic "MZSTATS1",
// then little-endian uint64 Dim and N, Dim float64 means and the Dim×Dim
// row-major float64 covariance.
func (s *Stats) MarshalBinary() ([]byte, error) {
	if err := s.Finalize(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(24 + 8*(s.Dim+s.Dim*s.Dim))
	b.Write(statsMagic[:])
	binary.Write(&b, binary.LittleEndian, uint64(s.Dim))
	binary.Write(&b, binary.LittleEndian, uint64(s.N))
	binary.Write(&b, binary.LittleEndian, s.Mean)
	binary.Write(&b, binary.LittleEndian, s.Cov)
	return b.Bytes(), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. The result can be used
// by Frechet and merged with other statistics.
func (s *Stats) UnmarshalBinary(data []byte) error {
	r := bytes.NewReader(data)
	var magic [8]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil || magic != statsMagic {
		return errors.New("metrics: not a statistics file (bad magic)")
	}
	var dim, n uint64
	if err := binary.Read(r, binary.LittleEndian, &dim); err != nil {
		return fmt.Errorf("metrics: statistics header: %w", err)
	}
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return fmt.Errorf("metrics: statistics header: %w", err)
	}
	if dim == 0 || dim > 1<<16 || n > 1<<40 {
		return fmt.Errorf("metrics: implausible statistics header (dim %d, n %d)", dim, n)
	}
	if uint64(r.Len()) != 8*(dim+dim*dim) {
		return fmt.Errorf("metrics: statistics body is %d bytes, want %d", r.Len(), 8*(dim+dim*dim))
	}
	d := int(dim)
	mean := make([]float64, d)
	cov := make([]float64, d*d)
	binary.Read(r, binary.LittleEndian, mean)
	binary.Read(r, binary.LittleEndian, cov)
	for _, v := range mean {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("metrics: statistics file has a non-finite mean")
		}
	}
	for _, v := range cov {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("metrics: statistics file has a non-finite covariance")
		}
	}
	*s = Stats{N: int(n), Dim: d, Mean: mean, Cov: cov, folded: int(n)}
	return nil
}

// StatsFromMoments wraps a mean and unbiased covariance computed elsewhere
// (e.g. torch.Linalg.Cov) over n rows.
func StatsFromMoments(n int, mean, cov []float64) (*Stats, error) {
	d := len(mean)
	if n < 2 || d == 0 || len(cov) != d*d {
		return nil, fmt.Errorf("metrics: statistics of %d rows with %d means and %d covariance values", n, d, len(cov))
	}
	for _, v := range mean {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("metrics: non-finite mean")
		}
	}
	return &Stats{N: n, Dim: d, Mean: mean, Cov: cov, folded: n}, nil
}
