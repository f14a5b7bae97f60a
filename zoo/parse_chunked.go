package zoo

import (
	"bytes"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
)

// Large catalogs are parsed in pieces: the text is cut before each
// [[model]] header, runs of a few hundred models are handed to Parse on
// all cores, and the models come back in file order with their lines
// shifted to the whole file's. A catalog of 100,000 entries is ~400 MiB of
// TOML; parsed whole it needs several GiB (a generic tree of every value
// plus the decoded structs) and one core; in pieces, streamed into the
// search index, it needs a few hundred MiB.
//
// The pieces are only a fast path. Whenever a piece does not parse
// (including a cut inside a multi-line string, which leaves an unterminated
// string behind), or an id repeats across pieces, the whole file is parsed
// by Parse instead, so every error message and line number is exactly
// Parse's.

// chunkedMinSize: smaller files are parsed whole.
const chunkedMinSize = 1 << 20

// modelsPerPiece is how many [[model]] tables one Parse call gets.
const modelsPerPiece = 256

var modelHeader = regexp.MustCompile(`^[ \t]*\[\[[ \t]*model[ \t]*\]\][ \t]*(#.*)?\r?$`)

var errNeedWhole = errors.New("parse the catalog whole")

// ForEachModel calls each for every model of a catalog file, in file order,
// with Source and Line set as Parse sets them. On any problem it returns
// Parse's *ValidationError.
func ForEachModel(data []byte, source string, each func(m *Model)) error {
	if len(data) >= chunkedMinSize {
		err := forEachModelChunked(data, source, each)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errNeedWhole) {
			return err
		}
	}
	cat, err := Parse(data, source)
	if err != nil {
		return err
	}
	for i := range cat.Models {
		each(&cat.Models[i])
	}
	return nil
}

// parseFile is Parse, in pieces for large files.
func parseFile(data []byte, source string) (*Catalog, error) {
	if len(data) < chunkedMinSize {
		return Parse(data, source)
	}
	cat := &Catalog{Schema: SchemaVersion, Sources: []string{source}}
	err := forEachModelChunked(data, source, func(m *Model) { cat.Models = append(cat.Models, *m) })
	if errors.Is(err, errNeedWhole) {
		return Parse(data, source)
	}
	if err != nil {
		return nil, err
	}
	return cat, nil
}

type piece struct {
	start, end int // byte range
	line       int // 1-based line of start
}

// splitModels cuts data before each [[model]] header line. The first piece
// is the preamble (possibly empty).
func splitModels(data []byte) []piece {
	var pieces []piece
	start, line, cur := 0, 1, 0
	models := 0
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		l := data[pos:next]
		if len(l) > 0 && (l[0] == '[' || l[0] == ' ' || l[0] == '\t') && modelHeader.Match(bytes.TrimRight(l, "\n")) {
			if models == 0 || models%modelsPerPiece == 0 {
				pieces = append(pieces, piece{start, pos, line})
				start, line = pos, cur+1
			}
			models++
		}
		cur++
		pos = next
	}
	pieces = append(pieces, piece{start, len(data), line})
	return pieces
}

func forEachModelChunked(data []byte, source string, each func(m *Model)) error {
	pieces := splitModels(data)
	if len(pieces) < 2 {
		return errNeedWhole
	}
	// The preamble holds `schema` and comments, nothing else a model needs;
	// a newer schema or anything odd there is Parse's to report.
	pre := data[pieces[0].start:pieces[0].end]
	if len(bytes.TrimSpace(pre)) > 0 {
		if _, err := Parse(pre, source); err != nil {
			return errNeedWhole
		}
	}
	pieces = pieces[1:]

	type result struct {
		cat *Catalog
		err error
	}
	results := make([]chan result, len(pieces))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(pieces)))
	// At most 2*workers pieces parsed ahead of the consumer: memory stays
	// bounded however large the file.
	tokens := make(chan struct{}, 2*workers)
	next := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p := pieces[i]
				cat, err := Parse(data[p.start:p.end], source)
				results[i] <- result{cat, err}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range pieces {
			select {
			case tokens <- struct{}{}:
			case <-stop:
				return
			}
			select {
			case next <- i:
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	seen := map[string]bool{}
	for i, p := range pieces {
		r := <-results[i]
		if r.err != nil {
			return errNeedWhole
		}
		for k := range r.cat.Models {
			m := &r.cat.Models[k]
			m.Line += p.line - 1
			id := strings.ToLower(m.ID)
			if seen[id] {
				return errNeedWhole
			}
			seen[id] = true
			each(m)
		}
		results[i] = nil
		<-tokens
	}
	return nil
}
