// Package bytesize writes byte counts for people in binary units, so that
// zoo cache's tables, the store's download errors and the progress bars
// scale a size the same way (1.5 GiB is 1.5 GiB everywhere). Reading a
// size people type (500MB, 4GiB) is envconfig.ParseSize.
package bytesize

import "fmt"

// Scale is n in the largest binary unit it reaches: the value and the
// unit's prefix ("Ki", "Mi" or "Gi"), or n itself and "" below 1 KiB.
func Scale(n int64) (float64, string) {
	switch {
	case n >= 1<<30:
		return float64(n) / (1 << 30), "Gi"
	case n >= 1<<20:
		return float64(n) / (1 << 20), "Mi"
	case n >= 1<<10:
		return float64(n) / (1 << 10), "Ki"
	}
	return float64(n), ""
}

// Human writes n with one decimal and a binary unit: "1.5 GiB",
// "12.0 KiB", and below 1 KiB the exact count, "512 B".
func Human(n int64) string {
	v, prefix := Scale(n)
	if prefix == "" {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %sB", v, prefix)
}
