//go:build !unix

package cli

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

// delegate cannot hand the command over outside Unix: there the Go runtime
// has no exec that replaces the process, and running zoo-torch as a child
// instead would need its signals and exit code relayed, which zoo does not
// do. bin/zoo-torch runs every command itself.
func delegate(c *cli.Context) error {
	return fmt.Errorf("zoo %s runs models through LibTorch, which this zoo binary does not link, and on %s it cannot hand the command over to zoo-torch: run bin/zoo-torch directly (the same command line)",
		c.Command.Name, runtime.GOOS)
}
