package features

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"medzoo/imagein"
	"medzoo/torch"
)

// Extractor is a loaded TorchScript feature extractor.
type Extractor struct {
	Spec   Spec
	Path   string // the TorchScript file
	SHA256 string // its digest
	// Optimized is set when the module was frozen and optimized for
	// inference; Notes say why not.
	Optimized bool
	Notes     []string
	mod       *torch.Module
}

// Open loads the extractor at path (digest already known to the caller) on
// device.
func Open(spec Spec, path, sha256, device string) (*Extractor, error) {
	dev, err := torch.ResolveDevice(device)
	if err != nil {
		return nil, err
	}
	m, err := torch.Load(path, dev)
	if err != nil {
		return nil, fmt.Errorf("feature extractor %s: %w", spec.Name, err)
	}
	e := &Extractor{Spec: spec, Path: path, SHA256: sha256, mod: m}
	// Frozen and optimized for inference (BatchNorm folded, oneDNN): the
	// same function, faster. A module that cannot be frozen runs as it is.
	if err := m.Optimize(); err != nil {
		e.Notes = append(e.Notes, "not optimized for inference: "+err.Error())
	} else {
		e.Optimized = true
	}
	return e, nil
}

// Close frees the module.
func (e *Extractor) Close() error { return e.mod.Close() }

// Forward runs n prepared images (n×3×H×W values) and returns n×Dim
// features.
func (e *Extractor) Forward(prepared []float32, n int) ([]float32, error) {
	h, w := e.Spec.InputSize[0], e.Spec.InputSize[1]
	in, err := torch.FromFloat32(prepared, []int64{int64(n), 3, int64(h), int64(w)}, e.mod.Device())
	if err != nil {
		return nil, err
	}
	defer torch.Free(in)
	res, err := e.mod.ForwardWith([]torch.Tensor{in}, e.Spec.ForwardArgs)
	if err != nil {
		return nil, fmt.Errorf("feature extractor %s: %w", e.Spec.Name, err)
	}
	defer res.Close()
	if len(res.Tensors) != 1 {
		return nil, fmt.Errorf("feature extractor %s returned %d tensors; want one [N, %d] tensor", e.Spec.Name, len(res.Tensors), e.Spec.Dim)
	}
	shape, err := torch.Shape(res.Tensors[0])
	if err != nil {
		return nil, err
	}
	// [N, D] or [N, D, 1, 1] (a pooled map) are both features.
	ok := len(shape) >= 2 && shape[0] == int64(n) && shape[1] == int64(e.Spec.Dim)
	for _, s := range shape[min(2, len(shape)):] {
		ok = ok && s == 1
	}
	if !ok {
		return nil, fmt.Errorf("feature extractor %s returned shape %v; its spec says [%d, %d] (dim = %d): fix dim or forward_args in its spec", e.Spec.Name, shape, n, e.Spec.Dim, e.Spec.Dim)
	}
	out := make([]float32, n*e.Spec.Dim)
	if err := torch.CopyFloat32(res.Tensors[0], out); err != nil {
		return nil, err
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("feature extractor %s returned a non-finite feature for image %d of the batch", e.Spec.Name, i/e.Spec.Dim)
		}
	}
	return out, nil
}

// Source is a set of images to extract features from, in a fixed order.
type Source interface {
	Len() int
	Name(i int) string
	// Image returns image i in its stored units.
	Image(i int) (imagein.Image, imagein.Units, error)
}

// Options control Extract.
type Options struct {
	Batch int // images per forward pass (default 32)
	// Skip leaves out images that cannot be read or prepared (reported in
	// Skipped) instead of failing.
	Skip bool
	// Progress, when set, gets the number of images done so far.
	Progress func(done int)
}

// Skipped is an image left out by Options.Skip, and why.
type Skipped struct {
	Index  int    `json:"index"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Extract runs every image of src through prep and e, Batch images per
// forward pass, and hands features to sink in order, batch by batch: the
// source indices and their rows (len(indices)×Dim). Decoding and
// preprocessing run on worker goroutines while the previous batch is in the
// network, so the forward pass (the slow part) does not wait on files;
// memory stays at a few batches whatever the number of images. Images of
// another size than the first are refused: a folder of mixed sizes is
// usually a mistake, and FID is sensitive to resizing.
func (e *Extractor) Extract(ctx context.Context, src Source, prep Prep, opt Options, sink func(indices []int, rows []float32) error) ([]Skipped, error) {
	n := src.Len()
	batch := opt.Batch
	if batch <= 0 {
		batch = 32
	}
	type job struct {
		start, count int
		b            *prepared
		ready        chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sizes := &sizeCheck{}
	// Batches are prepared in order, two ahead of the forward pass; each
	// batch's images are spread over the workers.
	jobs := make(chan *job, 2)
	go func() {
		defer close(jobs)
		for start := 0; start < n; start += batch {
			j := &job{start: start, count: min(batch, n-start), ready: make(chan struct{})}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
			go func() {
				j.b = prepareBatch(ctx, src, prep, sizes, j.start, j.count)
				close(j.ready)
			}()
		}
	}()
	var skipped []Skipped
	for j := range jobs {
		select {
		case <-j.ready:
		case <-ctx.Done():
			return skipped, ctx.Err()
		}
		idx, data, bad := j.b.compact(prep.InputLen())
		for _, s := range bad {
			if !opt.Skip || s.fatal {
				return skipped, fmt.Errorf("%s: %w", src.Name(s.index), s.err)
			}
			skipped = append(skipped, Skipped{Index: s.index, Name: src.Name(s.index), Reason: s.err.Error()})
		}
		if len(idx) > 0 {
			rows, err := e.Forward(data, len(idx))
			if err != nil {
				return skipped, err
			}
			if err := sink(idx, rows); err != nil {
				return skipped, err
			}
		}
		if opt.Progress != nil {
			opt.Progress(j.start + j.count)
		}
	}
	return skipped, ctx.Err()
}

// sizeCheck remembers the first image's size.
type sizeCheck struct {
	mu         sync.Mutex
	set        bool
	h, w, c    int
	first      string
	firstIndex int
}

// check reports whether img has the size of the first image seen (by
// index: the lowest index seen so far wins, so the message is stable).
func (s *sizeCheck) check(img imagein.Image, name string, index int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.set {
		s.set, s.h, s.w, s.c, s.first, s.firstIndex = true, img.Height, img.Width, img.Channels, name, index
		return nil
	}
	if img.Height != s.h || img.Width != s.w {
		return fmt.Errorf("is %dx%d but %s is %dx%d: images of one set must share a size (resize them consistently first)", img.Width, img.Height, s.first, s.w, s.h)
	}
	return nil
}

type failure struct {
	index int
	err   error
	fatal bool // not skippable (mixed sizes)
}

// prepared is one batch of prepared images, some of which may have failed.
type prepared struct {
	start int
	data  []float32
	fails []*failure // per image; nil when fine
}

// compact returns the indices and data of the images that succeeded.
func (b *prepared) compact(per int) ([]int, []float32, []*failure) {
	var idx []int
	var bad []*failure
	out := b.data[:0]
	for k, f := range b.fails {
		if f != nil {
			bad = append(bad, f)
			continue
		}
		idx = append(idx, b.start+k)
		out = append(out, b.data[k*per:(k+1)*per]...)
	}
	return idx, out, bad
}

// prepareBatch decodes and prepares images start..start+count-1 in parallel.
func prepareBatch(ctx context.Context, src Source, prep Prep, sizes *sizeCheck, start, count int) *prepared {
	per := prep.InputLen()
	b := &prepared{start: start, data: make([]float32, count*per), fails: make([]*failure, count)}
	var wg sync.WaitGroup
	next := make(chan int)
	workers := min(max(1, runtime.GOMAXPROCS(0)), count)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				i := start + k
				img, u, err := src.Image(i)
				if err != nil {
					b.fails[k] = &failure{index: i, err: err}
					continue
				}
				if err := sizes.check(img, src.Name(i), i); err != nil {
					b.fails[k] = &failure{index: i, err: err, fatal: true}
					continue
				}
				if err := prep.Apply(img, u, b.data[k*per:(k+1)*per]); err != nil {
					b.fails[k] = &failure{index: i, err: err}
				}
			}
		}()
	}
	for k := 0; k < count; k++ {
		if ctx.Err() != nil {
			b.fails[k] = &failure{index: start + k, err: ctx.Err(), fatal: true}
			continue
		}
		next <- k
	}
	close(next)
	wg.Wait()
	return b
}
