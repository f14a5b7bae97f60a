package search

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"medzoo/zoo"
)

// The search index is an inverted index over a merged catalog, laid out as
// one flat little-endian byte slice so that a cached copy is usable straight
// from a memory-mapped file: opening it decodes nothing, and a query reads
// only the postings of the words it asks for. At 100,000 catalog entries the
// TOML takes tens of seconds to parse; the index answers in milliseconds.
//
// Layout: a fixed header (magic, format, counts, section table), then
// sections of u32 arrays and byte blobs. Strings are (offset, length) pairs
// into one deduplicated string blob.

// indexFormat changes whenever what the index holds or how words are cut
// changes; an index of another format is rebuilt.
const indexFormat = 2

const indexMagic = "ZOOSIDX\x00"

// Searchable fields of a model. A word's postings carry a bit mask of the
// fields it occurs in, so a field filter (--modality) and field weights
// need no second index.
const (
	fID = iota
	fTitle
	fModality
	fOrgan
	fGenerates
	fArchitecture
	fDataset
	fTags
	fUseCases
	fFunction
	fLicense
	fDescription
	fPublication // authors, publication, doi, year
	// fKeys are an entry's key names, not its values: its metric names
	// (CLF, FID) and the names of the fields it fills in (modality,
	// organ, dataset). medigan's search matches keys too ("dcgan mmg clf
	// modality" is one of its selector tests); they weigh less than any
	// value, so a word found as a value still ranks first.
	fKeys
	fSignature // conditions and outputs
	fOther     // dataset_type, version, upstream, training
	numFields
)

var fieldNames = [numFields]string{"id", "title", "modality", "organ", "generates", "architecture", "dataset", "tags",
	"use_cases", "function", "license", "description", "publication", "keys (metric and field names)", "signature", "other"}

// fieldWeights rank where a word was found: what a model is (id, title,
// modality, organ, what it generates) above what its prose mentions.
var fieldWeights = [numFields]float32{3.5, 3, 3, 3, 3, 2, 2, 1.5, 1.2, 1.2, 1, 0.6, 0.5, 0.3, 1, 0.4}

// Prefixes that keep the three kinds of terms apart in one sorted
// vocabulary. Plain words start with a letter or digit (they sort after).
const (
	kvPrefix = "\x02" // "\x02path=value": --where lookups
)

// Doc flags.
const (
	flagRunnable = 1 << iota
	flagDemo
	flagMask
	flagConditional
	flagPinned
	flagFuncNoise
	flagFuncI2I
	flagDeleted // replaced by a later catalog's entry with the same id
)

// docFields is the number of u32 in a doc record.
const (
	dID = iota * 2
	dTitle
	dModality
	dOrgan
	dArchitecture
	dLicense
	dDataset
	dGenerates
	dStrEnd
)
const (
	dWidth = dStrEnd + iota
	dHeight
	dDepth
	dFlags
	dSource
	dLine
	dOrder // catalog position: a replacing entry takes the replaced one's
	docFields
)

// Sections.
const (
	sStr = iota
	sTermBlob
	sTermStart // u32[nterms+1]
	sPostStart // u32[nterms+1]
	sDF        // u32[nterms]
	sPost
	sStemBlob
	sStemStart  // u32[nstems+1]
	sStemList   // u32 term ids
	sStemListAt // u32[nstems+1]
	sDocs       // u32[ndocs*docFields]
	sMetricName // u32[nmetrics*2] str refs
	sMetricAt   // u32[nmetrics+1]
	sMetricDoc  // u32[nentries]
	sMetricProv // u32[nentries]
	sMetricVal  // u64[nentries] float64 bits
	sProv       // u32[nprov*provFields]
	sSources    // u32[nsources*2]
	sPaths      // u32[npaths*2]: --where keys
	numSections
)

// Provenance record: direction, source, extractor, reference, meaning (str
// refs) and images.
const (
	pDirection = 0
	pSource    = 2
	pExtractor = 4
	pReference = 6
	pMeaning   = 8
	pImages    = 10
	provFields = 11
)

const headerSize = 8 + 4*8 + numSections*8

// ---- building ----

type termAcc struct {
	buf  []byte
	last uint32
	df   uint32
}

type metricAcc struct {
	name  string
	docs  []uint32
	provs []uint32
	vals  []float64
}

type provKey struct {
	direction, source, extractor, reference, meaning string
	images                                           int
}

type indexBuilder struct {
	sources  []string
	srcIdx   map[string]uint32
	ids      map[string]uint32 // lower-case id -> doc
	nLive    uint32
	toks     map[string][]tok // tokenized short strings (tags, modalities repeat)
	strs     map[string]uint32
	strBlob  []byte
	terms    map[string]*termAcc
	docs     []uint32
	metrics  map[string]*metricAcc // by lower-case name
	provs    map[provKey]uint32
	provList []provKey
	paths    map[string]bool
	nDocs    uint32
	local    map[string]uint16 // this doc's words and their fields
	localKV  map[string]bool
	varint   [binary.MaxVarintLen64]byte
}

type tok struct {
	w     string
	extra bool
}

// BuildIndex indexes a catalog. The result is what a cached index file
// holds after its header.
func BuildIndex(c *zoo.Catalog) []byte {
	b := newIndexBuilder()
	for _, s := range c.Sources {
		b.source(s)
	}
	for i := range c.Models {
		b.add(&c.Models[i])
	}
	return b.finish()
}

func newIndexBuilder() *indexBuilder {
	b := &indexBuilder{
		srcIdx:  map[string]uint32{},
		ids:     map[string]uint32{},
		toks:    map[string][]tok{},
		strs:    map[string]uint32{},
		terms:   map[string]*termAcc{},
		metrics: map[string]*metricAcc{},
		provs:   map[provKey]uint32{},
		paths:   map[string]bool{},
		local:   map[string]uint16{},
		localKV: map[string]bool{},
	}
	b.str("") // offset 0 is the empty string
	return b
}

func (b *indexBuilder) source(name string) uint32 {
	if i, ok := b.srcIdx[name]; ok {
		return i
	}
	i := uint32(len(b.sources))
	b.srcIdx[name] = i
	b.sources = append(b.sources, name)
	return i
}

func (b *indexBuilder) str(s string) uint32 {
	if off, ok := b.strs[s]; ok {
		return off
	}
	off := uint32(len(b.strBlob))
	b.strBlob = append(b.strBlob, s...)
	b.strs[strings.Clone(s)] = off // keys must not pin the parsed text
	return off
}

func (b *indexBuilder) strRef(dst []uint32, s string) {
	dst[0], dst[1] = b.str(s), uint32(len(s))
}

func (b *indexBuilder) text(field int, s string) {
	bit := uint16(1) << field
	if len(s) <= 80 {
		ts, ok := b.toks[s]
		if !ok {
			words(s, func(w string, extra bool) { ts = append(ts, tok{strings.Clone(w), extra}) })
			if len(b.toks) < 200000 {
				b.toks[strings.Clone(s)] = ts
			}
		}
		for _, t := range ts {
			b.local[t.w] |= bit
		}
		return
	}
	words(s, func(w string, _ bool) {
		if len(w) > 64 {
			return
		}
		b.local[w] |= bit
	})
}

func (b *indexBuilder) texts(field int, v []string) {
	for _, s := range v {
		b.text(field, s)
	}
}

// add indexes a model. A model whose id an earlier one has (ignoring
// case) replaces it, taking its place in catalog order, as merging
// catalogs does.
func (b *indexBuilder) add(m *zoo.Model) {
	src := b.source(m.Source)
	doc := b.nDocs
	b.nDocs++
	order := doc
	key := strings.ToLower(m.ID)
	if old, ok := b.ids[key]; ok {
		b.docs[int(old)*docFields+dFlags] |= flagDeleted
		order = b.docs[int(old)*docFields+dOrder]
	} else {
		b.nLive++
	}
	b.ids[strings.Clone(key)] = doc
	clear(b.local)
	clear(b.localKV)

	b.text(fID, m.ID)
	b.text(fTitle, m.Title)
	b.texts(fModality, m.Modality)
	b.texts(fOrgan, m.Organ)
	b.texts(fGenerates, m.Generates)
	b.text(fArchitecture, m.Architecture)
	b.texts(fDataset, m.Dataset)
	b.texts(fTags, m.Tags)
	b.texts(fUseCases, m.UseCases)
	b.text(fFunction, m.Function)
	b.text(fLicense, m.License)
	b.text(fDescription, m.Description)
	b.texts(fPublication, m.Authors)
	b.text(fPublication, m.Publication)
	b.texts(fPublication, m.DOI)
	b.text(fPublication, m.Year)
	for name := range m.Metrics {
		b.text(fKeys, name)
	}
	if s := m.Signature; s != nil {
		for _, c := range s.Conditions {
			b.text(fSignature, c.Name)
			b.texts(fSignature, c.Values)
		}
		for _, o := range s.Outputs {
			b.text(fSignature, o.Name)
			b.text(fSignature, o.Kind)
		}
		for _, in := range s.ImageInputs() {
			b.text(fSignature, in.Name)
			b.text(fSignature, in.Kind)
		}
	}
	b.text(fOther, m.DatasetType)
	if m.Demo {
		b.text(fOther, "demo demonstration")
	}
	if u := m.Upstream; u != nil {
		b.text(fOther, u.Package)
	}
	if t := m.Training; t != nil {
		b.text(fOther, t.DataSource)
	}

	keys := map[string]bool{}
	flattenKV(reflect.ValueOf(m).Elem(), "", func(path, value string) {
		if !b.paths[path] {
			b.paths[strings.Clone(path)] = true
		}
		if value != "" && !keys[path] {
			// The field names along the path (metrics.NAME.source gives
			// metrics, the metric's name and source).
			keys[path] = true
			b.text(fKeys, strings.ReplaceAll(path, ".", " "))
		}
		v := normValue(value)
		if v == "" || len(v) > 200 {
			return
		}
		b.localKV[kvPrefix+path+"="+v] = true
	})

	for w, mask := range b.local {
		b.post(w, doc, mask)
	}
	for t := range b.localKV {
		b.post(t, doc, 0)
	}

	// The doc record.
	rec := make([]uint32, docFields)
	b.strRef(rec[dID:], m.ID)
	b.strRef(rec[dTitle:], m.Title)
	b.strRef(rec[dModality:], strings.Join(m.Modality, "\x1f"))
	b.strRef(rec[dOrgan:], strings.Join(m.Organ, "\x1f"))
	b.strRef(rec[dArchitecture:], m.Architecture)
	b.strRef(rec[dLicense:], m.License)
	b.strRef(rec[dDataset:], strings.Join(m.Dataset, "\x1f"))
	b.strRef(rec[dGenerates:], strings.Join(m.Generates, "\x1f"))
	rec[dWidth], rec[dHeight], rec[dDepth] = uint32(max(m.Width, 0)), uint32(max(m.Height, 0)), uint32(max(m.Depth, 0))
	rec[dFlags] = docFlags(m, b.local)
	rec[dSource] = src
	rec[dLine] = uint32(max(m.Line, 0))
	rec[dOrder] = order
	b.docs = append(b.docs, rec...)

	for name, mt := range m.Metrics {
		key := strings.ToLower(name)
		acc := b.metrics[key]
		if acc == nil {
			acc = &metricAcc{name: strings.Clone(name)}
			b.metrics[key] = acc
		}
		pk := provKey{mt.Direction, mt.Source, mt.Extractor, mt.Reference, mt.Meaning, mt.Images}
		p, ok := b.provs[pk]
		if !ok {
			pk = provKey{strings.Clone(mt.Direction), strings.Clone(mt.Source), strings.Clone(mt.Extractor),
				strings.Clone(mt.Reference), strings.Clone(mt.Meaning), mt.Images}
			p = uint32(len(b.provList))
			b.provs[pk] = p
			b.provList = append(b.provList, pk)
		}
		// Two spellings of one name in one entry: the first wins.
		if n := len(acc.docs); n > 0 && acc.docs[n-1] == doc {
			continue
		}
		acc.docs = append(acc.docs, doc)
		acc.provs = append(acc.provs, p)
		acc.vals = append(acc.vals, mt.Value)
	}
}

func (b *indexBuilder) post(term string, doc uint32, mask uint16) {
	acc := b.terms[term]
	if acc == nil {
		acc = &termAcc{}
		b.terms[strings.Clone(term)] = acc
	}
	n := binary.PutUvarint(b.varint[:], uint64(doc-acc.last))
	acc.buf = append(acc.buf, b.varint[:n]...)
	n = binary.PutUvarint(b.varint[:], uint64(mask))
	acc.buf = append(acc.buf, b.varint[:n]...)
	acc.last = doc
	acc.df++
}

// docFlags derives the yes/no facts that --with-mask, --conditional and
// --function filter on; words holds the model's words and their fields.
func docFlags(m *zoo.Model, words map[string]uint16) uint32 {
	var f uint32
	if m.Runnable() {
		f |= flagRunnable
	}
	if m.Demo {
		f |= flagDemo
	}
	if m.Artifact.SHA256 != "" {
		f |= flagPinned
	}
	switch m.Function {
	case zoo.FunctionNoiseToImage:
		f |= flagFuncNoise
	case zoo.FunctionImageToImage:
		f |= flagFuncI2I
	}
	if hasMaskOutput(m, words) {
		f |= flagMask
	}
	if isConditional(m, words) {
		f |= flagConditional
	}
	return f
}

// hasMaskOutput: the model outputs segmentation masks with its images. A
// runnable model says so in its signature; for the others, the catalog's
// generates list or id ("..._W_MASKS") says it.
func hasMaskOutput(m *zoo.Model, words map[string]uint16) bool {
	if s := m.Signature; s != nil {
		for _, o := range s.Outputs {
			if o.Kind == zoo.KindMask {
				return true
			}
		}
		return false
	}
	const where = 1<<fGenerates | 1<<fID
	return (words["mask"]|words["masks"])&where != 0
}

// isConditional: the model takes a condition (class, age, density) that
// steers what it generates. Runnable models declare conditions in their
// signature; for the others the architecture, title or description says
// "conditional" (not "unconditional").
func isConditional(m *zoo.Model, words map[string]uint16) bool {
	if s := m.Signature; s != nil {
		return len(s.Conditions) > 0
	}
	const where = 1<<fArchitecture | 1<<fTitle | 1<<fDescription
	return (words["conditional"]|words["conditioned"])&where != 0 ||
		(words["cgan"]|words["cdcgan"])&(1<<fArchitecture) != 0
}

// kvSkip lists catalog paths --where does not index: prose (searched as
// free text instead), values unique to every entry, and metric values
// (which have their own numeric columns).
var kvSkip = map[string]bool{
	"id": true, "title": true, "description": true, "artifact.url": true, "artifact.sha256": true,
	"upstream.inputs": true, "training.command": true, "training.notes": true,
}

// flattenKV walks a model like its TOML form (tag names, lower case) and
// calls emit for every scalar leaf: list elements share their list's path.
func flattenKV(v reflect.Value, path string, emit func(path, value string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			flattenKV(v.Elem(), path, emit)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
			if name == "" || name == "-" || !t.Field(i).IsExported() {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			if kvSkip[p] {
				continue
			}
			flattenKV(v.Field(i), p, emit)
		}
	case reflect.Map:
		keys := v.MapKeys()
		for _, k := range keys {
			p := path + "." + strings.ToLower(k.String())
			if strings.HasPrefix(path, "metrics") && path == "metrics" {
				// metrics.NAME.value is a numeric column; meaning is prose.
				mv := v.MapIndex(k)
				t := mv.Type()
				for i := 0; i < t.NumField(); i++ {
					fname, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
					if fname == "value" || fname == "meaning" || fname == "" || fname == "-" {
						continue
					}
					flattenKV(mv.Field(i), p+"."+fname, emit)
				}
				continue
			}
			flattenKV(v.MapIndex(k), p, emit)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			flattenKV(v.Index(i), path, emit)
		}
	case reflect.String:
		emit(path, v.String())
	case reflect.Int, reflect.Int64, reflect.Int32:
		emit(path, strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		emit(path, strconv.FormatUint(v.Uint(), 10))
	case reflect.Float64, reflect.Float32:
		emit(path, strconv.FormatFloat(v.Float(), 'g', -1, 64))
	case reflect.Bool:
		emit(path, strconv.FormatBool(v.Bool()))
	}
}

// normValue folds a --where value: lower case, no accents, single spaces.
func normValue(s string) string {
	return strings.Join(strings.Fields(fold(s)), " ")
}

func (b *indexBuilder) finish() []byte {
	sources := b.sources
	// Vocabulary, sorted.
	terms := make([]string, 0, len(b.terms))
	for t := range b.terms {
		terms = append(terms, t)
	}
	sort.Strings(terms)
	var termBlob, post []byte
	termStart := make([]uint32, 0, len(terms)+1)
	postStart := make([]uint32, 0, len(terms)+1)
	df := make([]uint32, 0, len(terms))
	termID := make(map[string]uint32, len(terms))
	for i, t := range terms {
		termID[t] = uint32(i)
		termStart = append(termStart, uint32(len(termBlob)))
		termBlob = append(termBlob, t...)
		postStart = append(postStart, uint32(len(post)))
		post = append(post, b.terms[t].buf...)
		df = append(df, b.terms[t].df)
	}
	termStart = append(termStart, uint32(len(termBlob)))
	postStart = append(postStart, uint32(len(post)))

	// Stems of plain words: stem -> the words that share it.
	stems := map[string][]uint32{}
	for i, t := range terms {
		if strings.HasPrefix(t, kvPrefix) {
			continue
		}
		s := stem(t)
		stems[s] = append(stems[s], uint32(i))
	}
	stemKeys := make([]string, 0, len(stems))
	for s, ids := range stems {
		if len(ids) > 1 || s != terms[ids[0]] {
			stemKeys = append(stemKeys, s)
		}
	}
	sort.Strings(stemKeys)
	var stemBlob []byte
	var stemStart, stemList, stemListAt []uint32
	for _, s := range stemKeys {
		stemStart = append(stemStart, uint32(len(stemBlob)))
		stemBlob = append(stemBlob, s...)
		stemListAt = append(stemListAt, uint32(len(stemList)))
		stemList = append(stemList, stems[s]...)
	}
	stemStart = append(stemStart, uint32(len(stemBlob)))
	stemListAt = append(stemListAt, uint32(len(stemList)))

	// Metric columns, by name.
	mkeys := make([]string, 0, len(b.metrics))
	for k := range b.metrics {
		mkeys = append(mkeys, k)
	}
	sort.Strings(mkeys)
	var mName, mAt, mDoc, mProv []uint32
	var mVal []uint64
	for _, k := range mkeys {
		acc := b.metrics[k]
		ref := make([]uint32, 2)
		b.strRef(ref, acc.name)
		mName = append(mName, ref...)
		mAt = append(mAt, uint32(len(mDoc)))
		mDoc = append(mDoc, acc.docs...)
		mProv = append(mProv, acc.provs...)
		for _, v := range acc.vals {
			mVal = append(mVal, math.Float64bits(v))
		}
	}
	mAt = append(mAt, uint32(len(mDoc)))

	prov := make([]uint32, 0, len(b.provList)*provFields)
	for _, p := range b.provList {
		rec := make([]uint32, provFields)
		b.strRef(rec[pDirection:], p.direction)
		b.strRef(rec[pSource:], p.source)
		b.strRef(rec[pExtractor:], p.extractor)
		b.strRef(rec[pReference:], p.reference)
		b.strRef(rec[pMeaning:], p.meaning)
		rec[pImages] = uint32(max(p.images, 0))
		prov = append(prov, rec...)
	}
	var src []uint32
	for _, s := range sources {
		ref := make([]uint32, 2)
		b.strRef(ref, s)
		src = append(src, ref...)
	}
	pathList := make([]string, 0, len(b.paths))
	for p := range b.paths {
		pathList = append(pathList, p)
	}
	sort.Strings(pathList)
	var paths []uint32
	for _, p := range pathList {
		ref := make([]uint32, 2)
		b.strRef(ref, p)
		paths = append(paths, ref...)
	}

	sections := [numSections][]byte{
		sStr: b.strBlob, sTermBlob: termBlob, sTermStart: u32s(termStart), sPostStart: u32s(postStart), sDF: u32s(df),
		sPost: post, sStemBlob: stemBlob, sStemStart: u32s(stemStart), sStemList: u32s(stemList), sStemListAt: u32s(stemListAt),
		sDocs: u32s(b.docs), sMetricName: u32s(mName), sMetricAt: u32s(mAt), sMetricDoc: u32s(mDoc), sMetricProv: u32s(mProv),
		sMetricVal: u64s(mVal), sProv: u32s(prov), sSources: u32s(src), sPaths: u32s(paths),
	}
	counts := [8]uint32{b.nDocs, uint32(len(terms)), uint32(len(stemKeys)), uint32(len(mkeys)), uint32(len(b.provList)),
		uint32(len(sources)), uint32(len(pathList)), b.nLive}
	var out bytes.Buffer
	out.WriteString(indexMagic)
	for _, c := range counts {
		binary.Write(&out, binary.LittleEndian, c)
	}
	off := uint32(headerSize)
	for _, s := range sections {
		binary.Write(&out, binary.LittleEndian, off)
		binary.Write(&out, binary.LittleEndian, uint32(len(s)))
		off += uint32(pad8(len(s)))
	}
	for _, s := range sections {
		out.Write(s)
		out.Write(make([]byte, pad8(len(s))-len(s)))
	}
	return out.Bytes()
}

func pad8(n int) int { return (n + 7) &^ 7 }

func u32s(v []uint32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], x)
	}
	return out
}

func u64s(v []uint64) []byte {
	out := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(out[8*i:], x)
	}
	return out
}

// ---- reading ----

// Index is a read-only view of an index's bytes. Its methods never copy
// the bytes; a query touches only what it needs.
type Index struct {
	data                                                      []byte
	sec                                                       [numSections][]byte
	nDocs, nTerms, nStems, nMetrics, nProvs, nSources, nPaths int
	nLive                                                     int
	closer                                                    func() error
	firstPlain                                                int // first term id that is a plain word
	Sources                                                   []zoo.CatalogSource
	Built                                                     bool // built by this process (not read from the cache)
	cachePath                                                 string
}

var errBadIndex = errors.New("search index is damaged")

// OpenIndexBytes checks an index's structure and returns a view of it.
func OpenIndexBytes(data []byte) (*Index, error) {
	if len(data) < headerSize || string(data[:8]) != indexMagic {
		return nil, errBadIndex
	}
	ix := &Index{data: data}
	c := func(i int) int { return int(binary.LittleEndian.Uint32(data[8+4*i:])) }
	ix.nDocs, ix.nTerms, ix.nStems, ix.nMetrics, ix.nProvs, ix.nSources, ix.nPaths = c(0), c(1), c(2), c(3), c(4), c(5), c(6)
	ix.nLive = c(7)
	for i := 0; i < numSections; i++ {
		at := 8 + 4*8 + 8*i
		off := int(binary.LittleEndian.Uint32(data[at:]))
		n := int(binary.LittleEndian.Uint32(data[at+4:]))
		if off < headerSize || off+n > len(data) || off > len(data) {
			return nil, errBadIndex
		}
		ix.sec[i] = data[off : off+n]
	}
	want := map[int]int{
		sTermStart: 4 * (ix.nTerms + 1), sPostStart: 4 * (ix.nTerms + 1), sDF: 4 * ix.nTerms,
		sStemStart: 4 * (ix.nStems + 1), sStemListAt: 4 * (ix.nStems + 1), sDocs: 4 * docFields * ix.nDocs,
		sMetricName: 8 * ix.nMetrics, sMetricAt: 4 * (ix.nMetrics + 1), sProv: 4 * provFields * ix.nProvs,
		sSources: 8 * ix.nSources, sPaths: 8 * ix.nPaths,
	}
	for s, n := range want {
		if len(ix.sec[s]) != n {
			return nil, errBadIndex
		}
	}
	if n := len(ix.sec[sMetricDoc]); n != len(ix.sec[sMetricProv]) || 2*n != len(ix.sec[sMetricVal]) {
		return nil, errBadIndex
	}
	if ix.u32(sTermStart, ix.nTerms) != uint32(len(ix.sec[sTermBlob])) || ix.u32(sPostStart, ix.nTerms) != uint32(len(ix.sec[sPost])) ||
		ix.u32(sStemStart, ix.nStems) != uint32(len(ix.sec[sStemBlob])) || ix.u32(sStemListAt, ix.nStems)*4 != uint32(len(ix.sec[sStemList])) ||
		int(ix.u32(sMetricAt, ix.nMetrics))*4 != len(ix.sec[sMetricDoc]) {
		return nil, errBadIndex
	}
	if !ix.offsetsValid() {
		return nil, errBadIndex
	}
	// Plain words sort after the prefixed terms.
	ix.firstPlain = sort.Search(ix.nTerms, func(i int) bool { return ix.term(i) >= "0" })
	return ix, nil
}

// Close releases a memory-mapped index.
func (ix *Index) Close() error {
	if ix.closer != nil {
		err := ix.closer()
		ix.closer = nil
		return err
	}
	return nil
}

// Len is the number of models in the merged catalog.
func (ix *Index) Len() int { return ix.nLive }

func (ix *Index) u32(s, i int) uint32 { return binary.LittleEndian.Uint32(ix.sec[s][4*i:]) }

// offsetsValid checks every table that slices another section: each must
// be non-decreasing and end inside what it slices, and every id it holds
// must name an existing term, model or provenance. With the section sizes
// checked by OpenIndexBytes, no read of a damaged index can then go out of
// range, so a runtime panic during a search is a bug, never bad bytes.
func (ix *Index) offsetsValid() bool {
	monotonic := func(s, n int, limit uint32) bool {
		prev := uint32(0)
		for i := 0; i <= n; i++ {
			v := ix.u32(s, i)
			if v < prev || v > limit {
				return false
			}
			prev = v
		}
		return true
	}
	below := func(s int, limit uint32) bool {
		for i := 0; i < len(ix.sec[s])/4; i++ {
			if ix.u32(s, i) >= limit {
				return false
			}
		}
		return true
	}
	return monotonic(sTermStart, ix.nTerms, uint32(len(ix.sec[sTermBlob]))) &&
		monotonic(sPostStart, ix.nTerms, uint32(len(ix.sec[sPost]))) &&
		monotonic(sStemStart, ix.nStems, uint32(len(ix.sec[sStemBlob]))) &&
		monotonic(sStemListAt, ix.nStems, uint32(len(ix.sec[sStemList])/4)) &&
		monotonic(sMetricAt, ix.nMetrics, uint32(len(ix.sec[sMetricDoc])/4)) &&
		below(sStemList, uint32(ix.nTerms)) && below(sMetricDoc, uint32(ix.nDocs)) &&
		below(sMetricProv, uint32(ix.nProvs))
}

// strAt reads the string whose (offset, length) pair starts at word i of
// section s. The pairs are not validated at open (there is one per field
// of every model), so each read checks its own.
func (ix *Index) strAt(s, i int) string {
	off, n := uint64(ix.u32(s, i)), uint64(ix.u32(s, i+1))
	if off+n > uint64(len(ix.sec[sStr])) {
		panic(errBadIndex)
	}
	return string(ix.sec[sStr][off : off+n])
}

func (ix *Index) term(i int) string {
	return string(ix.sec[sTermBlob][ix.u32(sTermStart, i):ix.u32(sTermStart, i+1)])
}

// termBytes avoids allocating during binary search and scans.
func (ix *Index) termBytes(i int) []byte {
	return ix.sec[sTermBlob][ix.u32(sTermStart, i):ix.u32(sTermStart, i+1)]
}

// lookup returns the id of term t, or -1.
func (ix *Index) lookup(t string) int {
	tb := []byte(t)
	i := sort.Search(ix.nTerms, func(i int) bool { return bytes.Compare(ix.termBytes(i), tb) >= 0 })
	if i < ix.nTerms && bytes.Equal(ix.termBytes(i), tb) {
		return i
	}
	return -1
}

// prefixRange returns the ids [lo, hi) of the terms starting with p.
func (ix *Index) prefixRange(p string) (int, int) {
	pb := []byte(p)
	lo := sort.Search(ix.nTerms, func(i int) bool { return bytes.Compare(ix.termBytes(i), pb) >= 0 })
	hi := lo
	for hi < ix.nTerms && bytes.HasPrefix(ix.termBytes(hi), pb) {
		hi++
	}
	return lo, hi
}

func (ix *Index) df(i int) int { return int(ix.u32(sDF, i)) }

// postings calls f for every (doc, field mask) of term i.
func (ix *Index) postings(i int, f func(doc uint32, mask uint16)) {
	p := ix.sec[sPost][ix.u32(sPostStart, i):ix.u32(sPostStart, i+1)]
	var doc uint64
	for len(p) > 0 {
		d, n := binary.Uvarint(p)
		if n <= 0 {
			panic(errBadIndex)
		}
		p = p[n:]
		m, n := binary.Uvarint(p)
		if n <= 0 {
			panic(errBadIndex)
		}
		p = p[n:]
		doc += d
		if doc >= uint64(ix.nDocs) {
			panic(errBadIndex)
		}
		f(uint32(doc), uint16(m))
	}
}

// stemTerms returns the ids of the plain words whose stem is s.
func (ix *Index) stemTerms(s string) []uint32 {
	sb := []byte(s)
	blob := ix.sec[sStemBlob]
	at := func(i int) []byte { return blob[ix.u32(sStemStart, i):ix.u32(sStemStart, i+1)] }
	i := sort.Search(ix.nStems, func(i int) bool { return bytes.Compare(at(i), sb) >= 0 })
	if i >= ix.nStems || !bytes.Equal(at(i), sb) {
		return nil
	}
	lo, hi := ix.u32(sStemListAt, i), ix.u32(sStemListAt, i+1)
	out := make([]uint32, 0, hi-lo)
	for k := lo; k < hi; k++ {
		out = append(out, ix.u32(sStemList, int(k)))
	}
	return out
}

// docRecord is a model's summary as the index holds it.
type docRecord struct {
	ID, Title, Architecture, License string
	Modality, Organ, Dataset         []string
	Generates                        []string
	Width, Height, Depth             int
	Flags                            uint32
	Source                           string
	Line                             int
}

func (ix *Index) docStr(doc, field int) string {
	return ix.strAt(sDocs, doc*docFields+field)
}

func (ix *Index) docU32(doc, field int) uint32 { return ix.u32(sDocs, doc*docFields+field) }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x1f")
}

func (ix *Index) doc(doc int) docRecord {
	src := int(ix.docU32(doc, dSource))
	r := docRecord{
		ID: ix.docStr(doc, dID), Title: ix.docStr(doc, dTitle),
		Architecture: ix.docStr(doc, dArchitecture), License: ix.docStr(doc, dLicense),
		Modality: splitList(ix.docStr(doc, dModality)), Organ: splitList(ix.docStr(doc, dOrgan)),
		Dataset: splitList(ix.docStr(doc, dDataset)), Generates: splitList(ix.docStr(doc, dGenerates)),
		Width: int(ix.docU32(doc, dWidth)), Height: int(ix.docU32(doc, dHeight)), Depth: int(ix.docU32(doc, dDepth)),
		Flags: ix.docU32(doc, dFlags), Line: int(ix.docU32(doc, dLine)),
	}
	if src < ix.nSources {
		r.Source = ix.strAt(sSources, 2*src)
	}
	return r
}

// metric column access.
func (ix *Index) metricName(i int) string { return ix.strAt(sMetricName, 2*i) }

func (ix *Index) metricRange(i int) (int, int) {
	return int(ix.u32(sMetricAt, i)), int(ix.u32(sMetricAt, i+1))
}

func (ix *Index) metricEntry(k int) (doc uint32, prov int, value float64) {
	return ix.u32(sMetricDoc, k), int(ix.u32(sMetricProv, k)),
		math.Float64frombits(binary.LittleEndian.Uint64(ix.sec[sMetricVal][8*k:]))
}

// Provenance is how a metric value was obtained.
type Provenance struct {
	Direction string `json:"direction,omitempty"` // as the catalog states it
	Source    string `json:"source,omitempty"`
	Extractor string `json:"extractor,omitempty"`
	Reference string `json:"reference,omitempty"`
	Images    int    `json:"images,omitempty"`
	Meaning   string `json:"meaning,omitempty"`
}

func (ix *Index) prov(p int) Provenance {
	if p < 0 || p >= ix.nProvs {
		panic(errBadIndex)
	}
	base := p * provFields
	return Provenance{
		Direction: ix.strAt(sProv, base+pDirection), Source: ix.strAt(sProv, base+pSource),
		Extractor: ix.strAt(sProv, base+pExtractor), Reference: ix.strAt(sProv, base+pReference),
		Meaning: ix.strAt(sProv, base+pMeaning), Images: int(ix.u32(sProv, base+pImages)),
	}
}

func (ix *Index) path(i int) string { return ix.strAt(sPaths, 2*i) }

// MetricNames lists the metric names in the index, sorted ignoring case.
func (ix *Index) MetricNames() []string {
	out := make([]string, ix.nMetrics)
	for i := range out {
		out[i] = ix.metricName(i)
	}
	return out
}

func (ix *Index) String() string {
	return fmt.Sprintf("search index: %d models, %d terms, %d metrics, %d bytes", ix.nDocs, ix.nTerms, ix.nMetrics, len(ix.data))
}
