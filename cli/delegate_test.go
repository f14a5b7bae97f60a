//go:build unix

package cli

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// A build without LibTorch (bin/zoo: torchActions empty) hands exactly the
// uses in torchUses to zoo-torch, and answers everything else itself. The
// hand-over is the real exec, of a zoo-torch that is not there: it fails
// and says so instead of replacing the test.
func TestDelegatesExactlyTheTorchUses(t *testing.T) {
	saved := torchActions
	torchActions = map[string]cli.ActionFunc{}
	t.Cleanup(func() { torchActions = saved })
	missing := filepath.Join(t.TempDir(), "zoo-torch")
	t.Setenv(TorchBinaryEnv, missing)

	dir := t.TempDir()
	cat := filepath.Join(dir, "good.toml")
	os.WriteFile(cat, []byte("schema = 1\n[[model]]\nid = \"90003_GOOD\"\ntitle = \"a package\"\n"+
		"[model.artifact]\nurl = \"https://example.org/x.zip\"\nformat = \"python-package\"\n"), 0o644)
	out := filepath.Join(dir, "out")
	t.Setenv("ZENODO_TOKEN", "test-token") // publish checks it before it needs LibTorch
	torch := map[string][]string{          // each use of torchUses, as a command line
		"generate":          {"generate", "101", "-n", "1", "-o", out},
		"bench":             {"bench", "101", "-n", "1"},
		"search --generate": {"search", "brain", "--generate", "1", "-o", out},
		"evaluate":          {"evaluate", dir, dir},
		"grid":              {"grid", "101", "-o", filepath.Join(dir, "g.png")},
		"interpolate":       {"interpolate", "101", "-o", filepath.Join(dir, "w.png")},
		"serve":             {"serve", "--addr", "127.0.0.1:0"},
		"import":            {"import", "--package", dir},
		"catalog --load":    {"catalog", "validate", cat, "--load"},
		"runner":            {"runner"},
		"validate":          {"validate", dir},
		"init":              {"init", filepath.Join(dir, "m")},
		"pack":              {"pack", dir, "-o", filepath.Join(t.TempDir(), "m.zip")},
		"push":              {"push", dir, "oci://127.0.0.1:1/m:1"},
		"publish":           {"publish", dir, "--zenodo"},
	}
	var listed []string
	for _, u := range torchUses {
		listed = append(listed, u.String())
	}
	if got := slices.Sorted(maps.Keys(torch)); !slices.Equal(got, slices.Sorted(slices.Values(listed))) {
		t.Fatalf("this test covers %q, torchUses lists %q", got, listed)
	}
	for use, args := range torch {
		r := runZoo(args...)
		if r.code != exitFailure || !strings.Contains(r.stderr, "starting "+missing) {
			t.Errorf("%s (zoo %q) was not handed to zoo-torch: %v", use, args, r)
		}
	}
	for _, args := range [][]string{
		{"list"}, {"info", "101"}, {"search", "brain"}, {"pull", "101"},
		{"catalog", "list"}, {"catalog", "validate", cat}, {"catalog", "validate", cat, "--load=false"},
		{"completion", "bash"}, {completeCommandName, "--", "gen"}, {"--help"}, {"generate", "--help"},
	} {
		if r := runZoo(args...); r.code != 0 || strings.Contains(r.stderr, "starting") {
			t.Errorf("zoo %q did not answer itself: %v", args, r)
		}
	}
}
