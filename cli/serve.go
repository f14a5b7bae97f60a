package cli

import (
	"time"

	"github.com/urfave/cli/v2"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "web explorer of the catalog and its models, and an HTTP API (loopback by default)",
		UsageText: "zoo serve [--addr 127.0.0.1:8080] [--device D] [--threads T] [--max-n 64] [--max-export-n 10000] [--timeout 30s] [--max-concurrent 4] [--max-conns 128] [--idle-timeout 30s] [--grace 5s] [--json]",
		Description: "Open http://127.0.0.1:8080/ for the catalog (search, filters, a page per model with its metrics\n" +
			"and a live sample grid) and the explorer (latent sliders, seed, condition, image beside mask).\n\n" +
			"API (GET, and one POST for uploads; errors are JSON {\"error\": ...}):\n" +
			"   GET /api/models?q=TERMS&modality=M&runnable=1&rank_by=FID&limit=K   search, as zoo search --json\n" +
			"   GET /api/models/ID                                                  the catalog entry\n" +
			"   GET /api/models/ID/image?n=16&seed=S&cols=C&condition=NAME=VALUE     a PNG figure of n samples\n" +
			"       &index=I&groups=K&offsets=o1,...,oK&shift=G                      explorer: latent moved by groups\n" +
			"       &format=zip                                                      one PNG per output, zipped\n" +
			"   GET /api/models/ID/thumbnail                                        sample 0 of seed 0, cached (ETag)\n" +
			"   GET /api/models/ID/links                                            publication, DOI, Zenodo, BibTeX\n" +
			"   GET /api/metrics                                                    the catalog's metrics, for rank_by\n" +
			"   GET /api/models/ID/export?n=N&seed=S&condition=NAME=VALUE&format=F  a data set: a zip streamed as it\n" +
			"       is made, holding the files of zoo generate ID -n N --seed S -c NAME=VALUE --format F, byte for byte\n" +
			"   GET /api/models/ID/values?seed=S&index=I                            one gray sample's raw float32 values\n" +
			"   GET /api/models/ID/examples[/NAME]                                  an image-to-image model's example inputs\n" +
			"   POST /api/models/ID/generate?name=FILE&seed=S  (body: the image; header X-Zoo-Upload: 1)\n" +
			"                                                                       an image-to-image model on an upload\n\n" +
			"Status codes: 200; 400 a bad parameter; 403 an upload from another site; 404 no such model or\n" +
			"endpoint; 405 not GET; 413 a request body (an upload's over 16 MiB); 422 the model cannot run or failed (raised, non-finite values, wrong shape or count); 431\n" +
			"headers too large; 502 the model's runner process died, or its artifact could not be fetched;\n" +
			"503 busy, out of time (the model's runner is stopped) or shutting down; 500 a fault of zoo itself.\n\n" +
			"Each model runs in its own child process, started on first use: a forward that never returns or\n" +
			"crashes costs one request, and the next request starts a fresh process. SIGTERM or Ctrl-C lets\n" +
			"requests in flight finish for --grace, then stops the models and exits.\n\n" +
			"--json prints one JSON line on stdout once it listens (url, address, models, limits), for\n" +
			"scripts that start it on --addr 127.0.0.1:0; its logs stay on stderr.\n\n" +
			"Binding another address than loopback exposes the models to the network: there is no\n" +
			"authentication.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "`HOST:PORT` to listen on"},
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "auto, cpu, cuda or cuda:N"},
			&cli.IntFlag{Name: "threads", Usage: "LibTorch intra-op threads of each model process, 1 to 1024 (default: one per CPU core)"},
			&cli.IntFlag{Name: "max-n", Value: 64, Usage: "most samples one request may ask for, 1 to 4096"},
			&cli.IntFlag{Name: "max-export-n", Value: 10000, Usage: "most samples one data-set export may ask for, 1 to 100000 (an export streams; only its manifest, sent last, is held)"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "longest a generate request may take, waiting included (1ms to 24h)"},
			&cli.IntFlag{Name: "max-concurrent", Value: 4, Usage: "generate requests running at once, 1 to 256 (others wait)"},
			&cli.IntFlag{Name: "max-conns", Value: 128, Usage: "open connections at once, 1 to 65536 (when full, the longest idle one is closed)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: 30 * time.Second, Usage: "how long a keep-alive connection may wait for its next request (1s to 1h)"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "on SIGTERM or Ctrl-C, how long requests in flight may finish (0 to 10m)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON line on stdout when listening (logs stay on stderr)"},
		},
		Action: func(c *cli.Context) error {
			if err := checkServeFlags(c); err != nil {
				return err
			}
			return runTorch(c)
		},
	}
}

// serveReady is the line `zoo serve --json` prints once it listens: what a
// script needs to talk to it (the real port of --addr 127.0.0.1:0) and the
// limits it enforces.
type serveReady struct {
	URL            string  `json:"url"`
	Address        string  `json:"address"`
	Models         int     `json:"models"`
	Runnable       int     `json:"runnable"` // models with a runner to start (TorchScript)
	Device         string  `json:"device"`
	Threads        int     `json:"threads"` // LibTorch threads per model runner; 0: one per CPU core
	MaxN           int     `json:"max_n"`
	MaxExportN     int     `json:"max_export_n"`
	MaxConcurrent  int     `json:"max_concurrent"`
	MaxConns       int     `json:"max_conns"`
	TimeoutSeconds float64 `json:"timeout_seconds"`
	GraceSeconds   float64 `json:"grace_seconds"`
}

// checkServeFlags refuses out-of-range flags before anything starts (and
// before the fast binary hands over to zoo-torch).
func checkServeFlags(c *cli.Context) error {
	ints := []struct {
		name   string
		lo, hi int
		what   string
	}{
		{"max-n", 1, 4096, "samples per request"},
		{"max-export-n", 1, 100000, "samples per export"},
		{"max-concurrent", 1, 256, "generate requests at once"},
		{"max-conns", 1, 65536, "open connections"},
	}
	if c.IsSet("threads") {
		ints = append(ints, struct {
			name   string
			lo, hi int
			what   string
		}{"threads", 1, 1024, "LibTorch threads per model process"})
	}
	for _, f := range ints {
		if v := c.Int(f.name); v < f.lo || v > f.hi {
			return usagef("--%s %d: want %s from %d to %d", f.name, v, f.what, f.lo, f.hi)
		}
	}
	durations := []struct {
		name   string
		lo, hi time.Duration
	}{
		{"timeout", time.Millisecond, 24 * time.Hour},
		{"idle-timeout", time.Second, time.Hour},
		{"grace", 0, 10 * time.Minute},
	}
	for _, f := range durations {
		if v := c.Duration(f.name); v < f.lo || v > f.hi {
			return usagef("--%s %s: want a duration from %s to %s", f.name, v, f.lo, f.hi)
		}
	}
	return nil
}
