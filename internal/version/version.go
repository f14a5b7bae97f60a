// Package version holds zoo's version string, stamped into every synthetic
// output's provenance.
package version

// Version is overridden at build time with -ldflags "-X medzoo/internal/version.Version=...".
var Version = "0.1.0"

// Generator names this program in provenance records.
func Generator() string { return "medzoo zoo " + Version }
