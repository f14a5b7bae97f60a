// Package features turns images into feature vectors with a TorchScript
// feature extractor (Inception-v3 for FID, RadImageNet's ResNet-50, or any
// user file) run through package torch, with the preprocessing its spec
// describes, decoding and resizing in parallel with the forward pass.
package features

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"medzoo/internal/files"
	"medzoo/internal/limits"
)

// Spec describes a feature extractor: what it expects and what it returns.
// Specs of known extractors are built in (extractors.toml); a user's
// TorchScript file FILE.pt comes with FILE.toml holding the same fields.
type Spec struct {
	Name  string `toml:"name" json:"name"`
	Title string `toml:"title" json:"title"`
	// InputSize is the height and width images are resized to.
	InputSize [2]int `toml:"input_size" json:"input_size"`
	// Resize is "bilinear" (antialiased when shrinking, like
	// torch.nn.functional.interpolate(antialias=True)), "nearest", or
	// "none" (images must already be InputSize).
	Resize string `toml:"resize" json:"resize"`
	// Range is what [0, 1] pixel values are mapped onto before Mean and Std.
	Range [2]float64 `toml:"range" json:"range"`
	Mean  [3]float64 `toml:"mean" json:"mean"`
	Std   [3]float64 `toml:"std" json:"std"`
	// Channels is the channel order the network takes: "RGB" or "BGR".
	Channels string `toml:"channels" json:"channels"`
	// ForwardArgs are scalar arguments passed after the image tensor, e.g.
	// [true] for StyleGAN's forward(img, return_features=True).
	ForwardArgs []any  `toml:"forward_args" json:"forward_args,omitempty"`
	Output      string `toml:"output" json:"output"`
	Dim         int    `toml:"dim" json:"dim"`
	Weights     string `toml:"weights" json:"weights"`
	// URL and SHA256 say where a built-in extractor is fetched from and
	// what it must hash to ("" when not published: pinned on first use).
	URL    string `toml:"url" json:"url,omitempty"`
	SHA256 string `toml:"sha256" json:"sha256,omitempty"`
	// Export says how to make the file when it cannot be downloaded.
	Export string `toml:"export" json:"export,omitempty"`
}

//go:embed extractors.toml
var builtinTOML string

// Builtin returns the built-in extractor specs.
func Builtin() ([]Spec, error) {
	var f struct {
		Extractor []Spec `toml:"extractor"`
	}
	md, err := toml.Decode(builtinTOML, &f)
	if err != nil {
		return nil, fmt.Errorf("built-in extractors.toml: %w", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		return nil, fmt.Errorf("built-in extractors.toml: unknown keys %v", u)
	}
	for i := range f.Extractor {
		if err := f.Extractor[i].Validate(); err != nil {
			return nil, fmt.Errorf("built-in extractors.toml: %w", err)
		}
	}
	return f.Extractor, nil
}

// LoadSpec reads the spec file (TOML) of a user's extractor.
func LoadSpec(path string) (Spec, error) {
	var s Spec
	data, err := readSpec(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return s, fmt.Errorf("%s: no spec file; a TorchScript extractor FILE.pt needs FILE.toml saying how to feed it, e.g.\n%s", path, specExample)
		}
		return s, fmt.Errorf("%s: %w", path, err)
	}
	md, err := toml.Decode(string(data), &s)
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		return s, fmt.Errorf("%s: unknown keys %v (known: name, title, input_size, resize, range, mean, std, channels, forward_args, output, dim, weights, url, sha256, export)", path, u)
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// readSpec reads a spec file: a regular file of at most 1 MiB (a spec is a
// dozen lines) within the TOML limits, checked before the recursive TOML
// parser sees it.
func readSpec(path string) ([]byte, error) {
	data, err := files.ReadRegular(path, 1<<20)
	if errors.As(err, new(*files.TooLargeError)) {
		return nil, errors.New("spec file is larger than 1 MiB; an extractor spec is a few lines")
	}
	if err != nil {
		return nil, err
	}
	return data, limits.CheckTOML(data)
}

const specExample = `  name = "my-extractor"
  input_size = [224, 224]    # height, width
  resize = "bilinear"        # bilinear | nearest | none
  range = [0.0, 1.0]         # [0,1] pixels are mapped onto this range
  mean = [0.485, 0.456, 0.406]
  std = [0.229, 0.224, 0.225]
  channels = "RGB"           # or "BGR"
  dim = 2048                 # features per image: forward returns [N, dim]`

// Validate checks that the spec can be used.
func (s *Spec) Validate() error {
	var problems []string
	if s.Name == "" {
		problems = append(problems, "name is missing")
	}
	if s.InputSize[0] <= 0 || s.InputSize[1] <= 0 {
		problems = append(problems, "input_size must be [height, width] > 0")
	}
	if s.Resize == "" {
		s.Resize = "bilinear"
	}
	if !validResize(s.Resize) {
		problems = append(problems, fmt.Sprintf("resize %q: want bilinear, nearest or none", s.Resize))
	}
	if s.Range == [2]float64{} {
		s.Range = [2]float64{0, 1}
	}
	if s.Range[0] == s.Range[1] {
		problems = append(problems, "range must be [low, high] with low != high")
	}
	if s.Std == [3]float64{} {
		s.Std = [3]float64{1, 1, 1}
	}
	for c, v := range s.Std {
		if v == 0 {
			problems = append(problems, fmt.Sprintf("std[%d] is 0", c))
		}
	}
	switch s.Channels {
	case "":
		s.Channels = "RGB"
	case "RGB", "BGR":
	default:
		problems = append(problems, fmt.Sprintf("channels %q: want RGB or BGR", s.Channels))
	}
	if s.Dim <= 0 {
		problems = append(problems, "dim (features per image) must be > 0")
	}
	for i, a := range s.ForwardArgs {
		switch v := a.(type) {
		case bool, float64:
		case int64:
			s.ForwardArgs[i] = int(v)
		case int:
		default:
			problems = append(problems, fmt.Sprintf("forward_args[%d] is a %T; want a bool, integer or float", i, v))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("extractor %q: %s", s.Name, strings.Join(problems, "; "))
	}
	return nil
}

func validResize(r string) bool { return r == "bilinear" || r == "nearest" || r == "none" }

// Preprocessing returns a one-line description of what is done to pixels,
// for metric cards and cache keys.
func (s *Spec) Preprocessing() string {
	return fmt.Sprintf("resize %s to %dx%d, [0,1] -> [%g,%g], mean %v, std %v, %s",
		s.Resize, s.InputSize[1], s.InputSize[0], s.Range[0], s.Range[1], s.Mean, s.Std, s.Channels)
}
