package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"medzoo/internal/bytesize"
	"medzoo/internal/files"
	"medzoo/internal/modeldir"
)

// Limits on what a pull accepts, checked against the manifest before
// anything is read or allocated. They are the model directory's limits
// (internal/modeldir: a model that zoo pack accepts always pulls), plus a
// manifest bound: a manifest lists a few dozen layers, a few KiB.
const (
	MaxManifestBytes = 1 << 20
	MaxConfigBytes   = modeldir.MaxTextBytes // model.toml
	MaxTextBytes     = modeldir.MaxTextBytes // LICENSE, README.md
	MaxModuleBytes   = modeldir.MaxModuleBytes
	MaxSamples       = modeldir.MaxSamples
	MaxSamplesBytes  = modeldir.MaxSamplesBytes
)

// Artifact is a model artifact whose manifest and config were fetched and
// verified.
type Artifact struct {
	Ref         Ref    // as asked for
	Pinned      Ref    // the same manifest by digest
	Digest      string // the manifest's, sha256:…
	Config      []byte // model.toml
	Layers      []Layer
	Annotations map[string]string
}

// Module is the TorchScript layer.
func (a *Artifact) Module() Layer {
	for _, l := range a.Layers {
		if l.Name == ModuleFile {
			return l
		}
	}
	return Layer{} // Resolve refuses an artifact without one
}

// Resolve fetches ref's manifest and config and checks them: the manifest
// has the digest asked for (a pinned reference) and the one the registry
// announced, it is a medzoo model (artifact type, config and layer media
// types), its layers are the files of a model directory, each named once,
// and every size is within this package's limits. Layers are not fetched.
func (c *Client) Resolve(ctx context.Context, ref Ref) (*Artifact, error) {
	if ref.Digest != "" {
		if v, ok := resolved.Load(ref.String()); ok {
			a := *v.(*Artifact)
			a.Ref = ref
			return &a, c.checkModuleSize(ref, &a)
		}
	}
	repo, err := c.repository(ref)
	if err != nil {
		return nil, err
	}
	desc, rc, err := repo.FetchReference(ctx, ref.reference())
	if err != nil {
		return nil, c.explain(ctx, ref, "pull", err)
	}
	defer rc.Close()
	if ref.Digest != "" && desc.Digest.String() != ref.Digest {
		return nil, fmt.Errorf("pull %s: the registry answered with manifest %s, not the one asked for", ref, desc.Digest)
	}
	if desc.Size < 0 || desc.Size > MaxManifestBytes {
		return nil, fmt.Errorf("pull %s: the manifest is %s, more than the %s a model's manifest can be; it is not a medzoo model",
			ref, bytesize.Human(desc.Size), bytesize.Human(MaxManifestBytes))
	}
	// ReadAll checks both the size and the digest of what arrives.
	b, err := content.ReadAll(rc, desc)
	if err != nil {
		return nil, fmt.Errorf("pull %s: the manifest does not match its digest %s (%v); the registry's copy is damaged or was changed",
			ref, desc.Digest, err)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(b, &man); err != nil {
		return nil, fmt.Errorf("pull %s: the manifest is not JSON: %v", ref, err)
	}
	a := &Artifact{Ref: ref, Pinned: ref.Pinned(desc.Digest.String()), Digest: desc.Digest.String(), Annotations: man.Annotations}
	if err := checkManifest(&man); err != nil {
		return nil, fmt.Errorf("pull %s: %v", ref, err)
	}
	rc2, err := repo.Fetch(ctx, man.Config)
	if err != nil {
		return nil, c.explain(ctx, ref, "pull", err)
	}
	defer rc2.Close()
	if a.Config, err = content.ReadAll(rc2, man.Config); err != nil {
		return nil, fmt.Errorf("pull %s: the config blob (model.toml) does not match its digest %s (%v); the registry's copy is damaged or was changed",
			ref, man.Config.Digest, err)
	}
	for _, l := range man.Layers {
		a.Layers = append(a.Layers, Layer{Name: l.Annotations[AnnotationTitle], MediaType: l.MediaType, Digest: l.Digest.String(), Size: l.Size})
	}
	if err := c.checkModuleSize(ref, a); err != nil {
		return nil, err
	}
	resolved.Store(a.Pinned.String(), a)
	return a, nil
}

// resolved holds the artifacts this process has resolved and verified, by
// pinned reference. A manifest named by its digest cannot change, so a
// second Resolve of it (zoo pull resolves a tag, then the store fetches
// the pinned url) need not ask the registry again.
var resolved sync.Map

func (c *Client) checkModuleSize(ref Ref, a *Artifact) error {
	if max := c.MaxModuleBytes; max > 0 && a.Module().Size > max {
		return fmt.Errorf("pull %s: its %s is %s, more than the download limit of %s (raise it with --max-download if you expect a module this large)",
			ref, ModuleFile, bytesize.Human(a.Module().Size), bytesize.Human(max))
	}
	return nil
}

// checkManifest is Resolve's check of what the manifest says.
func checkManifest(m *ocispec.Manifest) error {
	if m.SchemaVersion != 2 || (m.MediaType != "" && m.MediaType != ocispec.MediaTypeImageManifest) {
		return fmt.Errorf("not an OCI image manifest (media type %q, schema %d)", m.MediaType, m.SchemaVersion)
	}
	if m.Config.MediaType != ConfigMediaType || (m.ArtifactType != "" && m.ArtifactType != ArtifactType) {
		return fmt.Errorf("not a medzoo model: its artifact type is %q and its config %q (a model has %s and %s); "+
			"push models with zoo push", m.ArtifactType, m.Config.MediaType, ArtifactType, ConfigMediaType)
	}
	if err := checkDigest(m.Config); err != nil {
		return fmt.Errorf("config: %v", err)
	}
	if m.Config.Size < 0 || m.Config.Size > MaxConfigBytes {
		return fmt.Errorf("its config (model.toml) is %d bytes, more than %s", m.Config.Size, bytesize.Human(MaxConfigBytes))
	}
	seen := map[string]bool{}
	var samples, samplesBytes int64
	for i, l := range m.Layers {
		name := l.Annotations[AnnotationTitle]
		if err := checkDigest(l); err != nil {
			return fmt.Errorf("layer %d (%q): %v", i, name, err)
		}
		want := mediaTypeOf(name)
		if want == "" || !fs.ValidPath(name) {
			return fmt.Errorf("layer %d is named %q, which is not a file of a model directory (model.pt, LICENSE, README.md, samples/*.png)", i, name)
		}
		if l.MediaType != want {
			return fmt.Errorf("layer %s has media type %q, want %q", name, l.MediaType, want)
		}
		if seen[name] {
			return fmt.Errorf("layer %s appears twice", name)
		}
		seen[name] = true
		limit := int64(MaxTextBytes)
		switch {
		case name == ModuleFile:
			limit = MaxModuleBytes
		case strings.HasPrefix(name, SamplesDir+"/"):
			samples++
			samplesBytes += max(l.Size, 0)
			limit = MaxSamplesBytes
		}
		if l.Size < 0 || l.Size > limit {
			return fmt.Errorf("layer %s is %d bytes; a model's %s is at most %s", name, l.Size, path.Base(name), bytesize.Human(limit))
		}
	}
	for _, need := range []string{ModuleFile, LicenseFile, CardFile} {
		if !seen[need] {
			return fmt.Errorf("it has no %s layer; a model artifact has model.pt, LICENSE and README.md", need)
		}
	}
	if samples > MaxSamples || samplesBytes > MaxSamplesBytes {
		return fmt.Errorf("it has %d samples of %s in all; a model has at most %d, %s", samples, bytesize.Human(samplesBytes), MaxSamples, bytesize.Human(MaxSamplesBytes))
	}
	return nil
}

func checkDigest(d ocispec.Descriptor) error {
	if !digestRE.MatchString(d.Digest.String()) {
		return fmt.Errorf("digest %q is not sha256: and 64 lower-case hex digits", d.Digest)
	}
	return nil
}

// FetchLayer copies layer l of a into w and checks it: exactly its size
// (a registry that sends more is cut off one byte past it) and its
// sha256. On a mismatch the error names both digests; w has then received
// bytes that must be thrown away. It returns the hex sha256 it computed.
func (c *Client) FetchLayer(ctx context.Context, a *Artifact, l Layer, w io.Writer) (string, error) {
	repo, err := c.repository(a.Ref)
	if err != nil {
		return "", err
	}
	desc := ocispec.Descriptor{MediaType: l.MediaType, Digest: digest.Digest("sha256:" + digestHex(l.Digest)), Size: l.Size}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return "", c.explain(ctx, a.Pinned, "pull", err)
	}
	defer rc.Close()
	pr := &progressReader{r: io.LimitReader(rc, l.Size+1), name: l.Name, total: l.Size, fn: c.Progress}
	n, got, err := copyHashing(w, pr)
	if err != nil {
		return "", c.explain(ctx, a.Pinned, "pull "+l.Name+" of", err)
	}
	switch {
	case n != l.Size:
		return got, fmt.Errorf("pull %s: the registry sent %d bytes for %s, whose manifest entry says %d; its copy is damaged", a.Pinned, n, l.Name, l.Size)
	case got != digestHex(l.Digest):
		return got, fmt.Errorf("pull %s: digest mismatch for %s: the manifest names %s, the registry sent bytes with sha256:%s; "+
			"the registry's copy was changed or damaged, and nothing of it was kept", a.Pinned, l.Name, l.Digest, got)
	}
	return got, nil
}

func digestHex(d string) string { return strings.TrimPrefix(d, "sha256:") }

// WriteDir writes a's files as a model directory at dir, which must not
// exist or be an empty directory (not a link). Everything is written into
// a new directory beside it and renamed into place once every layer is
// whole and verified, so dir is never half a model and nothing existing is
// overwritten. have may give verified local copies of layers, by hex
// sha256 (the store's cached module), which are copied instead of fetched.
func (c *Client) WriteDir(ctx context.Context, a *Artifact, dir string, have map[string]string) error {
	if fi, err := os.Lstat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is %s; choose a new directory for the model", dir, files.Kind(fi.Mode()))
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(ents) > 0 {
			return fmt.Errorf("%s exists and is not empty; zoo writes a pulled model only into a new or empty directory", dir)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".pull-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	parts := append([]Layer{{Name: "model.toml"}}, a.Layers...)
	for _, l := range parts {
		p := filepath.Join(tmp, filepath.FromSlash(l.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if l.Digest == "" {
			_, err = f.Write(a.Config)
		} else if local, ok := have[digestHex(l.Digest)]; ok {
			err = copyLocal(f, local, l.Size)
		} else {
			_, err = c.FetchLayer(ctx, a, l, f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("moving the pulled model into %s: %w", dir, err)
	}
	return nil
}

func copyLocal(w io.Writer, p string, size int64) error {
	f, err := files.OpenNoFollow(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size+1))
	if err == nil && n != size {
		err = fmt.Errorf("%s has %d bytes, want %d", p, n, size)
	}
	return err
}

// copyHashing copies r to w and returns the sha256 of what it copied. The
// hash runs in its own goroutine on the chunks already written, while the
// next chunk is read: on a fast link (a registry on the same machine or
// network) hashing in line would cost as much as the transfer itself.
// Chunks are 1 MiB, so the file gets few large writes.
func copyHashing(w io.Writer, r io.Reader) (int64, string, error) {
	const chunks, chunkSize = 4, 1 << 20
	free := make(chan []byte, chunks)
	for i := 0; i < chunks; i++ {
		free <- make([]byte, chunkSize)
	}
	toHash := make(chan []byte, chunks)
	sum := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		for b := range toHash {
			h.Write(b)
			free <- b[:cap(b)]
		}
		sum <- h.Sum(nil)
	}()
	var n int64
	var err error
	for {
		buf := <-free
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				err = werr
				break
			}
			n += int64(k)
			toHash <- buf[:k]
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(toHash)
	return n, hex.EncodeToString(<-sum), err
}
