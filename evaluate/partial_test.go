package evaluate

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"medzoo/features"
	"medzoo/internal/shard"
)

const testDim = 8

func testRows(n int, shift float64, seed uint64) ([]float32, []string) {
	rng := rand.New(rand.NewPCG(seed, 2))
	rows := make([]float32, n*testDim)
	for i := range rows {
		rows[i] = float32(shift + rng.NormFloat64())
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("img%03d.png", i)
	}
	return rows, names
}

func testOptions() Options {
	o := Options{Metrics: []string{FID, KID, PRDC, Ratio, Memorization}, Seed: 4, KIDSubsets: 10, KIDSubsetSize: 6, PRDCK: 3}
	return o.withDefaults()
}

// writeTestParts writes the m partial files of an evaluation of the two
// row sets, as RunPartial would, and returns their paths.
func writeTestParts(t *testing.T, dir string, m int, real, fake []float32, rn, fn []string) []string {
	t.Helper()
	opt := testOptions()
	var paths []string
	for k := 0; k < m; k++ {
		sh := shard.Shard{K: k, M: m}
		h := partHeader{Format: PartialFormat, Zoo: "medzoo test", Date: "2026-01-01T00:00:00Z", Command: "zoo evaluate r/ f/ --features x.pt",
			Extractor: ExtractorInfo{Name: "x-random", SHA256: "abcdef0123456789", Dim: testDim}, Preprocessing: "p", Normalize: "none",
			Metrics: opt.Metrics, Seed: opt.Seed, KIDSubsets: opt.KIDSubsets, KIDSubsetSize: opt.KIDSubsetSize, PRDCK: opt.PRDCK,
			NearCopyQuantile: opt.NearCopyQuantile, K: k, M: m}
		var sets [2]*featureSet
		for i, s := range []struct {
			rows  []float32
			names []string
			ps    *partSet
		}{{real, rn, &h.Real}, {fake, fn, &h.Fake}} {
			n := len(s.names)
			a, b := sh.Range(n, 1)
			fs := &featureSet{rows: s.rows[a*testDim : b*testDim], n: b - a, names: s.names[a:b]}
			var err error
			if fs.moments, err = momentsOf(fs.rows, testDim); err != nil {
				t.Fatal(err)
			}
			*s.ps = partSet{Describe: "folder", Fingerprint: fmt.Sprint("fp", i), Len: n, Block: 1, Start: a, End: b, Rows: b - a, Names: fs.names}
			sets[i] = fs
		}
		p := filepath.Join(dir, fmt.Sprintf("part-%d", k))
		size, err := writePart(p, h, sets)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(p); err != nil || st.Size() != size {
			t.Fatalf("%s: %v, size %d, reported %d", p, err, st.Size(), size)
		}
		paths = append(paths, p)
	}
	return paths
}

// Three parts merged give the card of one process: FID bit for bit (the
// same exact moments), KID, PRDC, FID ratio and memorization exactly.
func TestMergeEqualsWhole(t *testing.T) {
	real, rn := testRows(20, 1, 1)
	fake, fn := testRows(17, 1.3, 2)
	paths := writeTestParts(t, t.TempDir(), 3, real, fake, rn, fn)
	merged, err := Merge([]string{paths[2], paths[0], paths[1]}) // any order
	if err != nil {
		t.Fatal(err)
	}
	whole := &Card{}
	whole.computeAll(&featureSet{rows: real, n: 20, names: rn}, &featureSet{rows: fake, n: 17, names: fn},
		Options{Extractor: merged.extractorForTest(), Metrics: testOptions().Metrics, Seed: 4, KIDSubsets: 10, KIDSubsetSize: 6, PRDCK: 3}.withDefaults())
	if len(whole.Failed) > 0 || len(merged.Failed) > 0 {
		t.Fatalf("failed metrics: whole %v, merged %v", whole.Failed, merged.Failed)
	}
	if len(merged.Results) != len(whole.Results) || len(merged.Results) < 7 {
		t.Fatalf("results: %+v vs %+v", merged.Results, whole.Results)
	}
	for i, r := range merged.Results {
		if w := whole.Results[i]; r.Metric != w.Metric || r.Value != w.Value || r.Std != w.Std {
			t.Errorf("%s: merged %v ± %v, whole %s %v ± %v", r.Metric, r.Value, r.Std, w.Metric, w.Value, w.Std)
		}
	}
	if merged.Memorization == nil || !slices.Equal(merged.Memorization.Closest, whole.Memorization.Closest) {
		t.Errorf("memorization differs")
	}
	if merged.Shards == nil || merged.Shards.Count != 3 || merged.Shards.Parts[1].Real != [2]int{6, 13} || merged.Real.Images != 20 || merged.Fake.Images != 17 {
		t.Errorf("shards on the card: %+v, images %d %d", merged.Shards, merged.Real.Images, merged.Fake.Images)
	}
	var text strings.Builder
	merged.WriteText(&text)
	if !strings.Contains(text.String(), "merged from 3 shards") {
		t.Errorf("text card:\n%s", text.String())
	}
}

func (c *Card) extractorForTest() *features.Extractor {
	return &features.Extractor{Spec: features.Spec{Dim: c.Extractor.Dim}}
}

func TestPartRoundTrip(t *testing.T) {
	real, rn := testRows(7, 0, 5)
	fake, fn := testRows(5, 0, 6)
	// Into a folder that does not exist yet, as a pod's first write is.
	paths := writeTestParts(t, filepath.Join(t.TempDir(), "eval", "parts"), 2, real, fake, rn, fn)
	p, err := readPartHeader(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	sets, err := p.readBody()
	if err != nil {
		t.Fatal(err)
	}
	if p.h.K != 1 || p.h.Real.Start != 3 || !slices.Equal(sets[0].rows, real[3*testDim:]) || !slices.Equal(sets[1].names, fn[2:]) || sets[0].moments.N != 4 {
		t.Errorf("read back: %+v", p.h)
	}
}

// Parts that do not belong together, or do not cover every shard once,
// are refused naming the problem; a missing shard is named with its
// images and the command that makes it.
func TestMergeRefusesMismatchedOrMissingParts(t *testing.T) {
	real, rn := testRows(9, 0, 5)
	fake, fn := testRows(9, 0, 6)
	dir := t.TempDir()
	three := writeTestParts(t, filepath.Join(dir, "a"), 3, real, fake, rn, fn)
	two := writeTestParts(t, filepath.Join(dir, "b"), 2, real, fake, rn, fn)
	other, _ := testRows(9, 0, 9)
	diff := writeTestParts(t, filepath.Join(dir, "c"), 3, real, other, rn, fn)
	for _, c := range []struct {
		paths []string
		want  string
	}{
		{[]string{three[0], three[2]}, "shard 1/3 (real images 3..5, fake images 3..5): make it with\n    zoo evaluate r/ f/ --features x.pt --shard 1/3 --partial PART-1"},
		{[]string{three[0], three[1], three[1], three[2]}, "shard 1/3 given twice"},
		{[]string{three[0], two[1]}, "number of shards 3 vs 2"},
		{nil, "partial files of every shard"},
	} {
		_, err := Merge(c.paths)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.paths, err, c.want)
		}
	}
	// Same header but other rows would merge (the file cannot know); a
	// changed set fingerprint is refused.
	rewriteHeader(t, diff[1], func(h *partHeader) { h.Fake.Fingerprint = "other" })
	if _, err := Merge([]string{three[0], diff[1], three[2]}); err == nil || !strings.Contains(err.Error(), "fake set") {
		t.Errorf("other fake set: %v", err)
	}
	rewriteHeader(t, diff[2], func(h *partHeader) { h.Seed = 99 })
	if _, err := Merge([]string{three[0], three[1], diff[2]}); err == nil || !strings.Contains(err.Error(), "--seed") {
		t.Errorf("other seed: %v", err)
	}
}

// rewriteHeader changes a part's header and writes it back with its body.
func rewriteHeader(t *testing.T, path string, change func(*partHeader)) {
	t.Helper()
	p, err := readPartHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	sets, err := p.readBody()
	if err != nil {
		t.Fatal(err)
	}
	change(&p.h)
	if _, err := writePart(path, p.h, sets); err != nil {
		t.Fatal(err)
	}
}

// A damaged or hostile part file is a clear error, never a panic or a
// huge allocation.
func TestHostilePartFiles(t *testing.T) {
	real, rn := testRows(6, 0, 5)
	fake, fn := testRows(6, 0, 6)
	dir := t.TempDir()
	good := writeTestParts(t, dir, 2, real, fake, rn, fn)[0]
	data, _ := os.ReadFile(good)
	hl := binary.LittleEndian.Uint64(data[len(partialMagic):])
	bodyAt := len(partialMagic) + 8 + int(hl)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	withLen := func(n uint64) []byte {
		b := slices.Clone(data)
		binary.LittleEndian.PutUint64(b[len(partialMagic):], n)
		return b
	}
	nan := slices.Clone(data)
	binary.LittleEndian.PutUint32(nan[len(nan)-4:], math.Float32bits(float32(math.NaN())))
	os.Symlink(good, filepath.Join(dir, "link"))
	for _, c := range []struct {
		path, want string
	}{
		{write("empty", nil), "not a partial evaluation file"},
		{write("garbage", []byte("hello world, not a part file at all")), "not a partial evaluation file"},
		{write("hugeheader", withLen(1<<62)), "header of"},
		{write("shortheader", withLen(3)), "header:"},
		{write("truncated", data[:len(data)-1]), "truncated or damaged"},
		{write("longer", append(slices.Clone(data), 0)), "truncated or damaged"},
		{write("nobody", data[:bodyAt]), "truncated or damaged"},
		{write("nan", nan), "non-finite feature"},
		{filepath.Join(dir, "link"), "partial file"},
		{dir, "partial file"},
	} {
		p, err := readPartHeader(c.path)
		if err == nil {
			_, err = p.readBody()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", filepath.Base(c.path), err, c.want)
		}
	}
	// Headers that lie about sizes or ranges.
	for name, change := range map[string]func(*partHeader){
		"dim":    func(h *partHeader) { h.Extractor.Dim = 1 << 30 },
		"range":  func(h *partHeader) { h.Real.Start, h.Real.End = 0, 6 },
		"rows":   func(h *partHeader) { h.Real.Rows = 1 << 50 },
		"len":    func(h *partHeader) { h.Fake.Len = -1 },
		"shard":  func(h *partHeader) { h.K = 5 },
		"names":  func(h *partHeader) { h.Real.Names = h.Real.Names[1:] },
		"format": func(h *partHeader) { h.Format = "zoo-evaluate-partial/9" },
	} {
		p := filepath.Join(dir, "lie-"+name)
		os.WriteFile(p, data, 0o644)
		rewriteHeader(t, p, change)
		if _, err := Merge([]string{p}); err == nil || !strings.Contains(err.Error(), "partial file "+p) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
