//go:build !notorch

package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"medzoo/server"
	"medzoo/torch"
)

func runServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("serve takes no arguments, got %v", c.Args().Slice())
	}
	e, err := loadEnv(c)
	if err != nil {
		return err
	}
	dev, err := torch.ResolveDevice(c.String("device"))
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return fmt.Errorf("serve: %w (is another zoo serve running? try --addr 127.0.0.1:0 for any free port)", err)
	}
	srv := server.New(server.Options{Catalog: e.catalog, Store: e.store, Device: dev, Threads: c.Int("threads"),
		MaxN: c.Int("max-n"), MaxExportN: c.Int("max-export-n"), Timeout: c.Duration("timeout"), MaxConcurrent: c.Int("max-concurrent"),
		Log: c.App.ErrWriter, MaxConns: c.Int("max-conns"), IdleTimeout: c.Duration("idle-timeout"),
		// Zero grace means none; the server's zero value means its default.
		Grace: max(c.Duration("grace"), 1)})
	// serve bounds its own shutdown (--grace, then its runners are
	// killed), so the process-wide stop watchdog leaves the first signal
	// to it; a second one still exits at once.
	selfStopping.Store(true)
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(c.App.ErrWriter, "zoo serve: http://%s/ (%d models, device %s; Ctrl-C stops)\n", ln.Addr(), len(e.catalog.Models), dev)
	if c.Bool("json") {
		runnable := 0
		for i := range e.catalog.Models {
			if e.catalog.Models[i].Runnable() {
				runnable++
			}
		}
		// One line, not printJSON's indented form: a script reads it with
		// one line read while the server keeps running.
		ready := serveReady{URL: fmt.Sprintf("http://%s/", ln.Addr()), Address: ln.Addr().String(), Models: len(e.catalog.Models),
			Runnable: runnable, Device: dev, Threads: c.Int("threads"), MaxN: c.Int("max-n"), MaxExportN: c.Int("max-export-n"), MaxConcurrent: c.Int("max-concurrent"),
			MaxConns: c.Int("max-conns"), TimeoutSeconds: c.Duration("timeout").Seconds(), GraceSeconds: c.Duration("grace").Seconds()}
		if err := json.NewEncoder(c.App.Writer).Encode(ready); err != nil {
			ln.Close()
			return fmt.Errorf("serve: writing --json: %w", err)
		}
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(c.App.ErrWriter, "zoo serve: stopped")
	return nil
}
