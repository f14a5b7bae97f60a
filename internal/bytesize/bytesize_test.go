package bytesize

import "testing"

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{
		-1:                  "-1 B",
		0:                   "0 B",
		1023:                "1023 B",
		1024:                "1.0 KiB",
		1536:                "1.5 KiB",
		1<<20 - 1:           "1024.0 KiB", // one decimal rounds up, the unit stays
		1 << 20:             "1.0 MiB",
		10 << 20:            "10.0 MiB",
		1 << 30:             "1.0 GiB",
		5<<30 + 512<<20:     "5.5 GiB",
		3 << 40:             "3072.0 GiB", // no TiB: artifacts stay far below
		9223372036854775807: "8589934592.0 GiB",
	} {
		if got := Human(n); got != want {
			t.Errorf("Human(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestScale(t *testing.T) {
	for _, c := range []struct {
		n      int64
		v      float64
		prefix string
	}{{1000, 1000, ""}, {2048, 2, "Ki"}, {3 << 20, 3, "Mi"}, {1 << 31, 2, "Gi"}} {
		if v, p := Scale(c.n); v != c.v || p != c.prefix {
			t.Errorf("Scale(%d) = %v, %q; want %v, %q", c.n, v, p, c.v, c.prefix)
		}
	}
}
