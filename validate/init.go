package validate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"medzoo/internal/files"
	"medzoo/share"
	"medzoo/zoo"
)

// InitOptions say what zoo init starts from.
type InitOptions struct {
	From  string // a TorchScript module to copy to model.pt and probe; "" for none
	ID    string // the entry's id; "" is the directory's name
	Force bool   // replace files that exist
}

// Initialized is what Init wrote.
type Initialized struct {
	Dir    string   `json:"dir"`
	ID     string   `json:"id"`
	Files  []string `json:"files"`
	SHA256 string   `json:"sha256,omitempty"` // model.pt's
	Size   int64    `json:"size,omitempty"`
	Probe  *Probe   `json:"probe,omitempty"`
}

// ExistsError is a file Init would replace without Force.
type ExistsError struct{ Paths []string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s already exist(s): pass --force to replace, or choose another directory", strings.Join(e.Paths, ", "))
}

var idChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// CheckID refuses an id the catalog would refuse.
func CheckID(id string) error {
	if !idChars.MatchString(id) {
		return fmt.Errorf("id %q may only hold letters, digits, '.', '_' and '-' (e.g. 00901_DCGAN_CT_LUNG)", id)
	}
	return nil
}

// Init writes the skeleton of a model directory into dir (created if
// missing): model.toml with every field the catalog wants, those it cannot
// know marked TODO; a LICENSE placeholder; a README.md card with the
// required sections; and, with From, model.pt copied from it with its
// sha256 and size in model.toml and [model.signature] filled by probing
// it. Existing files are replaced only with Force; no write goes through a
// link (files.WriteAtomic). Validate reports every TODO until it is filled.
func Init(dir string, o InitOptions) (*Initialized, error) {
	id := o.ID
	if id == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		id = regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(filepath.Base(abs), "_")
	}
	if err := CheckID(id); err != nil {
		return nil, err
	}
	names := []string{share.EntryFile, share.LicenseFile, share.CardFile}
	if o.From != "" {
		names = append(names, share.ModuleFile)
	}
	var exist []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Lstat(p); err == nil {
			if err := files.CheckRegular(p); err != nil {
				return nil, fmt.Errorf("%v: zoo init writes no file through a link or over a special file; remove it", err)
			}
			exist = append(exist, p)
		}
	}
	if len(exist) > 0 && !o.Force {
		return nil, &ExistsError{Paths: exist}
	}
	if fi, err := os.Lstat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%s is %s, not a directory: choose a directory for the model", dir, files.Kind(fi.Mode()))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res := &Initialized{Dir: dir, ID: id}
	if o.From != "" {
		src, err := filepath.Abs(o.From)
		if err != nil {
			return nil, err
		}
		dst, _ := filepath.Abs(filepath.Join(dir, share.ModuleFile))
		if src != dst {
			if res.SHA256, res.Size, err = copyModule(o.From, filepath.Join(dir, share.ModuleFile)); err != nil {
				return nil, err
			}
		} else if res.SHA256, res.Size, err = files.SHA256Size(dst); err != nil {
			return nil, err
		}
		if res.Probe, err = ProbeModule(filepath.Join(dir, share.ModuleFile)); err != nil {
			return nil, err
		}
	}
	texts := map[string]string{
		share.EntryFile:   entryTemplate(id, res),
		share.LicenseFile: LicensePlaceholder + ".\n\nThe licence model.toml's license names (an SPDX id such as CC-BY-4.0), in full.\nzoo validate refuses this file until it is replaced.\n",
		share.CardFile:    cardTemplate(id),
	}
	for _, n := range []string{share.EntryFile, share.LicenseFile, share.CardFile} {
		if err := files.WriteAtomicBytes(filepath.Join(dir, n), []byte(texts[n])); err != nil {
			return nil, err
		}
	}
	res.Files = names
	return res, nil
}

// copyModule copies src to dst atomically, hashing it, within share's
// module limit.
func copyModule(src, dst string) (string, int64, error) {
	in, err := files.OpenRegular(src)
	if err != nil {
		return "", 0, fmt.Errorf("--from: %w", err)
	}
	defer in.Close()
	sum := sha256.New()
	var n int64
	err = files.WriteAtomic(dst, func(w io.Writer) error {
		var err error
		n, err = io.Copy(io.MultiWriter(w, sum), io.LimitReader(in, share.MaxModuleBytes+1))
		if err == nil && n > share.MaxModuleBytes {
			err = fmt.Errorf("--from %s is more than %d bytes, the limit of a shared module", src, int64(share.MaxModuleBytes))
		}
		return err
	})
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(sum.Sum(nil)), n, nil
}

// entryTemplate is model.toml: every value zoo cannot know is "TODO".
func entryTemplate(id string, r *Initialized) string {
	var b strings.Builder
	q := strconv.Quote
	b.WriteString(`# The catalog entry of this model: one [[model]] table in zoo's catalog format.
# zoo init wrote it; every "TODO" is yours to fill (zoo validate lists what is left).
# zoo validate DIR checks it; zoo pack DIR -o FILE.zip packs it once it is valid.
schema = 1

[[model]]
id = ` + q(id) + `   # letters, digits, . _ - ; medigan style: 00901_DCGAN_CT_LUNG
version = "1.0.0"
title = "TODO: one line: architecture, modality, organ, size (e.g. DCGAN for 64x64 axial lung CT slices)"
description = "TODO: what the model makes, how it was trained, how good it is"
authors = ["TODO: Name Surname"]
license = "TODO: the SPDX id of the weights' licence (LICENSE holds its text), e.g. CC-BY-4.0"
# publication = "the paper's title"   # optional
# doi = ["10.xxxx/yyyy"]              # optional
year = "TODO: the year of the model"
modality = ["TODO: e.g. CT"]
organ = ["TODO: e.g. lung"]
generates = ["TODO: what the images show, e.g. axial lung CT slices"]
function = "noise-to-image"           # or image-to-image
architecture = "TODO: e.g. DCGAN"
dataset = ["TODO: the training data's name"]
dataset_type = "TODO: public or private"
use_cases = ["TODO: e.g. data augmentation"]
`)
	if r.Probe != nil && len(r.Probe.Outputs) > 0 {
		o := r.Probe.Outputs[0]
		fmt.Fprintf(&b, "height = %d\nwidth = %d\n", o.Shape[2], o.Shape[3])
	} else {
		b.WriteString("height = 0   # the images' height and width in pixels\nwidth = 0\n")
	}
	b.WriteString(`tags = []

[model.training]
data_source = "TODO: where the training images came from"
data_license = "TODO: their licence or data use agreement"
command = "TODO: the command that trains and exports the model"

[model.artifact]
url = "model.pt"
format = "torchscript"
`)
	if r.SHA256 != "" {
		fmt.Fprintf(&b, "sha256 = %q\nsize = %d\n", r.SHA256, r.Size)
	} else {
		b.WriteString("sha256 = \"TODO: sha256sum model.pt\"\nsize = 0   # model.pt's size in bytes\n")
	}
	b.WriteString("\n")
	switch p := r.Probe; {
	case p != nil && p.Latent != nil:
		sig := p.Signature()
		fmt.Fprintf(&b, "# Found by running model.pt on a batch of 2 latents of shape %v (try %d); check it.\n", p.Latent, len(p.Tried)+1)
		b.WriteString(signatureTOML(sig, p))
	default:
		b.WriteString("# TODO below: zoo init could not find the module's input; write the signature by hand.\n")
		if p != nil {
			b.WriteString("# It tried:\n")
			for _, t := range p.Tried {
				b.WriteString("#   " + strings.ReplaceAll(t, "\n", " ") + "\n")
			}
		}
		b.WriteString(`# [model.signature]
# latent = [100]              # per-sample latent shape, e.g. [100] or [100, 1, 1]
# distribution = "normal"
#
# [[model.signature.outputs]]
# name = "image"
# kind = "image"              # image, mask or label
# channels = 1
# height = 64
# width = 64
# range = [-1.0, 1.0]         # the values forward returns
`)
	}
	return b.String()
}

// physicalHint is what an author can add to each output for the clinical
// formats (see the README's catalog section): commented, since only the
// author knows the training data's units and geometry.
const physicalHint = `# units = "HU"                  # optional, images only: "HU" (CT) or "MR" (arbitrary units)
# scale = 1.0                   # HU = offset + scale × value; MR instead: stored_bits = 12
# offset = 0.0
# spacing_mm = [1.0, 1.0]       # optional: row and column pixel spacing of the training images
# plane = "axial"               # optional: axial, coronal or sagittal
`

func signatureTOML(s *zoo.Signature, p *Probe) string {
	var b strings.Builder
	lat := make([]string, len(s.Latent))
	for i, d := range s.Latent {
		lat[i] = strconv.FormatInt(d, 10)
	}
	fmt.Fprintf(&b, "[model.signature]\nlatent = [%s]\ndistribution = %q   # or uniform: how the latent's values are drawn\n", strings.Join(lat, ", "), s.Distribution)
	for i, o := range s.Outputs {
		po := p.Outputs[i]
		fmt.Fprintf(&b, "\n[[model.signature.outputs]]\nname = %q\nkind = %q   # image, mask or label\nchannels = %d\nheight = %d\nwidth = %d\n", o.Name, o.Kind, o.Channels, o.Height, o.Width)
		if o.Source != "" {
			fmt.Fprintf(&b, "source = %q\n", o.Source)
		}
		fmt.Fprintf(&b, "range = [%s, %s]   # the probe's values spanned [%.4g, %.4g]\n", fmtFloat(o.Range[0]), fmtFloat(o.Range[1]), po.Min, po.Max)
		b.WriteString(physicalHint)
	}
	return b.String()
}

func fmtFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// cardTemplate is README.md with the sections validate requires.
func cardTemplate(id string) string {
	return "# " + id + `

TODO: one paragraph: what the model generates, at what size, from what.
Every image this model makes is synthetic: it shows no real patient.

## Intended use

TODO: who may use the images and for what (research, data augmentation, teaching),
and what not (clinical decisions, diagnosis).

## Training data

TODO: the training images: source, number, patients, licence or data use agreement,
preprocessing. The data themselves are not shared; the model is.

## Limitations

TODO: where the model fails, its biases (scanners, sites, populations), what its images lack.

## How to use

    zoo generate ` + id + ` -n 16 -o out/
`
}
