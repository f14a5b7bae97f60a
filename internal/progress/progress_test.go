package progress

import (
	"bytes"
	"strings"
	"testing"
)

// Byte counts on the bar are short binary sizes ("1.5Ki"), other units
// plain counts.
func TestHuman(t *testing.T) {
	for _, c := range []struct {
		n    int64
		unit string
		want string
	}{
		{512, "B", "512"},
		{1536, "B", "1.5Ki"},
		{3 << 20, "B", "3.0Mi"},
		{5 << 30, "B", "5.0Gi"},
		{5 << 30, "images", "5368709120"},
	} {
		if got := human(c.n, c.unit); got != c.want {
			t.Errorf("human(%d, %q) = %q, want %q", c.n, c.unit, got, c.want)
		}
	}
	if got := humanRate(2048, "B"); got != "2.0KiB" {
		t.Errorf("humanRate(2048, B) = %q, want 2.0KiB", got)
	}
}

// A bar on a plain writer prints its last state as one line, done/total
// and the unit once.
func TestPlainFinish(t *testing.T) {
	var out bytes.Buffer
	b := New(&out, "pull x", "B", 3<<20, 0, false)
	b.Set(3 << 20)
	b.Finish()
	if got := out.String(); !strings.Contains(got, "pull x ") || !strings.Contains(got, "100% 3.0Mi/3.0Mi B") {
		t.Errorf("plain bar printed %q, want pull x ... 100%% 3.0Mi/3.0Mi B", got)
	}
}
