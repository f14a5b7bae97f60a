package evaluate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"medzoo/imagein"
	"medzoo/loader"
	"medzoo/zoo"
)

// Set is one side of an evaluation: a folder of images or a model that
// generates them on the fly.
type Set interface {
	Len() int
	Name(i int) string
	Image(i int) (imagein.Image, imagein.Units, error)
	// Describe says what the set is, for the metric card.
	Describe() string
	// Fingerprint identifies the set's contents for caches and cards.
	Fingerprint() string
}

// Folder is the images directly inside a directory, sorted by name.
type Folder struct {
	Dir   string
	Files []string // base names
	stamp string   // names, sizes and modification times
}

// OpenFolder lists dir. role ("REAL" or "FAKE") names it in errors.
func OpenFolder(dir, role string) (*Folder, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", role, dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s %s is not a folder: give a folder of images or a model id", role, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", role, err)
	}
	f := &Folder{Dir: dir}
	var stamp strings.Builder
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !imagein.Supported(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", role, err)
		}
		f.Files = append(f.Files, e.Name())
		fmt.Fprintf(&stamp, "%s\x00%d\x00%d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	sort.Strings(f.Files) // ReadDir sorts already; keep it explicit
	switch len(f.Files) {
	case 0:
		return nil, fmt.Errorf("%s folder %s holds no images (%s)", role, dir, strings.Join(imagein.Extensions, ", "))
	case 1:
		return nil, fmt.Errorf("%s folder %s holds 1 image; metrics need at least 2 (and FID thousands)", role, dir)
	}
	f.stamp = digest(stamp.String())
	return f, nil
}

func (f *Folder) Len() int          { return len(f.Files) }
func (f *Folder) Name(i int) string { return f.Files[i] }
func (f *Folder) Image(i int) (imagein.Image, imagein.Units, error) {
	img, u, err := imagein.ReadUnits(filepath.Join(f.Dir, f.Files[i]))
	if err != nil {
		// ReadUnits names the file already; the pipeline adds it again.
		return img, u, unwrapName(err, f.Files[i])
	}
	return img, u, nil
}
func (f *Folder) Describe() string {
	abs, err := filepath.Abs(f.Dir)
	if err != nil {
		abs = f.Dir
	}
	return fmt.Sprintf("folder %s (%d images)", abs, len(f.Files))
}

// Fingerprint is the sha256 of the sorted file names, sizes and
// modification times: it changes when any file does.
func (f *Folder) Fingerprint() string { return f.stamp }

func unwrapName(err error, name string) error {
	msg := strings.TrimPrefix(err.Error(), "input "+name+": ")
	return fmt.Errorf("%s", msg)
}

// Generated is n images from a model, made on demand in the model's own
// compute blocks (so each block is generated once, whichever worker asks
// first) and never written to disk.
type Generated struct {
	Model  *zoo.Model
	Digest string // artifact sha256
	Gen    *loader.Generator
	N      int
	Opt    loader.Options
	Output string // which output to evaluate ("" = the first)

	mu     sync.Mutex
	blocks map[int]*block
}

type block struct {
	once    sync.Once
	samples []loader.Sample
	err     error
	left    int // images not yet taken; the block is dropped at 0
}

func (g *Generated) Len() int { return g.N }
func (g *Generated) Name(i int) string {
	return fmt.Sprintf("%s#%d", g.Model.ID, i)
}
func (g *Generated) Describe() string {
	s := fmt.Sprintf("model %s (%d images generated on the fly, seed %d", g.Model.ID, g.N, g.Opt.Seed)
	if len(g.Opt.Conditions) > 0 {
		s += fmt.Sprintf(", conditions %v", g.Opt.Conditions)
	}
	return s + ")"
}
func (g *Generated) Fingerprint() string {
	return digest(fmt.Sprintf("model %s %s n=%d seed=%d cond=%v output=%s", g.Model.ID, g.Digest, g.N, g.Opt.Seed, g.Opt.Conditions, g.Output))
}

func (g *Generated) Image(i int) (imagein.Image, imagein.Units, error) {
	size := g.Gen.Block()
	start := i / size * size
	g.mu.Lock()
	if g.blocks == nil {
		g.blocks = map[int]*block{}
	}
	b := g.blocks[start]
	if b == nil {
		b = &block{left: min(size, g.N-start)}
		g.blocks[start] = b
	}
	g.mu.Unlock()
	b.once.Do(func() {
		b.samples, b.err = g.Gen.Generate(context.Background(), start, min(size, g.N-start), g.Opt)
	})
	g.mu.Lock()
	b.left--
	if b.left == 0 {
		delete(g.blocks, start)
	}
	g.mu.Unlock()
	if b.err != nil {
		return imagein.Image{}, imagein.Units{}, b.err
	}
	s := b.samples[i-start]
	out := pickOutput(s.Outputs, g.Output)
	img := imagein.Image{Channels: out.Spec.Channels, Height: out.Spec.Height, Width: out.Spec.Width, Data: out.Data,
		Kind: "generated " + out.Spec.Name}
	return img, imagein.Units{Lo: out.Spec.Range[0], Hi: out.Spec.Range[1], Known: true, Clip: true}, nil
}

// pickOutput is the named output, else the first image output (not a mask),
// else the first.
func pickOutput(outs []loader.Output, name string) loader.Output {
	for _, o := range outs {
		if name != "" && o.Spec.Name == name {
			return o
		}
	}
	for _, o := range outs {
		if o.Spec.Kind == zoo.KindImage {
			return o
		}
	}
	return outs[0]
}

// Block is the model's compute block: a shard of a generated set is cut on
// block boundaries, so that no block is generated by two shards.
func (g *Generated) Block() int { return g.Gen.Block() }

// blockOf is the unit a set is cut into shards by: its compute block, or 1.
func blockOf(s Set) int {
	if b, ok := s.(interface{ Block() int }); ok {
		return max(b.Block(), 1)
	}
	return 1
}
