package server

import (
	"io"

	"github.com/BurntSushi/toml"
)

// The API shows catalog entries with the catalog's own key names: encode
// the entry as TOML and read it back as a map.
func tomlEncode(w io.Writer, v any) error { return toml.NewEncoder(w).Encode(v) }

func tomlDecodeMap(s string) (map[string]any, error) {
	out := map[string]any{}
	_, err := toml.Decode(s, &out)
	return out, err
}
