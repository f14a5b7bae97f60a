package cli

import (
	"github.com/urfave/cli/v2"
)

// runnerCommand is the hidden child process of zoo serve that runs one
// model (package runner): zoo serve re-executes its own zoo-torch binary
// with it and talks to it over standard input and output.
func runnerCommand() *cli.Command {
	return &cli.Command{
		Name:   "runner",
		Usage:  "internal: runs one model for zoo serve over standard input and output",
		Hidden: true,
		Action: runTorch,
	}
}
