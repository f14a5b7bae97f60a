package linelog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestWriterLines(t *testing.T) {
	var out bytes.Buffer
	w := &Writer{Out: &out, Prefix: "> ", MaxLen: 10, MaxLines: 3, Keep: 2}
	// Lines split across writes, an empty line, a long line.
	for _, s := range []string{"one\ntw", "o\n\nthree is long", "er than ten\nfour\nfive\nsi", "x"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if got := strings.Join(w.Last(), "|"); got != "five|six" {
		t.Errorf("Last before Close = %q", got)
	}
	w.Close()
	w.Close()
	want := "> one\n> two\n> \n> ... 4 more lines not shown\n"
	if out.String() != want {
		t.Errorf("forwarded\n%q\nwant\n%q", out.String(), want)
	}
	if got := strings.Join(w.Last(), "|"); got != "five|six" {
		t.Errorf("Last = %q", got)
	}
}

func TestWriterCutsLongLines(t *testing.T) {
	var out bytes.Buffer
	w := &Writer{Out: &out, MaxLen: 8}
	// 10 MB without a newline is not kept in memory.
	big := bytes.Repeat([]byte("x"), 1<<20)
	for range 10 {
		w.Write(big)
	}
	if len(w.partial) > 8 {
		t.Fatalf("kept %d bytes of an unfinished line", len(w.partial))
	}
	w.Write([]byte("\nok\n"))
	want := fmt.Sprintf("xxxxxxxx... (%d bytes)\nok\n", 10<<20)
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	if got := w.Last(); len(got) != 1 || got[0] != "ok" {
		t.Errorf("Last = %q", got)
	}
}

func TestWriterNoOut(t *testing.T) {
	w := &Writer{Keep: 3}
	w.Write([]byte("a\nb\n\n  \nc"))
	w.Close()
	if got := strings.Join(w.Last(), ","); got != "a,b,c" {
		t.Errorf("Last = %q", got)
	}
}
