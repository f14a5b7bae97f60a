package cli

import (
	"github.com/urfave/cli/v2"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "web explorer of the catalog and its models, and an HTTP API (loopback by default)",
		UsageText: "zoo serve [--addr 127.0.0.1:8080] [--device D] [--max-n 64] [--timeout 30s]",
		Description: "Open http://127.0.0.1:8080/ for the catalog (search, filters, a page per model with its metrics\n" +
			"and a live sample grid) and the explorer (latent sliders, seed, condition, image beside mask).\n\n" +
			"API (JSON errors {\"error\": ...} with 400/404/422/503):\n" +
			"   GET /api/models?q=TERMS&modality=M&runnable=1&rank_by=FID&limit=K   search, as zoo search --json\n" +
			"   GET /api/models/ID                                                  the catalog entry\n" +
			"   GET /api/models/ID/image?n=16&seed=S&cols=C&condition=NAME=VALUE     a PNG figure of n samples\n" +
			"       &index=I&groups=K&offsets=o1,...,oK&shift=G                      explorer: latent moved by groups\n" +
			"       &format=zip                                                      one PNG per output, zipped\n\n" +
			"Binding another address than loopback exposes the models to the network: there is no\n" +
			"authentication.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "`HOST:PORT` to listen on"},
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "auto, cpu, cuda or cuda:N"},
			&cli.IntFlag{Name: "threads", Usage: "LibTorch intra-op threads (default: one per CPU core)"},
			&cli.IntFlag{Name: "max-n", Value: 64, Usage: "most samples one request may ask for"},
			&cli.DurationFlag{Name: "timeout", Value: 30e9, Usage: "longest a generate request may take, waiting included"},
			&cli.IntFlag{Name: "max-concurrent", Value: 4, Usage: "generate requests running at once (others wait)"},
		},
		Action: func(c *cli.Context) error {
			if serveAction == nil {
				return delegate(c)
			}
			return serveAction(c)
		},
	}
}

// serveAction is nil in a build without LibTorch (see delegate.go).
var serveAction cli.ActionFunc
