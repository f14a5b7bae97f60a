package importer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"medzoo/zoo"
)

// Report is what scripts/zoo_capture.py writes to report.json: what the
// package's generate() called, how it was exported, and how its outputs
// were found to map onto the package's images. Paths are relative to the
// capture's output directory.
type Report struct {
	ModelID          string `json:"model_id"`
	PackageName      string `json:"package_name"`
	Checkpoint       string `json:"checkpoint"`
	CheckpointSHA256 string `json:"checkpoint_sha256"`
	Python           string `json:"python"`
	Torch            string `json:"torch"`
	Numpy            string `json:"numpy"`
	Generate         struct {
		Name       string         `json:"name"`
		NumSamples int            `json:"num_samples"`
		Seed       int64          `json:"seed"`
		Custom     map[string]any `json:"custom"`
	} `json:"generate"`
	Module struct {
		Class            string   `json:"class"`
		Parameters       int64    `json:"parameters"`
		Calls            int      `json:"calls"`
		CallBatches      []int    `json:"call_batches"`
		TrainModeAtCall  bool     `json:"train_mode_at_call"`
		TrainModeModules []string `json:"train_mode_modules"`
	} `json:"module"`
	FixedArgs map[string]any `json:"fixed_args"`
	Export    struct {
		Method       string  `json:"method"`
		ScriptError  string  `json:"script_error"`
		MaxAbsDiff   float64 `json:"max_abs_diff"`
		BitIdentical bool    `json:"bit_identical"`
	} `json:"export"`
	Stochastic    bool          `json:"stochastic"`
	StochasticOps []string      `json:"stochastic_ops"`
	Block         int           `json:"block"`
	BlockNote     string        `json:"block_note"`
	Inputs        []ReportInput `json:"inputs"`
	Outputs       []struct {
		Name          string     `json:"name"`
		Kind          string     `json:"kind"`
		Source        any        `json:"source"` // tuple position or dict key
		ChannelOffset int        `json:"channel_offset"`
		Channels      int        `json:"channels"`
		Height        int        `json:"height"`
		Width         int        `json:"width"`
		RawRange      [2]float64 `json:"raw_range"`
		Post          *struct {
			Map        [4]float64 `json:"map"`
			Clamp      bool       `json:"clamp"`
			Arithmetic string     `json:"arithmetic"`
			Cast       string     `json:"cast"`
			Overflow   string     `json:"overflow"`
			BGR        bool       `json:"bgr"`
			Transpose  bool       `json:"transpose"`
			Threshold  *float64   `json:"threshold"`
			LUT        []int      `json:"lut"`
		} `json:"post"`
		EqualPixels int64 `json:"equal_pixels"`
		Pixels      int64 `json:"pixels"`
	} `json:"outputs"`
	Unexpressed []struct {
		Output string `json:"output"`
		Why    string `json:"why"`
	} `json:"unexpressed"`
	PackageFiles []PackageFile `json:"package_files"`
	Unmatched    []any         `json:"unmatched_files"`
	Warnings     []string      `json:"warnings"`
}

// ReportInput is one tensor input of the module, in forward order.
type ReportInput struct {
	Name         string     `json:"name"`
	Role         string     `json:"role"` // latent, condition, image
	Shape        []int64    `json:"shape"`
	Distribution string     `json:"distribution"`
	Values       []string   `json:"values"`
	Channels     int        `json:"channels"`
	Height       int        `json:"height"`
	Width        int        `json:"width"`
	Range        [2]float64 `json:"range"`
	File         string     `json:"file"`
}

// PackageFile is one image the package saved, and which sample and output
// of zoo's must reproduce it.
type PackageFile struct {
	File   string `json:"file"`
	Sample int    `json:"sample"`
	Output string `json:"output"`
}

// CaptureError is error.json: why the capture failed, in words for people.
type CaptureError struct {
	Stage         string `json:"stage"`
	Kind          string `json:"kind"`
	Message       string `json:"message"`
	Module        string `json:"module"`
	DebianPackage string `json:"debian_package"`
	Traceback     string `json:"traceback"`
}

func (e *CaptureError) Error() string {
	msg := strings.TrimRight(strings.TrimSpace(e.Message), ".")
	if e.Kind == "missing_dependency" && e.DebianPackage != "" && e.DebianPackage != "none" && !strings.Contains(msg, e.DebianPackage) {
		msg += fmt.Sprintf(" (install it with: apt-get install %s)", e.DebianPackage)
	}
	return "the package's code failed in the sandbox (" + strings.ReplaceAll(e.Kind, "_", " ") + "): " + msg
}

func readReport(dir string) (*Report, error) {
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil, fmt.Errorf("the capture wrote no report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("the capture's report.json is unreadable: %w", err)
	}
	if r.Block <= 0 || r.Block > zoo.MaxBatch {
		return nil, fmt.Errorf("the capture's report gives compute block %d", r.Block)
	}
	if len(r.Outputs) == 0 {
		return nil, fmt.Errorf("the capture found no output of the module that maps onto the package's images")
	}
	return &r, nil
}

func readCaptureError(dir string) *CaptureError {
	data, err := os.ReadFile(filepath.Join(dir, "error.json"))
	if err != nil {
		return nil
	}
	var e CaptureError
	if json.Unmarshal(data, &e) != nil || e.Message == "" {
		return nil
	}
	return &e
}

// Signature turns the report into the catalog signature of the exported
// module.
func (r *Report) Signature() (*zoo.Signature, string, error) {
	s := &zoo.Signature{Batch: r.Block, Stochastic: r.Stochastic}
	function := zoo.FunctionNoiseToImage
	for _, in := range r.Inputs {
		switch in.Role {
		case "latent":
			if len(s.Latent) > 0 {
				return nil, "", fmt.Errorf("the module takes two latent tensors (%v and %v); zoo feeds one", s.Latent, in.Shape)
			}
			if len(s.Conditions) > 0 || len(s.ImageInputs()) > 0 {
				return nil, "", fmt.Errorf("the module takes its latent %q after other inputs; zoo feeds the latent first", in.Name)
			}
			s.Latent = in.Shape
			s.Distribution = in.Distribution
			if s.Distribution == "" {
				s.Distribution = "normal"
			}
		case "condition":
			if len(s.ImageInputs()) > 0 {
				return nil, "", fmt.Errorf("the module takes condition %q after an image; zoo feeds conditions before images", in.Name)
			}
			s.Conditions = append(s.Conditions, zoo.Condition{Name: in.Name, Values: in.Values})
		case "image":
			function = zoo.FunctionImageToImage
			spec := zoo.TensorSpec{Name: in.Name, Kind: zoo.KindImage, Channels: in.Channels, Height: in.Height, Width: in.Width, Range: in.Range}
			if !(spec.Range[0] < spec.Range[1]) {
				spec.Range = [2]float64{-1, 1}
			}
			if s.Input == nil {
				s.Input = &spec
			} else {
				s.Inputs = append(s.Inputs, spec)
			}
		default:
			return nil, "", fmt.Errorf("the capture reports an input %q of unknown role %q", in.Name, in.Role)
		}
	}
	for _, o := range r.Outputs {
		spec := zoo.TensorSpec{Name: o.Name, Kind: o.Kind, Channels: o.Channels, Height: o.Height, Width: o.Width,
			Range: o.RawRange, ChannelOffset: o.ChannelOffset}
		switch src := o.Source.(type) {
		case float64:
			spec.Source = strconv.Itoa(int(src))
		case string:
			spec.Source = src
		}
		if p := o.Post; p != nil {
			spec.Post = &zoo.Post{Map: p.Map, Clamp: p.Clamp, Arithmetic: p.Arithmetic, Cast: p.Cast, Overflow: p.Overflow,
				BGR: p.BGR, Transpose: p.Transpose, Threshold: p.Threshold, LUT: p.LUT}
			spec.Range = [2]float64{p.Map[0], p.Map[1]}
		}
		if !(spec.Range[0] < spec.Range[1]) {
			spec.Range = [2]float64{-1, 1}
		}
		s.Outputs = append(s.Outputs, spec)
	}
	return s, function, nil
}
