package zoo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"medzoo/internal/files"
)

// UpsertEntry puts entry into the user catalog file at path, replacing an
// entry of the same id there, and writes the file back atomically after
// validating the result. header is the comment block at the top of the
// file. Overlay entries are written with only the sections they set, so
// that the base entry's other fields stay the base's. This is how zoo
// commands (evaluate --record, import) add to the user's catalogs.
//
// The read, the change and the write happen under an exclusive lock on
// PATH.lock (files.Lock): two zoo processes recording at once would
// otherwise each write back what they read, and the entry of the first
// would be lost. Readers need no lock, since the write is atomic.
func UpsertEntry(path, header string, entry Model) error {
	// Refused before reading, so a planted link is named as such rather
	// than its target reported as a broken catalog.
	if err := files.CheckRegular(path); err != nil {
		return err
	}
	unlock, err := lockCatalog(path)
	if err != nil {
		return err
	}
	defer unlock()
	return upsertLocked(path, header, entry)
}

// catalogLockWait bounds the wait for another process's write of the same
// catalog, which takes milliseconds: a longer wait means that process is
// stuck (stopped in a terminal, say), and an error naming the lock beats
// hanging.
const catalogLockWait = time.Minute

func lockCatalog(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	lock := path + ".lock"
	ctx, cancel := context.WithTimeout(context.Background(), catalogLockWait)
	defer cancel()
	unlock, err = files.Lock(ctx, lock)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("another zoo process has been writing %s for over %s (it holds %s): let it finish or stop it, then run again", path, catalogLockWait, lock)
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return unlock, nil
}

// upsertLocked is UpsertEntry once the catalog's lock is held.
func upsertLocked(path, header string, entry Model) error {
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
