package limits

import "fmt"

// TOML limits. BurntSushi/toml parses recursively and builds a generic tree
// of every value: a 100 KB file of arrays nested 50,000 deep took 4 GB
// before it ran out of memory. Every TOML text zoo reads from a user or a
// server (catalogs, catalogs.toml, feature-extractor specs) is checked by
// CheckTOML first.
const (
	// TOMLDepth bounds nesting: arrays, inline tables and dotted key parts
	// together. The deepest catalog key (model.signature.outputs[i].post.map)
	// needs 6.
	TOMLDepth = 32
	// TOMLArray bounds the elements of one array (a 256-entry LUT, a few
	// hundred condition values), not counting [[table]] headers.
	TOMLArray = 1 << 16
	// TOMLValues bounds the values (keys and array elements) of one text.
	TOMLValues = 1 << 24
)

// TOMLError is what CheckTOML returns: the limit broken and the line
// (1-based; 0 for the whole text).
type TOMLError struct {
	Line int
	Msg  string
}

func (e *TOMLError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// CheckTOML checks TOML text against TOMLDepth, TOMLArray and TOMLValues
// without parsing it: it follows strings, comments, brackets, braces and
// dotted keys, and nothing else. Text it misreads is still parsed by toml
// afterwards, so it only has to be right about what it counts, never about
// syntax.
func CheckTOML(data []byte) error {
	s := tomlScan{data: data, line: 1}
	return s.run()
}

type tomlScan struct {
	data   []byte
	pos    int
	line   int
	stack  []byte // open '[' (array) and '{' (inline table)
	counts []int  // elements seen per open array
	values int
	// lineStart: only blanks since the last newline at depth 0, so '[' opens
	// a table header, not an array.
	lineStart bool
	keyParts  int // dotted parts of the key being read
}

func (s *tomlScan) fail(format string, args ...any) error {
	return &TOMLError{s.line, fmt.Sprintf(format, args...)}
}

func (s *tomlScan) run() error {
	s.lineStart = true
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '\n':
			s.line++
			s.pos++
			if len(s.stack) == 0 {
				s.lineStart, s.keyParts = true, 0
			}
			continue
		case c == ' ' || c == '\t' || c == '\r':
			s.pos++
			continue
		case c == '#':
			for s.pos < len(s.data) && s.data[s.pos] != '\n' {
				s.pos++
			}
			continue
		case c == '"' || c == '\'':
			if err := s.skipString(); err != nil {
				return err
			}
			s.lineStart = false
			continue
		}
		if s.lineStart && c == '[' {
			if err := s.header(); err != nil {
				return err
			}
			continue
		}
		s.lineStart = false
		s.pos++
		switch c {
		case '[', '{':
			if len(s.stack)+s.keyParts >= TOMLDepth {
				return s.fail("values are nested more than %d deep (arrays, inline tables and dotted keys together); zoo's TOML files need at most a few levels", TOMLDepth)
			}
			s.stack = append(s.stack, c)
			s.counts = append(s.counts, 0)
			s.keyParts = 0
		case ']', '}':
			if n := len(s.stack); n > 0 {
				s.stack, s.counts = s.stack[:n-1], s.counts[:n-1]
			}
		case ',':
			if n := len(s.stack); n > 0 && s.stack[n-1] == '[' {
				s.counts[n-1]++
				if s.counts[n-1] >= TOMLArray {
					return s.fail("an array has more than %d elements, the limit for one catalog array", TOMLArray)
				}
			}
			s.keyParts = 0
			if err := s.count(); err != nil {
				return err
			}
		case '.':
			// A dot between key parts nests a table; in numbers (1.5) it
			// is only counted while a key is being read, i.e. before '='.
			s.keyParts++
			if len(s.stack)+s.keyParts >= TOMLDepth {
				return s.fail("a dotted key has more than %d parts; zoo's TOML files need at most a few", TOMLDepth)
			}
		case '=':
			s.keyParts = 0
			if err := s.count(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *tomlScan) count() error {
	s.values++
	if s.values > TOMLValues {
		return s.fail("more than %d values in one catalog: split it into several files", TOMLValues)
	}
	return nil
}

// header skips a [table] or [[array.of.tables]] header, counting its dotted
// parts.
func (s *tomlScan) header() error {
	parts := 1
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch c {
		case '\n':
			return nil // unterminated: toml reports it
		case '"', '\'':
			if err := s.skipString(); err != nil {
				return err
			}
			continue
		case '.':
			if parts++; parts > TOMLDepth {
				return s.fail("a table header has more than %d parts; zoo's TOML files need at most a few", TOMLDepth)
			}
		case ']':
			for s.pos < len(s.data) && s.data[s.pos] == ']' {
				s.pos++
			}
			s.lineStart = false
			return nil
		}
		s.pos++
	}
	return nil
}

// skipString moves past a basic, literal or multi-line string.
func (s *tomlScan) skipString() error {
	q := s.data[s.pos]
	if s.pos+2 < len(s.data) && s.data[s.pos+1] == q && s.data[s.pos+2] == q {
		s.pos += 3
		for s.pos < len(s.data) {
			switch c := s.data[s.pos]; {
			case c == '\\' && q == '"':
				s.pos += 2
				continue
			case c == '\n':
				s.line++
			case c == q && s.pos+2 < len(s.data) && s.data[s.pos+1] == q && s.data[s.pos+2] == q:
				s.pos += 3
				// Up to two more quotes belong to the string.
				for k := 0; k < 2 && s.pos < len(s.data) && s.data[s.pos] == q; k++ {
					s.pos++
				}
				return nil
			}
			s.pos++
		}
		return nil
	}
	s.pos++
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '\\' && q == '"':
			s.pos += 2
			continue
		case c == q:
			s.pos++
			return nil
		case c == '\n':
			return nil // unterminated: toml reports it
		}
		s.pos++
	}
	return nil
}
