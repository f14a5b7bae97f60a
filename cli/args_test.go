package cli

import (
	"io"
	"reflect"
	"testing"
)

func TestInterspersedFlags(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, tc := range []struct{ in, want []string }{
		{[]string{"zoo", "generate", "8", "-n", "100", "-o", "out/"}, []string{"zoo", "generate", "-n", "100", "-o", "out/", "--", "8"}},
		{[]string{"zoo", "generate", "8", "-o", "out", "--offline", "--json"}, []string{"zoo", "--offline", "generate", "-o", "out", "--json", "--", "8"}},
		{[]string{"zoo", "--catalog", "a.toml", "info", "8", "--json"}, []string{"zoo", "--catalog", "a.toml", "info", "--json", "--", "8"}},
		{[]string{"zoo", "generate", "8", "--seed=3", "-c", "class=benign"}, []string{"zoo", "generate", "--seed=3", "-c", "class=benign", "--", "8"}},
		{[]string{"zoo", "list"}, []string{"zoo", "list"}},
		{[]string{"zoo", "nosuch", "-x"}, []string{"zoo", "nosuch", "-x"}},
		{[]string{"zoo", "--help"}, []string{"zoo", "--help"}},
	} {
		if got := interspersed(app, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("interspersed(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
