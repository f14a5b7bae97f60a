// Package cli is the `zoo` command line: flags, help, progress and --json
// output over the zoo, loader, torch and output packages. It holds no logic
// of its own beyond wiring them together.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/bundled"
	"medzoo/internal/envconfig"
	"medzoo/internal/version"
	"medzoo/zoo"
	"medzoo/zoo/store"
)

// Exit codes. A command stopped by SIGINT (Ctrl-C) or SIGTERM exits as a
// shell reports a process killed by it, 128 + the signal's number, so
// scripts and schedulers tell a stopped run from a failed one.
const (
	exitOK         = 0
	exitFailure    = 1
	exitUsage      = 2
	exitInterrupt  = 130
	exitTerminated = 143
)

// usageError marks mistakes in how zoo was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Main runs zoo with args (os.Args) and returns the process exit code.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

// originalArgs is the command line as given, for delegate.
var originalArgs []string

func run(args []string, stdout, stderr io.Writer) int {
	originalArgs = args
	out := &countingWriter{w: stdout}
	app := newApp(out, stderr)
	args = interspersed(app, args)
	asJSON := wantsJSON(args)
	ctx, stoppedBy, stop := stopOnSignal(func(sig os.Signal) {
		f := failure{Error: fmt.Sprintf("stopped by %v while a model call was still running (a LibTorch call cannot be interrupted); "+
			"files already listed in the manifest are complete, and --resume continues a generate run", sig),
			Code: codeInterrupted, Exit: signalExit(sig)}
		os.Exit(f.report(out, stderr, asJSON))
	})
	defer stop()
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	return failureOf(err, stoppedBy()).report(out, stderr, asJSON)
}

// stopGrace is how long a command may take to stop after SIGINT or SIGTERM
// cancelled its context. Commands stop between model calls, but a LibTorch
// call cannot be interrupted: one that never returns (a model stuck in a
// loop) must not keep zoo running, so after the grace, or at a second
// signal, the process exits. What it leaves is consistent: output files are
// written atomically and the manifest only lists finished samples.
var stopGrace = 5 * time.Second

// selfStopping, set by a command that bounds its own shutdown (zoo serve
// drains requests for up to its --timeout), leaves the first signal to it;
// a second signal still exits at once.
var selfStopping atomic.Bool

// stopOnSignal returns a context cancelled by SIGINT or SIGTERM and a
// function that says which of them came (nil while none has), and starts
// the watchdog that calls hung when the command does not stop; hung exits
// the process.
func stopOnSignal(hung func(os.Signal)) (context.Context, func() os.Signal, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var first atomic.Value // os.Signal, stored before the context is cancelled
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		first.Store(sig)
		cancel()
		grace := time.After(stopGrace)
		if selfStopping.Load() {
			grace = nil
		}
		select {
		case <-done:
			return
		case <-sigs:
		case <-grace:
		}
		hung(sig)
	}()
	stoppedBy := func() os.Signal {
		sig, _ := first.Load().(os.Signal)
		return sig
	}
	return ctx, stoppedBy, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// signalExit is the exit code of a command stopped by sig.
func signalExit(sig os.Signal) int {
	if sig == syscall.SIGTERM {
		return exitTerminated
	}
	return exitInterrupt
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "zoo",
		Usage:   "find, fetch and run pretrained generative models of medical images",
		Version: version.Version,
		Description: "zoo runs generative models (GANs and friends) exported to TorchScript through LibTorch,\n" +
			"from a catalog of models (the 23 medigan models plus demonstration models trained here).\n" +
			"Every image it writes is marked synthetic, with its model, checksum, seed and index.\n\n" +
			"Examples:\n" +
			"   zoo list\n" +
			"   zoo info 101\n" +
			"   zoo generate 101 -n 16 -o out/\n" +
			"   zoo search brain --rank-by FID\n" +
			"   zoo evaluate real/ 101 -n 1000 --features extractor.pt\n" +
			"   zoo grid 102 -n 8 -o planes.png\n" +
			"   zoo serve\n" +
			"   zoo import 5 --allow-unpinned\n" +
			"   zoo pull 00008 --allow-unpinned",
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "catalog", Usage: "extra catalog `FILE` (repeatable; also $ZOO_CATALOG, colon-separated)"},
			&cli.BoolFlag{Name: "offline", Usage: "never use the network (also $ZOO_OFFLINE=1)"},
			&cli.StringFlag{Name: "cache", Usage: "artifact cache `DIR` (default $ZOO_CACHE or the user cache dir)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
		},
		Commands: []*cli.Command{
			listCommand(),
			infoCommand(),
			pullCommand(),
			cacheCommand(),
			importCommand(),
			generateCommand(),
			manifestCommand(),
			benchCommand(),
			searchCommand(),
			evaluateCommand(),
			gridCommand(),
			interpolateCommand(),
			serveCommand(),
			catalogCommand(),
			initCommand(),
			validateCommand(),
			packCommand(),
			pushCommand(),
			publishCommand(),
			slurmCommand(),
			completionCommand(),
			runnerCommand(),
			envCommand(),
			k8sCommand(),
			completeCommand(),
		},
		// Without a command zoo shows its help; with one it does not know
		// (zoo generat), it says so, with the nearest command.
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return unknownCommand(c.App, c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		// zoo help NAME with an unknown NAME.
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "zoo: %v\n", unknownCommand(c.App, name))
			cli.OsExiter(exitUsage)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run() prints and maps codes
	}
	// Bad flags are usage errors (exit 2), with the nearest flag when one
	// is close.
	app.OnUsageError = usageErrorOf(app.Flags, nil)
	for _, cmd := range app.Commands {
		setUsageError(cmd, app.Flags)
	}
	return app
}

func setUsageError(cmd *cli.Command, global []cli.Flag) {
	cmd.OnUsageError = usageErrorOf(cmd.Flags, global)
	for _, sub := range cmd.Subcommands {
		setUsageError(sub, global)
	}
}

// env is what every command needs: the catalog and the store.
type env struct {
	catalog *zoo.Catalog
	store   *store.Store
	sources []zoo.CatalogSource // in precedence order, lowest first
}

// cacheDir is the cache directory: --cache, else $ZOO_CACHE, else the
// user cache dir.
func cacheDir(c *cli.Context) (string, error) {
	if dir := c.String("cache"); dir != "" {
		return dir, nil
	}
	return store.DefaultCacheDir()
}

// newStore is the artifact store the global flags describe: --cache (or
// $ZOO_CACHE, or the user cache dir), --offline (or $ZOO_OFFLINE).
func newStore(c *cli.Context) (*store.Store, error) {
	dir, err := cacheDir(c)
	if err != nil {
		return nil, err
	}
	st := store.NewStore(dir)
	offline, err := envconfig.Offline()
	if c.Bool("offline") {
		offline, err = true, nil // the flag decides: $ZOO_OFFLINE does not matter
	}
	if err != nil {
		return nil, err
	}
	st.Offline = offline
	st.Bundled = bundled.FS
	return st, nil
}

// catalogOptions says which catalogs to load: remote ones are fetched with
// the same cache and --offline as artifacts.
func catalogOptions(c *cli.Context, st *store.Store) zoo.LoadOptions {
	return zoo.LoadOptions{Extra: c.StringSlice("catalog"), Store: st}
}

func loadEnv(c *cli.Context) (*env, error) {
	st, err := newStore(c)
	if err != nil {
		return nil, err
	}
	cat, srcs, err := zoo.LoadWith(c.Context, catalogOptions(c, st))
	if err != nil {
		return nil, err
	}
	return &env{catalog: cat, store: st, sources: srcs}, nil
}

// loadModel loads the catalogs and resolves the command's model argument.
func loadModel(c *cli.Context) (*env, *zoo.Model, error) {
	e, err := loadEnv(c)
	if err != nil {
		return nil, nil, err
	}
	m, err := e.resolve(c)
	return e, m, err
}

// resolve finds the model named by the command's first argument.
func (e *env) resolve(c *cli.Context) (*zoo.Model, error) {
	if c.NArg() < 1 {
		return nil, usagef("%s needs a model id (e.g. 101 or 00008); zoo list shows them", c.Command.Name)
	}
	if c.NArg() > 1 {
		return nil, usagef("%s takes one model id, got %d arguments: %v", c.Command.Name, c.NArg(), c.Args().Slice())
	}
	return e.catalog.Resolve(c.Args().First())
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
