package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/internal/bytesize"
	"medzoo/zoo"
	"medzoo/zoo/store"
)

// extractorIDPrefix starts the model id under which zoo evaluate fetches a
// built-in feature extractor. The first download of an unpinned extractor
// records that id in its pin, and that is how zoo cache, which runs in the
// build without LibTorch (and so without the extractor list), knows the
// extractor's blob is in use.
const extractorIDPrefix = "extractor-"

// minDigestPrefix is the fewest hex digits zoo cache rm takes for a digest:
// a shorter prefix is too easy to type by mistake.
const minDigestPrefix = 6

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "show what the artifact cache holds, remove entries, prune what no catalog uses",
		UsageText: "zoo cache list [--json]\n" +
			"   zoo cache rm ID|DIGEST... [--unpin] [--wait 30s] [--json]\n" +
			"   zoo cache prune [--dry-run] [--wait 30s] [--json]",
		Description: "The cache (--cache DIR, $ZOO_CACHE, else ~/.cache/medzoo) keeps each artifact once, under its\n" +
			"sha256: blobs/sha256-HEX, and unpacked/sha256-HEX/ for archives. list shows every entry with its\n" +
			"size, when it was fetched and last read (to the day, as the filesystem records reads), and the\n" +
			"models that use it: by their catalog sha256, or for unpinned artifacts by the digest pinned on\n" +
			"first download. Entries no loaded catalog uses are marked, and so is what killed processes left\n" +
			"in tmp/.\n\n" +
			"rm removes the entry of a model (its id, as zoo info takes it) or of a digest (at least 6 hex\n" +
			"digits; sha256:PREFIX forces a digest); the next pull or generate fetches it again. prune removes\n" +
			"every entry no model of the loaded catalogs uses (pass the --catalog flags you use), and tmp/\n" +
			"leftovers; --dry-run shows what it would remove.\n\n" +
			"Both are safe while other zoo processes use the cache: an entry is removed under the lock that\n" +
			"fetching and unpacking take, so a pull of the same artifact finishes first or starts after (rm\n" +
			"waits --wait for it). A running generate or serve that has opened a file keeps reading it; the\n" +
			"space is freed when it closes it. Links and odd files in the cache are reported, never followed\n" +
			"or removed. Pins stay, so an unpinned artifact downloaded again is still checked against the\n" +
			"digest first seen; rm --unpin drops them too.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "prune: show what would be removed, remove nothing"},
			&cli.BoolFlag{Name: "unpin", Usage: "rm: also forget the digests pinned for the entry's URLs"},
			&cli.DurationFlag{Name: "wait", Value: 30 * time.Second, Usage: "rm, prune: how long to wait (`DURATION`) for a zoo process that is fetching or unpacking the same artifact"},
		},
		Action: func(c *cli.Context) error {
			sub := c.Args().First()
			if c.IsSet("dry-run") && sub != "prune" {
				return usagef("--dry-run is for zoo cache prune")
			}
			if c.IsSet("unpin") && sub != "rm" && sub != "remove" {
				return usagef("--unpin is for zoo cache rm")
			}
			if c.Duration("wait") < 0 {
				return usagef("--wait %v: give a duration of zero or more, such as 30s or 5m", c.Duration("wait"))
			}
			return runVerb(c, cacheVerbs())
		},
	}
}

func cacheVerbs() []verb {
	return []verb{
		{names: []string{"list", "ls"}, usage: "list", noArgs: "cache list takes no arguments",
			run: func(c *cli.Context, _ []string) error { return cacheList(c) }},
		{names: []string{"rm", "remove"}, usage: "rm ID|DIGEST...", run: cacheRemove},
		{names: []string{"prune"}, usage: "prune", noArgs: "cache prune takes no arguments; to remove given entries, use zoo cache rm ID|DIGEST...",
			run: func(c *cli.Context, _ []string) error { return cachePrune(c) }},
	}
}

// cacheUsers is everything that may use a cache entry: the models of the
// loaded catalogs, the packages imported models were converted from (a
// new import needs them again), the remote catalogs themselves, and the
// feature extractors zoo evaluate has pinned.
func cacheUsers(e *env) ([]store.Artifact, error) {
	var users []store.Artifact
	for i := range e.catalog.Models {
		m := &e.catalog.Models[i]
		users = append(users, m.StoreArtifact())
		if im := m.Imported; im != nil && im.Package != "" {
			users = append(users, store.Artifact{Name: m.ID + " (package)", Source: m.Source, URL: im.Package, SHA256: im.PackageSHA256})
		}
	}
	for _, s := range e.sources {
		if s.URL != "" && s.SHA256 != "" {
			users = append(users, store.Artifact{Name: "catalog " + redactURL(s.URL), URL: s.URL, SHA256: s.SHA256})
		}
	}
	pins, err := e.store.Pins()
	if err != nil {
		return nil, err
	}
	for _, p := range pins {
		if strings.HasPrefix(p.Model, extractorIDPrefix) {
			users = append(users, store.Artifact{Name: p.Model, URL: p.URL})
		}
	}
	return users, nil
}

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// loadCacheUsers loads the catalogs and gathers what uses the cache.
func loadCacheUsers(c *cli.Context) (*env, []store.Artifact, error) {
	e, err := loadEnv(c)
	if err != nil {
		return nil, nil, err
	}
	users, err := cacheUsers(e)
	return e, users, err
}

// loadCache loads the catalogs and lists the cache with its users.
func loadCache(c *cli.Context) (*env, *store.CacheListing, error) {
	e, users, err := loadCacheUsers(c)
	if err != nil {
		return nil, nil, err
	}
	list, err := e.store.Entries(users)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range list.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "zoo: warning: %s\n", w)
	}
	return e, list, nil
}

func cacheList(c *cli.Context) error {
	_, list, err := loadCache(c)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, list)
	}
	w := c.App.Writer
	var unused, unusedBytes, leftovers, leftoverBytes int64
	var problems []string
	if len(list.Entries) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SHA256\tSIZE\tFETCHED\tLAST READ\tUSED BY")
		for _, e := range list.Entries {
			by := strings.Join(e.Users, ", ")
			switch {
			case e.Problem != "":
				by = "! left alone (see below)"
				problems = append(problems, e.Problem)
			case len(e.Users) == 0:
				by = "- (unused: zoo cache prune removes it)"
				unused++
				unusedBytes += e.Bytes
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shortName(e), bytesize.Human(e.Bytes),
				when(e.Modified, "2006-01-02 15:04"), when(e.Used, "2006-01-02"), by)
		}
		tw.Flush()
	}
	if len(list.Tmp) > 0 {
		fmt.Fprintf(w, "\ntmp/ (downloads and unpacks in progress, or left by killed processes):\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range list.Tmp {
			state := map[string]string{
				store.TmpInUse:    "in use by a running zoo process",
				store.TmpLeftover: "left by a killed process: zoo cache prune removes it",
				store.TmpForeign:  "not zoo's: left alone",
			}[t.State]
			if t.State == store.TmpLeftover {
				leftovers++
				leftoverBytes += t.Bytes
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, bytesize.Human(t.Bytes), t.Modified.Local().Format("2006-01-02 15:04"), state)
		}
		tw.Flush()
	}
	for _, p := range problems {
		fmt.Fprintf(w, "\nleft alone: %s\n", p)
	}
	if len(list.Entries) > 0 || len(list.Tmp) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%s, %s in %s", count(len(list.Entries), "entry", "entries"), bytesize.Human(list.Bytes), list.Dir)
	if unused > 0 || leftovers > 0 {
		fmt.Fprintf(w, "; zoo cache prune frees %s (%d unused, %s)", bytesize.Human(unusedBytes+leftoverBytes), unused,
			count(int(leftovers), "tmp/ leftover", "tmp/ leftovers"))
	}
	fmt.Fprintln(w, ".")
	return nil
}

// cacheTarget is an entry zoo cache rm was asked to remove.
type cacheTarget struct {
	digest string
	asked  string // the argument, for messages
}

func cacheRemove(c *cli.Context, args []string) error {
	if len(args) == 0 {
		return usagef("cache rm needs model ids or digests; zoo cache list shows them")
	}
	e, list, err := loadCache(c)
	if err != nil {
		return err
	}
	// Every argument is resolved before anything is removed, so a typo in
	// the third one does not leave the first two half done.
	var targets []cacheTarget
	seen := map[string]bool{}
	for _, a := range args {
		t, err := resolveCacheTarget(e, list, a)
		if err != nil {
			return err
		}
		if !seen[t.digest] {
			seen[t.digest] = true
			targets = append(targets, t)
		}
	}
	users := usersOf(list)
	type removed struct {
		store.CacheEntry
		Unpinned []string `json:"unpinned,omitempty"`
		Note     string   `json:"note,omitempty"`
	}
	out := struct {
		Removed []removed `json:"removed"`
		Bytes   int64     `json:"bytes"`
	}{Removed: []removed{}}
	for _, t := range targets {
		ctx, cancel := context.WithTimeout(c.Context, c.Duration("wait"))
		// The entry first: should it be busy, the pin stays with it.
		var r removed
		var err error
		r.CacheEntry, err = e.store.Remove(ctx, t.digest)
		if err == nil && c.Bool("unpin") {
			r.Unpinned, err = e.store.Unpin(ctx, t.digest)
		}
		cancel()
		if errors.Is(err, store.ErrBusy) {
			err = fmt.Errorf("%w (or let zoo cache rm wait longer: --wait 10m)", err)
		}
		if err != nil {
			// What was removed before stays reported (stdout); the
			// failure goes to stderr with the exit code.
			if c.Bool("json") && len(out.Removed) > 0 {
				printJSON(c.App.Writer, out)
			}
			return fmt.Errorf("%s: %w", t.asked, err)
		}
		if r.Users = users[t.digest]; r.Users == nil {
			r.Users = []string{}
		}
		r.Note = bundledNote(e, t.digest)
		out.Removed = append(out.Removed, r)
		out.Bytes += r.Bytes
		if !c.Bool("json") {
			printRemoved(c.App.Writer, "removed", r.CacheEntry, r.Unpinned, r.Note)
		}
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, out)
	}
	if len(targets) > 1 {
		fmt.Fprintf(c.App.Writer, "freed %s\n", bytesize.Human(out.Bytes))
	}
	return nil
}

func printRemoved(w io.Writer, verb string, e store.CacheEntry, unpinned []string, note string) {
	by := "unused"
	if len(e.Users) > 0 {
		by = "used by " + strings.Join(e.Users, ", ")
	}
	fmt.Fprintf(w, "%s sha256:%s (%s, %s)\n", verb, e.Digest, bytesize.Human(e.Bytes), by)
	for _, u := range unpinned {
		fmt.Fprintf(w, "  unpinned %s: its next download is pinned anew\n", redactURL(u))
	}
	if note != "" {
		fmt.Fprintf(w, "  %s\n", note)
	}
}

// bundledNote tells what removing a bundled model's cached copy means.
func bundledNote(e *env, digest string) string {
	for i := range e.catalog.Models {
		m := &e.catalog.Models[i]
		if strings.HasPrefix(m.Artifact.URL, "bundled://") {
			if d, err := e.store.Digest(m.StoreArtifact()); err == nil && d == digest {
				return "model " + m.ID + " is bundled with zoo: its next use copies it from the zoo binary again, without a download"
			}
		}
	}
	return ""
}

// resolveCacheTarget reads one argument of zoo cache rm: a model id, or a
// digest prefix (sha256:PREFIX is always a digest).
func resolveCacheTarget(e *env, list *store.CacheListing, arg string) (cacheTarget, error) {
	a := strings.TrimSpace(arg)
	lower := strings.ToLower(a)
	hexPart, explicit := strings.CutPrefix(lower, "sha256:")
	if !explicit {
		hexPart, explicit = strings.CutPrefix(lower, "sha256-")
	}
	if explicit && (!isHex(hexPart) || len(hexPart) < minDigestPrefix) {
		return cacheTarget{}, usagef("%q: give at least %d hex digits of a digest (zoo cache list shows them)", arg, minDigestPrefix)
	}
	var matches []string
	if explicit {
		var err error
		if matches, err = e.store.MatchDigests(hexPart); err != nil {
			return cacheTarget{}, err
		}
		if len(matches) == 0 {
			return cacheTarget{}, fmt.Errorf("no cache entry's digest starts with %q (zoo cache list shows them)", hexPart)
		}
	} else {
		// A model id first: "101" is a model, and hex too.
		m, rerr := e.catalog.Resolve(a)
		if rerr == nil {
			return modelTarget(e, m, arg)
		}
		if !isHex(lower) || len(lower) < minDigestPrefix {
			return cacheTarget{}, rerr
		}
		var err error
		if matches, err = e.store.MatchDigests(lower); err != nil {
			return cacheTarget{}, err
		}
		if len(matches) == 0 {
			return cacheTarget{}, fmt.Errorf("%v; nor does a cache entry's digest start with %q (zoo cache list shows them)", rerr, a)
		}
	}
	if len(matches) == 1 {
		return cacheTarget{digest: matches[0], asked: arg}, nil
	}
	users := usersOf(list)
	var cands []string
	for _, d := range matches {
		by := "unused"
		if len(users[d]) > 0 {
			by = strings.Join(users[d], ", ")
		}
		cands = append(cands, fmt.Sprintf("sha256:%s (%s)", d[:min(len(d), 16)], by))
	}
	return cacheTarget{}, fmt.Errorf("%q matches %d cache entries: %s; give more digits", arg, len(matches), strings.Join(cands, ", "))
}

// modelTarget is the cache entry of model m, which must be there.
func modelTarget(e *env, m *zoo.Model, arg string) (cacheTarget, error) {
	d, err := e.store.Digest(m.StoreArtifact())
	if err != nil {
		return cacheTarget{}, err
	}
	bundled := strings.HasPrefix(m.Artifact.URL, "bundled://")
	if d != "" {
		if matches, err := e.store.MatchDigests(d); err == nil && len(matches) == 1 {
			return cacheTarget{digest: d, asked: arg}, nil
		}
	}
	switch {
	case bundled:
		return cacheTarget{}, fmt.Errorf("model %s is bundled with zoo and not in the cache (%s): nothing to remove; "+
			"zoo copies it from the binary into the cache when it is first used", m.ID, e.store.Dir)
	case d == "":
		return cacheTarget{}, fmt.Errorf("model %s is not in the cache (%s): its catalog entry pins no sha256 and it was never fetched, so there is nothing to remove",
			m.ID, e.store.Dir)
	}
	return cacheTarget{}, fmt.Errorf("model %s is not in the cache (%s): nothing to remove (zoo cache list shows what is)", m.ID, e.store.Dir)
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}

func cachePrune(c *cli.Context) error {
	e, users, err := loadCacheUsers(c)
	if err != nil {
		return err
	}
	res, err := e.store.Prune(c.Context, users, store.PruneOptions{DryRun: c.Bool("dry-run"), Wait: c.Duration("wait")})
	if res == nil {
		return err
	}
	if c.Bool("json") {
		if perr := printJSON(c.App.Writer, res); perr != nil {
			return perr
		}
		return err
	}
	w := c.App.Writer
	verb := "removed"
	if res.DryRun {
		verb = "would remove"
	}
	for _, en := range res.Removed {
		printRemoved(w, verb, en, nil, "")
	}
	for _, t := range res.Tmp {
		fmt.Fprintf(w, "%s tmp/%s (%s, left by a killed process)\n", verb, t.Name, bytesize.Human(t.Bytes))
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "left alone %s: %s\n", s.Name, s.Why)
	}
	freed := "freed"
	if res.DryRun {
		freed = "would free"
	}
	fmt.Fprintf(w, "%s %s (%s, %s); kept %s in use\n", freed, bytesize.Human(res.Bytes),
		count(len(res.Removed), "entry", "entries"), count(len(res.Tmp), "tmp/ leftover", "tmp/ leftovers"),
		count(res.Kept, "entry", "entries"))
	return err
}

// usersOf maps the listed entries' digests to their users.
func usersOf(list *store.CacheListing) map[string][]string {
	out := map[string][]string{}
	for _, en := range list.Entries {
		if en.Digest != "" {
			out[en.Digest] = en.Users
		}
	}
	return out
}

// shortName is an entry's digest shortened for the table, or its odd name.
func shortName(e store.CacheEntry) string {
	if e.Digest != "" {
		return e.Digest[:12]
	}
	return e.Name
}

// when formats a time for the tables, "-" when it is not known.
func when(t time.Time, layout string) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(layout)
}

// count writes n with its noun: "1 entry", "2 entries".
func count(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}
