package evaluate

import (
	"fmt"
	"path/filepath"

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
// <configDir>/catalogs/measured.toml: an overlay entry holding the model's
// metrics with the measured ones added (a self-reported value of the same
// name is kept as NAME_self_reported). Being an overlay, it leaves the rest
// of the entry to the catalogs below it, so a later import or catalog
// update still shows. The file is validated before it replaces the old
// one, atomically. It returns the file's path.
func Record(m *zoo.Model, card *Card, configDir string) (string, error) {
	path := filepath.Join(configDir, "catalogs", RecordFile)
	entry := zoo.Model{ID: m.ID, Overlay: true, Metrics: map[string]zoo.Metric{}}
	for k, v := range m.Metrics {
		entry.Metrics[k] = v
	}
	for name, v := range card.CatalogMetrics() {
		if old, ok := entry.Metrics[name]; ok && old.Source != "measured by zoo" {
			entry.Metrics[name+"_self_reported"] = old
		}
		entry.Metrics[name] = v
	}
	header := "# Written by zoo evaluate --record: metrics measured by zoo, as overlays on the\n" +
		"# entries of the same ids in the catalogs loaded before this one. Safe to edit or delete.\n"
	if err := zoo.UpsertEntry(path, header, entry); err != nil {
		return "", fmt.Errorf("--record: %w", err)
	}
	return path, nil
}
