package zoo

import (
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// CatalogDiff is what changed from one catalog to another, entry by entry
// as written (overlays are compared as overlays, not applied).
type CatalogDiff struct {
	Added   []DiffEntry   `json:"added"`   // in the new catalog only, in its order
	Removed []DiffEntry   `json:"removed"` // in the old catalog only, in its order
	Changed []ModelChange `json:"changed"` // in both, with fields that differ, in the new one's order
}

// DiffEntry is a model of one side, with where it is defined.
type DiffEntry struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	Line   int    `json:"line"`
}

// ModelChange is a model in both catalogs whose fields differ; its place
// is the new catalog's.
type ModelChange struct {
	DiffEntry
	Fields []FieldChange `json:"fields"`
}

// FieldChange is one field that differs, by catalog key relative to the
// model (version, artifact.sha256, metrics.FID.value,
// signature.outputs[0].range). Old or New is nil where the field is not
// set on that side.
type FieldChange struct {
	Key string `json:"key"`
	Old any    `json:"old,omitempty"`
	New any    `json:"new,omitempty"`
}

// Equal reports whether the two catalogs define the same models with the
// same fields.
func (d CatalogDiff) Equal() bool {
	return len(d.Added)+len(d.Removed)+len(d.Changed) == 0
}

// Diff compares catalog a (the old one) with b (the new one). Models are
// matched by id ignoring case, as ids resolve; a change of case shows as a
// change of the id field.
func Diff(a, b *Catalog) CatalogDiff {
	// Empty lists, not nil: JSON readers get [] rather than null.
	d := CatalogDiff{Added: []DiffEntry{}, Removed: []DiffEntry{}, Changed: []ModelChange{}}
	for _, m := range a.Models {
		if b.Get(m.ID) == nil {
			d.Removed = append(d.Removed, DiffEntry{m.ID, m.Source, m.Line})
		}
	}
	for _, m := range b.Models {
		old := a.Get(m.ID)
		if old == nil {
			d.Added = append(d.Added, DiffEntry{m.ID, m.Source, m.Line})
			continue
		}
		if fields := diffFields(flattenModel(old), flattenModel(&m)); len(fields) > 0 {
			d.Changed = append(d.Changed, ModelChange{DiffEntry{m.ID, m.Source, m.Line}, fields})
		}
	}
	return d
}

// field is one set value of a model, by catalog key.
type field struct {
	key   string
	value any
}

// flattenModel lists the fields m sets, in the order of the catalog
// format (map keys sorted). Tables and arrays of tables are walked down to
// their values; arrays of values (modality, latent, range) are one value.
// Unset (zero) values are left out, as the parser reads a missing key as
// the zero value.
func flattenModel(m *Model) []field {
	var out []field
	flatten(nil, reflect.ValueOf(*m), &out)
	return out
}

func flatten(path []string, v reflect.Value, out *[]field) {
	switch v.Kind() {
	case reflect.Pointer:
		switch {
		case v.IsNil():
		case v.Elem().Kind() == reflect.Struct:
			flatten(path, v.Elem(), out)
		default: // a scalar that is set when the pointer is, even to 0
			*out = append(*out, field{showPath(path), v.Elem().Interface()})
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
			if name != "" && name != "-" {
				flatten(append(slices.Clip(path), name), v.Field(i), out)
			}
		}
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		for _, k := range keys {
			flatten(append(slices.Clip(path), k), v.MapIndex(reflect.ValueOf(k)), out)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		if e := v.Type().Elem().Kind(); e == reflect.Struct || e == reflect.Pointer {
			for i := 0; i < v.Len(); i++ {
				flatten(append(slices.Clip(path), "#"+strconv.Itoa(i)), v.Index(i), out)
			}
			return
		}
		*out = append(*out, field{showPath(path), v.Interface()})
	default:
		if !v.IsZero() {
			*out = append(*out, field{showPath(path), v.Interface()})
		}
	}
}

// diffFields lists the keys whose values differ between old and new, in
// the order of old's keys with new's own keys placed after the key they
// follow in new.
func diffFields(old, new []field) []FieldChange {
	oldV, newV := map[string]any{}, map[string]any{}
	for _, f := range old {
		oldV[f.key] = f.value
	}
	for _, f := range new {
		newV[f.key] = f.value
	}
	keys := make([]string, 0, len(old)+len(new))
	for _, f := range old {
		keys = append(keys, f.key)
	}
	prev := -1 // where in keys new's previous key is
	for _, f := range new {
		if _, ok := oldV[f.key]; ok {
			prev = slices.Index(keys, f.key)
			continue
		}
		keys = slices.Insert(keys, prev+1, f.key)
		prev++
	}
	var out []FieldChange
	for _, k := range keys {
		o, inOld := oldV[k]
		n, inNew := newV[k]
		if inOld && inNew && reflect.DeepEqual(o, n) {
			continue
		}
		out = append(out, FieldChange{Key: k, Old: o, New: n})
	}
	return out
}
