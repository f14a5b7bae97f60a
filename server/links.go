package server

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"medzoo/zoo"
)

// A model page links the publication, each DOI and the Zenodo record, and
// offers a BibTeX entry to copy. They are derived here, from the catalog
// entry alone, so the page and any API client get the same links, and only
// http(s) URLs ever become links (a catalog cannot smuggle a javascript:
// URL into an href).

// citation is what /api/models/{id}/links answers.
type citation struct {
	// Publication is the entry's publication: a link when it is a URL,
	// else only its text (a venue such as "IWBI2022").
	Publication *citeLink  `json:"publication,omitempty"`
	DOI         []citeLink `json:"doi,omitempty"`
	// Zenodo is the Zenodo record the artifact comes from (or, failing
	// that, the record a Zenodo DOI names).
	Zenodo string `json:"zenodo,omitempty"`
	// SampleImages is where medigan shows a sample of a medigan model: the
	// table of its README, on GitHub. The explorer links it rather than
	// showing the image: its policy loads nothing from other sites (img-src
	// 'self'), and it works offline.
	SampleImages string `json:"sample_images,omitempty"`
	BibTeX       string `json:"bibtex"`
}

// mediganSamples is medigan's table of models, each with a sample image.
const mediganSamples = "https://github.com/RichardObi/medigan#available-models"

// citeLink is a text and, when there is one, its http(s) URL.
type citeLink struct {
	Text string `json:"text"`
	URL  string `json:"url,omitempty"`
}

// links: GET /api/models/{id}/links
func (s *Server) links(w http.ResponseWriter, r *http.Request) {
	m, ok := s.pathModel(w, r)
	if !ok {
		return
	}
	writeJSON(w, citeModel(m))
}

func citeModel(m *zoo.Model) citation {
	var c citation
	if p := strings.TrimSpace(m.Publication); p != "" {
		c.Publication = &citeLink{Text: p, URL: httpURL(p)}
	}
	for _, d := range m.DOI {
		if l, ok := doiLink(d); ok {
			c.DOI = append(c.DOI, l)
		}
	}
	c.Zenodo = zenodoRecord(m.Artifact.URL)
	for _, d := range c.DOI {
		if c.Zenodo == "" {
			c.Zenodo = zenodoFromDOI(d.Text)
		}
	}
	if m.Upstream != nil {
		c.SampleImages = mediganSamples
	}
	c.BibTeX = bibtex(m, c)
	return c
}

// httpURL returns s when it is an absolute http(s) URL with a host, else "".
func httpURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\n\"<>") {
		return ""
	}
	return u.String()
}

// doiPrefix matches what a DOI starts with: 10.NNNN/.
var doiPrefix = regexp.MustCompile(`^10\.\d{4,9}/\S+$`)

// doiLink reads a catalog DOI: a bare DOI links to doi.org, a URL (some
// entries give https://doi.org/...) is kept as given and its DOI, when it
// has one, is the text.
func doiLink(d string) (citeLink, bool) {
	d = strings.TrimSpace(d)
	if d == "" {
		return citeLink{}, false
	}
	if u := httpURL(d); u != "" {
		text := d
		if pu, _ := url.Parse(d); pu != nil && (pu.Host == "doi.org" || pu.Host == "dx.doi.org") {
			text = strings.TrimPrefix(pu.Path, "/")
		}
		return citeLink{Text: text, URL: u}, true
	}
	d = strings.TrimPrefix(strings.TrimPrefix(d, "doi:"), "DOI:")
	if !doiPrefix.MatchString(d) {
		return citeLink{Text: d}, true
	}
	return citeLink{Text: d, URL: (&url.URL{Scheme: "https", Host: "doi.org", Path: "/" + d}).String()}, true
}

// zenodoRecordPath is a Zenodo record's path: /record/N or /records/N,
// perhaps followed by /files/NAME.
var zenodoRecordPath = regexp.MustCompile(`^/(records?)/(\d+)(/|$)`)

// zenodoRecord is the record page of a Zenodo file URL such as
// https://zenodo.org/record/7031735/files/X.zip?download=1, else "".
func zenodoRecord(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || (u.Host != "zenodo.org" && u.Host != "www.zenodo.org") {
		return ""
	}
	m := zenodoRecordPath.FindStringSubmatch(u.Path)
	if m == nil {
		return ""
	}
	return "https://zenodo.org/" + m[1] + "/" + m[2]
}

// zenodoDOI is a DOI that Zenodo minted: 10.5281/zenodo.N.
var zenodoDOI = regexp.MustCompile(`^10\.5281/zenodo\.(\d+)$`)

func zenodoFromDOI(doi string) string {
	if m := zenodoDOI.FindStringSubmatch(doi); m != nil {
		return "https://zenodo.org/record/" + m[1]
	}
	return ""
}

// bibtex is a @misc entry for the model (a model, not its paper): title,
// authors as the catalog spells them (each kept verbatim in braces, since
// "medzoo developers" is no First Last), year, the first DOI, a URL (the
// Zenodo record, else the DOI's or the publication's), and a note naming
// the catalog entry and the publication.
func bibtex(m *zoo.Model, c citation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "@misc{%s,\n", bibKey(m.ID))
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "  %s = {%s},\n", name, value)
		}
	}
	field("title", bibEscape(firstNonEmpty(m.Title, m.ID)))
	var authors []string
	for _, a := range m.Authors {
		if a = strings.TrimSpace(a); a != "" {
			authors = append(authors, "{"+bibEscape(a)+"}")
		}
	}
	field("author", strings.Join(authors, " and "))
	field("year", bibEscape(strings.TrimSpace(m.Year)))
	var link string
	for _, d := range c.DOI {
		if doiPrefix.MatchString(d.Text) {
			field("doi", bibEscape(d.Text))
			link = d.URL
			break
		}
	}
	if c.Zenodo != "" {
		link = c.Zenodo
	}
	if link == "" && c.Publication != nil {
		link = c.Publication.URL
	}
	// url is verbatim in biblatex; httpURL refused spaces, quotes and
	// angle brackets, and braces would end the field, so they are escaped.
	field("url", strings.NewReplacer("{", "%7B", "}", "%7D").Replace(link))
	note := "Generative model " + bibEscape(m.ID)
	if m.Version != "" {
		note += ", version " + bibEscape(m.Version)
	}
	note += ", in the medzoo catalog"
	if c.Publication != nil && c.Publication.URL == "" {
		note += "; publication: " + bibEscape(c.Publication.Text)
	}
	field("note", note)
	s := strings.TrimSuffix(b.String(), ",\n")
	return s + "\n}\n"
}

// bibKey makes a citation key of an id: letters, digits, _ - : only.
func bibKey(id string) string {
	k := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == ':' {
			return r
		}
		return '_'
	}, id)
	return "zoo:" + k
}

// bibEscape writes text so that (La)TeX prints it as is.
var bibEscape = strings.NewReplacer(
	`\`, `\textbackslash{}`, "{", `\{`, "}", `\}`, "%", `\%`, "&", `\&`, "$", `\$`,
	"#", `\#`, "_", `\_`, "~", `\textasciitilde{}`, "^", `\textasciicircum{}`,
	"\n", " ", "\r", " ",
).Replace

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return x
		}
	}
	return ""
}
