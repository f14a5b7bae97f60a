// Package modeldir names the parts of a shareable model directory and
// bounds their sizes, in one place for the two packages that handle it:
// share (the directory and its archive) and oci (the same files as
// registry layers), which cannot import each other (share sits above the
// catalog and the store, and the store imports oci). A model that zoo pack
// accepts therefore always pulls.
package modeldir

// The names of a model directory's parts. They are fixed so that a
// receiver knows where everything is without reading anything first.
const (
	ModuleFile   = "model.pt"   // the TorchScript module
	EntryFile    = "model.toml" // its catalog entry: one [[model]] table
	LicenseFile  = "LICENSE"    // the licence text of the weights
	CardFile     = "README.md"  // the model card
	SamplesDir   = "samples"    // optional: PNG images the model made
	ManifestFile = "MANIFEST.sha256"
)

// Limits. The samples show what the model makes, they are not a data set:
// a few dozen images. The text files are a page or a few; the module is
// bounded by what the store downloads by default (4 GiB), so a shared
// model can be fetched by every zoo without --max-download.
const (
	MaxSamples      = 256
	MaxSamplesBytes = 64 << 20
	MaxTextBytes    = 1 << 20
	MaxModuleBytes  = 4 << 30
)
