package cli

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"medzoo/output"
	"medzoo/zoo"
)

// Shell completion: `zoo completion bash|zsh|fish` prints a small script
// that asks zoo itself what may come next, through the hidden command
// `zoo __complete -- WORD... CURRENT`. The answer comes from the same
// command and flag definitions as the parser, and the model ids from the
// catalogs zoo would load, so it never goes stale; neither command needs
// LibTorch, so bin/zoo answers at once.

// completeCommandName is the hidden command the scripts call.
const completeCommandName = "__complete"

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish): commands, flags and model ids",
		UsageText: "zoo completion bash|zsh|fish",
		Description: "Examples:\n" +
			"   source <(zoo completion bash)                              # in ~/.bashrc\n" +
			"   zoo completion zsh > \"${fpath[1]}/_zoo\"                    # then restart zsh\n" +
			"   zoo completion fish > ~/.config/fish/completions/zoo.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion needs one shell: bash, zsh or fish")
			}
			script, ok := completionScripts[c.Args().First()]
			if !ok {
				return usagef("completion: no script for %q; zoo has bash, zsh and fish", c.Args().First())
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

func completeCommand() *cli.Command {
	return &cli.Command{
		Name:            completeCommandName,
		Usage:           "internal: the completions of a partial command line, one a line, for the completion scripts",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			words := c.Args().Slice()
			if len(words) > 0 && words[0] == "--" {
				words = words[1:]
			}
			for _, s := range completions(c, words) {
				fmt.Fprintln(c.App.Writer, s)
			}
			return nil
		},
	}
}

// completions are the candidates for the last of words (the words after
// zoo, the last one being completed, possibly empty), each starting with
// it. None means "complete a file name", which the scripts then do.
func completions(c *cli.Context, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	// bash splits --flag=value at '=' into three words.
	if n := len(before); n >= 2 && before[n-1] == "=" && isFlag(before[n-2]) {
		before = before[:n-1]
	} else if cur == "=" {
		return nil
	}
	app := c.App
	global := flagSet(app.Flags)

	// The command, and the positional arguments before cur.
	var cmd *cli.Command
	var positional []string
	var catalogs []string
	for i := 0; i < len(before); i++ {
		w := before[i]
		if !isFlag(w) {
			if cmd == nil {
				if cmd = app.Command(w); cmd == nil {
					return nil // not a command: nothing sensible to offer
				}
			} else {
				positional = append(positional, w)
			}
			continue
		}
		known := global
		if cmd != nil {
			if _, ok := global[flagName(w)]; !ok {
				known = flagSet(cmd.Flags)
			}
		}
		name, value, inline := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if takes := known[name]; takes && !inline {
			if i+1 < len(before) {
				value = before[i+1]
			}
			i++
		}
		if name == "catalog" {
			catalogs = append(catalogs, value)
		}
	}

	// The value of the flag before cur.
	if n := len(before); n > 0 && isFlag(before[n-1]) && !strings.Contains(before[n-1], "=") {
		known := global
		if cmd != nil {
			known = flagSet(append(append([]cli.Flag(nil), cmd.Flags...), app.Flags...))
		}
		if known[flagName(before[n-1])] {
			return withPrefix(flagValues(flagName(before[n-1])), cur)
		}
	}

	switch {
	case strings.HasPrefix(cur, "-"):
		flags := app.Flags
		if cmd != nil {
			flags = append(append([]cli.Flag(nil), cmd.Flags...), app.Flags...)
		}
		return withPrefix(flagNames(flags), cur)
	case cmd == nil:
		return withPrefix(commandNames(app), cur)
	}
	switch cmd.Name {
	case "help":
		if len(positional) == 0 {
			return withPrefix(commandNames(app), cur)
		}
	case "completion":
		if len(positional) == 0 {
			return withPrefix(slices.Sorted(maps.Keys(completionScripts)), cur)
		}
	case "catalog":
		if len(positional) == 0 {
			return withPrefix(verbNames(catalogVerbs()), cur)
		}
	case "manifest":
		if len(positional) == 0 {
			return withPrefix(verbNames(manifestVerbs()), cur)
		}
	case "slurm", "k8s":
		verbs := slurmVerbs()
		if cmd.Name == "k8s" {
			verbs = k8sVerbs()
		}
		switch {
		case len(positional) == 0:
			return withPrefix(verbNames(verbs), cur)
		case len(positional) == 1 && positional[0] == "generate":
			return modelIDs(c, catalogs, cur)
		}
	case "evaluate":
		// REAL and FAKE are folders more often than model ids: offer ids
		// once cur starts like one, folders otherwise.
		if len(positional) < 2 && cur != "" {
			return modelIDs(c, catalogs, cur)
		}
	case "info", "pull", "generate", "bench", "grid", "interpolate", "import":
		if len(positional) == 0 {
			return modelIDs(c, catalogs, cur)
		}
	}
	return nil
}

// flagValues are the values a flag takes from a fixed set; nil for any
// other (a file, a number).
func flagValues(flag string) []string {
	switch flag {
	case "format", "f":
		names := append([]string(nil), output.FormatNames()...)
		sort.Strings(names)
		return names
	case "device":
		return []string{"auto", "cpu", "cuda"}
	case "protocol":
		// features.Protocols (features needs LibTorch; a test holds them equal).
		return evaluateProtocols
	}
	return nil
}

func commandNames(app *cli.App) []string {
	var out []string
	for _, cmd := range app.Commands {
		if !cmd.Hidden {
			out = append(out, cmd.Name)
		}
	}
	sort.Strings(out)
	return out
}

// flagNames are every name of flags as typed: --name, or -n for a letter.
func flagNames(flags []cli.Flag) []string {
	seen := map[string]bool{"--help": true} // the app may hold the help flag too
	for _, f := range flags {
		for _, n := range f.Names() {
			if len(n) == 1 {
				seen["-"+n] = true
			} else {
				seen["--"+n] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// modelIDs are the ids of the catalogs zoo reads (with the --catalog files
// of the line) that cur begins, without the network: a remote catalog not
// in the cache leaves the built-in ids. Digits alone (101) also match the
// number of an id (00101_DCGAN_MRI_COLIN27_DEMO), as zoo resolves them.
func modelIDs(c *cli.Context, catalogs []string, cur string) []string {
	cat, err := completionCatalog(c, catalogs)
	if err != nil {
		return nil
	}
	number := cur != "" && strings.Trim(cur, "0123456789") == "" && cur[0] != '0'
	var out []string
	for _, m := range cat.Models {
		switch {
		case strings.HasPrefix(strings.ToLower(m.ID), strings.ToLower(cur)):
			out = append(out, m.ID)
		case number:
			digits, _, _ := strings.Cut(m.ID, "_")
			if strings.HasPrefix(strings.TrimLeft(digits, "0"), cur) {
				out = append(out, m.ID)
			}
		}
	}
	sort.Strings(out)
	return out
}

func completionCatalog(c *cli.Context, catalogs []string) (*zoo.Catalog, error) {
	st, err := newStore(c)
	if err != nil {
		return zoo.Embedded()
	}
	st.Offline = true
	cat, _, err := zoo.LoadWith(c.Context, zoo.LoadOptions{Extra: catalogs, Store: st})
	if err != nil {
		return zoo.Embedded()
	}
	return cat, nil
}

func withPrefix(candidates []string, cur string) []string {
	var out []string
	for _, s := range candidates {
		if strings.HasPrefix(s, cur) {
			out = append(out, s)
		}
	}
	return out
}

// completionScripts hand the words before the cursor to zoo __complete and
// fall back to file names when it offers nothing. Each calls the zoo the
// user typed (the first word), so the answer matches that binary.
var completionScripts = map[string]string{
	"bash": `# bash completion for zoo: source <(zoo completion bash)
_zoo() {
    local IFS=$'\n'
    COMPREPLY=($("${COMP_WORDS[0]}" ` + completeCommandName + ` -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _zoo zoo
`,
	"zsh": `#compdef zoo
# zsh completion for zoo: zoo completion zsh > "${fpath[1]}/_zoo"
_zoo() {
    local -a reply
    reply=("${(@f)$("${words[1]}" ` + completeCommandName + ` -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    reply=(${reply:#})
    if (( ${#reply} )); then
        compadd -U -- "${reply[@]}"
    else
        _files
    fi
}
if [[ "${funcstack[1]}" == "_zoo" ]]; then
    _zoo "$@"
else
    compdef _zoo zoo
fi
`,
	"fish": `# fish completion for zoo: zoo completion fish > ~/.config/fish/completions/zoo.fish
function __zoo_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l reply ($words[1] ` + completeCommandName + ` -- $words[2..-1] 2>/dev/null)
    if test (count $reply) -gt 0
        printf '%s\n' $reply
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c zoo -f -a '(__zoo_complete)'
`,
}
