package server

import (
	"context"
	"errors"
	"fmt"
)

// errBusy is a model's turn or a generation slot not had within
// --timeout: 503, retry later.
type errBusy struct{ msg string }

func (e errBusy) Error() string { return e.msg }

// takeTurn waits until wait ends for the model's turn on its runner: every
// request that runs a model (figure, upload, thumbnail, each block of an
// export) takes it, so requests to one model run one after another. Take
// the turn first, then a slot (takeSlot): a request queued behind a busy
// model holds no slot that other models could use. A wait ended because
// the client left (wait, derived from its request, is canceled rather
// than past its deadline) returns context.Canceled, else errBusy.
func (s *Server) takeTurn(wait context.Context, slot *modelSlot, id string) (release func(), err error) {
	select {
	case slot.turn <- struct{}{}:
		return func() { <-slot.turn }, nil
	case <-wait.Done():
		if errors.Is(wait.Err(), context.Canceled) {
			return nil, wait.Err()
		}
		return nil, errBusy{fmt.Sprintf("busy: model %s was busy with other requests for %s; retry later", id, s.opt.Timeout)}
	}
}

// takeSlot waits until wait ends for one of the --max-concurrent
// generation slots.
func (s *Server) takeSlot(wait context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-wait.Done():
		if errors.Is(wait.Err(), context.Canceled) {
			return nil, wait.Err()
		}
		return nil, errBusy{fmt.Sprintf("busy: no generation slot within %s; retry later", s.opt.Timeout)}
	}
}
