package zoo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"medzoo/internal/files"
)

// AddOptions are catalog add's choices.
type AddOptions struct {
	Replace bool // replace an entry of the same id; without it such an entry is refused
	Create  bool // start the catalog file when it does not exist
}

// AddResult says what AddEntry (or MergeEntry) did.
type AddResult struct {
	ID       string `json:"id"`
	Catalog  string `json:"catalog"`
	Line     int    `json:"line"` // the entry's [[model]] line in the catalog as written
	Replaced bool   `json:"replaced"`
	Created  bool   `json:"created"`
}

// AddEntry merges the one [[model]] entry of the file entryFile (a model
// directory's model.toml, say) into the catalog file catalogPath, as
// MergeEntry does, and writes the catalog back atomically under its lock
// (the same lock UpsertEntry takes). The catalog must exist unless
// opt.Create; a link or special file there is refused, never written
// through. On any error the catalog is left as it was.
//
// Unlike UpsertEntry, which re-encodes the file it writes, AddEntry edits
// the text: a catalog kept by people (the repository's zoo.toml) keeps its
// comments, its order and its formatting, and a pull request adding a
// model shows only the lines of that model.
func AddEntry(entryFile, catalogPath string, opt AddOptions) (AddResult, error) {
	res := AddResult{Catalog: catalogPath}
	entry, err := ReadCatalogFile(entryFile)
	if err != nil {
		return res, err
	}
	// Refused before anything else, so a planted link is named as such
	// rather than its target read as the catalog.
	if err := files.CheckRegular(catalogPath); err != nil {
		return res, err
	}
	// Checked before locking, so a mistyped path leaves no lock file behind.
	cst, err := os.Stat(catalogPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !opt.Create {
			return res, fmt.Errorf("catalog %s does not exist: check the path, or pass --create to start a new catalog there", catalogPath)
		}
	case err != nil:
		return res, err
	default:
		if est, err := os.Stat(entryFile); err == nil && os.SameFile(est, cst) {
			return res, fmt.Errorf("%s is the catalog itself: add an entry from its own file (a model directory's model.toml)", entryFile)
		}
	}
	unlock, err := lockCatalog(catalogPath)
	if err != nil {
		return res, err
	}
	defer unlock()
	catalog, err := ReadCatalogFile(catalogPath)
	created := false
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && opt.Create:
		created = true
	default:
		return res, err
	}
	merged, res, err := MergeEntry(catalog, catalogPath, entry, entryFile, opt.Replace)
	res.Created = created
	if err != nil {
		return res, err
	}
	if err := files.WriteAtomicBytes(catalogPath, merged); err != nil {
		return res, fmt.Errorf("writing %s: %w", catalogPath, err)
	}
	return res, nil
}

// MergeEntry returns catalog (the text of the catalog named catalogSource;
// nil for a new one) with the one [[model]] entry of entry (the text of
// entrySource) merged in, every byte it does not change kept:
//
//   - entry must hold exactly one [[model]] and be valid by Parse (its
//     problems come back as entrySource:line); catalog must be valid too,
//     and both of the same schema.
//   - A new id is appended at the end after one blank line, as written in
//     entry: the comments directly above its [[model]] line and directly
//     after its last key come with it.
//   - An id the catalog has (ignoring case, as ids resolve) is refused,
//     naming its line, unless replace. Replacing swaps the old entry's text
//     from its [[model]] line to its last key for the new entry's. Comments
//     above the old [[model]] line or after its last key are the catalog's
//     (section markers such as "# END demo", or the next entry's) and stay;
//     comments between its keys go with it.
//   - The merged text must parse, or nothing is returned.
func MergeEntry(catalog []byte, catalogSource string, entry []byte, entrySource string, replace bool) ([]byte, AddResult, error) {
	res := AddResult{Catalog: catalogSource}
	ecat, err := Parse(entry, entrySource)
	if err != nil {
		return nil, res, err
	}
	elay := entryLayouts(entry)
	switch {
	case len(ecat.Models) == 0:
		return nil, res, fmt.Errorf("%s holds no [[model]] entry: catalog add takes a file with exactly one (a model directory's model.toml)", entrySource)
	case len(ecat.Models) > 1:
		lines := make([]string, len(ecat.Models))
		for i, m := range ecat.Models {
			lines[i] = strconv.Itoa(m.Line)
		}
		return nil, res, fmt.Errorf("%s holds %d [[model]] entries (lines %s): catalog add takes one at a time; put each in its own file", entrySource, len(ecat.Models), strings.Join(lines, ", "))
	case len(elay) != 1:
		return nil, res, inlineModelsError(entrySource)
	}
	em, el := ecat.Models[0], elay[0]
	res.ID = em.ID

	ccat := &Catalog{Schema: SchemaVersion}
	if len(catalog) > 0 {
		if ccat, err = Parse(catalog, catalogSource); err != nil {
			return nil, res, fmt.Errorf("%w\n(the catalog must be valid before an entry is added: fix it first; zoo catalog validate %s lists every problem)", err, catalogSource)
		}
	}
	if ecat.Schema != ccat.Schema {
		return nil, res, fmt.Errorf("%s is catalog schema %d but %s is schema %d: write the entry in the catalog's schema", entrySource, ecat.Schema, catalogSource, ccat.Schema)
	}
	clay := entryLayouts(catalog)
	if len(clay) != len(ccat.Models) {
		return nil, res, inlineModelsError(catalogSource)
	}

	i := slices.IndexFunc(ccat.Models, func(m Model) bool { return strings.EqualFold(m.ID, em.ID) })
	var out []byte
	if i >= 0 {
		old := ccat.Models[i]
		if !replace {
			return nil, res, fmt.Errorf("model %s is already in the catalog, at %s:%d: pass --replace to replace that entry, or give the new one another id", old.ID, catalogSource, old.Line)
		}
		sp := clay[i]
		out = make([]byte, 0, len(catalog)-(sp.coreEnd-sp.coreStart)+(el.coreEnd-el.coreStart)+1)
		out = append(out, catalog[:sp.coreStart]...)
		out = appendLine(out, entry[el.coreStart:el.coreEnd])
		out = append(out, catalog[sp.coreEnd:]...)
		res.Replaced = true
	} else {
		out = append([]byte(nil), catalog...)
		if len(out) == 0 {
			out = fmt.Appendf(out, "schema = %d\n", SchemaVersion)
		}
		if !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		if !bytes.HasSuffix(out, []byte("\n\n")) {
			out = append(out, '\n')
		}
		out = appendLine(out, entry[el.leadStart:el.trailEnd])
	}

	merged, err := Parse(out, catalogSource)
	if err != nil {
		return nil, res, fmt.Errorf("with %s merged, %s would not be a valid catalog, so nothing was written (lines of the merged text):\n%w", entrySource, catalogSource, err)
	}
	res.Line = merged.Get(em.ID).Line
	return out, res, nil
}

func inlineModelsError(source string) error {
	return fmt.Errorf("%s defines models in an inline array (model = [...]): catalog add edits [[model]] tables only; write each model as a [[model]] table", source)
}

// appendLine appends text, ending it with a newline if it has none.
func appendLine(out, text []byte) []byte {
	out = append(out, text...)
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return out
}

// entryLayout is where one [[model]] entry's text lies, as byte offsets
// of whole lines: the comment lines directly above its [[model]] line
// (lead), the lines from that header to its last key (core), and the
// comment lines directly after (trail). "Directly" means with no blank
// line between.
type entryLayout struct {
	leadStart, coreStart, coreEnd, trailEnd int
}

// entryLayouts lays out the [[model]] tables of data (a text Parse
// accepted), in order. Models written as an inline array have none.
func entryLayouts(data []byte) []entryLayout {
	stmts := scanStatements(string(data))
	starts := []int{0, 0} // starts[l] is the offset of 1-based line l
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	nlines := len(starts) - 1
	lineAt := func(l int) []byte {
		end := len(data)
		if l+1 <= nlines {
			end = starts[l+1]
		}
		return data[starts[l]:end]
	}
	endOf := func(l int) int { // offset just past line l and its newline
		if l+1 <= nlines {
			return starts[l+1]
		}
		return len(data)
	}
	comment := func(l int) bool {
		return bytes.HasPrefix(bytes.TrimLeft(lineAt(l), " \t"), []byte("#"))
	}

	var heads []int
	for i, st := range stmts {
		if st.array && len(st.table) == 2 && st.table[0] == "model" {
			heads = append(heads, i)
		}
	}
	type lines struct{ lead, head, last, trail int }
	ls := make([]lines, len(heads))
	for k, hi := range heads {
		next := len(stmts)
		if k+1 < len(heads) {
			next = heads[k+1]
		}
		l := lines{head: stmts[hi].first, last: stmts[next-1].last}
		prev := 0
		if hi > 0 {
			prev = stmts[hi-1].last
		}
		for l.lead = l.head; l.lead-1 > prev && comment(l.lead-1); l.lead-- {
		}
		ls[k] = l
	}
	out := make([]entryLayout, len(heads))
	for k := range ls {
		// The trail stops where the next entry's lead begins: comments
		// between two entries with no blank line are the next one's.
		limit := nlines + 1
		if k+1 < len(ls) {
			limit = ls[k+1].lead
		}
		for ls[k].trail = ls[k].last; ls[k].trail+1 < limit && comment(ls[k].trail+1); ls[k].trail++ {
		}
		out[k] = entryLayout{
			leadStart: starts[ls[k].lead],
			coreStart: starts[ls[k].head],
			coreEnd:   endOf(ls[k].last),
			trailEnd:  endOf(ls[k].trail),
		}
	}
	return out
}
