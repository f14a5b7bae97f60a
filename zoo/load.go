package zoo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CatalogEnv names the environment variable listing extra catalog files,
// separated like PATH (os.PathListSeparator).
const CatalogEnv = "ZOO_CATALOG"

// Load returns the catalog zoo works with: the embedded one, then the files
// listed in $ZOO_CATALOG, then extra (the --catalog flags). A later entry
// replaces an earlier one with the same id (ignoring case) where it stood;
// new ids are appended. Sources lists every catalog read, in order.
//
// A listed file that does not exist is an error naming it. Problems in
// several files are reported together as one *ValidationError.
func Load(extra ...string) (*Catalog, error) {
	cat, err := Embedded()
	if err != nil {
		return nil, err
	}
	type file struct{ path, from string }
	var files []file
	for _, p := range filepath.SplitList(os.Getenv(CatalogEnv)) {
		if strings.TrimSpace(p) != "" {
			files = append(files, file{p, "$" + CatalogEnv})
		}
	}
	for _, p := range extra {
		files = append(files, file{p, "--catalog"})
	}

	var problems []Problem
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("catalog %s (from %s) does not exist: %w", f.path, f.from, err)
			}
			return nil, fmt.Errorf("catalog %s (from %s): %w", f.path, f.from, err)
		}
		user, err := Parse(data, f.path)
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				problems = append(problems, ve.Problems...)
				continue
			}
			return nil, err
		}
		cat.merge(user)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{problems}
	}
	return cat, nil
}

// merge adds src's models to c, replacing those with the same id.
func (c *Catalog) merge(src *Catalog) {
	at := make(map[string]int, len(c.Models))
	for i, m := range c.Models {
		at[strings.ToLower(m.ID)] = i
	}
	for _, m := range src.Models {
		k := strings.ToLower(m.ID)
		if i, ok := at[k]; ok {
			c.Models[i] = m
			continue
		}
		at[k] = len(c.Models)
		c.Models = append(c.Models, m)
	}
	c.Sources = append(c.Sources, src.Sources...)
}
