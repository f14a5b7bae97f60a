package zenodo

import (
	"fmt"
	"html"
	"regexp"
	"strings"

	"medzoo/zoo"
)

// UploadType is the Zenodo type of a shared model: "software". model.pt is
// a TorchScript archive, code (its code/ directory) that runs with its
// weights, not data to be read; Zenodo's software records carry a version,
// which a catalog entry has, and are cited as software, which is how a
// reader reuses a generator. A data set of images the model made would be
// a "dataset".
const UploadType = "software"

// Metadata is the "metadata" object of a deposition, with the fields zoo
// sets (developers.zenodo.org, "Deposition metadata").
type Metadata struct {
	UploadType         string              `json:"upload_type"`
	Title              string              `json:"title"`
	Creators           []Creator           `json:"creators"`
	Description        string              `json:"description"` // HTML
	AccessRight        string              `json:"access_right"`
	License            string              `json:"license"`
	Keywords           []string            `json:"keywords,omitempty"`
	RelatedIdentifiers []RelatedIdentifier `json:"related_identifiers,omitempty"`
	References         []string            `json:"references,omitempty"`
	Version            string              `json:"version,omitempty"`
	Notes              string              `json:"notes,omitempty"`
	// PrereserveDOI asks Zenodo for the DOI before publishing, so that a
	// draft already knows it.
	PrereserveDOI bool `json:"prereserve_doi"`
}

// Creator is one author, "Family name, Given names" as Zenodo asks.
type Creator struct {
	Name string `json:"name"`
}

// RelatedIdentifier links the record to another work: the model's paper.
type RelatedIdentifier struct {
	Identifier string `json:"identifier"`
	Relation   string `json:"relation"` // isSupplementTo: the model supplements its paper
	Scheme     string `json:"scheme,omitempty"`
}

// ProblemsError lists what in the entry keeps it from becoming a Zenodo
// record, each with its fix, so that all is fixed in one pass.
type ProblemsError struct{ Problems []string }

func (e *ProblemsError) Error() string {
	return "model.toml cannot describe a Zenodo record:\n  " + strings.Join(e.Problems, "\n  ")
}

// EntryMetadata is the deposition metadata of a model: its catalog entry
// (title, authors, description, licence, tags, modality and organ, paper
// DOIs, version) and its card, README.md.
func EntryMetadata(m *zoo.Model, card []byte) (Metadata, error) {
	var problems []string
	md := Metadata{
		UploadType:    UploadType,
		Title:         strings.TrimSpace(m.Title),
		AccessRight:   "open",
		Version:       m.Version,
		PrereserveDOI: true,
	}
	if md.Title == "" {
		md.Title = m.ID
	}
	for _, a := range m.Authors {
		if a = strings.TrimSpace(a); a != "" {
			md.Creators = append(md.Creators, Creator{Name: a})
		}
	}
	if len(md.Creators) == 0 {
		problems = append(problems, `authors is empty, and a Zenodo record needs at least one creator: add authors = ["Family, Given", …]`)
	}
	lic, problem := License(m.License)
	if problem != "" {
		problems = append(problems, problem)
	}
	md.License = lic
	md.Keywords = keywords(m.Tags, m.Modality, m.Organ)
	seen := map[string]bool{}
	addDOI := func(doi string) {
		if key := strings.ToLower(doi); !seen[key] {
			seen[key] = true
			md.RelatedIdentifiers = append(md.RelatedIdentifiers, RelatedIdentifier{Identifier: doi, Relation: "isSupplementTo", Scheme: "doi"})
		}
	}
	for _, d := range m.DOI {
		doi, ok := DOI(d)
		if !ok {
			problems = append(problems, fmt.Sprintf("doi %q is not a DOI: give it as 10.NNNN/… or https://doi.org/10.NNNN/…", d))
			continue
		}
		addDOI(doi)
	}
	// publication is a link or a citation: a DOI link is one more related
	// identifier, a citation goes to the record's references.
	if pub := strings.TrimSpace(m.Publication); pub != "" {
		if doi, ok := DOI(pub); ok {
			addDOI(doi)
		} else if strings.HasPrefix(pub, "https://") || strings.HasPrefix(pub, "http://") {
			md.RelatedIdentifiers = append(md.RelatedIdentifiers, RelatedIdentifier{Identifier: pub, Relation: "isSupplementTo", Scheme: "url"})
		} else {
			md.References = []string{pub}
		}
	}
	md.Description = description(m, card)
	if len(problems) > 0 {
		return Metadata{}, &ProblemsError{Problems: problems}
	}
	return md, nil
}

// spdxID is the shape of an SPDX licence id (MIT, BSD-3-Clause,
// CC-BY-NC-4.0, GPL-3.0-or-later): one word, no expression.
var spdxID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+-]*$`)

// ambiguous are licence names the catalog holds that are no SPDX id but
// a family, with the ids they may mean.
var ambiguous = map[string]string{
	"bsd":                        "BSD-2-Clause or BSD-3-Clause",
	"bsd license":                "BSD-2-Clause or BSD-3-Clause",
	"gpl":                        "GPL-2.0-only, GPL-2.0-or-later, GPL-3.0-only or GPL-3.0-or-later",
	"gnu general public license": "GPL-2.0-only, GPL-2.0-or-later, GPL-3.0-only or GPL-3.0-or-later",
	"lgpl":                       "LGPL-2.1-only, LGPL-3.0-only, …",
	"apache":                     "Apache-2.0",
	"cc-by":                      "CC-BY-4.0 (or the version the weights are under)",
	"cc-by-nc":                   "CC-BY-NC-4.0 (or the version the weights are under)",
	"creative commons":           "CC-BY-4.0, CC-BY-NC-4.0, CC0-1.0, …",
}

// License maps the entry's SPDX licence id to Zenodo's licence id, which is
// the SPDX id in lower case (cc-by-4.0, mit, bsd-3-clause). A name that is
// no SPDX id gives the problem with its fix; an id Zenodo does not know is
// Zenodo's to refuse, and its answer names the field.
func License(spdx string) (id, problem string) {
	s := strings.TrimSpace(spdx)
	switch {
	case s == "":
		return "", `license is empty: a Zenodo record needs the licence of the weights as an SPDX id (license = "CC-BY-4.0", "MIT", "BSD-3-Clause", …)`
	case ambiguous[strings.ToLower(s)] != "":
		return "", fmt.Sprintf("license = %q names a family of licences, not one: give its SPDX id, %s (see LICENSE; https://spdx.org/licenses/)", s, ambiguous[strings.ToLower(s)])
	case !spdxID.MatchString(s):
		return "", fmt.Sprintf("license = %q is not an SPDX licence id, which Zenodo needs: give one such as CC-BY-4.0, MIT or BSD-3-Clause (https://spdx.org/licenses/); Zenodo takes one licence per record", s)
	}
	return strings.ToLower(s), ""
}

// DOI returns the bare DOI (10.NNNN/suffix) of a DOI or a doi.org link.
func DOI(s string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, prefix := range []string{"https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:"} {
		if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
			s = s[len(prefix):]
			break
		}
	}
	prefix, suffix, ok := strings.Cut(s, "/")
	if !ok || !strings.HasPrefix(prefix, "10.") || len(prefix) < 4 || suffix == "" || strings.ContainsAny(s, " \t\n") {
		return "", false
	}
	return s, true
}

// keywords joins the lists, keeping the first spelling of each word.
func keywords(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range lists {
		for _, k := range list {
			k = strings.TrimSpace(k)
			if key := strings.ToLower(k); k != "" && !seen[key] {
				seen[key] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// description is the record's HTML description: the entry's description,
// how zoo names the model, and the card, a paragraph per block of its
// Markdown (Zenodo renders a restricted HTML, not Markdown).
func description(m *zoo.Model, card []byte) string {
	var b strings.Builder
	if d := strings.TrimSpace(m.Description); d != "" {
		b.WriteString("<p>" + html.EscapeString(d) + "</p>\n")
	}
	fmt.Fprintf(&b, "<p>A generative model of medical images, shared with zoo (medzoo): catalog id <code>%s</code>, version %s. "+
		"The archive holds model.pt (TorchScript), model.toml (its catalog entry), LICENSE, README.md (the model card) and "+
		"MANIFEST.sha256. Every image the model makes is synthetic.</p>\n", html.EscapeString(m.ID), html.EscapeString(m.Version))
	text := strings.ReplaceAll(string(card), "\r\n", "\n")
	for _, block := range strings.Split(text, "\n\n") {
		block = strings.TrimSpace(block)
		if block == "" {
			continue
		}
		lines := strings.Split(block, "\n")
		for i, l := range lines {
			lines[i] = html.EscapeString(strings.TrimSpace(l))
		}
		b.WriteString("<p>" + strings.Join(lines, "<br>\n") + "</p>\n")
	}
	return strings.TrimSpace(b.String())
}
