// Package zoo holds the model catalog (zoo.toml: types, validation, id
// resolution) and the artifact store (fetching and verifying what a catalog
// entry points at). It knows nothing of LibTorch: loading is loader's job.
package zoo

import (
	"bytes"

	"github.com/BurntSushi/toml"
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
	FormatTorchScript   = "torchscript"
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
	// Upstream describes how the original (medigan) package runs, so zoo can
	// say what running it would need. Nil for models made for zoo.
	Upstream *Upstream `toml:"upstream"`

	// Source is the catalog this entry came from (file path or "embedded");
	// Line is the line of its [[model]] header there. Set by the parser.
	Source string `toml:"-"`
	Line   int    `toml:"-"`
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
	Source    string  `toml:"source"`    // "self-reported" or "measured by zoo"
	Extractor string  `toml:"extractor"` // feature extractor, e.g. "inception-v3 (ImageNet)"
	Images    int     `toml:"images"`    // number of images in the computation
	Reference string  `toml:"reference"` // reference set
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
	Input   *TensorSpec  `toml:"input"`
	Outputs []TensorSpec `toml:"outputs"`
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

// Condition is a named class condition with its allowed values. The module
// receives the index of the chosen value as an int64 tensor of shape [N].
type Condition struct {
	Name   string   `toml:"name"`
	Values []string `toml:"values"`
}

// TensorSpec declares one image-like tensor of shape [N, Channels, Height, Width].
type TensorSpec struct {
	Name     string     `toml:"name"`
	Kind     string     `toml:"kind"` // KindImage, KindMask, KindLabel
	Channels int        `toml:"channels"`
	Height   int        `toml:"height"`
	Width    int        `toml:"width"`
	Range    [2]float64 `toml:"range"` // value range, e.g. [-1, 1]
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

// Runnable reports whether zoo can execute the model itself.
func (m *Model) Runnable() bool {
	return m.Signature != nil && m.Artifact.Format == FormatTorchScript
}

// Upstream records the original package's execution details from medigan's
// metadata: zoo never runs them, but shows them so users know what the
// package expects and what converting it to TorchScript would involve.
type Upstream struct {
	Package      string   `toml:"package"`      // medigan package name
	ModelFile    string   `toml:"model_file"`   // checkpoint inside the package, e.g. 1750.pt
	Dependencies []string `toml:"dependencies"` // Python packages it imports
	LatentSize   int      `toml:"latent_size"`  // input_latent_vector_size, 0 if none
	Inputs       []string `toml:"inputs"`       // its generate() options, as documented
}
