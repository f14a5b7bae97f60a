//go:build !notorch

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/server"
	"medzoo/torch"
)

func init() { serveAction = runServe }

func runServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("serve takes no arguments, got %v", c.Args().Slice())
	}
	e, err := loadEnv(c)
	if err != nil {
		return err
	}
	if c.IsSet("threads") {
		torch.SetThreads(c.Int("threads"))
	}
	dev, err := torch.ResolveDevice(c.String("device"))
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return fmt.Errorf("serve: %w (is another zoo serve running? try --addr 127.0.0.1:0 for any free port)", err)
	}
	srv := server.New(server.Options{Catalog: e.catalog, Store: e.store, Device: dev, MaxN: c.Int("max-n"),
		Timeout: c.Duration("timeout"), MaxConcurrent: c.Int("max-concurrent")})
	defer srv.Close()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(c.App.ErrWriter, "zoo serve: http://%s/ (%d models, device %s; Ctrl-C stops)\n", ln.Addr(), len(e.catalog.Models), dev)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish requests in flight, then stop.
	shutdown, cancel := context.WithTimeout(context.Background(), c.Duration("timeout")+5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(c.App.ErrWriter, "zoo serve: stopped")
	return nil
}
