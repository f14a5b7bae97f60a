package testslurm

import (
	"context"
	"strings"
	"testing"
)

// The cluster starts, runs a job and stops: sinfo shows the node idle
// (Start waited for it) and a one-line batch job completes.
func TestStart(t *testing.T) {
	c := Start(t)
	out, err := c.Run(context.Background(), "sbatch", "--parsable", "--wait", "--output=/dev/null", "--wrap=true")
	if err != nil {
		t.Fatal(err)
	}
	if id := strings.TrimSpace(out); id == "" {
		t.Fatal("sbatch printed no job id")
	}
}
