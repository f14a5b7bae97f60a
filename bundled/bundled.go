// Package bundled embeds the demonstration models that ship inside the zoo binary, so they run offline.
package bundled

import "embed"

// FS holds the bundled TorchScript artifacts (*.pt), addressed in the catalog
// as bundled://<file name>.
//
//go:embed *.pt
var FS embed.FS
