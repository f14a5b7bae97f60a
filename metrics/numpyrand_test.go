package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"
)

func numpy(t *testing.T, script, stdin string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// The subsets equal numpy's RandomState(seed).choice(n, m, replace=False),
// call after call, also past MT19937's 624-word blocks and for n that are
// powers of two and not (the rejection of masked draws).
func TestNumpyRandomStateChoice(t *testing.T) {
	calls := [][2]int{{37, 11}, {23, 11}, {64, 64}, {5000, 1000}, {2, 2}, {1000, 3}}
	for _, seed := range []uint32{0, 2020, 4294967295} {
		r := newNumpyRandomState(seed)
		var got []string
		for _, c := range calls {
			got = append(got, fmt.Sprint(r.choice(c[0], c[1])))
		}
		want := numpy(t, `
import sys, json, numpy as np
seed, calls = json.load(sys.stdin)
rs = np.random.RandomState(seed)
for n, m in calls:
    print("[" + " ".join(str(i) for i in rs.choice(n, m, replace=False)) + "]")
`, fmt.Sprintf("[%d, %s]", seed, mustJSON(calls)))
		if g := strings.Join(got, "\n"); g != want {
			t.Fatalf("seed %d: Go's draws differ from numpy's:\n%.300s\nvs\n%.300s", seed, g, want)
		}
	}
}

// KID on torch-fidelity's subsets equals torch-fidelity's computation
// (numpy, its draw order: the fake set, then the real one, per subset).
func TestKIDNumpySubsetsMatchesTorchFidelity(t *testing.T) {
	real, fake := features(40, 6, 6, 1, 0), features(33, 6, 6, 2, 0.3)
	res, err := KIDNumpySubsets(real, fake, 5, 12, 2020)
	if err != nil {
		t.Fatal(err)
	}
	out := numpy(t, `
import sys, json, numpy as np
real, fake = (np.array(a, dtype=np.float32).astype(np.float64) for a in json.load(sys.stdin))
rs = np.random.RandomState(2020)
d, m, mmds = real.shape[1], 12, []
for _ in range(5):
    f1 = fake[rs.choice(len(fake), m, replace=False)]
    f2 = real[rs.choice(len(real), m, replace=False)]
    k11, k22, k12 = ((a @ b.T / d + 1) ** 3 for a, b in ((f1, f1), (f2, f2), (f1, f2)))
    mmds.append((k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (m * (m - 1)) - 2 * k12.mean())
print(np.mean(mmds), np.std(mmds))
`, mustJSON([2][][]float32{real, fake}))
	var mean, std float64
	fmt.Sscan(out, &mean, &std)
	if math.Abs(res.Mean-mean) > 1e-9*math.Abs(mean) || math.Abs(res.Std-std) > 1e-9*std || std == 0 {
		t.Errorf("KID %g ± %g, torch-fidelity's computation %g ± %g", res.Mean, res.Std, mean, std)
	}
	if _, err := KIDNumpySubsets(real, fake, 5, 12, 1<<32); err == nil || !strings.Contains(err.Error(), "RandomState") {
		t.Errorf("seed 2^32: %v", err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
