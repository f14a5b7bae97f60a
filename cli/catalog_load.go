//go:build !notorch

package cli

import (
	"github.com/urfave/cli/v2"

	"medzoo/loader"
	"medzoo/validate"
	"medzoo/zoo"
)

// checkByLoading fetches m's artifact and runs one compute block twice
// (validate.CheckBlock, which zoo validate runs too): outputs of the
// declared shapes, finite, within their declared ranges, and the same
// bytes on the second run.
func checkByLoading(c *cli.Context, e *env, m *zoo.Model) []string {
	path, err := fetch(c, e, m.StoreArtifact())
	if err != nil {
		return []string{err.Error()}
	}
	gen, err := loader.Open(m, path, "auto")
	if err != nil {
		return []string{err.Error()}
	}
	defer gen.Close()
	bc, err := validate.CheckBlock(c.Context, gen, 1)
	if err != nil {
		return []string{err.Error()}
	}
	return bc.Problems()
}
