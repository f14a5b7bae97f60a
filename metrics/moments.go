package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
)

// MaxMomentsDim bounds the feature dimension of Moments read from a file:
// the packed d(d+1)/2 outer-product sums of a 2048-d extractor are 34 MB
// per set; 8192 dimensions (537 MB) is more than any extractor has.
const MaxMomentsDim = 8192

// Moments are the sufficient statistics of N feature rows: their count, the
// sum of the rows and the sum of their outer products (upper triangle),
// each sum kept as an unevaluated pair hi + lo of float64.
//
// Why pairs: a float32 × float32 product is exact in float64, and the pair
// (hi the running float64 sum, lo the running sum of its rounding errors,
// each error found exactly by TwoSum) holds the exact sum as long as a
// set's partial sums and smallest product lsb are less than ~2^100 apart,
// which features always are. An exact sum does not depend on the order of
// the rows nor on how they were cut: the moments of shards, merged, are the
// moments of the whole run bit for bit, and so is every statistic computed
// from them (Stats). That is what lets zoo evaluate --shard parts merge
// into the FID of one process, to the last bit, even for rank-deficient
// covariances whose square root amplifies any rounding difference.
type Moments struct {
	N, Dim       int
	sumHi, sumLo []float64 // Dim
	outHi, outLo []float64 // Dim(Dim+1)/2, upper triangle row by row
}

// NewMoments returns empty moments for rows of dimension dim.
func NewMoments(dim int) (*Moments, error) {
	if dim <= 0 || dim > MaxMomentsDim {
		return nil, fmt.Errorf("metrics: feature dimension %d (1 to %d)", dim, MaxMomentsDim)
	}
	p := packed(dim)
	return &Moments{Dim: dim, sumHi: make([]float64, dim), sumLo: make([]float64, dim),
		outHi: make([]float64, p), outLo: make([]float64, p)}, nil
}

func packed(d int) int { return d * (d + 1) / 2 }

// twoSum returns s = fl(a+b) and the exact error e, a+b = s+e (Knuth).
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bp := s - a
	e = (a - (s - bp)) + (b - bp)
	return s, e
}

// Add accumulates rows (a multiple of Dim values, row-major). Non-finite
// values are refused, naming the row (counted from the first row added).
func (m *Moments) Add(rows []float32) error {
	d := m.Dim
	if len(rows)%d != 0 {
		return fmt.Errorf("metrics: %d values are not whole rows of %d", len(rows), d)
	}
	n := len(rows) / d
	for i, v := range rows {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("metrics: row %d: feature %d is %v", m.N+i/d, i%d, v)
		}
	}
	for r := 0; r < n; r++ {
		row := rows[r*d : (r+1)*d]
		for j, v := range row {
			s, e := twoSum(m.sumHi[j], float64(v))
			m.sumHi[j], m.sumLo[j] = s, m.sumLo[j]+e
		}
	}
	// Each worker owns whole rows i of the triangle, so every entry is
	// accumulated by one goroutine in row order: the result does not
	// depend on the number of workers (it would not anyway, being exact).
	workers := min(runtime.GOMAXPROCS(0), d)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < d; i += workers {
				off := i*d - i*(i-1)/2 // packed index of (i, i)
				hi := m.outHi[off : off+d-i]
				lo := m.outLo[off : off+d-i]
				for r := 0; r < n; r++ {
					row := rows[r*d+i : (r+1)*d]
					xi := float64(row[0])
					if xi == 0 {
						continue // ReLU features: many exact zeros add nothing
					}
					for j, v := range row {
						p := xi * float64(v) // exact: 24+24 bits of mantissa
						s := hi[j] + p
						bp := s - hi[j]
						lo[j] += (hi[j] - (s - bp)) + (p - bp)
						hi[j] = s
					}
				}
			}
		}(w)
	}
	wg.Wait()
	m.N += n
	return nil
}

// Merge adds o's rows into m, as if each had been added to m.
func (m *Moments) Merge(o *Moments) error {
	if o.Dim != m.Dim {
		return fmt.Errorf("metrics: merging moments of dimension %d into %d", o.Dim, m.Dim)
	}
	mergePairs(m.sumHi, m.sumLo, o.sumHi, o.sumLo)
	mergePairs(m.outHi, m.outLo, o.outHi, o.outLo)
	m.N += o.N
	return nil
}

func mergePairs(hi, lo, ohi, olo []float64) {
	for i := range hi {
		s, e := twoSum(hi[i], ohi[i])
		hi[i], lo[i] = s, lo[i]+olo[i]+e
	}
}

// Stats returns the mean and unbiased covariance. Both are computed from
// the normalized pairs in extended precision (the covariance as
// (Σxxᵀ − ΣxΣxᵀ/N)/(N−1) without cancellation), so they are a function of
// the exact sums only.
func (m *Moments) Stats() (*Stats, error) {
	if m.N < 2 {
		return nil, fmt.Errorf("metrics: %d feature rows; need at least 2 for a covariance", m.N)
	}
	d := m.Dim
	n := float64(m.N)
	sh, sl := make([]float64, d), make([]float64, d)
	mean := make([]float64, d)
	for j := range sh {
		sh[j], sl[j] = twoSum(m.sumHi[j], m.sumLo[j])
		mean[j] = ddDiv(sh[j], sl[j], n)
	}
	cov := make([]float64, d*d)
	inv := n - 1
	for i := 0; i < d; i++ {
		off := i*d - i*(i-1)/2
		for j := i; j < d; j++ {
			oh, ol := twoSum(m.outHi[off+j-i], m.outLo[off+j-i])
			// t = S_i S_j / N as a pair.
			p := sh[i] * sh[j]
			pe := math.FMA(sh[i], sh[j], -p) + sh[i]*sl[j] + sl[i]*sh[j]
			q := p / n
			qe := (math.FMA(-q, n, p) + pe) / n
			s, e := twoSum(oh, -q)
			v := (s + (e + ol - qe)) / inv
			cov[i*d+j], cov[j*d+i] = v, v
		}
	}
	for _, v := range cov {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("metrics: covariance overflows float64")
		}
	}
	return StatsFromMoments(m.N, mean, cov)
}

// ddDiv is (hi+lo)/n rounded once.
func ddDiv(hi, lo, n float64) float64 {
	q := hi / n
	return q + (math.FMA(-q, n, hi)+lo)/n
}

// MomentsBytes is the size of the encoding WriteTo writes for dimension d.
func MomentsBytes(d int) int64 { return 8 + 16*int64(d) + 16*int64(packed(d)) }

// WriteTo writes N (uint64) and the pairs, little-endian float64: sum hi,
// sum lo, outer hi, outer lo.
func (m *Moments) WriteTo(w io.Writer) (int64, error) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(m.N))
	total := int64(0)
	k, err := w.Write(b[:])
	total += int64(k)
	if err != nil {
		return total, err
	}
	for _, s := range [][]float64{m.sumHi, m.sumLo, m.outHi, m.outLo} {
		k, err := writeFloats(w, s)
		total += k
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func writeFloats(w io.Writer, s []float64) (int64, error) {
	buf := make([]byte, 0, 1<<16)
	total := int64(0)
	for i, v := range s {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		if len(buf) == cap(buf) || i == len(s)-1 {
			k, err := w.Write(buf)
			total += int64(k)
			if err != nil {
				return total, err
			}
			buf = buf[:0]
		}
	}
	return total, nil
}

// ReadMoments reads what WriteTo wrote for dimension dim, refusing a count
// above maxN and non-finite sums. The caller bounds dim (NewMoments does)
// and has checked that the bytes are there (MomentsBytes).
func ReadMoments(r io.Reader, dim int, maxN int) (*Moments, error) {
	m, err := NewMoments(dim)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("metrics: moments: %w", err)
	}
	n := binary.LittleEndian.Uint64(b[:])
	if n > uint64(maxN) {
		return nil, fmt.Errorf("metrics: moments of %d rows, more than the %d expected", n, maxN)
	}
	m.N = int(n)
	buf := make([]byte, 1<<16)
	for _, s := range [][]float64{m.sumHi, m.sumLo, m.outHi, m.outLo} {
		for i := 0; i < len(s); {
			k := min(len(buf)/8, len(s)-i)
			if _, err := io.ReadFull(r, buf[:8*k]); err != nil {
				return nil, fmt.Errorf("metrics: moments: %w", err)
			}
			for j := 0; j < k; j++ {
				v := math.Float64frombits(binary.LittleEndian.Uint64(buf[8*j:]))
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, errors.New("metrics: moments hold a non-finite sum")
				}
				s[i+j] = v
			}
			i += k
		}
	}
	return m, nil
}
