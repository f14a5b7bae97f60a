package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"medzoo/internal/files"
	"medzoo/internal/modeldir"
)

// File names of a model directory (internal/modeldir, which share uses
// too).
const (
	ModuleFile  = modeldir.ModuleFile
	LicenseFile = modeldir.LicenseFile
	CardFile    = modeldir.CardFile
	SamplesDir  = modeldir.SamplesDir
)

// Model is what Push sends: a checked model directory (share.Open's
// Model gives every field).
type Model struct {
	Dir     string
	Config  []byte // model.toml, the entry
	ID      string
	Version string
	License string
	// Files are the directory's files, slash-separated and relative to
	// Dir: model.pt, LICENSE, README.md and samples/*.png.
	Files []string
	// Sums, if given, are the files' digests as the caller already
	// computed them (share.Open hashes every file), so that push does not
	// read a 4 GiB module twice. The registry checks every digest against
	// the bytes it receives, so a file changed since is refused there.
	Sums map[string]Sum
}

// Sum is a file's hex sha256 and size.
type Sum struct {
	SHA256 string
	Size   int64
}

// Pushed is what a push did.
type Pushed struct {
	Ref          Ref    `json:"-"`
	Pinned       string `json:"url"`    // oci://HOST/REPO@sha256:…, for a catalog
	Digest       string `json:"digest"` // the manifest's
	Blobs        int    `json:"blobs"`
	Skipped      int    `json:"skipped"` // blobs the registry already had
	Bytes        int64  `json:"bytes"`   // bytes uploaded
	SkippedBytes int64  `json:"skipped_bytes"`
	// Module is the TorchScript layer: its sha256 and size are what a
	// catalog entry's [model.artifact] pins.
	Module Layer `json:"module"`
}

// Layer is one file of a model artifact.
type Layer struct {
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	Digest    string `json:"digest"` // sha256:…
	Size      int64  `json:"size"`
}

// SHA256 is the layer's digest as hex, the form a catalog's sha256 takes.
func (l Layer) SHA256() string { return strings.TrimPrefix(l.Digest, "sha256:") }

// mediaTypeOf is the media type of a model directory's file, or "" for a
// name that has no place in one.
func mediaTypeOf(name string) string {
	switch {
	case name == ModuleFile:
		return TorchScriptMediaType
	case name == LicenseFile:
		return LicenseMediaType
	case name == CardFile:
		return CardMediaType
	case strings.HasPrefix(name, SamplesDir+"/") && path.Dir(name) == SamplesDir && strings.EqualFold(path.Ext(name), ".png"):
		return SampleMediaType
	}
	return ""
}

// layerOrder puts the module first, then the licence, the card and the
// samples by name: the manifest (and its digest) is the same on every
// machine for the same files.
func layerOrder(name string) string {
	switch name {
	case ModuleFile:
		return "0"
	case LicenseFile:
		return "1"
	case CardFile:
		return "2"
	}
	return "3" + name
}

// Push uploads m as an artifact tagged ref.Tag. Blobs go first and the
// manifest last, so the tag appears only once everything it names is in
// the registry: a push that fails (or a registry that dies) part-way
// leaves at most untagged blobs, never a tagged half model. Blobs the
// registry already has are not sent again, so a rerun resumes, and a push
// of the same files under a second tag sends only the manifest (which has
// the same digest: it has no timestamp).
func (c *Client) Push(ctx context.Context, m Model, ref Ref) (*Pushed, error) {
	if ref.Tag == "" {
		return nil, fmt.Errorf("push %s: name a tag to push to (%s:1.0.0); a digest is what a push produces", ref, strings.TrimSuffix(ref.String(), "@"+ref.Digest))
	}
	repo, err := c.repository(ref)
	if err != nil {
		return nil, err
	}
	layers, err := describeFiles(m)
	if err != nil {
		return nil, err
	}
	out := &Pushed{Ref: ref}
	config := content.NewDescriptorFromBytes(ConfigMediaType, m.Config)
	for i := range layers {
		l := &layers[i]
		exists, err := repo.Exists(ctx, l.desc)
		if err != nil {
			return nil, c.explain(ctx, ref, "push", err)
		}
		out.Blobs++
		if exists {
			out.Skipped++
			out.SkippedBytes += l.desc.Size
			c.report(l.name, l.desc.Size, l.desc.Size)
			continue
		}
		if err := c.pushFile(ctx, repo, l); err != nil {
			return nil, c.explain(ctx, ref, "push", err)
		}
		out.Bytes += l.desc.Size
	}
	if exists, err := repo.Exists(ctx, config); err != nil {
		return nil, c.explain(ctx, ref, "push", err)
	} else if !exists {
		if err := repo.Push(ctx, config, bytes.NewReader(m.Config)); err != nil {
			return nil, c.explain(ctx, ref, "push", err)
		}
	}
	man := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       config,
		Annotations: map[string]string{
			AnnotationModelID: m.ID,
			AnnotationTitle:   m.ID,
		},
	}
	if m.Version != "" {
		man.Annotations[AnnotationVersion] = m.Version
	}
	if m.License != "" {
		man.Annotations[AnnotationLicense] = m.License
	}
	for _, l := range layers {
		man.Layers = append(man.Layers, l.desc)
		if l.name == ModuleFile {
			out.Module = Layer{Name: l.name, MediaType: l.desc.MediaType, Digest: l.desc.Digest.String(), Size: l.desc.Size}
		}
	}
	b, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	if err := repo.PushReference(ctx, desc, bytes.NewReader(b), ref.Tag); err != nil {
		return nil, c.explain(ctx, ref, "push", err)
	}
	out.Digest = desc.Digest.String()
	out.Pinned = ref.Pinned(out.Digest).String()
	return out, nil
}

type fileLayer struct {
	name string
	path string
	desc ocispec.Descriptor
}

// describeFiles hashes m's files into layer descriptors, refusing a name
// that has no place in a model directory and a missing model.pt.
func describeFiles(m Model) ([]fileLayer, error) {
	var out []fileLayer
	seen := map[string]bool{}
	for _, name := range m.Files {
		mt := mediaTypeOf(name)
		if mt == "" {
			return nil, fmt.Errorf("push: %s is not part of a model directory (model.pt, LICENSE, README.md, samples/*.png)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("push: %s is listed twice", name)
		}
		seen[name] = true
		p := filepath.Join(m.Dir, filepath.FromSlash(name))
		d, n := m.Sums[name].SHA256, m.Sums[name].Size
		if d == "" {
			var err error
			if d, n, err = hashFile(p); err != nil {
				return nil, fmt.Errorf("push: %w", err)
			}
		}
		out = append(out, fileLayer{name: name, path: p, desc: ocispec.Descriptor{
			MediaType: mt, Digest: digest.Digest("sha256:" + d), Size: n,
			Annotations: map[string]string{AnnotationTitle: name},
		}})
	}
	if !seen[ModuleFile] {
		return nil, fmt.Errorf("push: the model has no %s", ModuleFile)
	}
	sort.Slice(out, func(i, j int) bool { return layerOrder(out[i].name) < layerOrder(out[j].name) })
	return out, nil
}

func hashFile(p string) (string, int64, error) {
	f, err := files.OpenNoFollow(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	d, n, err := files.SHA256Of(f)
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", p, err)
	}
	return d, n, nil
}

// pushFile uploads one file (POST, then one PUT with the whole body: the
// monolithic upload every registry supports).
func (c *Client) pushFile(ctx context.Context, repo interface {
	Push(context.Context, ocispec.Descriptor, io.Reader) error
}, l *fileLayer) error {
	f, err := files.OpenNoFollow(l.path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := &progressReader{r: f, name: l.name, total: l.desc.Size, fn: c.Progress}
	// The registry checks the digest of what arrives; a file changed since
	// it was hashed is refused there, never stored under the old digest.
	return repo.Push(ctx, l.desc, io.LimitReader(r, l.desc.Size))
}

func (c *Client) report(name string, done, total int64) {
	if c.Progress != nil {
		c.Progress(name, done, total)
	}
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r     io.Reader
	name  string
	n     int64
	total int64
	fn    func(string, int64, int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.name, p.n, p.total)
	}
	return n, err
}
