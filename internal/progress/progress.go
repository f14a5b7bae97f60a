// Package progress reports long work: a redrawn one-line bar on a terminal,
// and sparse plain lines otherwise (logs, CI), so piped output stays readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"medzoo/internal/bytesize"
)

// Bar tracks done out of total units.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	label    string
	unit     string
	total    int64
	done     int64
	base     int64 // done at start (resumed work), excluded from rates
	started  time.Time
	lastDraw time.Time
	lastLine int64 // done at the last plain line
	finished bool
}

// New returns a bar writing to w; it draws in place when w is a terminal.
// A nil w, or quiet, gives a bar that prints nothing.
func New(w io.Writer, label, unit string, total, done int64, quiet bool) *Bar {
	b := &Bar{w: w, label: label, unit: unit, total: total, done: done, base: done, started: time.Now()}
	b.lastDraw, b.lastLine = b.started, done
	if quiet {
		b.w = nil
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.tty = true
	}
	return b
}

// SetTotal changes the total (e.g. when a download's size becomes known).
func (b *Bar) SetTotal(total int64) {
	b.mu.Lock()
	b.total = total
	b.mu.Unlock()
}

// Set sets the absolute progress.
func (b *Bar) Set(done int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = done
	b.draw(false)
}

// Add advances by n.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	b.draw(false)
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.draw(true)
	b.finished = true
	if b.tty && b.w != nil {
		fmt.Fprintln(b.w)
	}
}

// Rate returns units per second since the start, excluding resumed work.
func (b *Bar) Rate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate()
}

func (b *Bar) rate() float64 {
	s := time.Since(b.started).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(b.done-b.base) / s
}

func (b *Bar) draw(final bool) {
	if b.w == nil || b.finished {
		return
	}
	now := time.Now()
	if b.tty {
		if !final && now.Sub(b.lastDraw) < 100*time.Millisecond {
			return
		}
		b.lastDraw = now
		fmt.Fprintf(b.w, "\r\033[K%s", b.line())
		return
	}
	// Plain output: a line per 10% of forward progress but at most one a
	// second (or one per 5 s for unknown totals), and the last state unless
	// that line was just printed. Progress that restarts (a second pass over
	// a file) prints nothing new.
	step := b.total / 10
	due := b.total > 0 && step > 0 && b.done-b.lastLine >= step && now.Sub(b.lastDraw) >= time.Second
	if b.total <= 0 && now.Sub(b.lastDraw) >= 5*time.Second {
		due = true
	}
	if final {
		due = b.done != b.lastLine
	}
	if due {
		b.lastLine, b.lastDraw = b.done, now
		fmt.Fprintln(b.w, b.line())
	}
}

func (b *Bar) line() string {
	rate := b.rate()
	if b.total <= 0 {
		return fmt.Sprintf("%s %s %s  %s/s", b.label, human(b.done, b.unit), b.unit, humanRate(rate, b.unit))
	}
	frac := float64(b.done) / float64(b.total)
	frac = min(max(frac, 0), 1)
	const width = 24
	filled := int(frac * width)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	eta := ""
	if rate > 0 && b.done < b.total {
		eta = " ETA " + (time.Duration(float64(b.total-b.done)/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("%s %s %3.0f%% %s/%s %s  %s/s%s", b.label, bar, frac*100,
		human(b.done, b.unit), human(b.total, b.unit), b.unit, humanRate(rate, b.unit), eta)
}

func human(n int64, unit string) string {
	if unit != "B" {
		return fmt.Sprint(n)
	}
	// Tighter than bytesize.Human ("1.5Gi/3.0Gi B"): the bar's line is
	// short, and the unit follows once after done/total.
	v, prefix := bytesize.Scale(n)
	if prefix == "" {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%.1f%s", v, prefix)
}

func humanRate(r float64, unit string) string {
	if unit == "B" {
		return human(int64(r), unit) + unit
	}
	return fmt.Sprintf("%.1f %s", r, unit)
}
