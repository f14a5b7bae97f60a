//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"medzoo/internal/envconfig"
)

// zoo comes as two executables built from the same code. bin/zoo is built
// with the notorch tag: it does not link LibTorch, whose shared libraries
// alone take about 0.35 s to load, so help, list, info, search, pull and
// catalog answer at once. Commands that run models (torchUses in
// registry.go) replace the process with bin/zoo-torch, the full build next
// to it, with the same arguments, environment, standard streams and
// process id (so signals reach it). Replacing the process is a Unix exec;
// delegate_other.go says what to do elsewhere.

// TorchBinaryEnv overrides where zoo looks for its LibTorch half.
const TorchBinaryEnv = envconfig.EnvTorchBin

// delegate execs zoo-torch with the original command line. It returns only
// on failure.
func delegate(c *cli.Context) error {
	bin, err := torchBinary()
	if err != nil {
		return fmt.Errorf("zoo %s runs models through LibTorch, which this zoo binary does not link: %w", c.Command.Name, err)
	}
	args := append([]string{bin}, originalArgs[1:]...)
	return fmt.Errorf("starting %s: %w", bin, syscall.Exec(bin, args, os.Environ()))
}

func torchBinary() (string, error) {
	if p := envconfig.TorchBin(); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	next := filepath.Join(filepath.Dir(self), "zoo-torch")
	if _, err := os.Stat(next); err == nil {
		return next, nil
	}
	if p, err := exec.LookPath("zoo-torch"); err == nil {
		return p, nil
	}
	return "", errors.New("zoo-torch was not found next to it (" + next + ") or on PATH; `make build` builds both, or set " + TorchBinaryEnv)
}
