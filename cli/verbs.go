package cli

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// verb is one subcommand of a command whose first argument picks what it
// does: zoo cache list|rm|prune, zoo catalog validate|list.
type verb struct {
	names []string // the name, then its aliases
	usage string   // the name with its arguments, for messages: "rm ID|DIGEST..."
	// noArgs, when set, is the usage error for arguments after a verb
	// that takes none.
	noArgs string
	run    func(c *cli.Context, args []string) error
}

// runVerb runs the verb the command's first argument names, with the
// arguments after it. No verb, or one the command does not have, is a
// usage error listing the verbs, so every such command says it alike.
func runVerb(c *cli.Context, verbs []verb) error {
	name, args := c.Args().First(), c.Args().Tail()
	for _, v := range verbs {
		if slices.Contains(v.names, name) {
			if v.noArgs != "" && len(args) > 0 {
				return usagef("%s", v.noArgs)
			}
			return v.run(c, args)
		}
	}
	usages := make([]string, len(verbs))
	for i, v := range verbs {
		usages[i] = v.usage
	}
	if name == "" {
		last := len(usages) - 1
		return usagef("%s needs a subcommand: %s or %s", c.Command.Name, strings.Join(usages[:last], ", "), usages[last])
	}
	return usagef("%s: no subcommand %q (%s)", c.Command.Name, name, strings.Join(usages, ", "))
}

// verbNames are the verbs' names, without aliases, sorted: what completion
// offers.
func verbNames(verbs []verb) []string {
	var out []string
	for _, v := range verbs {
		out = append(out, v.names[0])
	}
	slices.Sort(out)
	return out
}
