package zoo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"medzoo/internal/envconfig"
	"medzoo/zoo/store"
)

// CatalogEnv names the environment variable listing extra catalog files,
// separated like PATH (os.PathListSeparator). Entries may be remote
// catalogs (https://host/file.toml#sha256=HEX); the colon after the scheme
// does not split them.
const CatalogEnv = envconfig.EnvCatalog

// ConfigDirEnv overrides the configuration directory (default
// <os.UserConfigDir()>/medzoo, e.g. ~/.config/medzoo).
const ConfigDirEnv = envconfig.EnvConfigDir

// RemoteListFile is the file in the configuration directory that lists
// remote catalogs:
//
//	[[catalog]]
//	url = "https://example.org/lab-models.toml"
//	sha256 = "<64 hex digits of the file>"
//
// Entries whose url is a plain path are read like catalog files.
const RemoteListFile = "catalogs.toml"

// Where catalog sources come from, in precedence order: a later source
// replaces models of an earlier one with the same id.
const (
	FromEmbedded  = "built in"
	FromRemotes   = "catalogs.toml"
	FromConfigDir = "config dir"
	FromEnv       = "$" + CatalogEnv
	FromFlag      = "--catalog"
)

// CatalogSource is one catalog that goes into the merged catalog.
type CatalogSource struct {
	Name   string `json:"name"`             // "embedded", a path, or a URL: what messages and Model.Source say
	From   string `json:"from"`             // FromEmbedded ... FromFlag
	Path   string `json:"path,omitempty"`   // the local file read ("" for the embedded catalog)
	URL    string `json:"url,omitempty"`    // remote catalogs: where it was fetched from
	SHA256 string `json:"sha256,omitempty"` // remote catalogs: the pinned digest
}

// LoadOptions says which catalogs to merge.
type LoadOptions struct {
	// Extra are --catalog values: paths, or remote catalogs written
	// https://host/file.toml#sha256=HEX.
	Extra []string
	// Store fetches remote catalogs (verified against their digest, cached
	// by it, and usable offline once cached). Nil: a store in
	// store.DefaultCacheDir(), offline when ZOO_OFFLINE says so.
	Store *store.Store
	// NoConfig skips the configuration directory.
	NoConfig bool
}

// ConfigDir returns $ZOO_CONFIG_DIR, or <user config dir>/medzoo.
func ConfigDir() (string, error) { return envconfig.ConfigDir() }

// Load returns the catalog zoo works with: the embedded one, then the
// remote catalogs listed in <config dir>/catalogs.toml, then
// <config dir>/catalogs/*.toml (by name), then $ZOO_CATALOG, then extra (the
// --catalog flags). A later entry replaces an earlier one with the same id
// (ignoring case) where it stood; new ids are appended. Sources lists every
// catalog read, in order.
//
// A listed file that does not exist is an error naming it. Problems in
// several files are reported together as one *ValidationError.
func Load(extra ...string) (*Catalog, error) {
	cat, _, err := LoadWith(context.Background(), LoadOptions{Extra: extra})
	return cat, err
}

// LoadWith is Load with options; it also returns the sources it merged.
func LoadWith(ctx context.Context, opts LoadOptions) (*Catalog, []CatalogSource, error) {
	srcs, err := ResolveSources(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	cat, err := loadSources(srcs)
	return cat, srcs, err
}

// loadSources parses and merges srcs.
func loadSources(srcs []CatalogSource) (*Catalog, error) {
	var cat *Catalog
	var problems []Problem
	for _, s := range srcs {
		if s.From == FromEmbedded {
			emb, err := Embedded()
			if err != nil {
				return nil, err
			}
			cat = emb
			continue
		}
		data, err := ReadSource(s)
		if err != nil {
			return nil, err
		}
		user, err := parseFile(data, s.Name)
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				problems = append(problems, ve.Problems...)
				continue
			}
			return nil, err
		}
		if cat == nil {
			cat = &Catalog{Schema: SchemaVersion}
		}
		cat.merge(user)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{problems}
	}
	if cat == nil {
		cat = &Catalog{Schema: SchemaVersion}
	}
	return cat, nil
}

// ReadSource reads a catalog file, naming it in errors.
func ReadSource(s CatalogSource) ([]byte, error) {
	data, err := ReadCatalogFile(s.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("catalog %s (from %s) does not exist: %w", s.Name, s.From, err)
		}
		return nil, fmt.Errorf("catalog %s (from %s): %w", s.Name, s.From, err)
	}
	return data, nil
}

// ResolveSources lists the catalogs Load would merge, in precedence order,
// fetching remote ones (once: they are cached by digest). Local files are
// not read here, only named.
func ResolveSources(ctx context.Context, opts LoadOptions) ([]CatalogSource, error) {
	srcs := []CatalogSource{{Name: EmbeddedSource, From: FromEmbedded}}
	type pending struct {
		spec, from string
	}
	var list []pending

	if !opts.NoConfig {
		dir, err := ConfigDir()
		if err == nil {
			rl := filepath.Join(dir, RemoteListFile)
			entries, err := readRemoteList(rl)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				list = append(list, pending{e, FromRemotes})
			}
			files, _ := filepath.Glob(filepath.Join(dir, "catalogs", "*.toml"))
			sort.Strings(files)
			for _, f := range files {
				list = append(list, pending{f, FromConfigDir})
			}
		}
	}
	for _, p := range envconfig.Catalogs() {
		list = append(list, pending{p, FromEnv})
	}
	for _, p := range opts.Extra {
		if strings.TrimSpace(p) != "" {
			list = append(list, pending{p, FromFlag})
		}
	}
	for _, p := range list {
		if isRemoteSpec(p.spec) {
			s, err := fetchRemoteCatalog(ctx, opts.Store, p.spec, p.from)
			if err != nil {
				return nil, err
			}
			srcs = append(srcs, s)
			continue
		}
		path := p.spec
		if strings.HasPrefix(strings.ToLower(path), "file://") {
			u, err := url.Parse(path)
			if err != nil {
				return nil, fmt.Errorf("catalog %s (from %s): %v", path, p.from, err)
			}
			path = filepath.FromSlash(u.Path)
		}
		srcs = append(srcs, CatalogSource{Name: p.spec, From: p.from, Path: path})
	}
	return srcs, nil
}

func isRemoteSpec(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

// ParseRemoteSpec splits "https://host/file.toml#sha256=HEX" into the URL
// to fetch and the digest. The digest is required: a remote catalog decides
// which artifacts zoo fetches and runs, so it must be the file its user
// vetted.
func ParseRemoteSpec(spec string) (rawURL, digest string, err error) {
	u, err := url.Parse(spec)
	if err != nil {
		return "", "", fmt.Errorf("remote catalog %q: %v", spec, err)
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("remote catalog %q has no host", spec)
	}
	frag := u.Fragment
	u.Fragment, u.RawFragment = "", ""
	k, v, _ := strings.Cut(frag, "=")
	if !strings.EqualFold(k, "sha256") || v == "" {
		return "", "", fmt.Errorf("remote catalog %s has no checksum: write it as %s#sha256=<hex digest of the file> (sha256sum prints it)",
			u.Redacted(), u.Redacted())
	}
	d, err := store.ParseDigest(v)
	if err != nil {
		return "", "", fmt.Errorf("remote catalog %s: %v", u.Redacted(), err)
	}
	return u.String(), d, nil
}

// remoteList is the format of catalogs.toml.
type remoteList struct {
	Catalog []struct {
		URL    string `toml:"url"`
		SHA256 string `toml:"sha256"`
	} `toml:"catalog"`
}

// readRemoteList returns catalogs.toml's entries as specs (URL#sha256=HEX,
// or paths). A missing file is no list.
func readRemoteList(path string) ([]string, error) {
	data, err := ReadCatalogFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := scanTOMLLimits(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var rl remoteList
	md, err := toml.Decode(string(data), &rl)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%s: unknown key %s (entries are [[catalog]] tables with url and sha256)", path, und[0])
	}
	var out []string
	for i, c := range rl.Catalog {
		u := strings.TrimSpace(c.URL)
		switch {
		case u == "":
			return nil, fmt.Errorf("%s: catalog #%d has no url", path, i+1)
		case isRemoteSpec(u):
			if strings.Contains(u, "#") {
				return nil, fmt.Errorf("%s: catalog #%d: give the digest as sha256 = \"...\", not in the url", path, i+1)
			}
			out = append(out, u+"#sha256="+strings.TrimSpace(c.SHA256))
		default:
			if !filepath.IsAbs(u) {
				u = filepath.Join(filepath.Dir(path), u)
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// fetchRemoteCatalog gets a remote catalog through the artifact store:
// go-getter downloads it into a temporary file, its sha256 must match, and
// it is kept under its digest, so later runs (offline ones too) read the
// cached copy without touching the network.
func fetchRemoteCatalog(ctx context.Context, st *store.Store, spec, from string) (CatalogSource, error) {
	rawURL, digest, err := ParseRemoteSpec(spec)
	if err != nil {
		if from == FromRemotes {
			return CatalogSource{}, fmt.Errorf("%s: %w", RemoteListFile, err)
		}
		return CatalogSource{}, err
	}
	if st == nil {
		dir, err := store.DefaultCacheDir()
		if err != nil {
			return CatalogSource{}, err
		}
		st = store.NewStore(dir)
	}
	path, err := st.Fetch(ctx, store.Artifact{Name: "catalog", Source: from, URL: rawURL, SHA256: digest})
	if err != nil {
		u, _ := url.Parse(rawURL)
		shown := rawURL
		if u != nil {
			shown = u.Redacted()
		}
		if errors.Is(err, store.ErrOffline) {
			return CatalogSource{}, fmt.Errorf("remote catalog %s (from %s) is not cached and offline mode is on; "+
				"run any zoo command once while online to fetch it, or remove it: %w", shown, from, store.ErrOffline)
		}
		return CatalogSource{}, fmt.Errorf("remote catalog %s (from %s): %w", shown, from, err)
	}
	return CatalogSource{Name: rawURL, From: from, Path: path, URL: rawURL, SHA256: digest}, nil
}

// merge adds src's models to c, replacing those with the same id, or
// adding to them for overlay entries.
func (c *Catalog) merge(src *Catalog) {
	at := make(map[string]int, len(c.Models))
	for i, m := range c.Models {
		at[strings.ToLower(m.ID)] = i
	}
	for _, m := range src.Models {
		k := strings.ToLower(m.ID)
		if i, ok := at[k]; ok {
			if m.Overlay {
				c.Models[i] = ApplyOverlay(c.Models[i], m)
			} else {
				c.Models[i] = m
			}
			continue
		}
		at[k] = len(c.Models)
		c.Models = append(c.Models, m)
	}
	c.Sources = append(c.Sources, src.Sources...)
}

// ApplyOverlay returns base with overlay's sections on top: every field the
// overlay sets replaces the base's, and its metrics are added to the base's
// (same name: the overlay's wins). The result is no overlay itself.
func ApplyOverlay(base, overlay Model) Model {
	out := base
	ov, dst := reflect.ValueOf(overlay), reflect.ValueOf(&out).Elem()
	for i := 0; i < ov.NumField(); i++ {
		switch ov.Type().Field(i).Name {
		case "ID", "Overlay", "Metrics", "Source", "Line", "Overlays":
			continue
		}
		if f := ov.Field(i); !isUnset(f) {
			dst.Field(i).Set(f)
		}
	}
	if len(overlay.Metrics) > 0 {
		out.Metrics = make(map[string]Metric, len(base.Metrics)+len(overlay.Metrics))
		for k, v := range base.Metrics {
			out.Metrics[k] = v
		}
		for k, v := range overlay.Metrics {
			out.Metrics[k] = v
		}
	}
	out.Overlay = false
	out.Overlays = append(append([]string(nil), base.Overlays...), overlay.Source)
	if overlay.Artifact != (Artifact{}) {
		// Relative artifact paths resolve against the catalog that names
		// the artifact (Store), so the entry now comes from the overlay.
		out.Source, out.Line = overlay.Source, overlay.Line
	}
	return out
}
