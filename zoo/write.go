package zoo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"

	"medzoo/internal/files"
)

// UpsertEntry puts entry into the user catalog file at path, replacing an
// entry of the same id there, and writes the file back atomically after
// validating the result. header is the comment block at the top of the
// file. Overlay entries are written with only the sections they set, so
// that the base entry's other fields stay the base's. This is how zoo
// commands (evaluate --record, import) add to the user's catalogs.
func UpsertEntry(path, header string, entry Model) error {
	// Refused before reading, so a planted link is named as such rather
	// than its target reported as a broken catalog.
	if err := files.CheckRegular(path); err != nil {
		return err
	}
	var entries []Model
	data, err := ReadCatalogFile(path)
	switch {
	case err == nil:
		cat, err := Parse(data, path)
		if err != nil {
			return fmt.Errorf("%w (fix or remove the file)", err)
		}
		entries = cat.Models
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	replaced := false
	for i := range entries {
		if strings.EqualFold(entries[i].ID, entry.ID) {
			entries[i], replaced = entry, true
		}
	}
	if !replaced {
		entries = append(entries, entry)
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	fmt.Fprintf(&buf, "\nschema = %d\n", SchemaVersion)
	for _, m := range entries {
		var v any = m
		if m.Overlay {
			v = overlayFields(m)
		}
		buf.WriteString("\n")
		if err := toml.NewEncoder(&buf).Encode(struct {
			Model []any `toml:"model"`
		}{[]any{v}}); err != nil {
			return err
		}
	}
	if _, err := Parse(buf.Bytes(), path); err != nil {
		return fmt.Errorf("the entry would not be a valid catalog entry: %w", err)
	}
	return files.WriteAtomicBytes(path, buf.Bytes())
}

// overlayFields is an overlay entry as a map holding only what it sets,
// by catalog key.
func overlayFields(m Model) map[string]any {
	out := map[string]any{"id": m.ID, "overlay": true}
	v := reflect.ValueOf(m)
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || name == "id" || name == "overlay" || isUnset(v.Field(i)) {
			continue
		}
		out[name] = v.Field(i).Interface()
	}
	return out
}

// isUnset: zero values and empty collections are what an overlay leaves
// to its base.
func isUnset(f reflect.Value) bool {
	switch f.Kind() {
	case reflect.Slice, reflect.Map:
		return f.Len() == 0
	}
	return f.IsZero()
}
