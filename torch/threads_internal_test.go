package torch

import (
	"strings"
	"testing"
)

// TestSetThreadsErrorIsAnError: LibTorch throws for a thread count below 1.
// SetThreads never passes one, so setThreads is called directly: the
// exception must come back as an error (before, it crossed the C boundary
// and aborted the process).
func TestSetThreadsErrorIsAnError(t *testing.T) {
	old, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	err = setThreads(0)
	if err == nil || !strings.Contains(err.Error(), "positive number of threads") {
		t.Fatalf("setThreads(0) = %v, want LibTorch's refusal", err)
	}
	if n, err := Threads(); err != nil || n != old {
		t.Fatalf("after the refusal Threads() = %d, %v; want %d unchanged", n, err, old)
	}
}
