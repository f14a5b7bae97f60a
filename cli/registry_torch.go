//go:build !notorch

package cli

import (
	"github.com/urfave/cli/v2"
)

// The LibTorch implementations of torchUses (registry.go), in the build
// that links LibTorch: bin/zoo-torch, and go test.
func init() {
	for use, action := range map[string]cli.ActionFunc{
		"generate": func(c *cli.Context) error {
			return runGenerate(c, c.Int("n"), modelArg(c))
		},
		"search --generate": func(c *cli.Context) error { return runSearch(c, runGenerate) },
		"bench":             runBench,
		"evaluate":          runEvaluate,
		"grid":              runGrid,
		"interpolate":       runInterpolate,
		"serve":             runServe,
		"import":            runImport,
		"catalog --load": func(c *cli.Context) error {
			return validateCatalogs(c, c.Args().Tail(), checkByLoading)
		},
		"runner":   runRunner,
		"validate": runValidate,
		"init":     runInit,
		"pack":     func(c *cli.Context) error { return runPack(c, checkedForSharing(c)) },
		"push":     func(c *cli.Context) error { return runPush(c, checkedForSharing(c)) },
		"publish":  func(c *cli.Context) error { return runPublish(c, checkedForSharing(c)) },
	} {
		registerTorch(use, action)
	}
}
