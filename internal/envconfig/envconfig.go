// Package envconfig is the one place zoo's environment variables are
// defined, documented and read. Vars is the table of every variable (name,
// kind, default, meaning, the flag that overrides it); the typed accessors
// below read them, each parsing its value one way and refusing a bad one
// with the same kind of message (NAME="value" is not …: give …); Settings
// says what each is set to and where that comes from, for `zoo env`.
//
// No other package calls os.Getenv or os.LookupEnv (a test checks that), so
// a new variable cannot be read without being documented here, and the
// README's table (another test) and `zoo env` list it at once.
//
// A value that cannot be used is an error wherever the code reading it can
// report one: the command fails naming the variable and the values it
// takes. Where it cannot (the store's library default, the debug switch,
// both read while building something else), a yes/no variable set to a
// value it does not understand counts as on, the side a user who set it
// most likely meant (for ZOO_OFFLINE also the safe side), and `zoo env`
// shows the problem.
package envconfig

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The variables' names. zoo's packages keep their older names for some of
// these (zoo.CatalogEnv, zoo.EnvMaxDownload, …) as aliases of these.
const (
	EnvCache         = "ZOO_CACHE"
	EnvConfigDir     = "ZOO_CONFIG_DIR"
	EnvCatalog       = "ZOO_CATALOG"
	EnvOffline       = "ZOO_OFFLINE"
	EnvMaxDownload   = "ZOO_MAX_DOWNLOAD"
	EnvStallTimeout  = "ZOO_STALL_TIMEOUT"
	EnvSearchCache   = "ZOO_SEARCH_CACHE"
	EnvSearchTiming  = "ZOO_SEARCH_TIMING"
	EnvTorchBin      = "ZOO_TORCH_BIN"
	EnvDebug         = "ZOO_DEBUG"
	EnvRegistryAuth  = "ZOO_REGISTRY_AUTH"
	EnvRegistryPlain = "ZOO_REGISTRY_PLAIN_HTTP"
	EnvDockerConfig  = "DOCKER_CONFIG"
	EnvZenodoURL     = "ZOO_ZENODO_URL"
	EnvZenodoToken   = "ZENODO_TOKEN"
	EnvOMPNumThreads = "OMP_NUM_THREADS"
	EnvOMPWaitPolicy = "OMP_WAIT_POLICY"
	// The shard a cluster engine gives a task (zoo generate/evaluate
	// --shard's default): Slurm job arrays, Kubernetes Indexed Jobs.
	EnvSlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmTaskMax   = "SLURM_ARRAY_TASK_MAX"
	EnvSlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	EnvJobIndex       = "JOB_COMPLETION_INDEX"
	EnvSlurmJobID     = "SLURM_JOB_ID"
	EnvSlurmArrayJob  = "SLURM_ARRAY_JOB_ID"
	EnvShardCount     = "ZOO_SHARD_COUNT"
)

// Not listed in Vars: ZOO_THREADS, which zoo import sets for its own
// capture script (scripts/zoo_capture.py) and never reads, and the
// variables tests use to talk to their helper processes.

// Defaults of the store's limits (the zoo store's DefaultMaxDownloadBytes
// and DefaultStallTimeout are these; the reasons for them are written
// there).
const (
	DefaultMaxDownload  int64 = 4 << 30
	DefaultStallTimeout       = 2 * time.Minute
)

// Kind is how a variable's value is read.
type Kind string

const (
	Path     Kind = "path"     // a file or directory; empty is unset
	List     Kind = "list"     // entries separated like PATH (see SplitCatalogList)
	Bool     Kind = "bool"     // on: 1, true, yes, on; off: 0, false, no, off (any case)
	Size     Kind = "size"     // bytes: 1048576, 500MB, 4GiB (see ParseSize)
	Duration Kind = "duration" // a positive Go duration: 30s, 2m
	Int      Kind = "int"      // a positive whole number
	Text     Kind = "text"     // passed on as it is
	URL      Kind = "url"      // an https:// URL (http:// only to this machine)
	Secret   Kind = "secret"   // a credential: used, never shown (zoo env says whether it is set)
)

// Var describes one environment variable.
type Var struct {
	Name    string `json:"name"`
	Kind    Kind   `json:"kind"`
	Default string `json:"default"`        // what holds when it is unset, in words
	Usage   string `json:"description"`    // one line: what it changes
	Flag    string `json:"flag,omitempty"` // the flag that overrides it (for a list: adds to it)
	// ReadBy is who else reads it: "OpenMP" for the OMP_* variables,
	// which LibTorch's OpenMP runtime reads and zoo only consults.
	ReadBy string `json:"read_by,omitempty"`
	// redact, for a Secret, is what zoo env shows of a set value (a login
	// with its passwords starred, say); nil shows only that it is set.
	redact func(string) string
	// value is the value in effect as text, default applied.
	value func() (string, error)
}

// vars is the table, in the order `zoo env` and the README list them.
var vars = []Var{
	{Name: EnvCache, Kind: Path, Default: "~/.cache/medzoo (the user cache dir)", Flag: "--cache",
		Usage: "artifact cache: verified downloads, unpacked archives, pins, the search index",
		value: CacheDir},
	{Name: EnvConfigDir, Kind: Path, Default: "~/.config/medzoo (the user config dir)",
		Usage: "configuration directory: catalogs.toml (remote catalogs) and catalogs/*.toml",
		value: ConfigDir},
	{Name: EnvCatalog, Kind: List, Default: "none", Flag: "--catalog",
		Usage: "extra catalogs (files, or https://…#sha256=HEX), separated by " + listSeparatorName(),
		value: func() (string, error) { return strings.Join(Catalogs(), string(os.PathListSeparator)), nil }},
	{Name: EnvOffline, Kind: Bool, Default: "off", Flag: "--offline",
		Usage: "never use the network: bundled models and cached artifacts only",
		value: func() (string, error) { return onOff(Offline()) }},
	{Name: EnvMaxDownload, Kind: Size, Default: FormatSize(DefaultMaxDownload), Flag: "zoo pull --max-download",
		Usage: "largest download accepted, e.g. 500MB or 8GiB",
		value: func() (string, error) { n, err := MaxDownload(); return FormatSize(n), err }},
	{Name: EnvStallTimeout, Kind: Duration, Default: "2m",
		Usage: "give up a download that receives nothing for this long, e.g. 30s",
		value: func() (string, error) { d, err := StallTimeout(); return d.String(), err }},
	{Name: EnvSearchCache, Kind: Bool, Default: "on",
		Usage: "off: zoo search builds its index in memory every time instead of caching it",
		value: func() (string, error) { return onOff(SearchCache()) }},
	{Name: EnvSearchTiming, Kind: Bool, Default: "off",
		Usage: "zoo search reports its open, query and print times on stderr (for benchmarks)",
		value: func() (string, error) { return onOff(SearchTiming()) }},
	{Name: EnvTorchBin, Kind: Path, Default: "zoo-torch next to zoo, else on PATH",
		Usage: "the LibTorch build of zoo that bin/zoo hands model-running commands to",
		value: func() (string, error) { return TorchBin(), nil }},
	{Name: EnvDebug, Kind: Bool, Default: "off",
		Usage: "a model's forward error shows the full TorchScript trace, not only its cause",
		value: func() (string, error) { return onOff(Debug()) }},
	{Name: EnvRegistryAuth, Kind: Secret, Default: "the docker config file's credentials", redact: RedactAuth,
		Usage: "OCI registry login for zoo push/pull: USER:PASSWORD (every registry) or HOST=USER:PASSWORD[,HOST=…]",
		value: func() (string, error) { _, err := RegistryAuth(); return RedactAuth(get(EnvRegistryAuth)), err }},
	{Name: EnvRegistryPlain, Kind: Bool, Default: "off", Flag: "--plain-http",
		Usage: "fetch oci:// artifacts over plain HTTP, honoured only for a registry on 127.0.0.1, ::1 or localhost",
		value: func() (string, error) { return onOff(RegistryPlainHTTP()) }},
	{Name: EnvDockerConfig, Kind: Path, Default: "~/.docker", ReadBy: "docker",
		Usage: "the directory of config.json, whose auths (and credential helpers) zoo push/pull use",
		value: DockerConfigDir},
	{Name: EnvZenodoURL, Kind: URL, Default: ZenodoURLDefault + " (zoo publish --sandbox: " + ZenodoSandboxURL + ")",
		Usage: "the Zenodo REST API zoo publish --zenodo talks to: a self-hosted Zenodo or InvenioRDM, or a test server",
		value: ZenodoURL},
	{Name: EnvZenodoToken, Kind: Secret, Default: "none",
		Usage: "Zenodo access token for zoo publish --zenodo (scopes deposit:write and deposit:actions); zoo env never shows it",
		value: func() (string, error) {
			if ZenodoToken() != "" {
				return hidden, nil
			}
			return "", nil
		}},
	{Name: EnvOMPNumThreads, Kind: Int, Default: "one per CPU core", Flag: "--threads", ReadBy: "OpenMP",
		Usage: "LibTorch's intra-op threads when a command is given no --threads",
		value: func() (string, error) {
			if n, ok := OMPNumThreads(); ok {
				return strconv.Itoa(n), nil
			}
			return "", nil
		}},
	{Name: EnvSlurmTaskID, Kind: Int, Default: "unset (not a Slurm array task)", Flag: "--shard", ReadBy: "Slurm",
		Usage: "a Slurm array task's index: with SLURM_ARRAY_TASK_MIN/MAX (or _COUNT) it is zoo generate/evaluate's default shard",
		value: func() (string, error) { return engineShardText(EnvSlurmTaskID) }},
	{Name: EnvSlurmTaskMin, Kind: Int, Default: "unset", ReadBy: "Slurm",
		Usage: "the lowest index of the task's Slurm array (shard = SLURM_ARRAY_TASK_ID - MIN)",
		value: func() (string, error) { return get(EnvSlurmTaskMin), nil }},
	{Name: EnvSlurmTaskMax, Kind: Int, Default: "unset", ReadBy: "Slurm",
		Usage: "the highest index of the task's Slurm array (shards = MAX - MIN + 1)",
		value: func() (string, error) { return get(EnvSlurmTaskMax), nil }},
	{Name: EnvSlurmTaskCount, Kind: Int, Default: "unset", ReadBy: "Slurm",
		Usage: "the number of tasks in the Slurm array, used when MIN/MAX are not set",
		value: func() (string, error) { return get(EnvSlurmTaskCount), nil }},
	{Name: EnvSlurmJobID, Kind: Text, Default: "unset (not a Slurm job)", ReadBy: "Slurm",
		Usage: "the Slurm job a shard runs in: zoo-shards.json records it (as ARRAY_TASK with SLURM_ARRAY_JOB_ID) beside the host",
		value: func() (string, error) { return get(EnvSlurmJobID), nil }},
	{Name: EnvSlurmArrayJob, Kind: Text, Default: "unset", ReadBy: "Slurm",
		Usage: "the Slurm array a task belongs to: with SLURM_ARRAY_TASK_ID, the job zoo-shards.json records (e.g. 4242_3)",
		value: func() (string, error) { return get(EnvSlurmArrayJob), nil }},
	{Name: EnvJobIndex, Kind: Int, Default: "unset (not a Kubernetes Indexed Job pod)", Flag: "--shard", ReadBy: "Kubernetes",
		Usage: "an Indexed Job pod's completion index: with ZOO_SHARD_COUNT it is zoo generate/evaluate's default shard",
		value: func() (string, error) { return engineShardText(EnvJobIndex) }},
	{Name: EnvShardCount, Kind: Int, Default: "unset", Flag: "--shard",
		Usage: "the number of shards of a Kubernetes Indexed Job (its completions; zoo k8s sets it)",
		value: func() (string, error) { return get(EnvShardCount), nil }},
	{Name: EnvOMPWaitPolicy, Kind: Text, Default: "OpenMP's; PASSIVE for zoo serve's runners", ReadBy: "OpenMP",
		Usage: "whether idle OpenMP threads spin (ACTIVE) or sleep (PASSIVE)",
		value: func() (string, error) { return OMPWaitPolicy(), nil }},
}

// Vars returns the table of every variable zoo reads.
func Vars() []Var { return append([]Var(nil), vars...) }

// Lookup returns the variable called name.
func Lookup(name string) (Var, bool) {
	for _, v := range vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

// Error is a variable whose value zoo cannot use. Its message names the
// variable, the value, what is wrong and what to give instead.
type Error struct {
	Name, Value string
	Problem     string // "is not a size: give …"
}

func (e *Error) Error() string { return fmt.Sprintf("%s=%q %s", e.Name, e.Value, e.Problem) }

// get is the one read of the environment. An empty value counts as unset,
// as it always has in zoo: `ZOO_CATALOG= zoo list` clears it.
func get(name string) string { return os.Getenv(name) }

// CacheDir returns $ZOO_CACHE, else <user cache dir>/medzoo
// (~/.cache/medzoo on Linux).
func CacheDir() (string, error) {
	if d := get(EnvCache); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cannot find a cache directory (%v); set %s to one", err, EnvCache)
	}
	return filepath.Join(base, "medzoo"), nil
}

// ConfigDir returns $ZOO_CONFIG_DIR, else <user config dir>/medzoo
// (~/.config/medzoo on Linux).
func ConfigDir() (string, error) {
	if d := get(EnvConfigDir); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "medzoo"), nil
}

// Catalogs returns the entries of $ZOO_CATALOG (SplitCatalogList).
func Catalogs() []string { return SplitCatalogList(get(EnvCatalog)) }

// Offline reports whether $ZOO_OFFLINE asks for offline mode. A value it
// does not understand is an error, and counts as on.
func Offline() (bool, error) { return boolVar(EnvOffline, false) }

// MaxDownload returns $ZOO_MAX_DOWNLOAD in bytes, else DefaultMaxDownload.
func MaxDownload() (int64, error) {
	v := strings.TrimSpace(get(EnvMaxDownload))
	if v == "" {
		return DefaultMaxDownload, nil
	}
	n, problem := sizeOf(v)
	if problem != "" {
		return 0, &Error{EnvMaxDownload, v, problem}
	}
	return n, nil
}

// StallTimeout returns $ZOO_STALL_TIMEOUT, else DefaultStallTimeout.
func StallTimeout() (time.Duration, error) {
	v := strings.TrimSpace(get(EnvStallTimeout))
	if v == "" {
		return DefaultStallTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, &Error{EnvStallTimeout, v, "is not a positive duration: give one such as 30s or 2m"}
	}
	return d, nil
}

// SearchCache reports whether zoo search may cache its index (on unless
// $ZOO_SEARCH_CACHE says off).
func SearchCache() (bool, error) { return boolVar(EnvSearchCache, true) }

// SearchTiming reports whether zoo search should report its timings.
func SearchTiming() (bool, error) { return boolVar(EnvSearchTiming, false) }

// Debug reports whether errors should keep their full detail.
func Debug() (bool, error) { return boolVar(EnvDebug, false) }

// TorchBin returns $ZOO_TORCH_BIN ("" when unset: zoo looks for zoo-torch
// itself).
func TorchBin() string { return get(EnvTorchBin) }

// RegistryPlainHTTP reports whether $ZOO_REGISTRY_PLAIN_HTTP asks for plain
// HTTP to OCI registries (the oci package honours it only for loopback
// hosts).
func RegistryPlainHTTP() (bool, error) { return boolVar(EnvRegistryPlain, false) }

// DockerConfigDir returns $DOCKER_CONFIG, else ~/.docker: where docker
// (and so zoo) keeps config.json with registry logins.
func DockerConfigDir() (string, error) {
	if d := get(EnvDockerConfig); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the docker config directory (%v); set %s to it", err, EnvDockerConfig)
	}
	return filepath.Join(home, ".docker"), nil
}

// Login is one entry of $ZOO_REGISTRY_AUTH. Host is "" for the entry
// that holds for every registry.
type Login struct {
	Host, User, Password string
}

// RegistryAuth parses $ZOO_REGISTRY_AUTH: USER:PASSWORD for every
// registry, or HOST=USER:PASSWORD entries separated by commas (HOST with
// its :PORT when the registry has one). Errors never show the password.
func RegistryAuth() ([]Login, error) {
	v := strings.TrimSpace(get(EnvRegistryAuth))
	if v == "" {
		return nil, nil
	}
	bad := func(why string) error {
		return &Error{EnvRegistryAuth, RedactAuth(v), why + ": give USER:PASSWORD, or HOST=USER:PASSWORD[,HOST=USER:PASSWORD…]"}
	}
	var out []Login
	parts := []string{v}
	if strings.Contains(v, "=") {
		parts = strings.Split(v, ",")
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		var l Login
		if host, rest, ok := strings.Cut(p, "="); ok {
			l.Host, p = strings.ToLower(strings.TrimSpace(host)), rest
			if l.Host == "" {
				return nil, bad("an entry has no HOST before '='")
			}
		} else if len(parts) > 1 {
			return nil, bad("an entry has no HOST=")
		}
		user, pass, ok := strings.Cut(p, ":")
		if !ok || user == "" || pass == "" {
			return nil, bad("an entry is not USER:PASSWORD")
		}
		l.User, l.Password = user, pass
		out = append(out, l)
	}
	return out, nil
}

// RedactAuth is a $ZOO_REGISTRY_AUTH value with every password replaced
// by "***", for messages and zoo env.
func RedactAuth(v string) string {
	if v == "" {
		return ""
	}
	var parts []string
	for _, p := range strings.Split(v, ",") {
		prefix, userPass := "", p
		if host, rest, ok := strings.Cut(p, "="); ok {
			prefix, userPass = host+"=", rest
		}
		user, _, _ := strings.Cut(userPass, ":")
		parts = append(parts, prefix+user+":***")
	}
	return strings.Join(parts, ",")
}

// The Zenodo APIs zoo publish --zenodo knows by name.
const (
	ZenodoURLDefault = "https://zenodo.org/api"
	ZenodoSandboxURL = "https://sandbox.zenodo.org/api"
)

// ZenodoURL returns $ZOO_ZENODO_URL without its trailing slash ("" when
// unset: zoo publish then picks zenodo.org or its sandbox). It must be
// https, or http to this machine only: the access token travels with every
// request, and plain http elsewhere would hand it to the network.
func ZenodoURL() (string, error) {
	v := strings.TrimRight(strings.TrimSpace(get(EnvZenodoURL)), "/")
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", &Error{EnvZenodoURL, v, "is not the URL of a Zenodo API: give one such as " + ZenodoURLDefault}
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return "", &Error{EnvZenodoURL, v, "is plain http to another machine, which would send the access token in the clear: give an https:// URL"}
	default:
		return "", &Error{EnvZenodoURL, v, "is not an http(s) URL: give one such as " + ZenodoURLDefault}
	}
	return v, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ZenodoToken returns $ZENODO_TOKEN ("" when unset). Callers must never
// print it; Settings shows only that it is set.
func ZenodoToken() string { return strings.TrimSpace(get(EnvZenodoToken)) }

// hidden is what zoo env shows for a secret that is set.
const hidden = "(set, hidden)"

// OMPNumThreads returns $OMP_NUM_THREADS when it is a positive whole
// number. Anything else is left to OpenMP (which also takes lists such as
// "4,2") and is no error of zoo's.
func OMPNumThreads() (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(get(EnvOMPNumThreads)))
	return n, err == nil && n > 0
}

// ClusterJob names the cluster job this process runs in, for records of
// who made what: "slurm:ARRAY_TASK" in a Slurm array task (what squeue
// and sacct show), "slurm:JOBID" in another Slurm job, "" elsewhere. A
// Kubernetes pod needs none: its host name is the pod's name.
func ClusterJob() string {
	array, task, job := strings.TrimSpace(get(EnvSlurmArrayJob)), strings.TrimSpace(get(EnvSlurmTaskID)), strings.TrimSpace(get(EnvSlurmJobID))
	switch {
	case array != "" && task != "":
		return "slurm:" + array + "_" + task
	case job != "":
		return "slurm:" + job
	}
	return ""
}

// EngineShard returns the shard (0-based k of m) that a cluster engine's
// variables give this process, and which variables gave it: a Slurm array
// task (SLURM_ARRAY_TASK_ID - MIN of MAX - MIN + 1, or of
// SLURM_ARRAY_TASK_COUNT), else a Kubernetes Indexed Job pod
// (JOB_COMPLETION_INDEX of ZOO_SHARD_COUNT). ok is false when neither is
// set; a set but unusable value is an error naming it.
func EngineShard() (k, m int, source string, ok bool, err error) {
	whole := func(name string) (int, bool, error) {
		v := strings.TrimSpace(get(name))
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, false, &Error{name, v, "is not a whole number: it is set by the cluster engine; unset it, or give --shard K/M"}
		}
		return n, true, nil
	}
	id, set, err := whole(EnvSlurmTaskID)
	if err != nil {
		return 0, 0, "", false, err
	}
	if set {
		lo, hasMin, err1 := whole(EnvSlurmTaskMin)
		hi, hasMax, err2 := whole(EnvSlurmTaskMax)
		count, hasCount, err3 := whole(EnvSlurmTaskCount)
		for _, e := range []error{err1, err2, err3} {
			if e != nil {
				return 0, 0, "", false, e
			}
		}
		switch {
		case hasMin && hasMax && lo <= id && id <= hi:
			return id - lo, hi - lo + 1, EnvSlurmTaskID + " with " + EnvSlurmTaskMin + "/" + EnvSlurmTaskMax, true, nil
		case hasCount && !hasMin && id < count:
			return id, count, EnvSlurmTaskID + " with " + EnvSlurmTaskCount, true, nil
		}
		return 0, 0, "", false, &Error{EnvSlurmTaskID, get(EnvSlurmTaskID),
			"does not lie in its array (SLURM_ARRAY_TASK_MIN/MAX or _COUNT missing or inconsistent); give --shard K/M"}
	}
	index, set, err := whole(EnvJobIndex)
	if err != nil || !set {
		return 0, 0, "", false, err
	}
	count, hasCount, err := whole(EnvShardCount)
	if err != nil {
		return 0, 0, "", false, err
	}
	if !hasCount || index >= count {
		return 0, 0, "", false, &Error{EnvJobIndex, get(EnvJobIndex),
			"needs ZOO_SHARD_COUNT, the Job's completions, above it (zoo k8s sets both); set it, or give --shard K/M"}
	}
	return index, count, EnvJobIndex + " with " + EnvShardCount, true, nil
}

// engineShardText is what zoo env shows for a shard variable: its value
// and, when it is the one in effect, the shard it gives.
func engineShardText(name string) (string, error) {
	v := get(name)
	if v == "" {
		return "", nil
	}
	k, m, source, ok, err := EngineShard()
	if ok && strings.HasPrefix(source, name) {
		return fmt.Sprintf("%s (shard %d/%d)", v, k, m), nil
	}
	return v, err
}

// OMPWaitPolicy returns $OMP_WAIT_POLICY as it is.
func OMPWaitPolicy() string { return get(EnvOMPWaitPolicy) }

// boolVar reads a yes/no variable: def when unset, else on or off, else an
// error (the value then counts as on).
func boolVar(name string, def bool) (bool, error) {
	v := strings.TrimSpace(get(name))
	switch strings.ToLower(v) {
	case "":
		return def, nil
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return true, &Error{name, v, "is not on or off: give 1, true, yes or on, or 0, false, no or off"}
}

func onOff(on bool, err error) (string, error) {
	if on {
		return "on", err
	}
	return "off", err
}

func listSeparatorName() string {
	if os.PathListSeparator == ':' {
		return "':' (like PATH)"
	}
	return fmt.Sprintf("%q (like PATH)", os.PathListSeparator)
}
