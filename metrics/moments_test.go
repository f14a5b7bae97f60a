package metrics

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randomRows(n, d int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([]float32, n*d)
	for i := range rows {
		// Mean far from 0 relative to the spread: raw sums of squares
		// would cancel badly here.
		rows[i] = float32(100 + rng.NormFloat64())
		if rng.IntN(4) == 0 {
			rows[i] = 0 // ReLU-like zeros
		}
	}
	return rows
}

// Moments of parts, merged, are the moments of the whole, bit for bit,
// however the rows are cut; their statistics agree with the centred
// (Chan) accumulation of Stats.
func TestMomentsMergeEqualsWhole(t *testing.T) {
	const n, d = 37, 9
	rows := randomRows(n, d, 3)
	whole, _ := NewMoments(d)
	if err := whole.Add(rows); err != nil {
		t.Fatal(err)
	}
	ws, err := whole.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, cuts := range [][]int{{0, 1, 37}, {0, 12, 25, 37}, {0, 36, 37}, {0, 5, 5, 20, 37}} {
		merged, _ := NewMoments(d)
		for i := 1; i < len(cuts); i++ {
			p, _ := NewMoments(d)
			// Rows added in two calls, to vary the batching too.
			mid := (cuts[i-1] + cuts[i]) / 2
			p.Add(rows[cuts[i-1]*d : mid*d])
			p.Add(rows[mid*d : cuts[i]*d])
			if err := merged.Merge(p); err != nil {
				t.Fatal(err)
			}
		}
		ms, err := merged.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if merged.N != n || !slices.Equal(ms.Mean, ws.Mean) || !slices.Equal(ms.Cov, ws.Cov) {
			t.Errorf("cuts %v: merged statistics differ from the whole's", cuts)
		}
	}
	mat := make([][]float32, n)
	for i := range mat {
		mat[i] = rows[i*d : (i+1)*d]
	}
	ref, _ := FromRows(mat)
	for i := range ref.Cov {
		if math.Abs(ref.Cov[i]-ws.Cov[i]) > 1e-9*(1+math.Abs(ref.Cov[i])) {
			t.Fatalf("cov[%d] = %g, centred accumulation gives %g", i, ws.Cov[i], ref.Cov[i])
		}
	}
	for i := range ref.Mean {
		if math.Abs(ref.Mean[i]-ws.Mean[i]) > 1e-12*math.Abs(ref.Mean[i]) {
			t.Fatalf("mean[%d] = %g, want %g", i, ws.Mean[i], ref.Mean[i])
		}
	}
}

func TestMomentsRoundTripAndBadInput(t *testing.T) {
	const d = 4
	m, _ := NewMoments(d)
	m.Add(randomRows(5, d, 7))
	var b bytes.Buffer
	k, err := m.WriteTo(&b)
	if err != nil || k != MomentsBytes(d) || int64(b.Len()) != k {
		t.Fatalf("wrote %d bytes (%v), want %d", k, err, MomentsBytes(d))
	}
	back, err := ReadMoments(bytes.NewReader(b.Bytes()), d, 5)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := m.Stats()
	s2, _ := back.Stats()
	if !slices.Equal(s1.Cov, s2.Cov) || back.N != 5 {
		t.Error("moments changed in a round trip")
	}
	if _, err := ReadMoments(bytes.NewReader(b.Bytes()), d, 4); err == nil {
		t.Error("moments of more rows than expected accepted")
	}
	if _, err := ReadMoments(bytes.NewReader(b.Bytes()[:20]), d, 5); err == nil {
		t.Error("truncated moments accepted")
	}
	bad := slices.Clone(b.Bytes())
	copy(bad[8:], []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // NaN
	if _, err := ReadMoments(bytes.NewReader(bad), d, 5); err == nil {
		t.Error("NaN sum accepted")
	}
	if err := m.Add([]float32{1, 2, 3}); err == nil {
		t.Error("a partial row accepted")
	}
	if err := m.Add([]float32{1, float32(math.Inf(1)), 3, 4}); err == nil {
		t.Error("an infinite feature accepted")
	}
	if _, err := NewMoments(MaxMomentsDim + 1); err == nil {
		t.Error("huge dimension accepted")
	}
	one, _ := NewMoments(d)
	one.Add(randomRows(1, d, 1))
	if _, err := one.Stats(); err == nil {
		t.Error("covariance of one row")
	}
}
