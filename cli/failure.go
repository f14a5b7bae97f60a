package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// How a command's error ends the process: its exit code, a one-line
// message on stderr, and with --json the same as a JSON object on stdout,
// so a script reading stdout gets JSON whatever happened.

// The code names of a failure in its JSON form.
const (
	codeUsage       = "usage"       // exit 2: how zoo was called
	codeFailure     = "failure"     // exit 1: what zoo was asked to do failed
	codeInterrupted = "interrupted" // exit 130 or 143: stopped by SIGINT or SIGTERM
)

// failure is what zoo prints when a command fails; with --json, as
// {"error": ..., "code": ..., "exit": N}.
type failure struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Exit  int    `json:"exit"`
}

// failureOf classifies err, the error of a command that sig (nil if none)
// may have stopped. After a signal any error counts as the interruption:
// a command stopping on its cancelled context fails with whatever its
// last step returned (context canceled, a download cut short).
func failureOf(err error, sig os.Signal) failure {
	var ue usageError
	switch {
	case sig != nil:
		msg := fmt.Sprintf("stopped by %v", sig)
		if err.Error() != context.Canceled.Error() {
			msg += ": " + err.Error()
		}
		return failure{Error: msg, Code: codeInterrupted, Exit: signalExit(sig)}
	case errors.As(err, &ue):
		return failure{Error: err.Error(), Code: codeUsage, Exit: exitUsage}
	default:
		return failure{Error: err.Error(), Code: codeFailure, Exit: exitFailure}
	}
}

// report prints f on stderr and, with --json, on stdout as one line of
// JSON, unless the command already wrote its result there (catalog
// validate --json prints its report, then fails): stdout then holds that
// one JSON document, not two. It returns the exit code.
func (f failure) report(stdout *countingWriter, stderr io.Writer, asJSON bool) int {
	fmt.Fprintf(stderr, "zoo: %s\n", f.Error)
	if asJSON && stdout.written() == 0 {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if enc.Encode(f) == nil {
			io.WriteString(stdout, b.String())
		}
	}
	return f.Exit
}

// wantsJSON says whether the command line (as interspersed returns it:
// flags before a "--" that ends them) asks for --json.
func wantsJSON(args []string) bool {
	for _, a := range args[min(1, len(args)):] {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !isFlag(a) || name != "json" {
			continue
		}
		if !hasValue {
			return true
		}
		on, err := strconv.ParseBool(value)
		return err == nil && on
	}
	return false
}

// countingWriter counts what a command writes to stdout. The watchdog's
// goroutine reads the count while the command may still write.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) written() int64 { return c.n.Load() }
