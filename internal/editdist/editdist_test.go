package editdist

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"generat", "generate", 1},
		{"kitten", "sitting", 3},
		{"mammografie", "mammography", 3},
		{"ßx", "sx", 1}, // runes, not bytes
		{"abc", "", 3},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestWithSwaps(t *testing.T) {
	for _, c := range []struct {
		a, b       string
		plain, osa int
	}{
		{"lsit", "list", 2, 1},
		{"serach", "search", 2, 1},
		{"generat", "generate", 1, 1},
		{"ab", "ba", 2, 1},
		{"abc", "ca", 3, 3}, // optimal string alignment: no edits of a swapped pair
		{"", "x", 1, 1},
	} {
		if got := Distance(c.a, c.b); got != c.plain {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.plain)
		}
		if got := WithSwaps(c.a, c.b); got != c.osa {
			t.Errorf("WithSwaps(%q, %q) = %d, want %d", c.a, c.b, got, c.osa)
		}
	}
}
