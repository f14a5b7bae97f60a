package zoo

import (
	"sync"

	"medzoo"
)

// embeddedCatalog is the repository's zoo.toml, built into the binary.
var embeddedCatalog = medzoo.CatalogTOML

// EmbeddedTOML returns the built-in catalog's bytes (callers must not
// modify them): the search index cache keys on them.
func EmbeddedTOML() []byte { return embeddedCatalog }

// EmbeddedSource is the Source of entries from the built-in catalog.
const EmbeddedSource = "embedded"

var embedded struct {
	once sync.Once
	cat  *Catalog
	err  error
}

// Embedded returns the built-in catalog. It is parsed once; each call gets
// its own copy of the model list, so callers may reorder or filter it.
func Embedded() (*Catalog, error) {
	embedded.once.Do(func() {
		embedded.cat, embedded.err = Parse(embeddedCatalog, EmbeddedSource)
	})
	if embedded.err != nil {
		return nil, embedded.err
	}
	return embedded.cat.clone(), nil
}

// clone copies the catalog and its model list (models' maps and pointers
// are shared: treat them as read-only).
func (c *Catalog) clone() *Catalog {
	n := *c
	n.Models = append([]Model(nil), c.Models...)
	n.Sources = append([]string(nil), c.Sources...)
	return &n
}
