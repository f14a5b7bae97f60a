package cli

import (
	"strings"

	"medzoo/internal/editdist"

	"github.com/urfave/cli/v2"
)

// Mistyped commands and flags get the nearest real one (zoo generat: did
// you mean generate?). urfave/cli's own suggestions always name something,
// however far; these name a command or flag only when it is close.

// unknownCommand is the usage error for a command name zoo does not have.
func unknownCommand(app *cli.App, name string) error {
	var names []string
	of := map[string]string{} // name or alias -> the command's name
	for _, cmd := range app.Commands {
		if cmd.Hidden {
			continue
		}
		for _, n := range cmd.Names() {
			names = append(names, n)
			of[n] = cmd.Name
		}
	}
	if near := closest(name, names); near != "" {
		return usagef("no command %q; did you mean %s? (zoo --help lists them)", name, of[near])
	}
	return usagef("no command %q; see zoo --help", name)
}

// usageErrorOf is an OnUsageError that makes flag mistakes usage errors
// (exit 2) and names the nearest flag of flags and global (the global
// flags may follow the command) for one zoo does not have.
func usageErrorOf(flags, global []cli.Flag) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		// The flag package's words for a flag it does not know.
		const undefined = "flag provided but not defined: -"
		msg := err.Error()
		if !strings.HasPrefix(msg, undefined) {
			return usageError{err}
		}
		var names []string
		for _, f := range append(append([]cli.Flag(nil), flags...), global...) {
			names = append(names, f.Names()...)
		}
		near := closest(strings.TrimPrefix(msg, undefined), append(names, "help"))
		if near == "" {
			return usageError{err}
		}
		dash := "--"
		if len(near) == 1 {
			dash = "-"
		}
		return usagef("%v; did you mean %s%s?", err, dash, near)
	}
}

// closest is the name in names that typed most likely meant, or "" when
// none is near: the only one that typed begins (inter: interpolate), else
// the one fewest edits away, if that is at most a third of typed's length
// (at least one edit).
func closest(typed string, names []string) string {
	typed = strings.ToLower(typed)
	if typed == "" {
		return ""
	}
	var prefixed []string
	for _, n := range names {
		if len(typed) >= 2 && strings.HasPrefix(n, typed) && n != typed {
			prefixed = append(prefixed, n)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	best, bestDist := "", max(1, len(typed)/3)+1
	for _, n := range names {
		if d := editdist.WithSwaps(typed, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}
