package progress

import (
	"bytes"
	"strings"
	"testing"
)

// A finished bar on a plain writer (a log, CI) prints its last state as one
// line: byte counts as short binary sizes with the unit once after
// done/total, other units as plain counts.
func TestPlainFinishLine(t *testing.T) {
	for _, c := range []struct {
		total int64
		unit  string
		want  string
	}{
		{512, "B", "100% 512/512 B"},
		{1536, "B", "100% 1.5Ki/1.5Ki B"},
		{3 << 20, "B", "100% 3.0Mi/3.0Mi B"},
		{5 << 30, "B", "100% 5.0Gi/5.0Gi B"},
		{5 << 30, "images", "100% 5368709120/5368709120 images"},
	} {
		var out bytes.Buffer
		b := New(&out, "pull x", c.unit, c.total, 0, false)
		b.Set(c.total)
		b.Finish()
		if got := out.String(); !strings.HasPrefix(got, "pull x ") || !strings.Contains(got, c.want) || strings.Count(got, "\n") != 1 {
			t.Errorf("bar of %d %s printed %q, want one line with %q", c.total, c.unit, got, c.want)
		}
	}
}
