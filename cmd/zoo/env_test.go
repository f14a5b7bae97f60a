package main_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

type envSetting struct {
	Name, Value, Source, Env, Error, Default, Description string
}

func envSettings(t *testing.T, r result) map[string]envSetting {
	t.Helper()
	var list []envSetting
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("zoo env --json: %v\n%s", err, r.stdout)
	}
	out := map[string]envSetting{}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

// TestEnv: zoo env reports every variable's value in effect and where it
// comes from, global flags included, from bin/zoo alone (no LibTorch, no
// catalog read); a bad value is shown, named on stderr and exits 1, and the
// commands that read it refuse it the same way.
func TestEnv(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "flag-cache")
	r := mustOK(t, zoo(t, []string{
		"ZOO_MAX_DOWNLOAD=500MB", "ZOO_STALL_TIMEOUT=30s", "ZOO_CATALOG=a.toml", "ZOO_SEARCH_CACHE=off",
		"ZOO_TORCH_BIN=/nonexistent/zoo-torch", "ZOO_DEBUG=",
	}, "--catalog", "b.toml", "--cache", cache, "env", "--json", "--offline"))
	got := envSettings(t, r)
	for name, want := range map[string]envSetting{
		"ZOO_CACHE":         {Value: cache, Source: "--cache"},
		"ZOO_OFFLINE":       {Value: "on", Source: "--offline"},
		"ZOO_CATALOG":       {Value: "a.toml:b.toml", Source: "environment and --catalog"},
		"ZOO_MAX_DOWNLOAD":  {Value: "500MB", Source: "environment"},
		"ZOO_STALL_TIMEOUT": {Value: "30s", Source: "environment"},
		"ZOO_SEARCH_CACHE":  {Value: "off", Source: "environment"},
		"ZOO_TORCH_BIN":     {Value: "/nonexistent/zoo-torch", Source: "environment"},
		"ZOO_DEBUG":         {Value: "off", Source: "default"},
	} {
		s, ok := got[name]
		if !ok {
			t.Fatalf("zoo env --json lacks %s:\n%s", name, r.stdout)
		}
		if s.Value != want.Value || s.Source != want.Source || s.Error != "" || s.Description == "" || s.Default == "" {
			t.Errorf("%s: %+v, want value %q from %s", name, s, want.Value, want.Source)
		}
	}
	if _, ok := got["ZOO_CONFIG_DIR"]; !ok || len(got) < 10 {
		t.Errorf("zoo env --json lists %d variables:\n%s", len(got), r.stdout)
	}

	// Text: one line per variable.
	r = mustOK(t, zoo(t, []string{"ZOO_MAX_DOWNLOAD=1MiB"}, "env"))
	if !strings.HasPrefix(r.stdout, "NAME") || !hasRow(r.stdout, "ZOO_MAX_DOWNLOAD", "1MiB", "environment") ||
		!hasRow(r.stdout, "ZOO_STALL_TIMEOUT", "2m0s", "default") {
		t.Errorf("zoo env:\n%s", r.stdout)
	}

	// Bad values: all shown, each named on stderr, exit 1.
	r = zoo(t, []string{"ZOO_MAX_DOWNLOAD=lots", "ZOO_OFFLINE=maybe"}, "env", "--json")
	wantFail(t, r, 1, `ZOO_MAX_DOWNLOAD="lots" is not a size`, `ZOO_OFFLINE="maybe" is not on or off`)
	got = envSettings(t, r)
	if s := got["ZOO_MAX_DOWNLOAD"]; s.Env != "lots" || !strings.Contains(s.Error, "4GiB") {
		t.Errorf("ZOO_MAX_DOWNLOAD=lots: %+v", s)
	}
	// The commands that read ZOO_OFFLINE refuse a value they cannot read,
	// unless --offline decides for them.
	wantFail(t, zoo(t, []string{"ZOO_OFFLINE=maybe"}, "list"), 1, `ZOO_OFFLINE="maybe"`, "0, false, no or off")
	mustOK(t, zoo(t, []string{"ZOO_OFFLINE=maybe"}, "--offline", "list"))
	wantFail(t, zoo(t, nil, "env", "extra"), 2, "no arguments")
}

// hasRow reports whether a line of text is the fields, separated by
// spaces.
func hasRow(text string, fields ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
