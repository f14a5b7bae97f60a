package metrics

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"medzoo/torch"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// features returns n rows of dimension d with correlated, non-zero-mean
// Gaussian features (a random mixing matrix of rank ≤ rank).
func features(n, d, rank int, seed uint64, shift float32) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	mix := make([]float64, rank*d)
	for i := range mix {
		mix[i] = rng.NormFloat64() / math.Sqrt(float64(rank))
	}
	rows := make([][]float32, n)
	for r := range rows {
		z := make([]float64, rank)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		row := make([]float32, d)
		for j := 0; j < d; j++ {
			var s float64
			for i := 0; i < rank; i++ {
				s += z[i] * mix[i*d+j]
			}
			row[j] = float32(s) + shift + float32(j%7)*0.1
		}
		rows[r] = row
	}
	return rows
}

const scipyRef = `
import sys, numpy as np, scipy.linalg
d = int(sys.argv[1])
def load(p):
    a = np.fromfile(p, dtype="<f8")
    return a[:d], a[d:].reshape(d, d)
m1, s1 = load(sys.argv[2]); m2, s2 = load(sys.argv[3])
diff = m1 - m2
print(repr(float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2*np.trace(scipy.linalg.sqrtm(s1.dot(s2)).real))))
`

// scipyFrechet computes the reference with scipy's sqrtm route.
func scipyFrechet(t *testing.T, a, b *Stats) float64 {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if exec.Command("/usr/bin/python3", "-c", "import numpy, scipy.linalg").Run() != nil {
		t.Skip("python3 numpy/scipy not installed")
	}
	dir := t.TempDir()
	write := func(name string, s *Stats) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		binary.Write(f, binary.LittleEndian, s.Mean)
		binary.Write(f, binary.LittleEndian, s.Cov)
		f.Close()
		return p
	}
	script := filepath.Join(dir, "ref.py")
	os.WriteFile(script, []byte(scipyRef), 0o644)
	out, err := exec.Command("/usr/bin/python3", script, strconv.Itoa(a.Dim), write("a", a), write("b", b)).CombinedOutput()
	if err != nil {
		t.Fatalf("scipy reference: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	v, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		t.Fatalf("scipy reference output %q: %v", out, err)
	}
	return v
}

func mustStats(t *testing.T, rows [][]float32) *Stats {
	t.Helper()
	s, err := FromRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFrechetMatchesScipy(t *testing.T) {
	const d = 64
	cases := []struct {
		name   string
		na, nb int
		ra, rb int
	}{
		{"full rank", 300, 400, d, d},
		{"first rank-deficient N<d", 40, 300, d, d},
		{"second rank-deficient N<d", 300, 50, d, d},
		{"both rank-deficient N<d", 40, 50, d, d},
		{"low-rank features", 300, 300, 20, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := mustStats(t, features(c.na, d, c.ra, 1, 0))
			b := mustStats(t, features(c.nb, d, c.rb, 2, 0.5))
			ref := scipyFrechet(t, a, b)
			for _, route := range []string{"auto", "eigen", "libtorch", "libtorch-eigen"} {
				var got FrechetResult
				var err error
				switch route {
				case "auto":
					got, err = Frechet(a, b)
				case "eigen":
					got, err = FrechetEigen(a, b, Gonum{})
				case "libtorch":
					got, err = FrechetWith(a, b, torch.Linalg{})
				default:
					got, err = FrechetEigen(a, b, torch.Linalg{})
				}
				if err != nil {
					t.Fatal(err)
				}
				rel := math.Abs(got.FID-ref) / math.Abs(ref)
				t.Logf("%s route %s: go %.12g scipy %.12g rel %.2g rank %d clipped %d/%d (min %.3g/%.3g) warnings %d",
					route, got.Route, got.FID, ref, rel, got.RankA, got.ClippedA, got.ClippedM, got.MinEigA, got.MinEigM, len(got.Warnings))
				if rel > 1e-6 {
					t.Errorf("%s route: FID %.12g, scipy %.12g (relative %.3g)", route, got.FID, ref, rel)
				}
				if (c.na < d || c.nb < d) && len(got.Warnings) == 0 {
					t.Errorf("no warning for N < d")
				}
			}
		})
	}
}

func TestFrechetSelfIsZero(t *testing.T) {
	for _, n := range []int{200, 30} {
		rows := features(n, 48, 48, 3, 2)
		a := mustStats(t, rows)
		b := mustStats(t, rows)
		for _, la := range []Linalg{Gonum{}, torch.Linalg{}} {
			auto, err := FrechetWith(a, b, la)
			if err != nil {
				t.Fatal(err)
			}
			eigen, err := FrechetEigen(a, b, la)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []FrechetResult{auto, eigen} {
				scale := r.TraceA + r.TraceB
				if math.Abs(r.FID) > 1e-6*scale {
					t.Errorf("n=%d %T route %s: FID(x,x) = %g (scale %g)", n, la, r.Route, r.FID, scale)
				}
			}
		}
	}
}

func TestStatsMatchesTwoPass(t *testing.T) {
	// More rows than one batch, large mean: checks the batched merge.
	rows := features(statsBatch*2+37, 9, 9, 4, 1000)
	s := mustStats(t, rows)
	n, d := len(rows), 9
	mean := make([]float64, d)
	for _, r := range rows {
		for j, v := range r {
			mean[j] += float64(v) / float64(n)
		}
	}
	for i := 0; i < d; i++ {
		if math.Abs(mean[i]-s.Mean[i]) > 1e-9*math.Abs(mean[i]) {
			t.Fatalf("mean[%d] %g vs %g", i, s.Mean[i], mean[i])
		}
		for j := 0; j < d; j++ {
			var c float64
			for _, r := range rows {
				c += (float64(r[i]) - mean[i]) * (float64(r[j]) - mean[j])
			}
			c /= float64(n - 1)
			if math.Abs(c-s.Cov[i*d+j]) > 1e-9*(math.Abs(c)+1e-3) {
				t.Fatalf("cov[%d,%d] %g vs %g", i, j, s.Cov[i*d+j], c)
			}
		}
	}
	// Merge of two halves equals the whole.
	h1, h2 := mustStats(t, rows[:100]), mustStats(t, rows[100:])
	if err := h1.Merge(h2); err != nil {
		t.Fatal(err)
	}
	for i := range s.Cov {
		if math.Abs(h1.Cov[i]-s.Cov[i]) > 1e-9*(math.Abs(s.Cov[i])+1e-3) {
			t.Fatalf("merged cov[%d] %g vs %g", i, h1.Cov[i], s.Cov[i])
		}
	}
	// Round trip through the binary form.
	data, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Stats
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if back.N != s.N || !slices.Equal(back.Mean, s.Mean) || !slices.Equal(back.Cov, s.Cov) {
		t.Fatal("binary round trip differs")
	}
	if err := back.Merge(mustStats(t, rows[:50])); err != nil {
		t.Fatal(err)
	}
	if back.N != s.N+50 {
		t.Fatalf("merged N %d", back.N)
	}
	if err := new(Stats).UnmarshalBinary(data[:len(data)-8]); err == nil {
		t.Fatal("truncated statistics accepted")
	}
}

func TestBadInput(t *testing.T) {
	s := NewStats(3)
	if err := s.Add([]float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	err := s.Add([]float32{1, float32(math.NaN()), 3})
	if err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Fatalf("NaN row: %v", err)
	}
	if err := s.Add([]float32{1, float32(math.Inf(1)), 3}); err == nil {
		t.Fatal("Inf accepted")
	}
	if err := s.Add([]float32{1, 2}); err == nil {
		t.Fatal("short row accepted")
	}
	if err := s.Finalize(); err == nil {
		t.Fatal("one row finalized")
	}
	good := features(10, 3, 3, 5, 0)
	if _, err := Frechet(s, mustStats(t, good)); err == nil {
		t.Fatal("Frechet with one sample accepted")
	}
	one := good[:1]
	if _, err := KID(one, good, 2, 5, 1); err == nil {
		t.Fatal("KID with one sample accepted")
	}
	if _, err := KID(good, good, 2, 1, 1); err == nil {
		t.Fatal("KID subset size 1 accepted")
	}
	if _, err := PRDC(good, one, 1); err == nil {
		t.Fatal("PRDC with one sample accepted")
	}
	bad := slices.Clone(good)
	bad[4] = []float32{0, float32(math.NaN()), 0}
	if _, err := KID(good, bad, 2, 5, 1); err == nil || !strings.Contains(err.Error(), "row 4") {
		t.Fatalf("KID NaN: %v", err)
	}
	if _, err := PRDC(bad, good, 2); err == nil {
		t.Fatal("PRDC NaN accepted")
	}
	if _, err := Memorization(good, bad, nil, nil, 0.01); err == nil {
		t.Fatal("memorization NaN accepted")
	}
	if _, err := FrechetRows(good, bad); err == nil {
		t.Fatal("FrechetRows NaN accepted")
	}
}

// Naive references, written straight from the definitions.

func naiveMMD(x, y [][]float32) float64 {
	d := float64(len(x[0]))
	k := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return math.Pow(s/d+1, 3)
	}
	m := float64(len(x))
	var xx, yy, xy float64
	for i := range x {
		for j := range x {
			if i != j {
				xx += k(x[i], x[j])
				yy += k(y[i], y[j])
			}
			xy += k(x[i], y[j])
		}
	}
	return xx/(m*(m-1)) + yy/(m*(m-1)) - 2*xy/(m*m)
}

func TestKIDMatchesNaive(t *testing.T) {
	real := features(60, 16, 16, 6, 0)
	fake := features(50, 16, 16, 7, 0.3)
	got, err := KID(real, fake, 5, 20, 42)
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for s := 0; s < 5; s++ {
		rng := rand.New(rand.NewPCG(42, uint64(s)))
		ref := naiveMMD(pick(real, 20, rng), pick(fake, 20, rng))
		if math.Abs(ref-got.Subsets[s]) > 1e-9*math.Max(1, math.Abs(ref)) {
			t.Errorf("subset %d: %g vs naive %g", s, got.Subsets[s], ref)
		}
		mean += ref / 5
	}
	if math.Abs(mean-got.Mean) > 1e-9*math.Max(1, math.Abs(mean)) {
		t.Errorf("mean %g vs %g", got.Mean, mean)
	}
	again, _ := KID(real, fake, 5, 20, 42)
	if !slices.Equal(again.Subsets, got.Subsets) {
		t.Error("KID not deterministic for a seed")
	}
	// Whole sets, one subset: the subset is a permutation, MMD² is the same.
	all, _ := KID(real[:50], fake, 1, 50, 1)
	if ref := naiveMMD(real[:50], fake); math.Abs(ref-all.Mean) > 1e-9*math.Max(1, math.Abs(ref)) {
		t.Errorf("full-set KID %g vs naive %g", all.Mean, ref)
	}
	capped, _ := KID(real, fake, 1, 1000, 1)
	if capped.SubsetSize != 50 || len(capped.Warnings) == 0 {
		t.Errorf("subset size not capped: %+v", capped.SubsetSize)
	}
}

// PRDC equals the naive definitions at k = 3 (torch-fidelity's
// precision/recall default, --protocol torch-fidelity) and k = 5
// (clovaai's and zoo's).
func TestPRDCMatchesNaive(t *testing.T) {
	for _, k := range []int{3, 5} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) { prdcMatchesNaive(t, k) })
	}
}

func prdcMatchesNaive(t *testing.T, k int) {
	real := features(70, 8, 8, 8, 0)
	fake := features(55, 8, 8, 9, 0.4)
	got, err := PRDC(real, fake, k)
	if err != nil {
		t.Fatal(err)
	}
	dist := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += (float64(a[i]) - float64(b[i])) * (float64(a[i]) - float64(b[i]))
		}
		return math.Sqrt(s)
	}
	radii := func(set [][]float32) []float64 {
		out := make([]float64, len(set))
		for i := range set {
			var ds []float64
			for j := range set {
				ds = append(ds, dist(set[i], set[j])) // includes self (0), like the reference
			}
			slices.Sort(ds)
			out[i] = ds[k]
		}
		return out
	}
	rr, rf := radii(real), radii(fake)
	var prec, rec, dens, cov float64
	for j := range fake {
		any, cnt := false, 0
		for i := range real {
			if dist(real[i], fake[j]) < rr[i] {
				any = true
				cnt++
			}
		}
		if any {
			prec++
		}
		dens += float64(cnt)
	}
	for i := range real {
		any, md := false, math.Inf(1)
		for j := range fake {
			d := dist(real[i], fake[j])
			if d < rf[j] {
				any = true
			}
			md = math.Min(md, d)
		}
		if any {
			rec++
		}
		if md < rr[i] {
			cov++
		}
	}
	want := PRDCResult{prec / 55, rec / 70, dens / float64(k) / 55, cov / 70, k}
	t.Logf("PRDC %+v", got)
	for _, p := range [][2]float64{{got.Precision, want.Precision}, {got.Recall, want.Recall}, {got.Density, want.Density}, {got.Coverage, want.Coverage}} {
		if math.Abs(p[0]-p[1]) > 1e-12 {
			t.Fatalf("PRDC %+v, naive %+v", got, want)
		}
	}
	if got.Precision == 0 || got.Recall == 0 {
		t.Fatalf("degenerate test data: %+v", got)
	}
}

func TestFIDRatio(t *testing.T) {
	r, err := FIDRatio(5, 10)
	if err != nil || r != 0.5 {
		t.Fatalf("ratio %g %v", r, err)
	}
	if _, err := FIDRatio(5, 0); err == nil {
		t.Fatal("zero denominator accepted")
	}
	if _, err := FIDRatio(math.NaN(), 1); err == nil {
		t.Fatal("NaN accepted")
	}
	a, b := SplitHalves(features(21, 4, 4, 1, 0), 3)
	if len(a) != 10 || len(b) != 10 {
		t.Fatalf("halves %d %d", len(a), len(b))
	}
}

func TestMemorization(t *testing.T) {
	real := features(40, 12, 12, 10, 0.2)
	fake := features(15, 12, 12, 11, 0.2)
	fake[3] = slices.Clone(real[7]) // an exact copy
	fake[9] = slices.Clone(real[2])
	fake[9][0] += 1e-4 // a near copy
	names := func(p string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = p + strconv.Itoa(i) + ".png"
		}
		return out
	}
	rep, err := Memorization(real, fake, names("real", 40), names("fake", 15), 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if rep.NearCopies != 2 {
		t.Fatalf("near copies %d, want 2: %+v", rep.NearCopies, rep.Entries[:3])
	}
	e0, e1 := rep.Entries[0], rep.Entries[1]
	if e0.FakeName != "fake3.png" || e0.RealName != "real7.png" || e0.Distance > 1e-12 {
		t.Fatalf("first entry %+v", e0)
	}
	if e1.FakeName != "fake9.png" || e1.RealName != "real2.png" || !e1.NearCopy {
		t.Fatalf("second entry %+v", e1)
	}
	for i := 1; i < len(rep.Entries); i++ {
		if rep.Entries[i].Distance < rep.Entries[i-1].Distance {
			t.Fatal("report not sorted")
		}
	}
	// Brute-force check of one nearest neighbour.
	for _, e := range rep.Entries {
		best, bi := math.Inf(1), -1
		for i := range real {
			var dot, nf, nr float64
			for j := range real[i] {
				dot += float64(fake[e.Fake][j]) * float64(real[i][j])
				nf += float64(fake[e.Fake][j]) * float64(fake[e.Fake][j])
				nr += float64(real[i][j]) * float64(real[i][j])
			}
			if d := 1 - dot/math.Sqrt(nf*nr); d < best {
				best, bi = d, i
			}
		}
		if bi != e.Real || math.Abs(math.Max(best, 0)-e.Distance) > 1e-12 {
			t.Fatalf("fake %d: nearest %d (%g), report %d (%g)", e.Fake, bi, best, e.Real, e.Distance)
		}
	}
	if _, err := Memorization(real, fake, names("r", 3), nil, 0.01); err == nil {
		t.Fatal("wrong name count accepted")
	}
}

// TestMemorizationWarnsOnFewDistances: the 1% threshold of 40 (or 2) real
// nearest-neighbour distances is no quantile worth the name, and the report
// says so; 100 real images are enough for it.
func TestMemorizationWarnsOnFewDistances(t *testing.T) {
	for _, tc := range []struct {
		real int
		warn bool
	}{{2, true}, {40, true}, {100, false}} {
		rep, err := Memorization(features(tc.real, 12, 12, 10, 0.2), features(2, 12, 12, 11, 0.2), nil, nil, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(strings.Join(rep.Warnings, "\n"), "rests on too few")
		if got != tc.warn {
			t.Errorf("%d real images: warning %v, want %v (%q)", tc.real, got, tc.warn, rep.Warnings)
		}
	}
}
