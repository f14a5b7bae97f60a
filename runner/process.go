package runner

import (
	"context"
	"encoding/gob"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"medzoo/internal/envconfig"
	"medzoo/internal/linelog"
	"medzoo/loader"
	"medzoo/zoo"
)

// Command is how to start a child: Path with Args runs Serve on its standard
// streams (zoo-torch runner), with Env added to this process's environment.
type Command struct {
	Path string
	Args []string
	Env  []string
}

// ModelError is a failure of the model itself: it could not be loaded, or
// its forward raised or returned what its signature does not describe.
// BadRequest marks a request the model cannot serve as asked.
type ModelError struct {
	Msg        string
	BadRequest bool
}

func (e *ModelError) Error() string { return e.Msg }

// DiedError is a child that exited before it answered: a crash, a signal,
// or the parent's own Kill.
type DiedError struct {
	Model  string
	Pid    int
	Status string // as os.ProcessState says it: "signal: killed", "exit status 2"
	Last   string // the last line the child wrote to standard error
}

func (e *DiedError) Error() string {
	msg := fmt.Sprintf("the runner process of model %s (pid %d) died before it answered (%s)", e.Model, e.Pid, e.Status)
	if e.Last != "" {
		msg += "; its last words: " + e.Last
	}
	return msg
}

// Process is one child running one model. Requests must not overlap: the
// caller holds one at a time (forwards of one module are serial anyway).
type Process struct {
	Model      string
	Pid        int
	LatentSize int

	cmd *exec.Cmd
	enc *gob.Encoder
	dec *gob.Decoder
	in  io.Closer
	// tail forwards the child's standard error to the log and keeps its
	// last line for DiedError.
	tail *linelog.Writer

	done   chan struct{} // closed once the child has exited and been reaped
	status string        // set before done is closed
	killed atomic.Bool   // Kill was called: the child is as good as gone
}

// Start starts a child for model m (artifact at path) and loads it. Its
// standard error goes to logw, each line prefixed with the model and pid.
// The child runs in its own process group, so Kill takes anything it
// started with it, and Linux's parent-death signal kills it should zoo
// serve itself be killed outright (SIGKILL leaves no time to clean up).
func Start(ctx context.Context, c Command, m *zoo.Model, path, device string, threads int, logw io.Writer) (*Process, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	if envconfig.OMPWaitPolicy() == "" {
		// OpenMP's threads spin for a while after each parallel region
		// by default. In one process that is free; a runner's spinning
		// threads take the cores from zoo serve, which encodes the PNGs,
		// and from the other runners: a 1-image request of model 00101
		// took 66 ms instead of 41 (docs/reliability.md).
		cmd.Env = append(cmd.Env, "OMP_WAIT_POLICY=PASSIVE")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &Process{Model: m.ID, cmd: cmd, enc: gob.NewEncoder(stdin), dec: gob.NewDecoder(stdout), in: stdin,
		tail: &linelog.Writer{Out: logw}, done: make(chan struct{})}
	cmd.Stderr = p.tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the runner process of model %s: %w", m.ID, err)
	}
	p.Pid = cmd.Process.Pid
	p.tail.SetPrefix(fmt.Sprintf("runner %s[%d]: ", m.ID, p.Pid))
	go p.reap()

	var loaded Loaded
	if err := p.call(ctx, Load{Model: trimmed(m), Path: path, Device: device, Threads: threads}, &loaded); err != nil {
		p.Kill()
		return nil, err
	}
	if loaded.Err != "" {
		p.Kill()
		return nil, &ModelError{Msg: loaded.Err}
	}
	p.LatentSize = loaded.LatentSize
	return p, nil
}

func (p *Process) reap() {
	err := p.cmd.Wait()
	p.status = "exit status 0"
	if p.cmd.ProcessState != nil {
		p.status = p.cmd.ProcessState.String()
	} else if err != nil {
		p.status = err.Error()
	}
	close(p.done)
}

// Generate runs one request in the child. When ctx ends first, the child is
// killed (a forward cannot be interrupted any other way) and the error is
// ctx's.
func (p *Process) Generate(ctx context.Context, req Request) ([]loader.Sample, error) {
	var reply Reply
	if err := p.call(ctx, req, &reply); err != nil {
		return nil, err
	}
	if reply.Err != "" {
		return nil, &ModelError{Msg: reply.Err, BadRequest: reply.BadRequest}
	}
	if len(reply.Samples) != req.Count {
		return nil, &ModelError{Msg: fmt.Sprintf("model %s: the runner returned %d samples for %d asked", p.Model, len(reply.Samples), req.Count)}
	}
	return fromWire(reply.Samples), nil
}

// call sends msg and decodes the answer into reply, unless ctx ends or the
// child dies first.
func (p *Process) call(ctx context.Context, msg, reply any) error {
	errc := make(chan error, 1)
	go func() {
		if err := p.enc.Encode(msg); err != nil {
			errc <- err
			return
		}
		errc <- p.dec.Decode(reply)
	}()
	select {
	case err := <-errc:
		if err == nil {
			return nil
		}
		// A broken pipe or a cut message: the child is gone or going.
		// Wait a moment for its exit status, which says why.
		p.Kill()
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
		return p.died()
	case <-ctx.Done():
		p.Kill()
		return ctx.Err()
	case <-p.done:
		return p.died()
	}
}

func (p *Process) died() error {
	status := "still exiting"
	select {
	case <-p.done:
		status = p.status
	default:
	}
	return &DiedError{Model: p.Model, Pid: p.Pid, Status: status, Last: strings.Join(p.tail.Last(), "")}
}

// Exited reports whether the child has exited or been killed.
func (p *Process) Exited() bool {
	if p.killed.Load() {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill ends the child's process group at once. It is safe to call at any
// time, from any goroutine, any number of times.
func (p *Process) Kill() {
	if p.killed.Swap(true) {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	// The negative pid names the group Setpgid made, whose id is the
	// child's pid. The group outlives a child that exited while one of its
	// own children lives on, so this is harmless after the exit too.
	syscall.Kill(-p.Pid, syscall.SIGKILL)
	p.in.Close()
}

// Wait waits up to d for the child to exit and reports whether it did.
func (p *Process) Wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}
