package output

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	"medzoo/internal/files"
	"medzoo/internal/limits"
)

// StackBytes bounds the voxels of one stacked volume (zoo generate
// --stack): 64 GiB, checked before the run writes anything, so that a
// mistyped -n does not fill a disk slice by slice.
const StackBytes = 64 << 30

// partialSuffix names a stacked volume being filled: image.nii.partial
// until the run completes and renames (or gzips) it to image.nii. It is not
// a files.IsTemp name, so a resumed run keeps it and continues filling it.
const partialSuffix = ".partial"

// StackOutput is one output of a stacked run: its name and its size, for
// the size check before anything is written.
type StackOutput struct {
	Name                    string
	Channels, Height, Width int
}

// Stack writes a run's samples as one NIfTI-1 volume per output: slice k
// along the third axis is sample k (zoo generate --stack), as 2-D
// pipelines (MONAI, nnU-Net) and viewers read a series. Samples finish in
// any order, so each slice is written at its offset into DIR/NAME.partial;
// Finish renames it (or gzips it) to its final name once every sample is
// committed. The header is written with the first slice and every later
// slice must give the same header: a volume has one geometry, so samples in
// different planes are refused.
type Stack struct {
	run  *Run
	gzip bool

	mu   sync.Mutex
	vols map[string]*stackVolume
}

type stackVolume struct {
	name   string // final file name: image.nii or image.nii.gz
	f      *os.File
	header []byte // nil until the first slice (or read back on resume)
	plane  string
}

// StackName is the file name of output out's volume in a stacked run.
func StackName(out string, gzip bool) string {
	if gzip {
		return out + ".nii.gz"
	}
	return out + ".nii"
}

// OpenStack prepares the volumes of run's outputs: new ones for a fresh
// run, or, for a resumed one, the partial volumes its earlier process
// left, to be filled on from run.Done. It refuses a run whose volumes
// would be over StackBytes.
func OpenStack(run *Run, outputs []StackOutput, gzip bool) (*Stack, error) {
	n := run.Info.N
	if n > niftiMaxDim {
		return nil, fmt.Errorf("--stack writes at most %d slices (NIfTI-1 dimensions are int16), -n is %d; generate fewer, or drop --stack for one file per sample", niftiMaxDim, n)
	}
	s := &Stack{run: run, gzip: gzip, vols: map[string]*stackVolume{}}
	for _, o := range outputs {
		if _, ok := limits.ProductInts(StackBytes, n, o.Channels, o.Height, o.Width, 4); !ok {
			return nil, fmt.Errorf("--stack: output %s of %d samples of %dx%dx%d float32 values would be over %s bytes in one volume; generate fewer (-n), or drop --stack for one file per sample",
				o.Name, n, o.Channels, o.Height, o.Width, limits.Human(StackBytes))
		}
	}
	for _, o := range outputs {
		v, err := s.open(o.Name)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.vols[o.Name] = v
	}
	return s, nil
}

// open opens output out's partial volume: created empty for a fresh run
// or one with no sample yet, kept for a resume. A run that is complete
// (its volume renamed) has nothing left to open.
func (s *Stack) open(out string) (*stackVolume, error) {
	v := &stackVolume{name: StackName(out, s.gzip)}
	partial := filepath.Join(s.run.Dir, v.name+partialSuffix)
	final := filepath.Join(s.run.Dir, v.name)
	done := s.run.Done
	if done > 0 && done >= s.run.Info.N {
		if _, err := os.Lstat(partial); errors.Is(err, os.ErrNotExist) {
			return v, nil // complete and renamed: Finish has nothing to do
		}
	}
	if done > 0 {
		if _, err := os.Lstat(partial); errors.Is(err, os.ErrNotExist) {
			if fi, serr := os.Lstat(final); serr == nil && fi.Mode().IsRegular() {
				return nil, fmt.Errorf("cannot resume in %s: %s is complete but the manifest holds %d of %d samples; use --force to start over", s.run.Dir, v.name, done, s.run.Info.N)
			}
			return nil, fmt.Errorf("cannot resume in %s: the manifest holds %d samples but their volume %s is missing; use --force to start over", s.run.Dir, done, filepath.Base(partial))
		}
	}
	f, err := files.OpenAppend(partial) // read-write, no O_APPEND: WriteAt works
	if err != nil {
		return nil, fmt.Errorf("stacked volume: %w", err)
	}
	v.f = f
	if done == 0 {
		// A fresh run, or one killed before its first sample: whatever
		// the file holds is not committed.
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("stacked volume: %w", err)
		}
		return v, nil
	}
	head, err := readNIfTIHeader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot resume in %s: %s: %v; use --force to start over", s.run.Dir, filepath.Base(partial), err)
	}
	v.header = head
	return v, nil
}

// readNIfTIHeader reads back the header and extensions a stacked volume's
// first slice wrote (vox_offset bytes), checking what it can.
func readNIfTIHeader(f *os.File) ([]byte, error) {
	var h [niftiHeaderSize + 4]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("no header (%v)", err)
	}
	off := math.Float32frombits(binary.LittleEndian.Uint32(h[108:]))
	if binary.LittleEndian.Uint32(h[:]) != niftiHeaderSize || string(h[344:348]) != "n+1\x00" ||
		!(off >= niftiHeaderSize+4 && off <= 1<<20) || off != float32(int(off)) {
		return nil, errors.New("not a NIfTI-1 header zoo wrote")
	}
	head := make([]byte, int(off))
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("header cut short (%v)", err)
	}
	return head, nil
}

// stackComment is the provenance of a whole stacked volume: the run's, with
// what maps slices to samples. Per-sample details (conditions drawn per
// sample, input file names) are in the manifest, one line per slice.
type stackComment struct {
	Synthetic    bool              `json:"synthetic"`
	Model        string            `json:"model"`
	Version      string            `json:"version,omitempty"`
	SHA256       string            `json:"sha256"`
	Seed         uint64            `json:"seed"`
	N            int               `json:"n"`
	Output       string            `json:"output"`
	Slices       string            `json:"slices"`
	Conditions   map[string]string `json:"conditions,omitempty"` // fixed for the run
	Input        string            `json:"input,omitempty"`      // the run's --input
	Generator    string            `json:"generator"`
	Demo         bool              `json:"demo,omitempty"`
	Reproducible string            `json:"reproducible,omitempty"`
	Latents      string            `json:"latents,omitempty"`
	Notice       string            `json:"notice"`
}

// volume is the niftiVolume of output p.Output's stack, img being one of
// its slices.
func (s *Stack) volume(img Image, p Provenance) niftiVolume {
	info := s.run.Info
	notice := fmt.Sprintf("SYNTHETIC images generated by %s with model %s", p.Generator, p.Model)
	if p.Version != "" {
		notice += " v" + p.Version
	}
	notice += fmt.Sprintf(" (seed %d, samples 0-%d); not images of a real patient", p.Seed, info.N-1)
	if p.Demo {
		notice += "; made by a demonstration model, not for clinical use"
	}
	c := stackComment{Synthetic: true, Model: p.Model, Version: p.Version, SHA256: p.SHA256, Seed: p.Seed,
		N: info.N, Output: p.Output, Slices: "slice k = sample k (the manifest's slice field)",
		Conditions: info.Conditions, Input: info.Input, Generator: p.Generator, Demo: p.Demo,
		Reproducible: p.Reproducible, Latents: p.Latents, Notice: notice}
	js, _ := json.Marshal(c)
	return niftiVolume{Template: img, Slices: info.N, Comment: js,
		Descrip: fmt.Sprintf("SYNTHETIC medzoo %s seed %d n %d stack", p.Model, p.Seed, info.N)}
}

// WriteSlice writes img, output p.Output of sample k, as slice k of its
// output's volume, and returns the volume's file name (for the manifest).
// Slices may be written concurrently and in any order.
func (s *Stack) WriteSlice(k int, img Image, p Provenance) (string, error) {
	s.mu.Lock()
	v, ok := s.vols[p.Output]
	s.mu.Unlock()
	if !ok || v.f == nil {
		return "", fmt.Errorf("stacked run: no open volume for output %q", p.Output)
	}
	if k < 0 || k >= s.run.Info.N {
		return "", fmt.Errorf("stacked run: sample %d is outside the volume's %d slices", k, s.run.Info.N)
	}
	vol := s.volume(img, p)
	head, err := vol.header()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	switch {
	case v.header == nil:
		_, err = v.f.WriteAt(head, 0)
		if err == nil {
			v.header, v.plane = head, img.Physical.Plane
		}
	case v.plane != img.Physical.Plane && v.plane != "":
		err = fmt.Errorf("the sample is %s but the stacked volume's slices are %s: a volume has one orientation; fix the plane with --condition, or drop --stack",
			planeName(img.Physical.Plane), planeName(v.plane))
	case !bytes.Equal(v.header, head):
		err = fmt.Errorf("the sample does not fit its stacked volume %s (a different size, kind or geometry than the slices before it, or a volume of an earlier run with other settings); use --force to start over, or drop --stack", v.name)
	}
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	sliceBytes := int64(vol.planeBytes())
	for c := 0; c < img.Channels; c++ {
		// Channel c of slice k: the vector dimension (dim[5]) varies
		// slowest, after x, y, the slices and t.
		off := int64(len(head)) + (int64(c)*int64(s.run.Info.N)+int64(k))*sliceBytes
		if _, err := v.f.WriteAt(vol.plane(img, c), off); err != nil {
			return "", fmt.Errorf("stacked volume %s: %w", v.name, err)
		}
	}
	return v.name, nil
}

func planeName(p string) string {
	if p == "" {
		return "of no declared plane"
	}
	return p
}

// Finish completes the volumes once every sample is committed: each
// partial volume is renamed to its final name, or gzipped into it (the
// partial removed after). A run that stops early keeps its partial
// volumes for --resume.
func (s *Stack) Finish() error {
	if got, want := s.run.Committed(), s.run.Info.N; got < want {
		return fmt.Errorf("stacked run: %d of %d samples committed; --resume continues", got, want)
	}
	for _, out := range s.run.Info.Outputs {
		v := s.vols[out]
		if v == nil || v.f == nil {
			continue
		}
		if err := s.finish(v); err != nil {
			return fmt.Errorf("stacked volume %s: %w", v.name, err)
		}
	}
	return nil
}

func (s *Stack) finish(v *stackVolume) error {
	partial := filepath.Join(s.run.Dir, v.name+partialSuffix)
	final := filepath.Join(s.run.Dir, v.name)
	f := v.f
	v.f = nil
	if s.gzip {
		defer f.Close()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		err := files.WriteAtomic(final, func(w io.Writer) error {
			gz := newGzip(w)
			if _, err := io.Copy(gz, f); err != nil {
				return err
			}
			return gz.Close()
		})
		if err != nil {
			return err
		}
		return os.Remove(partial)
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = files.CheckRegular(final)
	}
	if err == nil {
		err = os.Rename(partial, final)
	}
	return err
}

// Close closes the volumes without finishing them (a run that stopped).
func (s *Stack) Close() {
	for _, v := range s.vols {
		if v.f != nil {
			v.f.Close()
			v.f = nil
		}
	}
}

// Discard closes and removes the partial volumes: for a run that failed
// before committing any sample, so that its directory can be abandoned
// (Run.Abandon) and the rerun start afresh.
func (s *Stack) Discard() {
	s.Close()
	for _, v := range s.vols {
		os.Remove(filepath.Join(s.run.Dir, v.name+partialSuffix))
	}
}

// stackedFileExists reports whether a manifest line's stacked volume name
// is there, complete or being filled (Run.validPrefix on resume).
func stackedFileExists(dir, name string) bool {
	for _, p := range []string{name, name + partialSuffix} {
		if fi, err := os.Lstat(filepath.Join(dir, p)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}
