// Package share is the unit in which a model is shared: the model
// directory (the TorchScript module, its catalog entry, its licence, its
// card and a few sample images) and the reproducible archive zoo pack makes
// of it. It checks the layout and the entry against the files; running the
// module is zoo validate's job (it needs LibTorch, this package does not).
package share

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"medzoo/internal/bytesize"
	"medzoo/internal/files"
	"medzoo/internal/limits"
	"medzoo/internal/modeldir"
	"medzoo/zoo"
)

// The names of a model directory's parts and the limits on them
// (internal/modeldir, which oci shares).
const (
	ModuleFile   = modeldir.ModuleFile
	EntryFile    = modeldir.EntryFile
	LicenseFile  = modeldir.LicenseFile
	CardFile     = modeldir.CardFile
	SamplesDir   = modeldir.SamplesDir
	ManifestFile = modeldir.ManifestFile

	MaxSamples      = modeldir.MaxSamples
	MaxSamplesBytes = modeldir.MaxSamplesBytes
	MaxTextBytes    = modeldir.MaxTextBytes
	MaxModuleBytes  = modeldir.MaxModuleBytes
)

// File is one file of a model directory: its slash-separated name inside
// the directory, its size and digests.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	crc32  uint32 // for the zip header, which must precede the bytes
}

// Model is a model directory that Open found in order.
type Model struct {
	Dir   string
	Entry *zoo.Model // the one entry of model.toml
	// EntryText is model.toml as Open read, hashed and parsed it: what a
	// push sends as its config, and what validate finds lines in.
	EntryText []byte
	Files     []File // every file Pack writes, sorted by name
}

// ProblemsError lists everything wrong with a model directory, so that its
// author fixes all of it in one pass. Problems name the file (relative to
// the directory) and, in model.toml, the line.
type ProblemsError struct {
	Dir      string
	Problems []zoo.Problem
}

func (e *ProblemsError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "%s is not a shareable model directory; %d problem%s:", e.Dir, n, map[bool]string{true: "", false: "s"}[n == 1])
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// layout is what a model directory holds at its top, with the fix for a
// missing part. samples/ is optional.
var layout = []struct{ name, missing string }{
	{ModuleFile, "missing: save the TorchScript module here (torch.jit.save(torch.jit.script(generator), \"model.pt\"))"},
	{EntryFile, "missing: write the model's catalog entry here (one [[model]] table, with [model.artifact] url = \"model.pt\" and [model.signature])"},
	{LicenseFile, "missing: put the licence text of the weights here"},
	{CardFile, "missing: write the model card here (intended use, training data, limitations, and that its images are synthetic)"},
}

const layoutNames = "model.pt, model.toml, LICENSE, README.md and samples/"

// Open reads the model directory dir and checks it: the four files are
// there as regular files within their limits, nothing else is (no link or
// special file, no extra file or directory), samples/ holds only PNG files
// within its limits, and model.toml is one valid catalog entry whose
// artifact is model.pt with its sha256 and size. Every problem found is in
// the *ProblemsError it returns.
func Open(dir string) (*Model, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is %s, not a model directory (a directory with %s)", dir, files.Kind(fi.Mode()), layoutNames)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	o := &opener{dir: dir, m: &Model{Dir: dir}}
	present := map[string]fs.DirEntry{}
	for _, e := range entries {
		present[e.Name()] = e
	}
	for _, part := range layout {
		e, ok := present[part.name]
		switch {
		case !ok:
			o.add(part.name, 0, "%s", part.missing)
		case !e.Type().IsRegular():
			o.add(part.name, 0, "%s: it must be a regular file; put the file itself here", o.describe(part.name, e))
		default:
			o.file(part.name)
		}
	}
	if e, ok := present[SamplesDir]; ok {
		if e.IsDir() {
			o.samples()
		} else {
			o.add(SamplesDir, 0, "%s: samples/ must be a directory of PNG files; remove it or make it one", o.describe(SamplesDir, e))
		}
	}
	for _, e := range entries {
		if name := e.Name(); !isLayoutName(name) {
			shown := showName(name)
			if e.IsDir() {
				shown += "/"
			}
			o.add(shown, 0, "%s, which a model directory does not hold (only %s): remove it or move it out", o.describe(name, e), layoutNames)
		}
	}
	if o.entryData != nil {
		o.entry()
	}
	if len(o.problems) > 0 {
		// By file, then line: model.toml's in the order of its text.
		sort.SliceStable(o.problems, func(i, j int) bool {
			a, b := o.problems[i], o.problems[j]
			return a.Source < b.Source || a.Source == b.Source && a.Line < b.Line
		})
		return nil, &ProblemsError{Dir: dir, Problems: o.problems}
	}
	sort.Slice(o.m.Files, func(i, j int) bool { return o.m.Files[i].Name < o.m.Files[j].Name })
	o.m.EntryText = o.entryData
	return o.m, nil
}

// ReadText reads the text file name (LICENSE, README.md) of the model
// directory dir, never through a link, within MaxTextBytes: for the checks
// that read a card or a licence whether or not Open found the directory
// in order.
func ReadText(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, filepath.FromSlash(name))
	f, err := files.OpenNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTextBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxTextBytes {
		return nil, fmt.Errorf("%s is more than %d bytes", path, MaxTextBytes)
	}
	return data, nil
}

func isLayoutName(name string) bool {
	for _, part := range layout {
		if name == part.name {
			return true
		}
	}
	return name == SamplesDir
}

type opener struct {
	dir       string
	m         *Model
	problems  []zoo.Problem
	entryData []byte // model.toml, once read
	module    *File  // model.pt, once hashed
}

func (o *opener) add(source string, line int, format string, args ...any) {
	o.problems = append(o.problems, zoo.Problem{Source: source, Line: line, Message: fmt.Sprintf(format, args...)})
}

// describe says what the entry name is when it is not a regular file ("is
// a symbolic link to /etc/passwd", "is a directory"), and "is here" when it
// is one.
func (o *opener) describe(name string, e fs.DirEntry) string {
	mode := e.Type()
	switch {
	case mode.IsRegular():
		return "is here"
	case mode&fs.ModeSymlink != 0:
		return "is " + files.Describe(filepath.Join(o.dir, filepath.FromSlash(name)), mode) + " (zoo packs no links)"
	}
	return "is " + files.Kind(mode)
}

// showName quotes a name that is not plain printable text.
func showName(name string) string {
	if portableName(name) {
		return name
	}
	return strconv.Quote(name)
}

// portableName: valid UTF-8, printable, no backslash (a separator on
// Windows), so that every system unpacks it to the same path.
func portableName(name string) bool {
	if !utf8.ValidString(name) || strings.ContainsRune(name, '\\') {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// file reads one of the four files: hashes it and checks its limit; keeps
// model.toml's text for entry.
func (o *opener) file(name string) {
	limit, what := int64(MaxTextBytes), "a text of at most "+bytesize.Human(MaxTextBytes)
	if name == ModuleFile {
		limit, what = MaxModuleBytes, "at most "+bytesize.Human(MaxModuleBytes)+" (what zoo downloads by default)"
	}
	var text bytes.Buffer
	var keep io.Writer // only model.toml's bytes are kept
	if name == EntryFile {
		keep = &text
	}
	f, err := o.hash(name, limit, keep)
	var big *files.TooLargeError
	switch {
	case errors.As(err, &big):
		o.add(name, 0, "is %s, more than the limit of %s: it must be %s", bytesize.Human(big.Size), bytesize.Human(limit), what)
		return
	case err != nil:
		o.add(name, 0, "cannot be read: %v", err)
		return
	case f.Size == 0:
		o.add(name, 0, "is empty: %s", strings.TrimPrefix(layoutMissing(name), "missing: "))
		return
	}
	o.m.Files = append(o.m.Files, f)
	switch name {
	case ModuleFile:
		o.module = &f
		o.checkModule()
	case EntryFile:
		o.entryData = text.Bytes()
	}
}

func layoutMissing(name string) string {
	for _, part := range layout {
		if part.name == name {
			return part.missing
		}
	}
	return ""
}

// hash reads the file name (not through a link), refusing one over limit,
// and returns its File; keep, if not nil, receives its bytes.
func (o *opener) hash(name string, limit int64, keep io.Writer) (File, error) {
	path := filepath.Join(o.dir, filepath.FromSlash(name))
	f, err := files.OpenNoFollow(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return File{}, err
	}
	if st.Size() > limit {
		return File{}, &files.TooLargeError{Path: path, Size: st.Size(), Limit: limit}
	}
	sum, crc := sha256.New(), crc32.NewIEEE()
	w := io.MultiWriter(sum, crc)
	if keep != nil {
		w = io.MultiWriter(sum, crc, keep)
	}
	n, err := io.Copy(w, io.LimitReader(f, limit+1))
	if err != nil {
		return File{}, err
	}
	if n > limit {
		return File{}, &files.TooLargeError{Path: path, Size: n, Limit: limit}
	}
	return File{Name: name, Size: n, SHA256: hex.EncodeToString(sum.Sum(nil)), crc32: crc.Sum32()}, nil
}

// checkModule looks inside model.pt, which as every TorchScript archive is
// a zip file with the module's code/ in it. A state_dict saved with
// torch.save is a zip too, but holds no code: zoo cannot run it.
func (o *opener) checkModule() {
	path := filepath.Join(o.dir, ModuleFile)
	zr, err := zip.OpenReader(path)
	if err != nil {
		o.add(ModuleFile, 0, "is not a TorchScript archive (not a zip file: %v); save the module with torch.jit.save(torch.jit.script(generator), \"model.pt\")", err)
		return
	}
	defer zr.Close()
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "code/") || strings.Contains(f.Name, "/code/") {
			return
		}
	}
	o.add(ModuleFile, 0, "holds no TorchScript code (a state_dict saved with torch.save?); save the module with torch.jit.save(torch.jit.script(generator), \"model.pt\")")
}

// samples checks samples/: PNG files only, no subdirectories or links,
// at most MaxSamples files and MaxSamplesBytes in all.
func (o *opener) samples() {
	entries, err := os.ReadDir(filepath.Join(o.dir, SamplesDir))
	if err != nil {
		o.add(SamplesDir+"/", 0, "cannot be read: %v", err)
		return
	}
	var total int64
	var pngs []string
	for _, e := range entries {
		name := SamplesDir + "/" + e.Name()
		switch {
		case !e.Type().IsRegular():
			shown := showName(name)
			if e.IsDir() {
				shown += "/"
			}
			o.add(shown, 0, "%s: samples/ holds PNG files only; remove it", o.describe(name, e))
		case !portableName(e.Name()):
			o.add(showName(name), 0, "has a name that does not unpack alike everywhere (not printable UTF-8, or a backslash): rename it")
		case !strings.EqualFold(filepath.Ext(e.Name()), ".png"):
			o.add(name, 0, "is not a .png file: samples/ holds PNG images the model made; remove it or convert it")
		default:
			pngs = append(pngs, name)
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
	}
	tooMany, tooBig := len(pngs) > MaxSamples, total > MaxSamplesBytes
	if tooMany {
		o.add(SamplesDir+"/", 0, "holds %d PNG files, more than the limit of %d: keep a few representative ones (a sample grid, a dozen images)", len(pngs), MaxSamples)
	}
	if tooBig {
		o.add(SamplesDir+"/", 0, "holds %s of PNG files, more than the limit of %s: keep a few representative ones (a sample grid, a dozen images)", bytesize.Human(total), bytesize.Human(MaxSamplesBytes))
	}
	if tooMany || tooBig {
		return // not worth reading
	}
	for _, name := range pngs {
		var head bytes.Buffer
		f, err := o.hash(name, MaxSamplesBytes, &limitedBuffer{buf: &head, n: len(pngSignature)})
		if err != nil {
			o.add(name, 0, "cannot be read: %v", err)
			continue
		}
		if !bytes.Equal(head.Bytes(), pngSignature) {
			o.add(name, 0, "is not a PNG image (no PNG signature): remove it, or save it as PNG")
			continue
		}
		o.m.Files = append(o.m.Files, f)
	}
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// limitedBuffer keeps the first n bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	n   int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// entry checks model.toml: a valid catalog (zoo.Parse, with its lines) of
// exactly one whole entry, whose artifact is the model.pt beside it.
// The artifact and count checks read the TOML tree themselves, so that
// they are reported even when Parse finds other problems: a wrong sha256
// comes with the right one in the same pass.
func (o *opener) entry() {
	data := o.entryData
	cat, err := zoo.Parse(data, EntryFile)
	var ve *zoo.ValidationError
	switch {
	case errors.As(err, &ve):
		o.problems = append(o.problems, ve.Problems...)
	case err != nil:
		o.add(EntryFile, 0, "%v", err)
		return
	}
	if limits.CheckTOML(data) != nil {
		return // Parse said why; the tree must not be built
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return // a syntax error, which Parse reported
	}
	models, _ := raw["model"].([]map[string]any)
	switch {
	case len(models) == 0:
		if _, ok := raw["model"]; !ok {
			o.add(EntryFile, 1, "no [[model]] entry: model.toml holds the model's one catalog entry ([[model]] with id, title, license, [model.artifact] and [model.signature])")
		}
		return
	case len(models) > 1:
		for i := 1; i < len(models); i++ {
			o.add(EntryFile, zoo.KeyLine(data, "model", "#"+strconv.Itoa(i)), "a second [[model]] entry: a model directory holds exactly one model; give this one its own directory")
		}
	}
	m := models[0]
	line := func(key ...string) int { return zoo.KeyLine(data, append([]string{"model", "#0"}, key...)...) }
	if ov, _ := m["overlay"].(bool); ov {
		o.add(EntryFile, line("overlay"), "overlay = true: an overlay adds to an entry of another catalog, but a model directory holds a whole entry; remove the line")
	}
	if lic, _ := m["license"].(string); strings.TrimSpace(lic) == "" {
		o.add(EntryFile, line("license"), "missing license: name the licence of the weights, whose text LICENSE holds (an SPDX id such as CC-BY-4.0)")
	}
	a, _ := m["artifact"].(map[string]any)
	if a == nil {
		if _, ok := m["artifact"]; !ok && o.module != nil {
			o.add(EntryFile, line(), "missing [model.artifact]: add url = %q, format = %q, sha256 = %q, size = %d", ModuleFile, zoo.FormatTorchScript, o.module.SHA256, o.module.Size)
		}
		return
	}
	str := func(k string) (string, bool) { s, ok := a[k].(string); return s, ok }
	if url, ok := str("url"); ok && url != ModuleFile {
		o.add(EntryFile, line("artifact", "url"), "artifact.url must be %q, the module beside model.toml, not %q", ModuleFile, url)
	}
	if p, ok := str("path"); ok && p != "" {
		o.add(EntryFile, line("artifact", "path"), "artifact.path must be empty: model.pt is the module itself, not an archive (a packed model's catalog entry names path = \"model.pt\")")
	}
	if f, ok := str("format"); ok && f != zoo.FormatTorchScript {
		o.add(EntryFile, line("artifact", "format"), "artifact.format must be %q (model.pt is a TorchScript module), not %q", zoo.FormatTorchScript, f)
	}
	if o.module == nil {
		return // no module to compare with; its own problem says why
	}
	if sum, ok := str("sha256"); !ok || sum != o.module.SHA256 {
		got := "missing"
		if ok {
			got = strconv.Quote(sum)
		}
		o.add(EntryFile, line("artifact", "sha256"), "artifact.sha256 is %s, but model.pt's sha256 is %s: set sha256 = %q", got, o.module.SHA256, o.module.SHA256)
	}
	if size, ok := a["size"].(int64); !ok || size != o.module.Size {
		got := "missing"
		if ok {
			got = strconv.FormatInt(size, 10)
		}
		o.add(EntryFile, line("artifact", "size"), "artifact.size is %s, but model.pt is %d bytes: set size = %d", got, o.module.Size, o.module.Size)
	}
	if cat != nil && len(cat.Models) == 1 {
		o.m.Entry = &cat.Models[0]
	}
}
