package validate

import (
	"bytes"
	"regexp"
	"strings"

	"medzoo/share"
)

// LicensePlaceholder is the first line of the LICENSE zoo init writes;
// validate refuses a LICENSE that still holds it.
const LicensePlaceholder = "TODO: replace this whole file with the licence text of the weights"

// TODO is the marker zoo init puts in every value it cannot know. A value
// (in model.toml) or a line (in README.md) that still holds it is a
// problem, so that a skeleton never passes for a model directory.
const TODO = "TODO"

// A card section: what its heading must say (lower case), and the heading
// zoo init writes, which the fix names.
type section struct {
	match   *regexp.Regexp
	heading string
	what    string
}

// cardSections are the model card's required headings, after medigan's
// metadata and the model-card literature: who may use the images for
// what, what the model learnt from, and where it fails.
var cardSections = []section{
	{regexp.MustCompile(`intended use`), "## Intended use", "who may use the images and for what (and what not: clinical decisions)"},
	{regexp.MustCompile(`training data`), "## Training data", "what the model was trained on: source, size, licence, preprocessing"},
	{regexp.MustCompile(`limitation`), "## Limitations", "where the model fails, its biases, what its images lack"},
}

// texts checks LICENSE, README.md and the TODO markers of model.toml. A
// file share.Open already found missing, empty or unreadable is left to
// its problem there.
func texts(dir string, r *Report, pe *share.ProblemsError) {
	reported := map[string]bool{}
	if pe != nil {
		for _, p := range pe.Problems {
			if p.Line == 0 {
				reported[p.Source] = true
			}
		}
	}
	read := func(name string) []byte {
		if reported[name] {
			return nil
		}
		data, err := share.ReadText(dir, name)
		if err != nil {
			return nil // share.Open says why
		}
		return data
	}
	if data := read(share.LicenseFile); data != nil {
		checkLicense(data, r)
	}
	if data := read(share.CardFile); data != nil {
		checkCard(data, r)
	}
	if data := read(share.EntryFile); data != nil {
		checkTODO(data, r)
	}
}

func checkLicense(data []byte, r *Report) {
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		r.problem(share.LicenseFile, 1, "holds only blank space: put the licence text of the weights here")
		r.check("licence", false, "blank")
	case bytes.Contains(data, []byte(LicensePlaceholder)):
		r.problem(share.LicenseFile, lineOf(data, []byte(LicensePlaceholder)), "is zoo init's placeholder: replace the whole file with the licence text of the weights (the licence model.toml's license names)")
		r.check("licence", false, "still the placeholder")
	default:
		r.check("licence", true, "%d bytes", len(data))
	}
}

func checkCard(data []byte, r *Report) {
	lines := strings.Split(string(data), "\n")
	var headings []string
	for _, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "#") {
			headings = append(headings, strings.ToLower(strings.TrimLeft(t, "# ")))
		}
	}
	// A missing section is reported at the end of the card, where it
	// would be added.
	end := len(lines)
	if end > 1 && lines[end-1] == "" {
		end--
	}
	ok := true
	for _, s := range cardSections {
		found := false
		for _, h := range headings {
			found = found || s.match.MatchString(h)
		}
		if !found {
			ok = false
			r.problem(share.CardFile, end, "no %q section: add a heading %q with %s", s.heading[3:], s.heading, s.what)
		}
	}
	if !strings.Contains(strings.ToLower(string(data)), "synthetic") {
		ok = false
		r.problem(share.CardFile, 1, "the card never says that the model's images are synthetic: say so (e.g. \"Every image this model makes is synthetic: it shows no real patient.\")")
	}
	todos := 0
	for i, l := range lines {
		if strings.Contains(l, TODO) {
			todos++
			r.problem(share.CardFile, i+1, "still says TODO: write this part of the card")
		}
	}
	r.check("card", ok && todos == 0, "sections intended use, training data, limitations; says synthetic; %d TODO line(s)", todos)
}

// checkTODO reports each value of model.toml that still holds TODO (a
// comment may mention it: zoo init's comments do).
func checkTODO(data []byte, r *Report) {
	n := 0
	for i, l := range strings.Split(string(data), "\n") {
		if v := stripComment(l); strings.Contains(v, TODO) {
			n++
			key, _, _ := strings.Cut(strings.TrimSpace(v), "=")
			r.problem(share.EntryFile, i+1, "%s is still TODO: fill it in", strings.TrimSpace(key))
		}
	}
	r.check("entry", n == 0, "%d TODO value(s)", n)
}

// stripComment is a TOML line without its comment: from the first # that
// is outside a string.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == '\\' && quote == '"':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == '#':
			return line[:i]
		}
	}
	return line
}

// lineOf is the 1-based line of data where sub first occurs.
func lineOf(data, sub []byte) int {
	i := bytes.Index(data, sub)
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}
