package envconfig

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// notASize is the problem of text that is no size at all; the flag and the
// variable say it the same way.
const notASize = "is not a size: give a number of bytes, or one with a unit such as 500MB or 4GiB"

// ParseSize reads a byte count as people write it: a plain number of bytes,
// or a number with a unit, decimal (KB, MB, GB, TB) or binary (KiB, MiB,
// GiB, TiB), in any case; K, M, G and T alone are binary. The result must
// be positive and fit in an int64. ZOO_MAX_DOWNLOAD and zoo pull
// --max-download are read with it.
func ParseSize(text string) (int64, error) {
	n, problem := sizeOf(text)
	switch {
	case problem == notASize:
		return 0, fmt.Errorf("%q %s", text, problem)
	case problem != "":
		return 0, fmt.Errorf("size %q %s", text, problem)
	}
	return n, nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// sizeOf parses a size, or says what is wrong with it.
func sizeOf(text string) (int64, string) {
	t := strings.TrimSpace(text)
	digits := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if digits < 0 {
		digits = len(t)
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[digits:]))]
	n, err := strconv.ParseInt(t[:digits], 10, 64)
	if !ok || err != nil || digits == 0 {
		return 0, notASize
	}
	if n <= 0 {
		return 0, "must be more than zero"
	}
	if n > math.MaxInt64/mult {
		return 0, "is too large (at most 8 EiB)"
	}
	return n * mult, ""
}

// FormatSize writes n the shortest way ParseSize reads back exactly:
// 4GiB, 500MB, 1TB, 1234. Plain bytes win ties, then binary units.
func FormatSize(n int64) string {
	best := strconv.FormatInt(n, 10)
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if n >= u.mult && n%u.mult == 0 {
			if s := strconv.FormatInt(n/u.mult, 10) + u.name; len(s) < len(best) {
				best = s
			}
		}
	}
	return best
}

// SplitCatalogList splits a catalog list (ZOO_CATALOG) at the path list
// separator, dropping empty entries. Entries may be remote catalogs
// (https://host/file.toml#sha256=HEX): on systems whose separator is a
// colon, the colon after http, https or file and the one before a port
// do not split them.
func SplitCatalogList(v string) []string {
	parts := filepath.SplitList(v)
	var out []string
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		if os.PathListSeparator == ':' && i+1 < len(parts) && strings.HasPrefix(parts[i+1], "//") {
			switch strings.ToLower(p) {
			case "http", "https", "file":
				p = p + ":" + parts[i+1]
				i++
				// A port: "https://host:8443/x.toml".
				if i+1 < len(parts) && !strings.Contains(strings.TrimPrefix(p[strings.Index(p, "//"):], "//"), "/") &&
					portStart.MatchString(parts[i+1]) {
					p = p + ":" + parts[i+1]
					i++
				}
			}
		}
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

var portStart = regexp.MustCompile(`^[0-9]+(/|$)`)
