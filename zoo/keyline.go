package zoo

// KeyLine is the 1-based line of data (a catalog text that Parse accepted)
// that defines the key at path, or of its nearest table that has one, or
// 1. Path parts are TOML keys, with "#i" for the i-th element (from 0) of
// an array of tables: KeyLine(data, "model", "#0", "artifact", "sha256").
// It lets checks made outside this package (a model directory's artifact
// against its file) report problems at their line, as Parse's do.
func KeyLine(data []byte, path ...string) int {
	return scanLines(string(data)).find(path)
}
