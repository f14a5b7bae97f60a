package runner

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"medzoo/loader"
	"medzoo/torch"
)

// ServeStdio is the child's main: it answers on the standard streams until
// the parent closes its input. File descriptor 1 carries the protocol, so
// anything else that writes there (a C++ library printing to std::cout)
// is sent to standard error instead of corrupting a message.
func ServeStdio() error {
	proto, err := syscall.Dup(1)
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if err := syscall.Dup3(2, 1, 0); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	out := os.NewFile(uintptr(proto), "protocol")
	defer out.Close()
	return Serve(os.Stdin, out)
}

// Serve reads one Load, then Requests, from r and writes the answers to w.
// It returns nil when r ends: the parent is done with this child.
func Serve(r io.Reader, w io.Writer) error {
	dec, enc := gob.NewDecoder(r), gob.NewEncoder(w)
	var load Load
	if err := dec.Decode(&load); err != nil {
		return ignoreEOF(err)
	}
	if load.Threads > 0 {
		if err := torch.SetThreads(load.Threads); err != nil {
			return enc.Encode(Loaded{Err: err.Error()})
		}
	}
	gen, err := openModel(load)
	if err != nil {
		return enc.Encode(Loaded{Err: err.Error()})
	}
	defer gen.Close()
	if err := enc.Encode(Loaded{LatentSize: gen.LatentSize()}); err != nil {
		return err
	}
	for {
		var req Request
		if err := dec.Decode(&req); err != nil {
			return ignoreEOF(err)
		}
		if err := enc.Encode(answer(gen, req)); err != nil {
			return err
		}
	}
}

func openModel(load Load) (*loader.Generator, error) {
	if load.Model == nil {
		return nil, errors.New("runner: the load message names no model")
	}
	return loader.Open(load.Model, load.Path, load.Device)
}

// answer runs one request. Conditions are checked first, so that a wrong
// value is the caller's mistake (400), not the model's (422).
func answer(gen *loader.Generator, req Request) Reply {
	if err := gen.ValidateConditions(req.Conditions); err != nil {
		return Reply{Err: err.Error(), BadRequest: true}
	}
	opt := loader.Options{Seed: req.Seed, Conditions: req.Conditions, Inputs: req.Inputs}
	if req.MoveLatent {
		if gen.LatentSize() == 0 {
			return Reply{Err: fmt.Sprintf("model %s has no latent to move", gen.Model.ID), BadRequest: true}
		}
		if req.Groups > gen.LatentSize() {
			return Reply{Err: fmt.Sprintf("groups=%d: the latent has only %d values", req.Groups, gen.LatentSize()), BadRequest: true}
		}
		opt.Latent = movedLatent(req, gen.Model.Signature.Distribution, gen.LatentSize())
	}
	samples, err := gen.Generate(context.Background(), req.Start, req.Count, opt)
	if err != nil {
		return Reply{Err: err.Error()}
	}
	return Reply{Samples: toWire(samples)}
}

// movedLatent is the explorer's latent (see Request.MoveLatent).
func movedLatent(req Request, dist string, size int) func(int, []float32) {
	return func(i int, dst []float32) {
		loader.FillLatent(dst, req.Seed, uint64(i), dist)
		for j := range dst {
			d := req.Shift
			if req.Groups > 0 && len(req.Offsets) > 0 {
				d += req.Offsets[j*req.Groups/size]
			}
			dst[j] += float32(d)
		}
	}
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}
