package cli

import (
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/internal/limits"
)

// interspersed reorders a command line so flags may follow positional
// arguments (`zoo generate 8 -n 100 -o out/`), which urfave/cli v2 does not
// parse by itself: it stops at the first argument. Global flags written
// after the command (`zoo generate 8 -o out --offline`) move before it.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	global := flagSet(app.Flags)
	var globals []string
	i := 1
	for i < len(args) && isFlag(args[i]) {
		i = take(args, i, global, &globals)
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	local := flagSet(cmd.Flags)
	var flags, positional []string
	for i++; i < len(args); {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case isFlag(a):
			name := flagName(a)
			if _, ok := local[name]; !ok {
				if _, ok := global[name]; ok {
					i = take(args, i, global, &globals)
					continue
				}
			}
			i = take(args, i, local, &flags)
		default:
			positional = append(positional, a)
			i++
		}
	}
	out := append([]string{args[0]}, globals...)
	out = append(out, cmd.Name)
	out = append(out, flags...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

func flagName(a string) string {
	name := strings.TrimLeft(a, "-")
	if k := strings.IndexByte(name, '='); k >= 0 {
		name = name[:k]
	}
	return name
}

// take appends the flag at args[i], and its value when it takes one, to dst
// and returns the index after them.
func take(args []string, i int, known map[string]bool, dst *[]string) int {
	*dst = append(*dst, args[i])
	takesValue, ok := known[flagName(args[i])]
	if ok && takesValue && !strings.Contains(args[i], "=") && i+1 < len(args) {
		*dst = append(*dst, args[i+1])
		return i + 2
	}
	return i + 1
}

// flagSet maps every name and alias of flags to whether it takes a value.
func flagSet(flags []cli.Flag) map[string]bool {
	out := map[string]bool{"help": false, "h": false}
	for _, f := range flags {
		takes := true
		if d, ok := f.(cli.DocGenerationFlag); ok {
			takes = d.TakesValue()
		}
		for _, n := range f.Names() {
			out[n] = takes
		}
	}
	return out
}

// checkThreads is the Action of every --threads flag: 0 means one thread
// per CPU core; more than limits.ThreadsPerCPU per core (at most
// limits.MaxThreads) only costs memory and start-up time, and a negative
// count is a typo.
func checkThreads(_ *cli.Context, n int) error {
	if most := limits.MaxThreadsHere(); n < 0 || n > most {
		return usagef("--threads %d is out of range: give 0 (one per CPU core) to %d (%d per core on this machine's %d cores, at most %d)",
			n, most, limits.ThreadsPerCPU, runtime.NumCPU(), limits.MaxThreads)
	}
	return nil
}

// intBetween is the Action of an integer flag whose value must lie in
// [lo, hi]; what says what the flag counts, for the message.
func intBetween(flag string, lo, hi int, what string) func(*cli.Context, int) error {
	return func(_ *cli.Context, n int) error {
		if n < lo || n > hi {
			return usagef("%s %d is out of range: give %d to %d (%s)", flag, n, lo, hi, what)
		}
		return nil
	}
}

// positiveDuration is the Action of a duration flag that must be > 0.
func positiveDuration(flag string) func(*cli.Context, time.Duration) error {
	return func(_ *cli.Context, d time.Duration) error {
		if d <= 0 {
			return usagef("%s %v must be positive (e.g. 10m)", flag, d)
		}
		return nil
	}
}

// checkBatchSize is the Action of the --batch-size flags of commands that
// run generators: 0 means one compute block.
var checkBatchSize = intBetween("--batch-size", 0, limits.BatchSize, "samples per forward step, rounded up to the model's compute block; 0: one block")

// deviceFlag and threadsFlag are the --device and --threads of the
// commands that run a model (generate, bench, grid, interpolate, evaluate).
func deviceFlag() cli.Flag {
	return &cli.StringFlag{Name: "device", Value: "auto", Usage: "auto, cpu, cuda or cuda:N"}
}

func threadsFlag() cli.Flag {
	return &cli.IntFlag{Name: "threads", Usage: "LibTorch intra-op threads (default: one per CPU core)", Action: checkThreads}
}
