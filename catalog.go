// Package medzoo holds what belongs at the root of the repository: the
// catalog zoo.toml, embedded here because go:embed cannot reach above a
// package's own directory and the catalog lives at the top level, where
// users and scripts/medigan_to_toml.py find it. Read it through
// zoo.Embedded, which parses and validates it.
package medzoo

import _ "embed"

// CatalogTOML is zoo.toml as it was when the binary was built: the medigan
// models and the demonstration models.
//
//go:embed zoo.toml
var CatalogTOML []byte
