package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// This file says, in one place, which ways of calling zoo run models
// through LibTorch. bin/zoo, built without LibTorch (the notorch tag),
// hands each of them to bin/zoo-torch (delegate.go); bin/zoo-torch
// registers their implementations in registry_torch.go. Everything else
// (help, list, info, search, pull, catalog, completion) is answered by
// either binary from the same code.

// A torchUse is one way of calling zoo that needs LibTorch: a whole
// command, or a command only when one of its flags is given.
type torchUse struct {
	command string
	flag    string // "" for the whole command
}

// String is the use as a user writes it, and its key in torchActions.
func (u torchUse) String() string {
	if u.flag == "" {
		return u.command
	}
	return u.command + " --" + u.flag
}

// torchUses is the list. TestTorchRegistry checks that each names a real
// command and flag, that the LibTorch build implements exactly these, and
// that a build without LibTorch delegates exactly these.
var torchUses = []torchUse{
	{command: "generate"},
	{command: "bench"},
	{command: "search", flag: "generate"}, // search, then generate with the top hit
	{command: "evaluate"},
	{command: "grid"},
	{command: "interpolate"},
	{command: "serve"},
	{command: "import"},                // its pixel check runs the exported module
	{command: "catalog", flag: "load"}, // catalog validate --load runs a block of each model
	{command: "runner"},                // the hidden child process of zoo serve
	{command: "validate"},              // runs one block of the model directory's module
	{command: "init"},                  // probes the module for its shapes
	{command: "pack"},                  // validates (runs the module) before it packs
	{command: "push"},                  // validates (runs the module) before it pushes
	{command: "publish"},               // validates (runs the module) before it uploads
}

// torchActions holds the LibTorch implementation of each use, by
// use.String(). registry_torch.go fills it in the build that links
// LibTorch; in bin/zoo it stays empty.
var torchActions = map[string]cli.ActionFunc{}

// registerTorch sets the LibTorch implementation of use (a
// torchUse.String()). A use missing from torchUses is a mistake in zoo
// itself, refused at start-up: bin/zoo would never hand it over.
func registerTorch(use string, action cli.ActionFunc) {
	for _, u := range torchUses {
		if u.String() == use {
			torchActions[use] = action
			return
		}
	}
	panic("cli: registerTorch(" + use + "): not in torchUses")
}

// torchUseOf is the use of torchUses that c's command line is, if any.
func torchUseOf(c *cli.Context) (torchUse, bool) {
	for _, u := range torchUses {
		if u.command != c.Command.Name {
			continue
		}
		if u.flag == "" {
			return u, true
		}
		// --load=false is given but asks for nothing.
		if b, isBool := c.Value(u.flag).(bool); c.IsSet(u.flag) && (!isBool || b) {
			return u, true
		}
	}
	return torchUse{}, false
}

// runTorch runs c's command through its LibTorch implementation or, in
// bin/zoo, replaces the process with bin/zoo-torch and the same command
// line. It is the only place that chooses between the two.
func runTorch(c *cli.Context) error {
	u, ok := torchUseOf(c)
	if !ok {
		return fmt.Errorf("zoo %s: internal error: runTorch called for a command line that is not in torchUses", c.Command.Name)
	}
	if action := torchActions[u.String()]; action != nil {
		return action(c)
	}
	return delegate(c)
}
