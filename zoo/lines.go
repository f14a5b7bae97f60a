package zoo

import (
	"strconv"
	"strings"
)

// lineIndex maps key paths (see pathKey) to the 1-based line that defines
// them: table headers, keys, and the elements of multi-line arrays.
type lineIndex map[string]int

func pathKey(parts []string) string { return strings.Join(parts, "\x1f") }

// find returns the line of path, or of its nearest ancestor that has one (a
// missing key is reported where its table starts), or 1.
func (ix lineIndex) find(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := ix[pathKey(path[:n])]; ok {
			return l
		}
	}
	return 1
}

// scanLines records where each key of a TOML document is defined. It is a
// structural scan, not a parser: it runs only on text that toml.Decode has
// accepted, and on anything it does not follow it just moves on (a wrong
// line number is better than no message). Array-of-tables elements get
// "#i" path parts, counted per table path, so model 3's url is
// model/#3/artifact/url, which MetaData cannot tell from model 0's.
func scanLines(src string) lineIndex {
	s := &lineScanner{src: src, line: 1, ix: lineIndex{}, arrays: map[string]int{}}
	s.document()
	return s.ix
}

type lineScanner struct {
	src    string
	pos    int
	line   int
	ix     lineIndex
	arrays map[string]int // number of [[t]] headers seen per resolved path
	// stmts, when not nil, receives each statement (a table header or a
	// key = value) with the lines it spans: what catalog add needs to tell
	// an entry's text from the comments around it.
	stmts *[]statement
}

// statement is one table header or key = value of a TOML text, by line.
type statement struct {
	first, last int      // 1-based lines it spans (a multi-line value spans several)
	table       []string // for a header, its resolved path (model, #3); nil for a key
	array       bool     // a [[header]]
}

// scanStatements lists the statements of src (a text toml.Decode
// accepted) in order.
func scanStatements(src string) []statement {
	var out []statement
	s := &lineScanner{src: src, line: 1, ix: lineIndex{}, arrays: map[string]int{}, stmts: &out}
	s.document()
	return out
}

func (s *lineScanner) peek(off int) byte {
	if s.pos+off < len(s.src) {
		return s.src[s.pos+off]
	}
	return 0
}

func (s *lineScanner) advance() {
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

// space skips blanks, and with nl also newlines and comments.
func (s *lineScanner) space(nl bool) {
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; {
		case c == ' ' || c == '\t' || c == '\r':
			s.pos++
		case nl && c == '\n':
			s.advance()
		case nl && c == '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

func (s *lineScanner) record(path []string) {
	k := pathKey(path)
	if _, ok := s.ix[k]; !ok {
		s.ix[k] = s.line
	}
}

func (s *lineScanner) document() {
	var table []string
	for {
		s.space(true)
		if s.pos >= len(s.src) {
			return
		}
		start, first := s.pos, s.line
		if s.src[s.pos] == '[' {
			array := s.peek(1) == '['
			table = s.header()
			if s.stmts != nil {
				*s.stmts = append(*s.stmts, statement{first: first, last: s.line, table: table, array: array})
			}
		} else {
			keys := s.key()
			path := append(append([]string{}, table...), keys...)
			s.record(path)
			s.space(false)
			if s.peek(0) == '=' {
				s.pos++
				s.value(path)
			}
			if s.stmts != nil {
				*s.stmts = append(*s.stmts, statement{first: first, last: s.line})
			}
		}
		if s.pos == start { // not understood: skip a byte rather than loop
			s.advance()
		}
	}
}

// header reads [a.b] or [[a.b]] and returns the resolved table path.
func (s *lineScanner) header() []string {
	array := s.peek(1) == '['
	if array {
		s.pos += 2
	} else {
		s.pos++
	}
	keys := s.key()
	s.space(false)
	for s.pos < len(s.src) && s.src[s.pos] == ']' {
		s.pos++
	}
	var path []string
	for i, k := range keys {
		path = append(path, k)
		n := s.arrays[pathKey(path)]
		switch {
		case i == len(keys)-1 && array:
			s.arrays[pathKey(path)] = n + 1
			path = append(path, "#"+strconv.Itoa(n))
		case n > 0: // a parent that is an array of tables: its last element
			path = append(path, "#"+strconv.Itoa(n-1))
		}
	}
	s.record(path)
	return path
}

// key reads a possibly dotted key: a.b, "a.b".c, 'lit'.
func (s *lineScanner) key() []string {
	var parts []string
	for {
		s.space(false)
		switch s.peek(0) {
		case '"':
			lit := s.skipString('"')
			if u, err := strconv.Unquote(lit); err == nil {
				parts = append(parts, u)
			} else {
				parts = append(parts, strings.Trim(lit, `"`))
			}
		case '\'':
			parts = append(parts, strings.Trim(s.skipString('\''), "'"))
		default:
			start := s.pos
			for s.pos < len(s.src) && isBareKeyByte(s.src[s.pos]) {
				s.pos++
			}
			if s.pos == start {
				return parts
			}
			parts = append(parts, s.src[start:s.pos])
		}
		s.space(false)
		if s.peek(0) != '.' {
			return parts
		}
		s.pos++
	}
}

// skipString moves past the one-line string that quote q opens at s.pos
// (basic strings, q == '"', honour backslash escapes) and returns its text,
// quotes included. An unterminated string ends at the end of the line.
func (s *lineScanner) skipString(q byte) string {
	start := s.pos
	s.pos++
	for s.pos < len(s.src) && s.src[s.pos] != q && s.src[s.pos] != '\n' {
		if q == '"' && s.src[s.pos] == '\\' {
			s.pos++
		}
		s.pos++
	}
	s.pos = min(s.pos, len(s.src))
	if s.pos < len(s.src) && s.src[s.pos] == q {
		s.pos++
	}
	return s.src[start:s.pos]
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips one value, recording the elements of arrays and the keys of
// inline tables under path.
func (s *lineScanner) value(path []string) {
	s.space(false)
	switch {
	case strings.HasPrefix(s.src[s.pos:], `"""`):
		s.multiline(`"""`, true)
	case strings.HasPrefix(s.src[s.pos:], `'''`):
		s.multiline(`'''`, false)
	case s.peek(0) == '"' || s.peek(0) == '\'':
		s.skipString(s.peek(0))
	case s.peek(0) == '[':
		s.pos++
		for i := 0; ; i++ {
			s.space(true)
			if s.pos >= len(s.src) {
				return
			}
			if s.src[s.pos] == ']' {
				s.pos++
				return
			}
			el := append(append([]string{}, path...), "#"+strconv.Itoa(i))
			s.record(el)
			start := s.pos
			s.value(el)
			s.space(true)
			if s.peek(0) == ',' {
				s.pos++
			} else if s.pos == start {
				s.advance()
			}
		}
	case s.peek(0) == '{':
		s.pos++
		for {
			s.space(true)
			if s.pos >= len(s.src) {
				return
			}
			if s.src[s.pos] == '}' {
				s.pos++
				return
			}
			start := s.pos
			keys := s.key()
			kp := append(append([]string{}, path...), keys...)
			s.record(kp)
			s.space(false)
			if s.peek(0) == '=' {
				s.pos++
				s.value(kp)
			}
			s.space(true)
			if s.peek(0) == ',' {
				s.pos++
			} else if s.pos == start {
				s.advance()
			}
		}
	default: // number, boolean, date-time
		for s.pos < len(s.src) && !strings.ContainsRune(",]}#\n", rune(s.src[s.pos])) {
			s.pos++
		}
	}
}

// multiline skips a multi-line string (basic or literal), which may end in up to two extra
// quote characters.
func (s *lineScanner) multiline(delim string, escapes bool) {
	s.pos += 3
	for s.pos < len(s.src) {
		if escapes && s.src[s.pos] == '\\' {
			s.pos++
			if s.pos < len(s.src) && s.src[s.pos] == '\n' {
				s.line++
			}
			s.pos++
			continue
		}
		if strings.HasPrefix(s.src[s.pos:], delim) {
			s.pos += 3
			for n := 0; n < 2 && s.pos < len(s.src) && s.src[s.pos] == delim[0]; n++ {
				s.pos++
			}
			return
		}
		s.advance()
	}
}
