package cli

import (
	"io"
	"testing"
)

// Every use in torchUses names a real command and, where it has one, a
// real flag of it.
func TestTorchUsesNameRealCommands(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	seen := map[string]bool{}
	for _, u := range torchUses {
		if seen[u.String()] {
			t.Errorf("%s is listed twice", u)
		}
		seen[u.String()] = true
		cmd := app.Command(u.command)
		if cmd == nil {
			t.Errorf("%s: no command %s", u, u.command)
			continue
		}
		if _, ok := flagSet(cmd.Flags)[u.flag]; u.flag != "" && !ok {
			t.Errorf("%s: %s has no flag --%s", u, u.command, u.flag)
		}
	}
}
