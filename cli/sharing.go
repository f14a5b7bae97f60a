package cli

import (
	"errors"

	"github.com/urfave/cli/v2"

	"medzoo/share"
)

// zoo pack, push and publish send a model directory off this machine, so
// each first makes sure that zoo validate's checks pass on it. A sharing
// command gets that check as a function of the directory and calls it once
// its own arguments are in order (so a typo costs no model run).

// sharingRun is pack, push or publish, given the check.
type sharingRun func(c *cli.Context, check func(dir string) (*share.Model, error)) error

// errNotValidatedBefore says that the directory has no validation record,
// so the module must be run: a LibTorch use.
var errNotValidatedBefore = errors.New("not validated before")

// sharingAction is the Action of pack, push and publish in both binaries.
// If the directory's exact bytes passed zoo validate before (a record in
// the cache, share.ValidatedBefore), the command goes on at once, without
// LibTorch: bin/zoo answers a push right after a validate in milliseconds.
// Otherwise it is a LibTorch use (runTorch): bin/zoo-torch runs the checks
// (checkedForSharing) and then the command.
func sharingAction(run sharingRun) cli.ActionFunc {
	return func(c *cli.Context) error {
		err := run(c, func(dir string) (*share.Model, error) {
			m, err := share.Open(dir)
			if err != nil {
				// zoo-torch reports it with the rest of validate's checks.
				return nil, errNotValidatedBefore
			}
			if cache, err := cacheDir(c); err != nil || !share.ValidatedBefore(cache, m) {
				return nil, errNotValidatedBefore
			}
			return m, nil
		})
		if errors.Is(err, errNotValidatedBefore) {
			return runTorch(c)
		}
		return err
	}
}
