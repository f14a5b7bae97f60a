package evaluate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"medzoo/zoo"
)

// RecordFile is the user catalog zoo evaluate --record writes, inside the
// configuration directory's catalogs/ folder (loaded after the built-in
// catalog, so its entries take precedence).
const RecordFile = "measured.toml"

// CatalogMetrics turns the card's results into catalog metrics, each marked
// "measured by zoo" with its extractor (name and digest), image count and
// reference set, so that zoo search never ranks it against a figure
// obtained another way.
func (c *Card) CatalogMetrics() map[string]zoo.Metric {
	out := map[string]zoo.Metric{}
	images := min(c.Real.Images, c.Fake.Images)
	for _, r := range c.Results {
		if r.Metric == "near_copies" {
			continue // a count for the report, not a quality figure to rank by
		}
		n := images
		if v, ok := r.Details["images_per_side"].(int); ok {
			n = v
		}
		out[r.Metric] = zoo.Metric{
			Value:     r.Value,
			Direction: r.Direction,
			Meaning:   r.Meaning + "; " + c.Preprocessing,
			Source:    "measured by zoo",
			Extractor: fmt.Sprintf("%s (sha256 %s)", c.Extractor.Name, short(c.Extractor.SHA256)),
			Images:    n,
			Reference: fmt.Sprintf("%s, fingerprint %s; %s, %s", c.Real.Describe, short(c.Real.Fingerprint), c.Zoo, c.Date),
		}
	}
	return out
}

// Record writes the card's metrics into the model's entry of
// <configDir>/catalogs/measured.toml: a copy of the model's catalog entry
// with the measured metrics added (a self-reported value of the same name is
// kept as NAME_self_reported). The file is validated before it replaces the
// old one, atomically. It returns the file's path.
func Record(m *zoo.Model, card *Card, configDir string) (string, error) {
	path := filepath.Join(configDir, "catalogs", RecordFile)
	cat := &zoo.Catalog{Schema: zoo.SchemaVersion}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if cat, err = zoo.Parse(data, path); err != nil {
			return "", fmt.Errorf("--record: %w (fix or remove the file)", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("--record: %w", err)
	}
	entry := *m
	entry.Metrics = map[string]zoo.Metric{}
	for k, v := range m.Metrics {
		entry.Metrics[k] = v
	}
	for name, v := range card.CatalogMetrics() {
		if old, ok := entry.Metrics[name]; ok && old.Source != "measured by zoo" {
			entry.Metrics[name+"_self_reported"] = old
		}
		entry.Metrics[name] = v
	}
	replaced := false
	for i := range cat.Models {
		if cat.Models[i].ID == m.ID {
			cat.Models[i], replaced = entry, true
		}
	}
	if !replaced {
		cat.Models = append(cat.Models, entry)
	}
	var buf bytes.Buffer
	buf.WriteString("# Written by zoo evaluate --record: catalog entries with metrics measured by zoo.\n" +
		"# Entries here replace the same ids of the built-in catalog. Safe to edit or delete.\n\n")
	if err := toml.NewEncoder(&buf).Encode(cat); err != nil {
		return "", fmt.Errorf("--record: %w", err)
	}
	if _, err := zoo.Parse(buf.Bytes(), path); err != nil {
		return "", fmt.Errorf("--record: the entry would not be a valid catalog entry: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("--record: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".measured-*")
	if err != nil {
		return "", fmt.Errorf("--record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return "", fmt.Errorf("--record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("--record: %w", err)
	}
	return path, os.Rename(tmp.Name(), path)
}
