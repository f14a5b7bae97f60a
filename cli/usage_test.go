package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"medzoo/output"
)

// Every command's usage line lists its real flags: a flag added without
// its usage line, or a usage line naming a flag that is gone, fails here.
func TestUsageTextListsFlags(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, cmd := range app.Commands {
		if cmd.Hidden {
			continue
		}
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			// zoo search --generate takes zoo generate's flags, which its
			// usage line names as a group: "[generate flags]".
			if cmd.Name == "search" && strings.HasPrefix(flagUsage(f), "--generate:") {
				continue
			}
			if !mentionsFlag(cmd.UsageText, f.Names()) {
				t.Errorf("zoo %s: usage line %q does not list --%s", cmd.Name, cmd.UsageText, name)
			}
		}
		for _, word := range strings.Fields(cmd.UsageText) {
			for _, name := range usageFlags(word) {
				if !hasFlag(cmd, name) {
					t.Errorf("zoo %s: usage line names -%s, which is not one of its flags", cmd.Name, name)
				}
			}
		}
	}
}

// zoo generate's usage line offers every output format there is.
func TestGenerateUsageListsFormats(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	usage := app.Command("generate").UsageText
	for _, f := range output.FormatNames() {
		if !strings.Contains(usage, f) {
			t.Errorf("generate usage lacks format %s: %s", f, usage)
		}
	}
	if !strings.Contains(usage, "--condition NAME=VALUE") {
		t.Errorf("generate usage lacks --condition NAME=VALUE: %s", usage)
	}
}

// Every command that prints results has --json (runner is internal;
// completion prints a shell script to source, which JSON cannot be).
func TestEveryCommandHasJSON(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, cmd := range app.Commands {
		if !cmd.Hidden && cmd.Name != "completion" && !hasFlag(cmd, "json") {
			t.Errorf("zoo %s has no --json", cmd.Name)
		}
	}
}

func flagUsage(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.GetUsage()
	}
	return ""
}

// mentionsFlag reports whether usage names the flag by one of its names
// (--seed, or -o for --output).
func mentionsFlag(usage string, names []string) bool {
	for _, word := range strings.Fields(usage) {
		for _, got := range usageFlags(word) {
			for _, n := range names {
				if got == n {
					return true
				}
			}
		}
	}
	return false
}

// usageFlags reads the flag names out of a usage word such as "[--seed",
// "[--resume|--force]", "--condition=NAME" or "-n".
func usageFlags(word string) []string {
	var out []string
	for _, part := range strings.Split(word, "|") {
		part = strings.TrimLeft(part, "[(")
		if !strings.HasPrefix(part, "-") {
			continue
		}
		name := strings.TrimRight(strings.TrimLeft(part, "-"), "]).,")
		name, _, _ = strings.Cut(name, "=")
		if name != "" {
			out = append(out, name)
		}
	}
	return out
}

func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
