package cli

// In-process tests of the command line through run(args, stdout, stderr):
// the real commands over the real built-in catalog and real files, in a
// private config, cache and home directory. None needs LibTorch: they pass
// the same under `go test -tags notorch ./cli/`.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"medzoo/internal/version"
)

// asZooEnv makes the test binary run as zoo (TestMain calls Main), for the
// completion scripts, which start zoo as a process.
const asZooEnv = "ZOO_CLI_TEST_AS_ZOO"

func TestMain(m *testing.M) {
	if os.Getenv(asZooEnv) == "1" {
		os.Exit(Main(os.Args))
	}
	// Keep the user's catalogs, cache and home out of the tests, and the
	// network: nothing here fetches.
	dir, err := os.MkdirTemp("", "zoo-cli-test-")
	if err != nil {
		panic(err)
	}
	for k, v := range map[string]string{
		"ZOO_CONFIG_DIR": filepath.Join(dir, "config"),
		"ZOO_CACHE":      filepath.Join(dir, "cache"),
		"HOME":           filepath.Join(dir, "home"),
		"XDG_CACHE_HOME": filepath.Join(dir, "home", ".cache"),
		"ZOO_CATALOG":    "",
		"ZOO_OFFLINE":    "1",
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type ran struct {
	stdout, stderr string
	code           int
}

// zoo runs the command line in-process.
func runZoo(args ...string) ran {
	var out, errb bytes.Buffer
	code := run(append([]string{"zoo"}, args...), &out, &errb)
	return ran{out.String(), errb.String(), code}
}

func (r ran) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"USAGE", "generate", "completion"}},
		{[]string{"--help"}, []string{"generate", "search", "serve", "completion"}},
		{[]string{"help", "generate"}, []string{"zoo generate ID -n N -o DIR"}},
		{[]string{"generate", "--help"}, []string{"--seed"}},
		{[]string{"--version"}, []string{version.Version}},
	} {
		r := runZoo(tc.args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("zoo %q: %v", tc.args, r)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("zoo %q does not print %q:\n%s", tc.args, w, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "runner") || strings.Contains(r.stdout, completeCommandName) {
			t.Errorf("zoo %q shows a hidden command:\n%s", tc.args, r.stdout)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // on stderr
	}{
		{[]string{"generat"}, `no command "generat"; did you mean generate?`},
		{[]string{"serach", "mri"}, "did you mean search?"},
		{[]string{"inter"}, "did you mean interpolate?"}, // the only command it begins
		{[]string{"frobnicate"}, `no command "frobnicate"; see zoo --help`},
		{[]string{"list", "--runable"}, "did you mean --runnable?"},
		{[]string{"info", "101", "--ofline"}, "did you mean --offline?"}, // a global flag after the command
		{[]string{"list", "--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{[]string{"info"}, "info needs a model id"},
		{[]string{"list", "extra"}, "list takes no arguments"},
		{[]string{"catalog"}, "catalog needs a subcommand: validate FILE..., list, add FILE --to CATALOG or diff OLD NEW"},
		{[]string{"catalog", "lst"}, `catalog: no subcommand "lst" (validate FILE..., list, add FILE --to CATALOG, diff OLD NEW)`},
		{[]string{"catalog", "sources", "x"}, "catalog list takes no arguments"},
		{[]string{"cache"}, "cache needs a subcommand: list, rm ID|DIGEST... or prune"},
		{[]string{"cache", "purge"}, `cache: no subcommand "purge" (list, rm ID|DIGEST..., prune)`},
		{[]string{"cache", "ls", "x"}, "cache list takes no arguments"},
		{[]string{"cache", "prune", "x"}, "cache prune takes no arguments; to remove given entries"},
		{[]string{"cache", "remove"}, "cache rm needs model ids or digests"},
		{[]string{"catalog", "validate"}, "needs one or more catalog files"},
		{[]string{"search", "mri", "--asc", "--desc"}, "contradict"},
		{[]string{"completion"}, "completion needs one shell"},
		{[]string{"completion", "tcsh"}, `no script for "tcsh"`},
	} {
		r := runZoo(tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("zoo %q: want exit 2 and %q on stderr, nothing on stdout; %v", tc.args, tc.want, r)
		}
		if strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("zoo %q: want a one-line message: %q", tc.args, r.stderr)
		}
	}
	if r := runZoo("frobnicate"); strings.Contains(r.stderr, "did you mean") {
		t.Errorf("a suggestion for a word near no command: %s", r.stderr)
	}
}

func TestClosest(t *testing.T) {
	names := []string{"generate", "gen", "grid", "info", "import", "interpolate", "list", "ls", "search", "serve"}
	for typed, want := range map[string]string{
		"generat": "generate", "genrate": "generate", "gneerate": "generate", "serach": "search", "lst": "list",
		"interp": "interpolate", "srve": "serve", "in": "", "x": "", "frobnicate": "", "": "",
	} {
		if got := closest(typed, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", typed, got, want)
		}
	}
}

func TestJSONOutput(t *testing.T) {
	var models []map[string]any
	mustJSON(t, runZoo("list", "--json"), &models)
	if len(models) < 24 {
		t.Errorf("list --json: %d models, want the 23 medigan models and the demos", len(models))
	}
	var info map[string]any
	mustJSON(t, runZoo("info", "101", "--json"), &info)
	if info["id"] != "00101_DCGAN_MRI_COLIN27_DEMO" || info["runnable"] != true {
		t.Errorf("info 101 --json: %v", info)
	}
	var found struct {
		Hits []struct {
			ID string `json:"id"`
		} `json:"results"`
		Models int `json:"catalog_models"`
	}
	mustJSON(t, runZoo("search", "brain", "mri", "--json"), &found)
	if len(found.Hits) == 0 || found.Models < 24 {
		t.Errorf("search brain mri --json: %+v", found)
	}
	var sources []map[string]any
	mustJSON(t, runZoo("catalog", "list", "--json"), &sources)
	if len(sources) == 0 || sources[0]["from"] == nil {
		t.Errorf("catalog list --json: %v", sources)
	}
}

func mustJSON(t *testing.T, r ran, v any) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
}

// With --json, a failure is a JSON object on stdout too, and the message
// still goes to stderr; the exit code is the same as without.
func TestJSONErrors(t *testing.T) {
	bad := badCatalog(t)
	for _, tc := range []struct {
		args []string
		code string
		exit int
		want string
	}{
		{[]string{"info", "nosuchmodel", "--json"}, codeFailure, 1, `no model "nosuchmodel"`},
		{[]string{"generat", "--json"}, codeUsage, 2, "did you mean generate?"},
		{[]string{"info", "--json"}, codeUsage, 2, "needs a model id"},
		{[]string{"list", "--json", "--frobnicate"}, codeUsage, 2, "-frobnicate"},
		{[]string{"--catalog", bad, "list", "--json"}, codeFailure, 1, "bad.toml:4"},
		{[]string{"info", "nosuchmodel", "--json=true"}, codeFailure, 1, "nosuchmodel"},
	} {
		r := runZoo(tc.args...)
		var got failure
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("zoo %q: stdout is not one line of JSON (%v): %v", tc.args, err, r)
			continue
		}
		if got.Code != tc.code || got.Exit != tc.exit || r.code != tc.exit || !strings.Contains(got.Error, tc.want) {
			t.Errorf("zoo %q: %+v, exit %d; want code %s, exit %d, error with %q", tc.args, got, r.code, tc.code, tc.exit, tc.want)
		}
		if r.stderr != "zoo: "+got.Error+"\n" {
			t.Errorf("zoo %q: stderr %q, want the same message as the JSON %q", tc.args, r.stderr, got.Error)
		}
	}
	// Without --json (or with --json=false) stdout stays empty.
	for _, args := range [][]string{{"info", "nosuchmodel"}, {"info", "nosuchmodel", "--json=false"}} {
		if r := runZoo(args...); r.code != 1 || r.stdout != "" {
			t.Errorf("zoo %q: %v", args, r)
		}
	}
	// A command that printed its JSON result and then failed leaves that
	// one document on stdout.
	r := runZoo("catalog", "validate", bad, "--json")
	var reports []validateReport
	if err := json.Unmarshal([]byte(r.stdout), &reports); err != nil || r.code != 1 || len(reports) != 1 {
		t.Errorf("catalog validate --json of a bad file: %v (%v)", r, err)
	}
}

// badCatalog writes a catalog with a misspelt key on line 4.
func badCatalog(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(p, []byte("schema = 1\n[[model]]\nid = \"90002_X\"\ntitel = \"typo\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCatalogValidate(t *testing.T) {
	bad := badCatalog(t)
	r := runZoo("catalog", "validate", bad)
	if r.code != 1 || !strings.Contains(r.stdout, bad+":4") || !strings.Contains(r.stdout, "titel") ||
		!strings.Contains(r.stderr, "1 of 1 catalog file has problems") {
		t.Errorf("catalog validate of a bad file: %v", r)
	}
	missing := filepath.Join(t.TempDir(), "missing.toml")
	if r := runZoo("catalog", "validate", missing); r.code != 1 || !strings.Contains(r.stdout, missing) {
		t.Errorf("catalog validate of a missing file: %v", r)
	}
	good := filepath.Join(t.TempDir(), "good.toml")
	os.WriteFile(good, []byte("schema = 1\n[[model]]\nid = \"90003_GOOD\"\ntitle = \"a package\"\n"+
		"[model.artifact]\nurl = \"https://example.org/x.zip\"\nformat = \"python-package\"\n"), 0o644)
	if r := runZoo("catalog", "validate", good); r.code != 0 || !strings.Contains(r.stdout, "ok, 1 model") {
		t.Errorf("catalog validate of a good file: %v", r)
	}
}

// failureOf after a signal: exit 130 or 143 whatever the command returned.
func TestInterruptedExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		sig  os.Signal
		exit int
		msg  string
	}{
		{fmt.Errorf("context canceled"), os.Interrupt, 130, "stopped by interrupt"},
		{fmt.Errorf("fetching x: %w", context.Canceled), syscall.SIGTERM, 143, "stopped by terminated: fetching x: context canceled"},
		{usagef("bad"), os.Interrupt, 130, "stopped by interrupt: bad"},
		{usagef("bad"), nil, 2, "bad"},
		{fmt.Errorf("boom"), nil, 1, "boom"},
	} {
		f := failureOf(tc.err, tc.sig)
		if f.Exit != tc.exit || f.Error != tc.msg {
			t.Errorf("failureOf(%v, %v) = %+v, want exit %d, %q", tc.err, tc.sig, f, tc.exit, tc.msg)
		}
	}
}
