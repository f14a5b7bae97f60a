// Command zoo finds, fetches and runs pretrained generative models of
// medical images. See `zoo --help`.
package main

import (
	"os"

	"medzoo/cli"
)

func main() {
	os.Exit(cli.Main(os.Args))
}
