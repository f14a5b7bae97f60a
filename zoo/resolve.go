package zoo

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"medzoo/internal/editdist"
)

// NotFoundError says no model matched a query, with the closest ids.
type NotFoundError struct {
	Query       string
	Suggestions []string // closest ids, best first; at most 3
}

func (e *NotFoundError) Error() string {
	if len(e.Suggestions) == 0 {
		return fmt.Sprintf("no model %q in the catalog; to find models by what they are, try: zoo search %q (zoo list shows all)", e.Query, e.Query)
	}
	return fmt.Sprintf("no model %q in the catalog; did you mean: %s? (zoo list shows all)",
		e.Query, strings.Join(e.Suggestions, ", "))
}

// AmbiguousError says a short query matched several models.
type AmbiguousError struct {
	Query      string
	Candidates []string // matching ids, in catalog order
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%q matches %d models: %s; give more of the id",
		e.Query, len(e.Candidates), strings.Join(e.Candidates, ", "))
}

// Get returns the model whose id is id (ignoring case), or nil.
func (c *Catalog) Get(id string) *Model {
	for i := range c.Models {
		if strings.EqualFold(c.Models[i].ID, id) {
			return &c.Models[i]
		}
	}
	return nil
}

// Resolve finds the model a user means, medigan style, ignoring case:
//   - the full id: 00008_C-DCGAN_MMG_MASSES
//   - its number: 8, 08, 00008 (the id's leading 5-digit number)
//   - a unique prefix of the id: 00008_c-dcgan
//   - the id without its number: C-DCGAN_MMG_MASSES (if only one has it)
//
// It returns *NotFoundError (with suggestions) or *AmbiguousError.
func (c *Catalog) Resolve(query string) (*Model, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return nil, &NotFoundError{Query: query}
	}
	if m := c.Get(q); m != nil {
		return m, nil
	}
	lq := strings.ToLower(q)
	steps := []func(m *Model) bool{
		func(m *Model) bool { // the number
			n, err := strconv.Atoi(q)
			if err != nil || n < 0 || strings.TrimLeft(q, "0123456789") != "" {
				return false
			}
			num, ok := idNumber(m.ID)
			return ok && num == n
		},
		func(m *Model) bool { return strings.HasPrefix(strings.ToLower(m.ID), lq) },
		func(m *Model) bool {
			_, name, ok := splitNumber(m.ID)
			return ok && strings.EqualFold(name, q)
		},
	}
	for _, match := range steps {
		var found []*Model
		for i := range c.Models {
			if match(&c.Models[i]) {
				found = append(found, &c.Models[i])
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		default:
			ids := make([]string, len(found))
			for i, m := range found {
				ids[i] = m.ID
			}
			return nil, &AmbiguousError{Query: q, Candidates: ids}
		}
	}
	return nil, &NotFoundError{Query: q, Suggestions: c.suggest(lq, 3)}
}

// splitNumber splits a medigan id into its 5-digit number and name.
func splitNumber(id string) (num int, name string, ok bool) {
	if len(id) < 5 {
		return 0, "", false
	}
	for i := 0; i < 5; i++ {
		if id[i] < '0' || id[i] > '9' {
			return 0, "", false
		}
	}
	if len(id) > 5 && id[5] >= '0' && id[5] <= '9' {
		return 0, "", false
	}
	num, _ = strconv.Atoi(id[:5])
	return num, strings.TrimLeft(id[5:], "_-."), true
}

func idNumber(id string) (int, bool) {
	n, _, ok := splitNumber(id)
	return n, ok
}

// suggest returns up to n ids closest to q (lower case), comparing it with
// each id, the id without its number, the id's parts, and the title and
// its words. Substring hits count as distance 1. Only reasonably close
// matches are offered: a third of the query's length in edits, at least 1.
func (c *Catalog) suggest(q string, n int) []string {
	limit := max(1, len([]rune(q))/3)
	type scored struct {
		id    string
		score int
		order int
	}
	var all []scored
	for i, m := range c.Models {
		id := strings.ToLower(m.ID)
		cands := []string{id}
		if _, name, ok := splitNumber(id); ok && name != "" {
			cands = append(cands, name)
		}
		cands = append(cands, strings.FieldsFunc(id, func(r rune) bool { return r == '_' })...)
		title := strings.ToLower(m.Title)
		if title != "" {
			cands = append(cands, title)
			cands = append(cands, strings.FieldsFunc(title, func(r rune) bool {
				return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-'
			})...)
		}
		best := limit + 1
		for _, s := range cands {
			d := editdist.Distance(q, s)
			if d > 0 && len(q) >= 3 && strings.Contains(s, q) {
				d = 1
			}
			best = min(best, d)
		}
		if best <= limit {
			all = append(all, scored{m.ID, best, i})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score < all[j].score
		}
		return all[i].order < all[j].order
	})
	var out []string
	for _, s := range all {
		if len(out) == n {
			break
		}
		out = append(out, s.id)
	}
	return out
}
