// Package testnet starts the odd servers that download tests need on
// 127.0.0.1: ones that answer with bytes net/http's server would never
// write (a body longer than its Content-Length, a broken status line).
package testnet

import (
	"bufio"
	"net"
	"testing"
)

// RawServer accepts connections on 127.0.0.1 until the test ends, reads
// each one's request line and hands the connection to answer, then closes
// it. It returns the server's http:// base URL.
func RawServer(t testing.TB, answer func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				bufio.NewReader(c).ReadString('\n') // the request line is enough
				answer(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}
