package oci

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Scheme is how a catalog or a command line names an OCI artifact.
const Scheme = "oci://"

// Ref is a parsed oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX] reference.
// Exactly one of Tag and Digest is set.
type Ref struct {
	Host   string // host[:port], as written (lower case)
	Repo   string // repository path: lower-case components separated by /
	Tag    string
	Digest string // "sha256:<64 hex>"
}

// The OCI distribution spec's grammar, anchored: a repository name is
// components separated by "/", each lower-case letters and digits joined by
// ".", "_", "__" or dashes; a tag is up to 128 letters, digits, "_", "."
// and "-", not starting with "." or "-".
var (
	repoRE   = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	hostRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

const (
	refGrammar    = "oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX]"
	repoGrammar   = "REPO is lower-case letters and digits, separated by '.', '_', '__', '-' or '/', e.g. lab/mri-gan"
	tagGrammar    = "a TAG is 1 to 128 of A-Z a-z 0-9 _ . - and does not start with '.' or '-', e.g. 1.0.0"
	digestGrammar = "a digest is sha256: and 64 lower-case hex digits"
	maxRefLen     = 512
)

// ParseRef parses an oci:// reference strictly: ASCII only, no "..", no
// user, query or fragment, a lower-case repository and a tag or digest
// that follow the OCI distribution grammar. A reference with neither tag
// nor digest is refused (there is no implicit "latest": a model is always
// named by a version or pinned by a digest). The error names the grammar.
func ParseRef(s string) (Ref, error) {
	var r Ref
	bad := func(format string, args ...any) (Ref, error) {
		return Ref{}, fmt.Errorf("bad OCI reference %q: %s; write %s (%s)", s, fmt.Sprintf(format, args...), refGrammar, repoGrammar)
	}
	if len(s) > maxRefLen {
		return Ref{}, fmt.Errorf("bad OCI reference: %d characters, more than %d; write %s", len(s), maxRefLen, refGrammar)
	}
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return bad("it does not start with %s", Scheme)
	}
	for i, c := range rest {
		if c >= utf8.RuneSelf || c < ' ' || c == 0x7f {
			return bad("character %q at %d is not printable ASCII (references are ASCII only, so that one that looks the same is the same)", c, i+len(Scheme))
		}
	}
	if strings.ContainsAny(rest, "?#\\ %") {
		return bad("it holds one of ? # \\ %% or a space, which a reference never does")
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok || path == "" {
		return bad("it names no repository after the host")
	}
	if strings.Contains(host, "@") {
		return bad("it holds a user name; give credentials with ZOO_REGISTRY_AUTH or docker login, never in the reference")
	}
	if err := checkHost(host); err != nil {
		return bad("%v", err)
	}
	r.Host = strings.ToLower(host)
	if repo, dig, ok := strings.Cut(path, "@"); ok {
		if !digestRE.MatchString(dig) {
			return bad("digest %q: %s", dig, digestGrammar)
		}
		path, r.Digest = repo, dig
	} else if i := strings.LastIndex(path, ":"); i >= 0 {
		tag := path[i+1:]
		if !tagRE.MatchString(tag) {
			return bad("tag %q: %s", tag, tagGrammar)
		}
		path, r.Tag = path[:i], tag
	} else {
		return bad("it has no :TAG or @sha256:HEX (name a version, e.g. %s:1.0.0, or pin a digest)", s)
	}
	for _, part := range strings.Split(path, "/") {
		if part == ".." || part == "." {
			return bad("repository %q has a %q component (no path traversal in a reference)", path, part)
		}
	}
	if strings.ToLower(path) != path {
		return bad("repository %q has upper-case letters (OCI repository names are lower case: %s)", path, strings.ToLower(path))
	}
	if len(path) > 255 || !repoRE.MatchString(path) {
		return bad("repository %q does not follow the OCI grammar", path)
	}
	r.Repo = path
	return r, nil
}

// checkHost accepts NAME, NAME:PORT, IPv4[:PORT] and [IPv6][:PORT].
func checkHost(host string) error {
	if host == "" {
		return fmt.Errorf("it has no host")
	}
	name, port := host, ""
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return fmt.Errorf("host %q: an IPv6 address is written [ADDRESS]:PORT", host)
		}
		name, port = host[1:end], strings.TrimPrefix(host[end+1:], ":")
		if host[end+1:] != "" && !strings.HasPrefix(host[end+1:], ":") {
			return fmt.Errorf("host %q: an IPv6 address is written [ADDRESS]:PORT", host)
		}
		if ip := net.ParseIP(name); ip == nil || ip.To4() != nil {
			return fmt.Errorf("host %q: %q is not an IPv6 address", host, name)
		}
	} else if i := strings.LastIndex(host, ":"); i >= 0 {
		name, port = host[:i], host[i+1:]
		if strings.Contains(name, ":") {
			return fmt.Errorf("host %q: write an IPv6 address in brackets, [ADDRESS]:PORT", host)
		}
	}
	if strings.Contains(host, ":") && port == "" {
		return fmt.Errorf("host %q has an empty port", host)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return fmt.Errorf("host %q: port %q is not a number from 1 to 65535", host, port)
		}
	}
	if !strings.HasPrefix(host, "[") && !hostRE.MatchString(strings.ToLower(name)) {
		return fmt.Errorf("host %q is not a host name or address (letters, digits, '-' and '.')", host)
	}
	return nil
}

// String is the reference as ParseRef reads it.
func (r Ref) String() string {
	if r.Digest != "" {
		return Scheme + r.Host + "/" + r.Repo + "@" + r.Digest
	}
	return Scheme + r.Host + "/" + r.Repo + ":" + r.Tag
}

// Pinned is the reference to the same repository by digest: what a
// catalog's url holds.
func (r Ref) Pinned(digest string) Ref {
	return Ref{Host: r.Host, Repo: r.Repo, Digest: digest}
}

// reference is what oras resolves: the tag or the digest.
func (r Ref) reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// Loopback reports whether the registry is on this machine (localhost,
// 127.0.0.0/8 or ::1): the only place plain HTTP is allowed, since nothing
// else on the way can read or change the bytes.
func (r Ref) Loopback() bool {
	name := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}
