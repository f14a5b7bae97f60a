package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"medzoo/internal/editdist"
)

// Text normalisation shared by the index and the query side, so that both
// cut and fold words the same way. Changing anything here changes what an
// index holds: bump indexFormat.

// foldTable maps accented Latin letters to plain ones, so "tumör" finds
// "tumor" (no x/text dependency for a few dozen letters).
var foldTable = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'æ': "ae", 'ç': "c", 'ć': "c", 'č': "c", 'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ī': "i", 'į': "i", 'ı': "i",
	'ł': "l", 'ľ': "l", 'ĺ': "l", 'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ő': "o", 'œ': "oe",
	'ŕ': "r", 'ř': "r", 'ś': "s", 'š': "s", 'ş': "s", 'ß': "ss", 'ť': "t", 'ţ': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ū': "u", 'ů': "u", 'ű': "u", 'ų': "u",
	'ý': "y", 'ÿ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
}

// fold lower-cases s and removes the accents foldTable knows.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		r = unicode.ToLower(r)
		if f, ok := foldTable[r]; ok {
			b.WriteString(f)
			continue
		}
		if unicode.Is(unicode.Mn, r) { // combining marks of decomposed text
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// joiner runes glue the parts of a compound ("x-ray", "WGAN-GP",
// "t1-weighted", "pix2pix.HD"): the parts are words and so is their
// concatenation, so "xray" finds "x-ray" and "x ray" finds "xray".
func isJoiner(r rune) bool {
	return r == '-' || r == '/' || r == '.' || r == '\'' || r == '’' || r == '+'
}

// words splits s into folded words, the way the catalog text is indexed:
//   - runs of letters and digits are words ("128x128", "t1", "ray14");
//   - a compound joined by - / . ' + also yields its concatenation
//     ("x-ray" -> x, ray, xray);
//   - camel case also yields its parts ("CycleGAN" -> cyclegan, cycle, gan;
//     "HyperKvasir" -> hyperkvasir, hyper, kvasir), so a part finds the whole;
//   - a number with leading zeros also yields the number ("00008" -> 8).
//
// emit is called for each word; base words (the parts of compounds) come
// with extra=false, derived ones with extra=true.
func words(s string, emit func(w string, extra bool)) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			wordsRunes(s, emit)
			return
		}
	}
	n := len(s)
	var buf [8]string
	for i := 0; i < n; {
		if !isWordByte(s[i]) {
			i++
			continue
		}
		parts := buf[:0]
		for i < n {
			j := i
			for j < n && isWordByte(s[j]) {
				j++
			}
			parts = append(parts, s[i:j])
			i = j
			if i+1 < n && isJoinerByte(s[i]) && isWordByte(s[i+1]) {
				i++
				continue
			}
			break
		}
		for _, p := range parts {
			emitWordASCII(p, emit)
		}
		if len(parts) > 1 {
			emit(lowerASCII(strings.Join(parts, "")), true)
		}
	}
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isJoinerByte(c byte) bool { return c == '-' || c == '/' || c == '.' || c == '\'' || c == '+' }

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func emitWordASCII(p string, emit func(string, bool)) {
	w := lowerASCII(p)
	emit(w, false)
	if w != p { // has capitals: maybe camel case
		if camel := camelParts(p); len(camel) > 1 {
			for _, c := range camel {
				emit(lowerASCII(c), true)
			}
		}
	}
	if len(w) > 1 && w[0] == '0' && allDigits(w) {
		if t := strings.TrimLeft(w, "0"); t != "" {
			emit(t, true)
		} else {
			emit("0", true)
		}
	}
}

// wordsRunes is words for text beyond ASCII.
func wordsRunes(s string, emit func(w string, extra bool)) {
	rs := []rune(s)
	n := len(rs)
	i := 0
	for i < n {
		if !isWordRune(rs[i]) {
			i++
			continue
		}
		// One compound: words separated by single joiners.
		var parts []string
		for i < n {
			j := i
			for j < n && isWordRune(rs[j]) {
				j++
			}
			parts = append(parts, string(rs[i:j]))
			i = j
			if i+1 < n && isJoiner(rs[i]) && isWordRune(rs[i+1]) {
				i++
				continue
			}
			break
		}
		for _, p := range parts {
			emitWord(p, emit)
		}
		if len(parts) > 1 {
			emit(fold(strings.Join(parts, "")), true)
		}
	}
}

func emitWord(p string, emit func(string, bool)) {
	w := fold(p)
	emit(w, false)
	if camel := camelParts(p); len(camel) > 1 {
		for _, c := range camel {
			emit(fold(c), true)
		}
	}
	if len(w) > 1 && w[0] == '0' && allDigits(w) {
		if t := strings.TrimLeft(w, "0"); t != "" {
			emit(t, true)
		} else {
			emit("0", true)
		}
	}
}

// camelParts splits "CycleGAN" into Cycle, GAN and "pix2pixHD" into
// pix2pix, HD; all-caps and all-lower words stay whole.
func camelParts(p string) []string {
	rs := []rune(p)
	var out []string
	start := 0
	for k := 1; k < len(rs); k++ {
		prev, cur := rs[k-1], rs[k]
		lowerToUpper := (unicode.IsLower(prev) || unicode.IsDigit(prev)) && unicode.IsUpper(cur)
		acronymEnd := k+1 < len(rs) && unicode.IsUpper(prev) && unicode.IsUpper(cur) && unicode.IsLower(rs[k+1]) && k-start > 1
		if lowerToUpper || acronymEnd {
			out = append(out, string(rs[start:k]))
			start = k
		}
	}
	out = append(out, string(rs[start:]))
	// "GANs": a trailing lower-case s after capitals is a plural, not a word.
	if len(out) > 1 {
		merged := out[:0]
		for _, w := range out {
			if len(merged) > 0 && (w == "s" || len(w) < 2 && unicode.IsLower([]rune(w)[0])) {
				merged[len(merged)-1] += w
				continue
			}
			merged = append(merged, w)
		}
		out = merged
	}
	return out
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// baseWords returns only the base words of s, in order: the tokens a
// phrase is matched with.
func baseWords(s string) []string {
	var out []string
	words(s, func(w string, extra bool) {
		if !extra {
			out = append(out, w)
		}
	})
	return out
}

// stem is a small suffix stripper for English and medical words: plurals,
// -ing/-ed, and the -graphy/-gram family (mammography, mammogram and
// mammographic share "mammogra"). It is deliberately conservative: words
// with digits and short words are left alone.
func stem(w string) string {
	if len(w) < 4 || strings.IndexFunc(w, unicode.IsDigit) >= 0 {
		return w
	}
	for _, suf := range []string{"ographies", "ographic", "ography", "ographs", "ograph", "ograms", "ogram"} {
		if strings.HasSuffix(w, suf) && len(w)-len(suf) >= 3 {
			return w[:len(w)-len(suf)] + "ogra"
		}
	}
	for _, suf := range []string{"ations", "ation"} {
		if strings.HasSuffix(w, suf) && len(w)-len(suf) >= 4 {
			return w[:len(w)-len(suf)]
		}
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "zes"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
	case strings.HasSuffix(w, "s"):
		w = w[:len(w)-1]
	}
	switch {
	case strings.HasSuffix(w, "ing") && len(w) >= 7:
		w = w[:len(w)-3]
	case strings.HasSuffix(w, "ed") && len(w) >= 6:
		w = w[:len(w)-2]
	}
	return w
}

// typoBudget is how many edits a query word of this length may be from a
// catalog word and still count as a typo of it.
func typoBudget(w string) int {
	n := utf8.RuneCountInString(w)
	switch {
	case n < 4 || allDigits(w):
		return 0
	case n < 8:
		return 1
	}
	return 2
}

// withinDistance reports whether the edit distance between a and b is at
// most k, and what it is. It gives up early once k is exceeded, which makes
// scanning a whole vocabulary cheap.
func withinDistance(a, b string, k int) (int, bool) { return withinDistanceB(a, b, k) }

// withinDistanceB is withinDistance for a vocabulary word held as bytes.
func withinDistanceB[S ~string | ~[]byte](a string, b S, k int) (int, bool) {
	la, lb := len(a), len(b)
	if d := la - lb; d > k || -d > k {
		return 0, false
	}
	if a == string(b) {
		return 0, true
	}
	// ASCII fast path; fall back to runes.
	for i := 0; i < la; i++ {
		if a[i] >= utf8.RuneSelf {
			d := editdist.Distance(a, string(b))
			return d, d <= k
		}
	}
	for i := 0; i < lb; i++ {
		if b[i] >= utf8.RuneSelf {
			d := editdist.Distance(a, string(b))
			return d, d <= k
		}
	}
	if lb+1 > 64 {
		d := editdist.Distance(a, string(b))
		return d, d <= k
	}
	// Optimal string alignment distance (a swap of neighbours is one
	// edit: "mamography" and "mammogrpahy" are both one typo away), over
	// three rows.
	var buf [3][64]int
	pp, prev, cur := buf[0][:lb+1], buf[1][:lb+1], buf[2][:lb+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= la; i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= lb; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, pp[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > k {
			return rowMin, false
		}
		pp, prev, cur = prev, cur, pp
	}
	return prev[lb], prev[lb] <= k
}
