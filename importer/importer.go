// Package importer turns a medigan model package (Python code, a
// checkpoint, metadata) into a TorchScript artifact and a catalog entry:
// it runs the package's own generate() once, in a sandbox without network,
// through scripts/zoo_capture.py, which records the generator module and
// its inputs, exports it and works out the package's post-processing. The
// caller (cli) then proves the result with zoo's own generator: same
// latents in, the package's pixels out.
package importer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"medzoo/internal/linelog"
	"medzoo/scripts"
	"medzoo/zoo"
)

// Python is the interpreter package code runs with: Debian's, which has
// python3-torch. A python3 earlier on PATH may well lack torch.
var Python = "/usr/bin/python3"

// Options configure one import.
type Options struct {
	// Package is the package folder (already unpacked).
	Package string
	// Metadata is medigan's metadata for the package (its metadata.json
	// content, {id: {execution: ...}}); nil reads Package/metadata.json.
	Metadata []byte
	// Checkpoint overrides the checkpoint file (default: the package's
	// model_name+extension inside Package).
	Checkpoint string
	// Args override generate()'s custom arguments: KEY=JSON.
	Args     []string
	Samples  int   // samples generate() makes (default 16)
	Seed     int64 // torch.manual_seed before generate()
	Sandbox  Sandbox
	Timeout  time.Duration // wall time for the package run (default 10 minutes)
	MemoryMB int           // address-space limit of the Python process (default 8192)
	Threads  int           // torch threads in the package run (0: all cores)
	// Log receives the package run's progress lines (stderr of the
	// capture), nil for none.
	Log io.Writer
}

// Capture is a finished capture: its report and the scratch directory
// holding generator.pt, the recorded inputs and the package's own images.
// Remove deletes the scratch directory.
type Capture struct {
	Dir     string
	Report  *Report
	Seconds float64
}

// Remove deletes everything the capture left.
func (c *Capture) Remove() error { return os.RemoveAll(c.Dir) }

// Module is the exported TorchScript file.
func (c *Capture) Module() string { return filepath.Join(c.Dir, "out", "generator.pt") }

// Path resolves a path of the report.
func (c *Capture) Path(rel string) (string, error) {
	local := filepath.FromSlash(rel)
	if !filepath.IsLocal(local) {
		return "", fmt.Errorf("the capture's report names %q, which is outside its output directory", rel)
	}
	return filepath.Join(c.Dir, "out", local), nil
}

// Run runs the capture in the sandbox. On failure nothing is left behind.
func Run(ctx context.Context, o Options) (*Capture, error) {
	if o.Samples <= 0 {
		o.Samples = 16
	}
	if o.Samples > 4096 {
		return nil, fmt.Errorf("--samples %d is more than an import needs (at most 4096)", o.Samples)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.MemoryMB <= 0 {
		o.MemoryMB = 8192
	}
	if _, err := exec.LookPath(Python); err != nil {
		return nil, fmt.Errorf("zoo import runs package code with %s, which is missing: apt-get install python3-torch python3-numpy python3-pil", Python)
	}
	pkg, err := filepath.Abs(o.Package)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(pkg); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("package %s is not a folder", o.Package)
	}
	scratch, err := os.MkdirTemp("", "zoo-import-")
	if err != nil {
		return nil, err
	}
	cap := &Capture{Dir: scratch}
	ok := false
	defer func() {
		if !ok {
			cap.Remove()
		}
	}()
	for _, d := range []string{"out", "home", "tmp", "work"} {
		if err := os.Mkdir(filepath.Join(scratch, d), 0o700); err != nil {
			return nil, err
		}
	}
	script := filepath.Join(scratch, "zoo_capture.py")
	if err := os.WriteFile(script, scripts.Capture, 0o444); err != nil {
		return nil, err
	}
	argv := []string{Python, "-B", "-I", script, "--package", pkg, "--out", filepath.Join(scratch, "out"),
		"--samples", strconv.Itoa(o.Samples), "--seed", strconv.FormatInt(o.Seed, 10), "--memory-mb", strconv.Itoa(o.MemoryMB)}
	readOnly := []string{pkg}
	if o.Metadata != nil {
		meta := filepath.Join(scratch, "metadata.json")
		if err := os.WriteFile(meta, o.Metadata, 0o444); err != nil {
			return nil, err
		}
		argv = append(argv, "--metadata", meta)
	}
	if o.Checkpoint != "" {
		ck, err := filepath.Abs(o.Checkpoint)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(ck); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", o.Checkpoint, err)
		}
		argv = append(argv, "--checkpoint", ck)
		readOnly = append(readOnly, ck)
	}
	for _, a := range o.Args {
		k, v, found := strings.Cut(a, "=")
		if !found || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--arg wants KEY=VALUE (VALUE in JSON: 4, [256, 256], \"text\"), got %q", a)
		}
		argv = append(argv, "--arg", strings.TrimSpace(k)+"="+v)
		if p := pathValue(v); p != "" {
			readOnly = append(readOnly, p)
		}
	}
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	env := []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + filepath.Join(scratch, "home"),
		"TMPDIR=" + filepath.Join(scratch, "tmp"),
		"MPLCONFIGDIR=" + filepath.Join(scratch, "tmp"),
		"MPLBACKEND=Agg",
		"LANG=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONHASHSEED=0",
		"ZOO_THREADS=" + strconv.Itoa(threads),
		"OMP_NUM_THREADS=" + strconv.Itoa(threads),
		// One BLAS thread, as zoo's own process pins it (torch.go's init):
		// OpenBLAS's products differ in the last bits between thread counts.
		"OPENBLAS_NUM_THREADS=1",
		"CUDA_VISIBLE_DEVICES=", // the import runs on CPU: the equality figures must not depend on a GPU
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cmd := o.Sandbox.Command(ctx, scratch, filepath.Join(scratch, "work"), readOnly, env, argv)
	// The package's own stdout is noise (print statements); stderr carries
	// the capture's progress lines and Python's warnings.
	stderr := &linelog.Writer{Out: o.Log, Prefix: "  | ", MaxLen: maxLogLineLen, MaxLines: maxLogLines,
		Keep: lastLinesKept, Name: "package output"}
	cmd.Stderr = stderr
	cmd.Stdout = io.Discard
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the sandboxed package run: %w", err)
	}
	waitErr := cmd.Wait() // returns once stderr is copied to its end
	stderr.Close()
	lastLines := strings.Join(stderr.Last(), " / ")
	cap.Seconds = time.Since(started).Seconds()
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("the package run took longer than %s and was stopped (raise it with --timeout)", o.Timeout)
	case err != nil: // interrupted
		return nil, err
	}
	if ce := readCaptureError(filepath.Join(scratch, "out")); ce != nil {
		return nil, ce
	}
	if waitErr != nil {
		return nil, fmt.Errorf("the package run failed: %s; its last output: %s", exitReason(waitErr), lastLines)
	}
	r, err := readReport(filepath.Join(scratch, "out"))
	if err != nil {
		return nil, err
	}
	cap.Report = r
	ok = true
	return cap, nil
}

// pathValue returns the absolute path a JSON argument value names, if it
// is a string naming an existing file or folder.
func pathValue(v string) string {
	var s string
	if json.Unmarshal([]byte(v), &s) != nil {
		s = v
	}
	if !filepath.IsAbs(s) {
		return ""
	}
	if _, err := os.Stat(s); err != nil {
		return ""
	}
	return s
}

// Package output shown to the user is bounded: a package printing without
// end (or a progress bar per step) must not flood the terminal or zoo's
// memory. The last lines are still kept for the error message.
const (
	maxLogLines   = 200
	maxLogLineLen = 500
	lastLinesKept = 8
)

// exitReason says how the package's process ended, in words: a crash by
// signal is the package's (or a native library's) fault, not zoo's.
func exitReason(err error) string {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err.Error()
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("the package's process was killed by signal %d (%v): a crash in its code or in a native library it calls", int(ws.Signal()), ws.Signal())
	}
	code := ee.ExitCode()
	if code > 128 && code < 128+65 {
		// bwrap and unshare report a child killed by a signal as 128+signal.
		sig := syscall.Signal(code - 128)
		return fmt.Sprintf("the package's process was killed by signal %d (%v): a crash in its code or in a native library it calls", int(sig), sig)
	}
	return fmt.Sprintf("the package's process exited with status %d before zoo's capture finished (the package called exit?)", code)
}

// FindPackage returns the folder of an unpacked package: dir itself when it
// holds __init__.py, else the one folder below it that does (medigan zips
// put the files at the top or in one folder).
func FindPackage(dir string) (string, error) {
	if fileExists(filepath.Join(dir, "__init__.py")) {
		return dir, nil
	}
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.Count(strings.TrimPrefix(p, dir), string(filepath.Separator)) > 2 {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "__init__.py" {
			found = append(found, filepath.Dir(p))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i]) < len(found[j]) })
	if len(found) == 0 {
		return "", fmt.Errorf("%s holds no __init__.py: a medigan package has its generate() there", dir)
	}
	return found[0], nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Metadata is the part of medigan's metadata.json zoo reads itself.
type Metadata struct {
	ID        string
	Execution struct {
		PackageName    string          `json:"package_name"`
		ModelName      string          `json:"model_name"`
		Extension      string          `json:"extension"`
		Dependencies   []string        `json:"dependencies"`
		GenerateMethod json.RawMessage `json:"generate_method"`
	} `json:"execution"`
	Selection   map[string]any `json:"selection"`
	Description map[string]any `json:"description"`
}

// ReadMetadata parses medigan metadata ({id: {...}}, one model).
func ReadMetadata(data []byte, label string) (*Metadata, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", label, err)
	}
	if len(all) != 1 {
		return nil, fmt.Errorf("%s describes %d models; a package's metadata.json describes one ({\"ID\": {\"execution\": ...}})", label, len(all))
	}
	var md Metadata
	for id, raw := range all {
		if err := json.Unmarshal(raw, &md); err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		md.ID = id
	}
	if md.Execution.ModelName == "" && md.Execution.GenerateMethod == nil {
		return nil, fmt.Errorf("%s has no execution block (model_name, generate_method)", label)
	}
	return &md, nil
}

// MetadataFromCatalog rebuilds the execution block of metadata.json from
// a catalog entry's upstream section, for package zips that ship without
// one (medigan keeps it in its global config, not in the zip).
func MetadataFromCatalog(m *zoo.Model) ([]byte, error) {
	u := m.Upstream
	if u == nil {
		return nil, fmt.Errorf("model %s has no [model.upstream] section saying how its package runs", m.ID)
	}
	name, ext := strings.TrimSuffix(u.ModelFile, filepath.Ext(u.ModelFile)), filepath.Ext(u.ModelFile)
	method := cmp.Or(u.Generate, "generate")
	custom := map[string]any{}
	if u.CustomArgs != "" {
		if err := json.Unmarshal([]byte(u.CustomArgs), &custom); err != nil {
			return nil, fmt.Errorf("model %s: upstream.custom_args is not a JSON object: %w", m.ID, err)
		}
	}
	exec := map[string]any{
		"package_name": u.Package, "model_name": name, "extension": ext, "dependencies": u.Dependencies,
		"generate_method": map[string]any{
			"name": method,
			"args": map[string]any{"base": []string{"model_file", "num_samples", "output_path", "save_images"}, "custom": custom},
		},
	}
	if u.LatentSize > 0 {
		exec["generate_method"].(map[string]any)["input_latent_vector_size"] = u.LatentSize
	}
	return json.Marshal(map[string]any{m.ID: map[string]any{
		"execution":   exec,
		"description": map[string]any{"title": m.Title, "inputs": u.Inputs},
	}})
}
