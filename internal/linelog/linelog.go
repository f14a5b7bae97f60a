// Package linelog forwards what a child process writes to a log, line by
// line and bounded: zoo import shows a sandboxed package's output, and zoo
// serve logs its model runners' standard error. A child that prints
// without end, or megabytes without a newline, must not flood the
// terminal or zoo's memory, and the last lines must survive for the error
// message when the child fails.
package linelog

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Writer is an io.Writer for a child's output (exec.Cmd.Stderr). Its
// fields are set before the first Write, except the prefix, which
// SetPrefix may change at any time (a runner learns its pid only after
// its child has started writing).
type Writer struct {
	Out    io.Writer // where lines go; nil: nowhere (only kept)
	Prefix string    // put before each line
	// MaxLen cuts longer lines, noting their length; 0: 4096 bytes.
	MaxLen int
	// MaxLines stops forwarding after this many lines and, at Close, says
	// how many more there were; 0: no limit (a long-lived child).
	MaxLines int
	// Keep is how many of the last non-empty lines Last returns; 0: 1.
	Keep int
	// Name says what the lines are in the note on lines not shown
	// ("package output"); "" says just "lines".
	Name string

	mu       sync.Mutex
	partial  []byte // the line being written, at most MaxLen bytes of it
	cut      int    // bytes of the partial line beyond MaxLen
	shown    int
	hidden   int
	last     []string
	finished bool
}

// SetPrefix changes the prefix of the lines forwarded from now on.
func (w *Writer) SetPrefix(p string) {
	w.mu.Lock()
	w.Prefix = p
	w.mu.Unlock()
}

func (w *Writer) maxLen() int { return orDefault(w.MaxLen, 4096) }
func (w *Writer) keep() int   { return orDefault(w.Keep, 1) }

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func (w *Writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		room := max(w.maxLen()-len(w.partial), 0)
		w.partial = append(w.partial, chunk[:min(len(chunk), room)]...)
		w.cut += len(chunk) - min(len(chunk), room)
		if i < 0 {
			break
		}
		w.emit()
		b = b[i+1:]
	}
	return n, nil
}

// emit forwards and keeps the partial line, which is complete.
func (w *Writer) emit() {
	line := string(w.partial)
	if w.cut > 0 {
		line += fmt.Sprintf("... (%d bytes)", len(w.partial)+w.cut)
	}
	w.partial, w.cut = w.partial[:0], 0
	if s := strings.TrimSpace(line); s != "" {
		w.last = append(w.last, s)
		if len(w.last) > w.keep() {
			w.last = w.last[1:]
		}
	}
	if w.Out == nil {
		return
	}
	if w.MaxLines > 0 && w.shown >= w.MaxLines {
		w.hidden++
		return
	}
	w.shown++
	fmt.Fprintf(w.Out, "%s%s\n", w.Prefix, line)
}

// Close forwards a last line without a newline and says how many lines
// were not shown. It writes nothing the second time.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return nil
	}
	w.finished = true
	if len(w.partial) > 0 || w.cut > 0 {
		w.emit()
	}
	if w.Out != nil && w.hidden > 0 {
		what := "lines"
		if w.Name != "" {
			what = "lines of " + w.Name
		}
		fmt.Fprintf(w.Out, "%s... %d more %s not shown\n", w.Prefix, w.hidden, what)
	}
	return nil
}

// Last returns the last non-empty lines (at most Keep), oldest first,
// including a line still being written.
func (w *Writer) Last() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.last...)
	if s := strings.TrimSpace(string(w.partial)); s != "" {
		out = append(out, s)
		if len(out) > w.keep() {
			out = out[1:]
		}
	}
	return out
}
