package envconfig

import (
	"errors"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// unsetAll clears every variable of the table for the test.
func unsetAll(t *testing.T) {
	t.Helper()
	for _, v := range vars {
		t.Setenv(v.Name, "")
	}
}

func TestDefaults(t *testing.T) {
	unsetAll(t)
	if n, err := MaxDownload(); n != DefaultMaxDownload || err != nil {
		t.Errorf("MaxDownload() = %d, %v; want the default", n, err)
	}
	if d, err := StallTimeout(); d != DefaultStallTimeout || err != nil {
		t.Errorf("StallTimeout() = %v, %v; want the default", d, err)
	}
	for name, got := range map[string]func() (bool, error){
		EnvOffline: Offline, EnvSearchTiming: SearchTiming, EnvDebug: Debug,
	} {
		if on, err := got(); on || err != nil {
			t.Errorf("%s unset: %v, %v; want off", name, on, err)
		}
	}
	if on, err := SearchCache(); !on || err != nil {
		t.Errorf("ZOO_SEARCH_CACHE unset: %v, %v; want on", on, err)
	}
	if c := Catalogs(); c != nil {
		t.Errorf("Catalogs() = %q, want none", c)
	}
	if p := TorchBin(); p != "" {
		t.Errorf("TorchBin() = %q", p)
	}
	if n, ok := OMPNumThreads(); ok {
		t.Errorf("OMPNumThreads() = %d, true with OMP_NUM_THREADS unset", n)
	}
	if runtime.GOOS != "linux" {
		return // os.UserCacheDir and UserConfigDir follow XDG only on Linux
	}
	t.Setenv("XDG_CACHE_HOME", "/xdg-cache")
	t.Setenv("XDG_CONFIG_HOME", "/xdg-config")
	if d, err := CacheDir(); d != filepath.Join("/xdg-cache", "medzoo") || err != nil {
		t.Errorf("CacheDir() = %q, %v", d, err)
	}
	if d, err := ConfigDir(); d != filepath.Join("/xdg-config", "medzoo") || err != nil {
		t.Errorf("ConfigDir() = %q, %v", d, err)
	}
	// Neither XDG nor HOME: no user cache dir, and the error says what to set.
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if d, err := CacheDir(); err == nil || !strings.Contains(err.Error(), "set ZOO_CACHE") {
		t.Errorf("CacheDir() without HOME = %q, %v; want an error naming ZOO_CACHE", d, err)
	}
	t.Setenv(EnvCache, "/my/cache")
	t.Setenv(EnvConfigDir, "/my/config")
	if d, err := CacheDir(); d != "/my/cache" || err != nil {
		t.Errorf("CacheDir() = %q, %v", d, err)
	}
	if d, err := ConfigDir(); d != "/my/config" || err != nil {
		t.Errorf("ConfigDir() = %q, %v", d, err)
	}
}

func TestBool(t *testing.T) {
	unsetAll(t)
	for _, v := range []string{"1", "true", "YES", " on ", "True"} {
		t.Setenv(EnvOffline, v)
		if on, err := Offline(); !on || err != nil {
			t.Errorf("ZOO_OFFLINE=%q: %v, %v; want on", v, on, err)
		}
	}
	for _, v := range []string{"0", "false", "no", "OFF", ""} {
		t.Setenv(EnvSearchCache, v)
		on, err := SearchCache()
		if want := v == ""; on != want || err != nil {
			t.Errorf("ZOO_SEARCH_CACHE=%q: %v, %v; want %v", v, on, err, want)
		}
	}
	// A value it does not understand is an error, and counts as on.
	t.Setenv(EnvDebug, "maybe")
	on, err := Debug()
	var e *Error
	if !on || !errors.As(err, &e) || e.Name != EnvDebug || e.Value != "maybe" {
		t.Fatalf("ZOO_DEBUG=maybe: %v, %#v", on, err)
	}
	if want := `ZOO_DEBUG="maybe" is not on or off: give 1, true, yes or on, or 0, false, no or off`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestSizeAndDuration(t *testing.T) {
	unsetAll(t)
	for in, want := range map[string]int64{"1MiB": 1 << 20, " 500MB ": 500e6, "1048576": 1 << 20} {
		t.Setenv(EnvMaxDownload, in)
		if n, err := MaxDownload(); n != want || err != nil {
			t.Errorf("ZOO_MAX_DOWNLOAD=%q: %d, %v; want %d", in, n, err, want)
		}
	}
	for in, want := range map[string]string{
		"lots":        `ZOO_MAX_DOWNLOAD="lots" is not a size: give a number of bytes, or one with a unit such as 500MB or 4GiB`,
		"-1":          `ZOO_MAX_DOWNLOAD="-1" is not a size: give a number of bytes, or one with a unit such as 500MB or 4GiB`,
		"0":           `ZOO_MAX_DOWNLOAD="0" must be more than zero`,
		"99999999TiB": `ZOO_MAX_DOWNLOAD="99999999TiB" is too large (at most 8 EiB)`,
	} {
		t.Setenv(EnvMaxDownload, in)
		if n, err := MaxDownload(); err == nil || err.Error() != want {
			t.Errorf("ZOO_MAX_DOWNLOAD=%q: %d, %v; want %q", in, n, err, want)
		}
	}
	t.Setenv(EnvStallTimeout, "30s")
	if d, err := StallTimeout(); d != 30*time.Second || err != nil {
		t.Errorf("ZOO_STALL_TIMEOUT=30s: %v, %v", d, err)
	}
	for _, in := range []string{"soon", "-3s", "0s", "30"} {
		t.Setenv(EnvStallTimeout, in)
		want := `ZOO_STALL_TIMEOUT="` + in + `" is not a positive duration: give one such as 30s or 2m`
		if d, err := StallTimeout(); err == nil || err.Error() != want {
			t.Errorf("ZOO_STALL_TIMEOUT=%q: %v, %v; want %q", in, d, err, want)
		}
	}
	// OMP_NUM_THREADS is OpenMP's: what zoo cannot read is no error, and
	// left to OpenMP.
	for in, want := range map[string]int{"4": 4, " 2 ": 2, "4,2": 0, "0": 0, "many": 0} {
		t.Setenv(EnvOMPNumThreads, in)
		if n, ok := OMPNumThreads(); ok != (want > 0) || (ok && n != want) {
			t.Errorf("OMP_NUM_THREADS=%q: %d, %v; want %d", in, n, ok, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "3892": 3892, "500MB": 500e6, "4GiB": 4 << 30, "4gib": 4 << 30, "2G": 2 << 30,
		" 10 KiB ": 10 << 10, "1TB": 1e12, "7b": 7,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	// The flag's messages (zoo pull --max-download) are as they were.
	for in, want := range map[string]string{
		"":                    `"" is not a size: give a number of bytes, or one with a unit such as 500MB or 4GiB`,
		"GiB":                 `"GiB" is not a size`,
		"1.5GB":               `"1.5GB" is not a size`,
		"4 parsecs":           `"4 parsecs" is not a size`,
		"-5":                  `"-5" is not a size`,
		"0":                   `size "0" must be more than zero`,
		"99999999999TiB":      `size "99999999999TiB" is too large (at most 8 EiB)`,
		"9223372036854775808": `"9223372036854775808" is not a size`,
	} {
		if got, err := ParseSize(in); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseSize(%q) = %d, %v; want an error starting %q", in, got, err, want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		DefaultMaxDownload: "4GiB", 1 << 20: "1MiB", 500e6: "500MB", 1e12: "1TB", 1 << 40: "1TiB",
		1234: "1234", 1536: "1536", // 1.5 KiB: no unit holds it whole
	} {
		got := FormatSize(n)
		if got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := ParseSize(got); back != n || err != nil {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestSplitCatalogList(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                    nil,
		"a.toml::b.toml":                      {"a.toml", "b.toml"},
		"https://h/x.toml#sha256=ab:b.toml":   {"https://h/x.toml#sha256=ab", "b.toml"},
		"http://h:8080/x.toml:file:///c.toml": {"http://h:8080/x.toml", "file:///c.toml"},
	} {
		if got := SplitCatalogList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	unsetAll(t)
	t.Setenv(EnvCatalog, "a.toml:https://h/x.toml#sha256=ab")
	if got := Catalogs(); !reflect.DeepEqual(got, []string{"a.toml", "https://h/x.toml#sha256=ab"}) {
		t.Errorf("Catalogs() = %q", got)
	}
}

func TestSettings(t *testing.T) {
	unsetAll(t)
	t.Setenv(EnvCache, "/env/cache")
	t.Setenv(EnvCatalog, "a.toml")
	t.Setenv(EnvStallTimeout, "soon")
	t.Setenv(EnvOffline, "maybe")
	t.Setenv(EnvMaxDownload, "500MB")
	t.Setenv(EnvConfigDir, "/env/config")
	got := map[string]Setting{}
	for _, s := range Settings(
		Override{Name: EnvCache, Flag: "--cache", Values: []string{"/flag/cache"}},
		Override{Name: EnvCatalog, Flag: "--catalog", Values: []string{"b.toml", "c.toml"}},
		Override{Name: EnvOffline, Flag: "--offline", Values: []string{"on"}},
		Override{Name: EnvDebug, Flag: "--never-given"}, // no values: not given
	) {
		got[s.Name] = s
	}
	if len(got) != len(vars) {
		t.Fatalf("%d settings for %d variables", len(got), len(vars))
	}
	for name, want := range map[string]Setting{
		EnvCache:        {Env: "/env/cache", Value: "/flag/cache", Source: "--cache"},
		EnvConfigDir:    {Env: "/env/config", Value: "/env/config", Source: FromEnv},
		EnvCatalog:      {Env: "a.toml", Value: "a.toml:b.toml:c.toml", Source: "environment and --catalog"},
		EnvOffline:      {Env: "maybe", Value: "on", Source: "--offline"}, // the flag decides: no error
		EnvMaxDownload:  {Env: "500MB", Value: "500MB", Source: FromEnv},
		EnvStallTimeout: {Env: "soon", Value: "soon", Source: FromEnv, Error: `ZOO_STALL_TIMEOUT="soon" is not a positive duration: give one such as 30s or 2m`},
		EnvSearchCache:  {Value: "on", Source: FromDefault},
		EnvDebug:        {Value: "off", Source: FromDefault},
		EnvTorchBin:     {Value: "", Source: FromDefault},
	} {
		s := got[name]
		if s.Env != want.Env || s.Value != want.Value || s.Source != want.Source || s.Error != want.Error {
			t.Errorf("%s: env %q value %q source %q error %q; want %q %q %q %q",
				name, s.Env, s.Value, s.Source, s.Error, want.Env, want.Value, want.Source, want.Error)
		}
	}
	// Without the flag, ZOO_OFFLINE's bad value is reported.
	for _, s := range Settings() {
		if s.Name == EnvOffline && (s.Source != FromEnv || !strings.Contains(s.Error, `ZOO_OFFLINE="maybe" is not on or off`)) {
			t.Errorf("ZOO_OFFLINE=maybe without --offline: %+v", s)
		}
	}
	// A list given only by its flag.
	t.Setenv(EnvCatalog, "")
	for _, s := range Settings(Override{Name: EnvCatalog, Flag: "--catalog", Values: []string{"b.toml"}}) {
		if s.Name == EnvCatalog && (s.Value != "b.toml" || s.Source != "--catalog") {
			t.Errorf("--catalog alone: %+v", s)
		}
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Vars() {
		if v.Name == "" || v.Kind == "" || v.Default == "" || v.Usage == "" || v.value == nil {
			t.Errorf("%+v: every variable needs a name, kind, default, usage and value", v)
		}
		if seen[v.Name] {
			t.Errorf("%s listed twice", v.Name)
		}
		seen[v.Name] = true
		if got, ok := Lookup(v.Name); !ok || got.Name != v.Name {
			t.Errorf("Lookup(%s) = %+v, %v", v.Name, got, ok)
		}
		if strings.Contains(v.Usage, "|") || strings.Contains(v.Default, "|") || strings.Contains(v.Default, "<") {
			t.Errorf("%s: | and < break the README's Markdown table", v.Name)
		}
	}
	if _, ok := Lookup("ZOO_NO_SUCH"); ok {
		t.Error("Lookup found a variable that does not exist")
	}
	// The defaults the table shows are the ones the accessors apply.
	if v, _ := Lookup(EnvMaxDownload); v.Default != FormatSize(DefaultMaxDownload) {
		t.Errorf("ZOO_MAX_DOWNLOAD default shown as %q", v.Default)
	}
	if v, _ := Lookup(EnvStallTimeout); mustDuration(t, v.Default) != DefaultStallTimeout {
		t.Errorf("ZOO_STALL_TIMEOUT default shown as %q, is %v", v.Default, DefaultStallTimeout)
	}
}

func TestRegistryAuth(t *testing.T) {
	unsetAll(t)
	if l, err := RegistryAuth(); l != nil || err != nil {
		t.Errorf("unset: %v, %v", l, err)
	}
	t.Setenv(EnvRegistryAuth, "bob:pw:with:colons")
	if l, err := RegistryAuth(); err != nil || len(l) != 1 || l[0] != (Login{"", "bob", "pw:with:colons"}) {
		t.Errorf("USER:PASSWORD: %v, %v", l, err)
	}
	t.Setenv(EnvRegistryAuth, "Reg.Example:5000=a:x, ghcr.io=b:y")
	want := []Login{{"reg.example:5000", "a", "x"}, {"ghcr.io", "b", "y"}}
	if l, err := RegistryAuth(); err != nil || !reflect.DeepEqual(l, want) {
		t.Errorf("HOST=USER:PASSWORD list: %v, %v", l, err)
	}
	for _, bad := range []string{"nopassword", "=a:b", "h=a:b,c:d", "h=:b"} {
		t.Setenv(EnvRegistryAuth, bad+"SECRET")
		_, err := RegistryAuth()
		if err == nil || strings.Contains(err.Error(), "SECRET") && strings.Contains(bad, ":") || !strings.Contains(err.Error(), "USER:PASSWORD") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	t.Setenv(EnvRegistryAuth, "h=alice:topsecret")
	for _, s := range Settings() {
		if s.Name == EnvRegistryAuth && (strings.Contains(s.Env, "topsecret") || strings.Contains(s.Value, "topsecret")) {
			t.Errorf("zoo env shows the password: %+v", s)
		}
	}
}

// ZOO_ZENODO_URL: https anywhere, http only to this machine; ZENODO_TOKEN
// is used but never shown by Settings (zoo env).
func TestZenodo(t *testing.T) {
	unsetAll(t)
	if u, err := ZenodoURL(); u != "" || err != nil {
		t.Errorf("ZenodoURL() unset = %q, %v", u, err)
	}
	for v, want := range map[string]string{
		"https://zenodo.example.org/api/": "https://zenodo.example.org/api",
		"http://127.0.0.1:8080/api":       "http://127.0.0.1:8080/api",
		"http://localhost/api":            "http://localhost/api",
		"http://[::1]:9/api":              "http://[::1]:9/api",
		"http://zenodo.example.org/api":   "in the clear",
		"ftp://zenodo.example.org/api":    "not an http(s) URL",
		"zenodo.org":                      "not the URL of a Zenodo API",
		"https://user:pw@zenodo.org/api":  "not the URL of a Zenodo API",
	} {
		t.Setenv(EnvZenodoURL, v)
		got, err := ZenodoURL()
		if strings.HasPrefix(want, "http") {
			if got != want || err != nil {
				t.Errorf("ZOO_ZENODO_URL=%s: %q, %v; want %q", v, got, err, want)
			}
		} else if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ZOO_ZENODO_URL=%s: %q, %v; want an error saying %q", v, got, err, want)
		}
	}
	const token = "s3cr3t-t0ken-value"
	t.Setenv(EnvZenodoToken, " "+token+"\n")
	if got := ZenodoToken(); got != token {
		t.Errorf("ZenodoToken() = %q", got)
	}
	for _, s := range Settings() {
		if strings.Contains(s.Env+s.Value+s.Error, token) {
			t.Errorf("Settings shows the token: %+v", s)
		}
		if s.Name == EnvZenodoToken && (s.Value != hidden || s.Source != FromEnv) {
			t.Errorf("ZENODO_TOKEN set: %+v", s)
		}
	}
}
