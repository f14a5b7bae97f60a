package server

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Connection timeouts. A client has readHeaderTimeout to send its request
// headers (a slowloris client trickling bytes is cut off then) and
// readTimeout for the whole request; an answer may take twice the generate
// timeout (waiting, then running) plus writeSlack to be written.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeSlack        = 10 * time.Second
	maxHeaderBytes    = 64 << 10
	// lastWords is how long, after the grace period, the requests whose
	// runners were just killed get to send their 503.
	lastWords = 2 * time.Second
)

// Serve answers on ln until ctx ends, then shuts down: it stops accepting,
// lets requests in flight finish within Options.Grace, then kills the
// runners (a forward that never returns cannot be waited for), gives those
// requests a moment to answer 503, and closes what is left. It returns nil
// after a shutdown, or the error that stopped serving.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	guard := newConnGuard(ln, s.opt.MaxConns)
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      2*s.opt.Timeout + writeSlack,
		IdleTimeout:       s.opt.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         guard.track,
		ErrorLog:          log.New(s.opt.Log, "zoo serve: ", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(guard) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	grace, cancel := context.WithTimeout(context.Background(), s.opt.Grace)
	defer cancel()
	err := hs.Shutdown(grace)
	s.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		last, cancel := context.WithTimeout(context.Background(), lastWords)
		defer cancel()
		if hs.Shutdown(last) != nil {
			hs.Close()
		}
	}
	return nil
}

// connGuard is a listener that keeps at most max connections open. When
// full, it makes room by closing the connection idle the longest (a
// keep-alive client waiting for nothing), and only when none is idle does
// it wait for one to close, so a thousand idle connections cannot lock real
// clients out. Slowloris connections, never idle, are ended by the header
// timeout.
type connGuard struct {
	net.Listener
	max int

	mu     sync.Mutex
	open   map[*guardedConn]struct{}
	freed  chan struct{} // a token when a connection closes
	closed chan struct{} // closed by Close: Accept stops waiting for room
	once   sync.Once
}

func newConnGuard(ln net.Listener, max int) *connGuard {
	return &connGuard{Listener: ln, max: max, open: map[*guardedConn]struct{}{},
		freed: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (l *connGuard) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// guardedConn is one accepted connection; idleSince is zero while it is
// not idle.
type guardedConn struct {
	net.Conn
	guard     *connGuard
	once      sync.Once
	idleSince time.Time // guarded by guard.mu
}

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.guard.release(c) })
	return err
}

// Accept takes the next connection first and only then makes room for it,
// so nothing is closed for a client that never comes.
func (l *connGuard) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for !l.room() {
		// Wait for a close; poll too, since a connection may turn idle
		// (and so become evictable) without closing.
		select {
		case <-l.freed:
		case <-time.After(50 * time.Millisecond):
		case <-l.closed:
			c.Close()
			return nil, net.ErrClosed
		}
	}
	// A connection that has sent nothing yet is as evictable as an idle
	// one: real clients send their request at once, so a crowd of silent
	// connections cannot hold every slot until the header timeout.
	gc := &guardedConn{Conn: c, guard: l, idleSince: time.Now()}
	l.mu.Lock()
	l.open[gc] = struct{}{}
	l.mu.Unlock()
	return gc, nil
}

// room reports whether one more connection may open, closing the longest
// idle one to make room when needed.
func (l *connGuard) room() bool {
	l.mu.Lock()
	if len(l.open) < l.max {
		l.mu.Unlock()
		return true
	}
	var oldest *guardedConn
	for c := range l.open {
		if !c.idleSince.IsZero() && (oldest == nil || c.idleSince.Before(oldest.idleSince)) {
			oldest = c
		}
	}
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	// HTTP lets a server close an idle keep-alive connection at any time;
	// clients retry a request that raced with the close on a new one.
	oldest.Close()
	return true
}

func (l *connGuard) release(c *guardedConn) {
	l.mu.Lock()
	delete(l.open, c)
	l.mu.Unlock()
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// track is the http.Server's ConnState hook: it marks which connections
// are idle between requests (StateNew keeps the mark Accept set).
func (l *connGuard) track(c net.Conn, state http.ConnState) {
	gc, ok := c.(*guardedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew:
	case http.StateIdle:
		gc.idleSince = time.Now()
	default:
		gc.idleSince = time.Time{}
	}
}
