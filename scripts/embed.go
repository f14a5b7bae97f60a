// Package scripts embeds the Python helpers that zoo itself runs, so an
// installed zoo needs no source tree. The rest of this folder is scripts
// for developers (training, benchmarks, catalog generation).
package scripts

import _ "embed"

// Capture is zoo_capture.py: zoo import runs it, in a sandbox, to call a
// medigan package's generate() once, record its generator and export it
// to TorchScript.
//
//go:embed zoo_capture.py
var Capture []byte
