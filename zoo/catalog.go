// Package zoo is the model catalog: zoo.toml's types, parsing and
// validation with line numbers, id resolution, the embedded catalog, user
// and remote catalogs and their overlays. Fetching what an entry points at
// is zoo/store's job, searching the catalog zoo/search's, and loading a
// model loader's; zoo knows nothing of LibTorch.
package zoo

import (
	"bytes"
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"medzoo/zoo/store"
)

// SchemaVersion is the catalog format version this build reads. A catalog
// declares it with a top-level `schema = 1`; a newer number is refused with
// a message to upgrade zoo, so old binaries never misread new catalogs.
const SchemaVersion = 1

// Function values: what a model does with its inputs.
const (
	FunctionNoiseToImage = "noise-to-image"
	FunctionImageToImage = "image-to-image"
)

// Artifact formats. Only TorchScript runs in zoo; python-package artifacts
// (medigan's original zip packages) can be pulled and inspected but never
// executed, because running them would mean running arbitrary Python.
const (
	FormatTorchScript   = store.FormatTorchScript
	FormatPythonPackage = "python-package"
)

// Output kinds.
const (
	KindImage = "image"
	KindMask  = "mask"
	KindLabel = "label"
)

// Catalog is a parsed set of model entries, in file order.
type Catalog struct {
	Schema int     `toml:"schema"`
	Models []Model `toml:"model"`

	// Sources lists where entries came from, for messages ("embedded",
	// a file path). Not part of the TOML.
	Sources []string `toml:"-"`
}

// Model is one [[model]] table.
type Model struct {
	ID          string   `toml:"id"` // medigan style: 00008_C-DCGAN_MMG_MASSES
	Version     string   `toml:"version"`
	Title       string   `toml:"title"`
	Description string   `toml:"description"`
	Authors     []string `toml:"authors"`
	License     string   `toml:"license"`
	Publication string   `toml:"publication"`
	DOI         []string `toml:"doi"`
	Year        string   `toml:"year"`

	// Selection fields, searched by `zoo search`.
	Modality     []string `toml:"modality"`
	Organ        []string `toml:"organ"`
	Generates    []string `toml:"generates"`
	Function     string   `toml:"function"` // FunctionNoiseToImage, FunctionImageToImage
	Architecture string   `toml:"architecture"`
	Dataset      []string `toml:"dataset"`
	DatasetType  string   `toml:"dataset_type"` // public, private, ...
	UseCases     []string `toml:"use_cases"`
	Height       int      `toml:"height"`
	Width        int      `toml:"width"`
	Depth        int      `toml:"depth"` // 0 for 2-D models
	Tags         []string `toml:"tags"`

	// Demo is true for the demonstration models trained by this project;
	// they are not clinical models and every surface says so.
	Demo     bool      `toml:"demo"`
	Training *Training `toml:"training"`

	Metrics   map[string]Metric `toml:"metrics"`
	Artifact  Artifact          `toml:"artifact"`
	Signature *Signature        `toml:"signature"` // nil: not runnable in zoo
	// Imported is the report of the `zoo import` that made this entry
	// runnable: what ran, how it was exported and how it was verified.
	Imported *Imported `toml:"imported,omitempty"`
	// Overlay marks an entry that adds to the entry of the same id loaded
	// before it instead of replacing it: the sections it sets replace the
	// base's, its metrics are added to the base's. zoo import writes
	// overlays, so the catalog's description, metrics and provenance stay.
	Overlay bool `toml:"overlay,omitempty"`
	// Upstream describes how the original (medigan) package runs, so zoo can
	// say what running it would need. Nil for models made for zoo.
	Upstream *Upstream `toml:"upstream"`

	// Source is the catalog this entry came from (file path or "embedded");
	// Line is the line of its [[model]] header there. Set by the parser.
	Source string `toml:"-"`
	Line   int    `toml:"-"`
	// Overlays lists the catalogs whose overlay entries were applied to
	// this one, in order.
	Overlays []string `toml:"-"`
}

// Training records how a model was made: required for demo models so that
// anyone can rerun it.
type Training struct {
	DataSource  string `toml:"data_source"`  // where the images came from
	DataLicense string `toml:"data_license"` // their licence
	Command     string `toml:"command"`      // exact command that trains and exports it
	Epochs      int    `toml:"epochs"`
	WallTime    string `toml:"wall_time"` // e.g. "6m12s on 2 CPU cores"
	Parameters  int64  `toml:"parameters"`
	Seed        int64  `toml:"seed"`
	Notes       string `toml:"notes"`
}

// Metric is one quality figure with what it means and how it was obtained,
// so that figures measured under different protocols are never silently
// compared.
type Metric struct {
	Value     float64 `toml:"value"`
	Direction string  `toml:"direction"` // "lower" or "higher" is better
	Meaning   string  `toml:"meaning"`
	Source    string  `toml:"source,omitempty"` // "self-reported" or "measured by zoo"
	Extractor string  `toml:"extractor"`        // feature extractor, e.g. "inception-v3 (ImageNet)"
	Images    int     `toml:"images"`           // number of images in the computation
	Reference string  `toml:"reference"`        // reference set
}

// Artifact says where a model's files are and how to check them.
type Artifact struct {
	// URL is anything the store can fetch: https://, http://, file://, a
	// plain path, or bundled://NAME for models embedded in the binary.
	URL string `toml:"url"`
	// SHA256 is the lower-case hex digest of the file at URL (the archive,
	// when URL is one). Empty only for upstream artifacts whose digest is
	// not yet known; the store refuses those unless told to pin on first use.
	SHA256 string `toml:"sha256"`
	Format string `toml:"format"` // FormatTorchScript or FormatPythonPackage
	// Path is the file inside an archive to use (the TorchScript module).
	Path string `toml:"path"`
	Size int64  `toml:"size"` // bytes, for progress and bomb checks; 0 if unknown
}

// Signature describes a runnable model's inputs and outputs.
type Signature struct {
	// Latent is the per-sample noise shape, e.g. [100] or [100, 1, 1].
	// Empty for models without a latent input.
	Latent []int64 `toml:"latent"`
	// Distribution of latent values: "normal" (default) or "uniform".
	Distribution string      `toml:"distribution"`
	Conditions   []Condition `toml:"conditions"`
	// Input is the image input of image-to-image models.
	Input *TensorSpec `toml:"input"`
	// Inputs are further named image inputs, after Input, for models that
	// take several images (an inpainting generator takes an image and a
	// mask). The module receives them in this order, after the conditions.
	Inputs  []TensorSpec `toml:"inputs,omitempty"`
	Outputs []TensorSpec `toml:"outputs"`
	// Args are fixed scalar forward arguments passed after the tensors, in
	// order (ProGAN's forward(z, step, alpha)).
	Args []ScalarArg `toml:"args,omitempty"`
	// Stochastic marks a module that draws random numbers inside forward
	// (aten::randn, dropout in training mode, ...). zoo seeds LibTorch's
	// generator from (seed, block start) before each compute block, so runs
	// repeat on the same device; the draws differ from the original
	// package's, and provenance says so.
	Stochastic bool `toml:"stochastic,omitempty"`
	// Batch is the model's compute block: zoo runs forward on exactly this
	// many samples at a time, aligned to multiples of it from index 0. Many
	// LibTorch kernels (MKL's matrix products behind Linear layers, for one)
	// round differently for different batch sizes, so a fixed block is what
	// makes sample i byte-identical whatever --batch-size is. 0 means
	// DefaultBatch.
	Batch int `toml:"batch"`
}

// DefaultBatch is the compute block of models that declare none.
const DefaultBatch = 16

// MaxBatch bounds a declared compute block, so a catalog cannot make zoo
// allocate a block of a million samples.
const MaxBatch = 4096

// Condition types.
const (
	ConditionIndex = "index" // the default: one of Values, passed as its index (int64 [N])
	ConditionFloat = "float" // a number, passed as float32 [N]
)

// Condition is a named condition. An index condition (the default) has
// allowed values and the module receives the index of the chosen value as
// an int64 tensor of shape [N]; a float condition is a number (within Range
// when one is given, Default when not chosen) passed as float32 [N].
type Condition struct {
	Name    string     `toml:"name"`
	Type    string     `toml:"type,omitempty"` // ConditionIndex (default) or ConditionFloat
	Values  []string   `toml:"values"`
	Default float64    `toml:"default,omitempty"` // float conditions
	Range   [2]float64 `toml:"range,omitempty"`   // float conditions: allowed [low, high]; zero: any
}

// IsFloat reports whether the condition takes a number.
func (c Condition) IsFloat() bool { return c.Type == ConditionFloat }

// ScalarArg is one fixed scalar forward argument.
type ScalarArg struct {
	Name  string  `toml:"name"`
	Type  string  `toml:"type,omitempty"` // "int", "float" or "bool"
	Value float64 `toml:"value"`
}

// Imported records a zoo import: enough to judge the conversion without
// rerunning it.
type Imported struct {
	Date           string   `toml:"date"`
	ZooVersion     string   `toml:"zoo_version"`
	Package        string   `toml:"package"` // where the package came from
	PackageSHA256  string   `toml:"package_sha256"`
	Checkpoint     string   `toml:"checkpoint"`
	CheckpointSHA  string   `toml:"checkpoint_sha256"`
	Sandbox        string   `toml:"sandbox"` // how the package code was confined
	Python         string   `toml:"python"`
	Torch          string   `toml:"torch"`
	Generate       string   `toml:"generate"` // the call that ran, with its arguments
	Export         string   `toml:"export"`   // torch.jit.script or torch.jit.trace
	MaxAbsDiff     float64  `toml:"max_abs_diff"`
	BitIdentical   bool     `toml:"bit_identical"` // TorchScript raw output = eager's, bit for bit
	Block          string   `toml:"block"`         // why the compute block is what it is
	Images         int      `toml:"images"`        // package images compared with zoo's
	Pixels         int64    `toml:"pixels"`
	PixelsEqual    int64    `toml:"pixels_equal"`
	PixelIdentical bool     `toml:"pixel_identical"`
	Unexpressed    []string `toml:"unexpressed"` // package outputs zoo does not reproduce, and why
	Warnings       []string `toml:"warnings"`
	Seconds        float64  `toml:"seconds"`
}

// TensorSpec declares one image-like tensor of shape [N, Channels, Height, Width].
// Units of an output's values (TensorSpec.Units).
const (
	UnitsHU = "HU" // CT: Hounsfield units
	UnitsMR = "MR" // MR signal: arbitrary units
)

// Planes are the anatomical planes a 2-D slice may lie in.
var Planes = []string{"axial", "coronal", "sagittal"}

// Physical limits of the declarations, for the catalog's checks. HU are
// stored as DICOM's signed 16 bits; MR in 8 to 16 bits; a pixel is
// between a micrometre and a metre.
const (
	MinStoredBits = 8
	MaxStoredBits = 16
	MinSpacingMM  = 0.001
	MaxSpacingMM  = 1000
)

// PhysicalScale is Scale, 1 when unset.
func (t *TensorSpec) PhysicalScale() float64 {
	if t.Scale == nil {
		return 1
	}
	return *t.Scale
}

type TensorSpec struct {
	Name     string     `toml:"name"`
	Kind     string     `toml:"kind"` // KindImage, KindMask, KindLabel
	Channels int        `toml:"channels"`
	Height   int        `toml:"height"`
	Width    int        `toml:"width"`
	Range    [2]float64 `toml:"range"` // value range, e.g. [-1, 1]

	// What the values mean physically, for the clinical formats. Units is
	// UnitsHU (CT: HU = Offset + Scale × value) or UnitsMR (MR signal in
	// arbitrary units, stored with StoredBits bits); "" when the model does
	// not say, as for every medigan model (its catalog gives no units).
	// Images only: a mask or label holds classes, not measurements.
	Units      string   `toml:"units,omitempty"`
	Scale      *float64 `toml:"scale,omitempty"` // nil: 1
	Offset     float64  `toml:"offset,omitempty"`
	StoredBits int      `toml:"stored_bits,omitempty"`
	// SpacingMM is the pixel spacing in millimetres: row, column (DICOM's
	// PixelSpacing order), and slice for a volume. Empty: unknown.
	SpacingMM []float64 `toml:"spacing_mm,omitempty"`
	// Plane is the anatomical plane of a 2-D slice; PlaneCondition instead
	// names the condition whose value is the plane (model 00102). Neither:
	// unknown, or mixed (a model drawing slices of every plane).
	Plane          string `toml:"plane,omitempty"`
	PlaneCondition string `toml:"plane_condition,omitempty"`

	// Outputs only. Source names the module output this one is cut from: a
	// dict key, or a position ("0", "1", ...) in a tuple result. Empty: the
	// output's own name (dict results) or position. ChannelOffset is the
	// first channel taken from it, so one 4-channel tensor can be split
	// into an RGB image (offset 0, 3 channels) and a mask (offset 3).
	Source        string `toml:"source,omitempty"`
	ChannelOffset int    `toml:"channel_offset,omitempty"`
	// Post, when set, is how the original package turned raw values into
	// 8-bit pixels; zoo applies it exactly (see Post) and the output's
	// values become those pixels, 0..255.
	Post *Post `toml:"post,omitempty"`
}

// Post describes a package's post-processing of one raw output, as found
// and verified by zoo import. Per value x (float32), in this order:
//
//	t = (x - Map[0]) / (Map[1] - Map[0])     in the first precision
//	t = min(max(t, 0), 1)                    if Clamp
//	y = t * (Map[3] - Map[2]) + Map[2]       in the second precision
//	y = Cast(y)                              truncate, round (half to even) or floor
//	y = Overflow(y)                          clip to [0, 255], or wrap modulo 256 like a C uint8 cast
//	y = LUT[y]                               if LUT is set (a colormap lookup)
//
// Threshold, when set, replaces all of that: y = Map[3] if x > Threshold,
// else Map[2]. Transpose swaps height and width first; BGR reverses the
// channel order (cv2 writes arrays as BGR).
type Post struct {
	Map        [4]float64 `toml:"map"`           // [from_low, from_high, to_low, to_high]
	Clamp      bool       `toml:"clamp"`         // clamp the normalised value to [0, 1]
	Arithmetic string     `toml:"arithmetic"`    // "float32" (default), "float64", "float32,float64"
	Cast       string     `toml:"cast"`          // "truncate" (default), "round", "floor"
	Overflow   string     `toml:"overflow"`      // "clip" (default) or "wrap"
	LUT        []int      `toml:"lut,omitempty"` // 256 entries, or none
	Threshold  *float64   `toml:"threshold,omitempty"`
	Transpose  bool       `toml:"transpose"`
	BGR        bool       `toml:"bgr"`
}

// Post arithmetic, cast and overflow values.
var (
	PostArithmetics = []string{"float32", "float64", "float32,float64"}
	PostCasts       = []string{"truncate", "round", "floor"}
	PostOverflows   = []string{"clip", "wrap"}
)

// ImageInputs returns the model's image inputs in the order the module
// takes them: Input, then Inputs.
func (s *Signature) ImageInputs() []TensorSpec {
	var out []TensorSpec
	if s.Input != nil {
		out = append(out, *s.Input)
	}
	return append(out, s.Inputs...)
}

// Map renders the model with its catalog (TOML) key names, plus whether it
// is runnable and which catalog it came from: what `zoo info --json` and
// the serve API show.
func (m *Model) Map() (map[string]any, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(m); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if _, err := toml.Decode(buf.String(), &out); err != nil {
		return nil, err
	}
	out["runnable"] = m.Runnable()
	out["source"] = m.Source
	return out, nil
}

// Reproducibility says what a run of the model repeats, for provenance:
// the same bytes for the same model, seed and index, or, for a module that
// draws random numbers inside forward, the same bytes per compute block on
// the same device only.
func (m *Model) Reproducibility() string {
	if m.Signature != nil && m.Signature.Stochastic {
		return "per compute block on the same device: the module draws random numbers inside forward, from LibTorch's generator seeded with (seed, block start); CPU and CUDA draw differently, and the draws are not the original package's"
	}
	return "bitwise: the same model, seed, index and inputs give the same values whatever the batch size or resume point"
}

// StoreArtifact is what the store fetches for m: its artifact, named by
// the model's id, with relative paths taken from m's catalog file.
func (m *Model) StoreArtifact() store.Artifact {
	a := m.Artifact
	return store.Artifact{Name: m.ID, URL: a.URL, SHA256: a.SHA256, Size: a.Size, Format: a.Format, Path: a.Path, Source: m.Source}
}

// Runnable reports whether zoo can execute the model itself.
func (m *Model) Runnable() bool {
	return m.Signature != nil && m.Artifact.Format == FormatTorchScript
}

// Upstream records the original package's execution details from medigan's
// metadata: zoo never runs them, but shows them so users know what the
// package expects and what converting it to TorchScript would involve.
type Upstream struct {
	Package      string   `toml:"package"`          // medigan package name
	ModelFile    string   `toml:"model_file"`       // checkpoint inside the package, e.g. 1750.pt
	Dependencies []string `toml:"dependencies"`     // Python packages it imports
	LatentSize   int      `toml:"latent_size"`      // input_latent_vector_size, 0 if none
	Inputs       []string `toml:"inputs,omitempty"` // its generate() options, as documented
	Generate     string   `toml:"generate"`         // generate method's name in __init__.py
	CustomArgs   string   `toml:"custom_args"`      // its custom arguments as medigan passes them, a JSON object
}

// ValidID reports whether id may name a catalog entry.
func ValidID(id string) bool { return idChars.MatchString(id) }

// DescribePhysical says what an output's values and pixels measure
// (units, spacing, plane), in the phrases zoo info shows.
func DescribePhysical(o TensorSpec) []string {
	var parts []string
	switch o.Units {
	case UnitsHU:
		parts = append(parts, fmt.Sprintf("HU = %g + %g × value", o.Offset, o.PhysicalScale()))
	case UnitsMR:
		if o.StoredBits > 0 {
			parts = append(parts, fmt.Sprintf("MR signal, arbitrary units, stored in %d bits", o.StoredBits))
		} else {
			parts = append(parts, "MR signal, arbitrary units")
		}
	}
	if len(o.SpacingMM) > 0 {
		mm := make([]string, len(o.SpacingMM))
		for i, v := range o.SpacingMM {
			mm[i] = strconv.FormatFloat(v, 'g', 4, 64)
		}
		parts = append(parts, strings.Join(mm, " × ")+" mm pixels")
	}
	switch {
	case o.Plane != "":
		parts = append(parts, o.Plane)
	case o.PlaneCondition != "":
		parts = append(parts, fmt.Sprintf("plane given by condition %q", o.PlaneCondition))
	}
	return parts
}

// DescribeOutput says in words how an output is cut from the module's
// result and turned into pixels: what zoo info and zoo import show.
func DescribeOutput(o TensorSpec) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("%s, %d×%d, %d channel(s)", o.Kind, o.Width, o.Height, o.Channels))
	if o.Source != "" || o.ChannelOffset != 0 {
		parts = append(parts, fmt.Sprintf("channels %d..%d of module output %s", o.ChannelOffset, o.ChannelOffset+o.Channels-1, cmp.Or(o.Source, "0")))
	}
	if o.Post == nil {
		if o.Range != [2]float64{} {
			parts = append(parts, fmt.Sprintf("values in [%g, %g]", o.Range[0], o.Range[1]))
		}
		return strings.Join(append(parts, DescribePhysical(o)...), "; ")
	}
	p := o.Post
	if p.Transpose {
		parts = append(parts, "height and width swapped")
	}
	if p.BGR {
		parts = append(parts, "channels reversed (BGR)")
	}
	if p.Threshold != nil {
		parts = append(parts, fmt.Sprintf("%g where the value > %g, else %g", p.Map[3], *p.Threshold, p.Map[2]))
		return strings.Join(parts, "; ")
	}
	m := fmt.Sprintf("[%g, %g] mapped onto [%g, %g] in %s", p.Map[0], p.Map[1], p.Map[2], p.Map[3], cmp.Or(p.Arithmetic, "float32"))
	if p.Clamp {
		m += ", clamped"
	}
	m += ", " + cmp.Or(p.Cast, "truncate") + "d"
	if p.Overflow == "wrap" {
		m += ", wrapping around past 255 like a uint8 cast"
	} else {
		m += ", clipped to 0..255"
	}
	if p.LUT != nil {
		m += ", then a 256-entry lookup table (colormap)"
	}
	return strings.Join(append(parts, m), "; ")
}
