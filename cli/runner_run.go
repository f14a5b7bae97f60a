//go:build !notorch

package cli

import (
	"github.com/urfave/cli/v2"

	"medzoo/runner"
)

func runRunner(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("runner takes no arguments; zoo serve starts it")
	}
	return runner.ServeStdio()
}
