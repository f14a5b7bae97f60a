//go:build !notorch

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/png"
	"io"
	"iter"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"medzoo/imagein"
	"medzoo/importer"
	"medzoo/internal/files"
	"medzoo/internal/limits"
	"medzoo/internal/pipeline"
	"medzoo/internal/progress"
	"medzoo/internal/version"
	"medzoo/loader"
	"medzoo/output"
	"medzoo/torch"
	"medzoo/zoo"
	"medzoo/zoo/store"
)

// ImportFile is the user catalog zoo import writes, in CONFIG/catalogs/.
const ImportFile = "imported.toml"

// importSummary is what zoo import --json prints.
type importSummary struct {
	Model    string        `json:"model"`
	Overlay  bool          `json:"overlay"` // on a catalog entry (else a new entry)
	Catalog  string        `json:"catalog"`
	Artifact string        `json:"artifact"`
	SHA256   string        `json:"sha256"`
	Report   *zoo.Imported `json:"report"`
	Written  bool          `json:"written"`
}

func runImport(c *cli.Context) error {
	started := time.Now()
	pkgArg := c.String("package")
	switch {
	case pkgArg == "" && c.NArg() == 0:
		return usagef("import needs a catalog model id (zoo import 5) or --package DIR|ZIP")
	case pkgArg != "" && c.NArg() > 0:
		return usagef("give either a model id or --package, not both (--id names a local package's model)")
	case c.NArg() > 1:
		return usagef("import takes one model id, got %v", c.Args().Slice())
	case c.Int("samples") < 1 || c.Int("samples") > 4096:
		return usagef("--samples must be between 1 and 4096, got %d", c.Int("samples"))
	}
	e, err := loadEnv(c)
	if err != nil {
		return err
	}
	cfg, err := zoo.ConfigDir()
	if err != nil {
		return err
	}

	// Where the package comes from, and the catalog entry it lands on.
	var base *zoo.Model
	var pkgDir, origin, pkgSHA string
	var metadata []byte
	var cleanup []string
	defer func() {
		for _, d := range cleanup {
			os.RemoveAll(d)
		}
	}()
	if pkgArg == "" {
		if base, err = e.catalog.Resolve(c.Args().First()); err != nil {
			return err
		}
		if base.Artifact.Format != zoo.FormatPythonPackage {
			if base.Imported != nil {
				return usagef("model %s was already imported (%s); to import it again, give its package: zoo import --package DIR --id %s", base.ID, base.Imported.Date, base.ID)
			}
			return usagef("model %s is %s already; zoo import converts medigan Python packages", base.ID, base.Artifact.Format)
		}
		e.store.AllowUnpinned = c.Bool("allow-unpinned")
		path, err := fetch(c, e, base.StoreArtifact())
		if err != nil {
			return fmt.Errorf("%w\n(zoo import %s downloads %s, the package's zip, once)", err, base.ID, base.Artifact.URL)
		}
		dir := path
		if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
			dir = filepath.Dir(path)
		}
		if pkgDir, err = importer.FindPackage(dir); err != nil {
			return fmt.Errorf("model %s: %w", base.ID, err)
		}
		origin, pkgSHA = base.Artifact.URL, base.Artifact.SHA256
	} else {
		origin = pkgArg
		fi, err := os.Stat(pkgArg)
		if err != nil {
			return usagef("--package %s: %v", pkgArg, err)
		}
		if fi.IsDir() {
			pkgDir = pkgArg
		} else {
			if pkgSHA, err = files.SHA256(pkgArg); err != nil {
				return err
			}
			tmp, err := os.MkdirTemp("", "zoo-package-")
			if err != nil {
				return err
			}
			cleanup = append(cleanup, tmp)
			if err := store.UnpackZip(c.Context, pkgArg, tmp, pkgArg); err != nil {
				return fmt.Errorf("--package %s: %w; nothing was imported", pkgArg, err)
			}
			if pkgDir, err = importer.FindPackage(tmp); err != nil {
				return fmt.Errorf("--package %s: %w", pkgArg, err)
			}
		}
	}
	var md *importer.Metadata
	if data, err := os.ReadFile(filepath.Join(pkgDir, "metadata.json")); err == nil {
		if md, err = importer.ReadMetadata(data, filepath.Join(pkgDir, "metadata.json")); err != nil {
			return err
		}
	} else if base != nil {
		if metadata, err = importer.MetadataFromCatalog(base); err != nil {
			return err
		}
		if md, err = importer.ReadMetadata(metadata, "the catalog's upstream section"); err != nil {
			return err
		}
	} else {
		return fmt.Errorf("package %s has no metadata.json; give the catalog id it belongs to with --id", pkgDir)
	}
	if pkgArg != "" {
		id := c.String("id")
		if id == "" {
			id = md.ID
		}
		if b, err := e.catalog.Resolve(id); err == nil {
			base = b
		} else if c.IsSet("id") && !zoo.ValidID(id) {
			return usagef("--id %q may only hold letters, digits, '.', '_' and '-'", id)
		} else if !c.IsSet("id") && !zoo.ValidID(id) {
			return fmt.Errorf("package %s names its model %q, which is not a valid catalog id; give one with --id", pkgDir, id)
		} else {
			md.ID = id
		}
	}
	modelID := md.ID
	if base != nil {
		modelID = base.ID
	}

	sb, err := importer.DetectSandbox(c.Bool("no-sandbox"))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "zoo import %s: running the package's own Python code once (%s.%s() in %s)\n  in a %s;\n  limits: %s wall time, %d MiB memory\n",
		modelID, filepath.Base(pkgDir), methodName(md), pkgDir, sb.Describe(), c.Duration("timeout"), c.Int("memory-mb"))
	var log io.Writer
	if !c.Bool("quiet") {
		log = c.App.ErrWriter
	}
	capt, err := importer.Run(c.Context, importer.Options{
		Package: pkgDir, Metadata: metadata, Checkpoint: c.String("checkpoint"), Args: repeatedValues(c, "arg"),
		Samples: c.Int("samples"), Seed: c.Int64("seed"), Sandbox: sb, Timeout: c.Duration("timeout"),
		MemoryMB: c.Int("memory-mb"), Threads: c.Int("threads"), Log: log,
	})
	if err != nil {
		return fmt.Errorf("zoo import %s: %w; nothing was imported", modelID, err)
	}
	defer capt.Remove()
	if keep := c.String("keep"); keep != "" {
		// Kept whatever the outcome: a failed check is when one looks.
		defer func() {
			if err := copyTree(capt.Dir, keep); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "zoo import: --keep %s: %v\n", keep, err)
			} else {
				fmt.Fprintf(c.App.ErrWriter, "zoo import: the capture is kept in %s (out/package_out: the package's images, zoo_out: zoo's)\n", keep)
			}
		}()
	}
	r := capt.Report

	sig, function, err := r.Signature()
	if err != nil {
		return fmt.Errorf("zoo import %s: %w; nothing was imported", modelID, err)
	}
	sha, err := files.SHA256(capt.Module())
	if err != nil {
		return err
	}
	fi, err := os.Stat(capt.Module())
	if err != nil {
		return err
	}
	artifactPath := filepath.Join(cfg, "imported", modelID, "generator.pt")
	entry := importEntry(base, md, modelID, function, sig, zoo.Artifact{URL: artifactPath, SHA256: sha, Format: zoo.FormatTorchScript, Size: fi.Size()})
	imp := importReport(r, sb, origin, pkgSHA, capt.Seconds)
	entry.Imported = imp

	// The proof: zoo's own pipeline, fed the recorded latents, conditions
	// and inputs, must write the package's pixels.
	check, err := verifyImport(c, capt, &entry)
	if err != nil {
		return fmt.Errorf("zoo import %s: checking zoo's output against the package's: %w; nothing was imported", modelID, err)
	}
	imp.Images, imp.Pixels, imp.PixelsEqual = check.images, check.pixels, check.equal
	imp.PixelIdentical = check.images > 0 && check.pixels == check.equal
	if check.note != "" {
		imp.Warnings = append(imp.Warnings, check.note)
	}
	imp.Seconds = math.Round(time.Since(started).Seconds()*10) / 10
	sum := importSummary{Model: modelID, Overlay: entry.Overlay, Catalog: filepath.Join(cfg, "catalogs", ImportFile),
		Artifact: artifactPath, SHA256: sha, Report: imp}
	verified := imp.PixelIdentical || (r.Stochastic && check.images == 0)
	if !verified && !c.Bool("accept-mismatch") {
		printImport(c, sum, entry.Signature)
		return fmt.Errorf("zoo import %s: zoo's images differ from the package's in %d of %d pixel values; nothing was imported (--keep DIR keeps both sets of images to compare; --accept-mismatch writes the entry anyway, saying so)",
			modelID, check.pixels-check.equal, check.pixels)
	}

	if err := copyFile(capt.Module(), artifactPath); err != nil {
		return err
	}
	header := "# Written by zoo import: models converted from medigan packages to verified TorchScript.\n" +
		"# Overlay entries add an artifact, a signature and the import report to the catalog entry of\n" +
		"# the same id; the others are packages the catalog did not know. Safe to delete (then import again).\n"
	if err := zoo.UpsertEntry(sum.Catalog, header, entry); err != nil {
		return fmt.Errorf("zoo import %s: writing %s: %w", modelID, sum.Catalog, err)
	}
	sum.Written = true
	return printImport(c, sum, entry.Signature)
}

func methodName(md *importer.Metadata) string {
	var gm struct {
		Name string `json:"name"`
	}
	if len(md.Execution.GenerateMethod) > 0 {
		_ = json.Unmarshal(md.Execution.GenerateMethod, &gm)
	}
	if gm.Name == "" {
		return "generate"
	}
	return gm.Name
}

// importEntry is the catalog entry of an import: an overlay on the catalog
// entry when there is one, else a new entry from the package's metadata.
func importEntry(base *zoo.Model, md *importer.Metadata, id, function string, sig *zoo.Signature, art zoo.Artifact) zoo.Model {
	if base != nil {
		return zoo.Model{ID: base.ID, Overlay: true, Function: function, Artifact: art, Signature: sig}
	}
	m := zoo.Model{ID: id, Function: function, Artifact: art, Signature: sig}
	str := func(v any) string { s, _ := v.(string); return strings.TrimSpace(s) }
	list := func(v any) []string {
		var out []string
		if a, ok := v.([]any); ok {
			for _, x := range a {
				if s := str(x); s != "" {
					out = append(out, s)
				}
			}
		}
		return out
	}
	num := func(v any) int { f, _ := v.(float64); return int(f) }
	sel, desc := md.Selection, md.Description
	m.Title = str(desc["title"])
	if m.Title == "" {
		m.Title = id + " (imported medigan-style package)"
	}
	m.Version = str(desc["version"])
	m.Description = str(desc["comment"])
	m.DOI = list(desc["doi"])
	m.Modality, m.Organ, m.Generates = list(sel["modality"]), list(sel["organ"]), list(sel["generates"])
	m.Dataset, m.Tags, m.UseCases = list(sel["dataset"]), list(sel["tags"]), list(sel["use_cases"])
	m.Architecture, m.License, m.Year, m.DatasetType = str(sel["type"]), str(sel["license"]), str(sel["year"]), str(sel["dataset_type"])
	m.Height, m.Width = num(sel["height"]), num(sel["width"])
	if len(sig.Outputs) > 0 && (m.Height == 0 || m.Width == 0) {
		m.Height, m.Width = sig.Outputs[0].Height, sig.Outputs[0].Width
	}
	m.Upstream = &zoo.Upstream{Package: md.Execution.PackageName, ModelFile: md.Execution.ModelName + md.Execution.Extension,
		Dependencies: md.Execution.Dependencies}
	return m
}

func importReport(r *importer.Report, sb importer.Sandbox, origin, pkgSHA string, secs float64) *zoo.Imported {
	imp := &zoo.Imported{
		Date: time.Now().UTC().Format(time.RFC3339), ZooVersion: version.Version, Package: origin, PackageSHA256: pkgSHA,
		Checkpoint: r.Checkpoint, CheckpointSHA: r.CheckpointSHA256, Sandbox: sb.Describe(),
		Python: r.Python, Torch: r.Torch, Export: "torch.jit." + r.Export.Method, MaxAbsDiff: r.Export.MaxAbsDiff, BitIdentical: r.Export.BitIdentical,
		Block: fmt.Sprintf("%d: %s", r.Block, r.BlockNote), Seconds: secs,
	}
	call := fmt.Sprintf("%s(num_samples=%d, save_images=True/False", r.Generate.Name, r.Generate.NumSamples)
	for _, k := range sortedKeys(r.Generate.Custom) {
		call += fmt.Sprintf(", %s=%s", k, jsonString(r.Generate.Custom[k]))
	}
	imp.Generate = call + fmt.Sprintf(") after torch.manual_seed(%d)", r.Generate.Seed)
	if len(r.FixedArgs) > 0 {
		var parts []string
		for _, k := range sortedKeys(r.FixedArgs) {
			parts = append(parts, k+"="+jsonString(r.FixedArgs[k]))
		}
		imp.Export += " (fixed forward arguments " + strings.Join(parts, ", ") + ")"
	}
	for _, u := range r.Unexpressed {
		imp.Unexpressed = append(imp.Unexpressed, u.Output+": "+u.Why)
	}
	imp.Warnings = append(imp.Warnings, r.Warnings...)
	if r.Module.TrainModeAtCall {
		imp.Warnings = append(imp.Warnings, fmt.Sprintf("the package ran the generator with modules in training mode (%s); zoo exports it in eval mode",
			strings.Join(r.Module.TrainModeModules, ", ")))
	}
	if r.Stochastic {
		imp.Warnings = append(imp.Warnings, fmt.Sprintf("the module draws random numbers inside forward (%s): zoo seeds LibTorch's generator per compute block, so its runs repeat, but they cannot be compared pixel for pixel with the package's",
			strings.Join(r.StochasticOps, ", ")))
	}
	return imp
}

// importCheck is the result of the pixel comparison.
type importCheck struct {
	images        int
	pixels, equal int64
	note          string
}

// verifyImport generates, with zoo's loader and writers, the samples the
// package made, from the inputs the capture recorded, and compares the
// decoded pixels with the package's own files.
func verifyImport(c *cli.Context, capt *importer.Capture, entry *zoo.Model) (importCheck, error) {
	r := capt.Report
	if r.Stochastic {
		return importCheck{note: "pixel check not possible: the module draws random numbers inside forward"}, nil
	}
	if len(r.PackageFiles) == 0 {
		return importCheck{}, errors.New("the package saved no images that the capture could match to its outputs")
	}
	if c.IsSet("threads") {
		if err := torch.SetThreads(c.Int("threads")); err != nil {
			return importCheck{}, err
		}
	}
	gen, err := loader.Open(entry, capt.Module(), "cpu")
	if err != nil {
		return importCheck{}, err
	}
	defer gen.Close()
	n := r.Generate.NumSamples
	opt := loader.Options{}
	inputDir := filepath.Join(capt.Dir, "zoo_inputs")
	imageInput := 0
	for _, in := range r.Inputs {
		p, err := capt.Path(in.File)
		if err != nil {
			return importCheck{}, err
		}
		arr, err := readNPYArray(p)
		if err != nil {
			return importCheck{}, fmt.Errorf("recorded input %s: %w", in.File, err)
		}
		// A package may make fewer samples than asked (an image-to-image
		// package with fewer input files): the recorded inputs say how many.
		n = min(n, arr.rows())
		switch in.Role {
		case "latent":
			if opt.Latent, err = latentRows(arr, gen); err != nil {
				return importCheck{}, fmt.Errorf("recorded latents %s: %w", in.File, err)
			}
		case "condition":
			if arr.i64 == nil {
				return importCheck{}, fmt.Errorf("recorded condition %s has shape %v and dtype float32, want int64 (N,)", in.File, arr.shape)
			}
			name, values := in.Name, in.Values
			prev := opt.ConditionsAt
			opt.ConditionsAt = func(i int) map[string]string {
				m := map[string]string{}
				if prev != nil {
					m = prev(i)
				}
				if k := int(arr.i64[i]); k >= 0 && k < len(values) {
					m[name] = values[k]
				}
				return m
			}
		case "image":
			// Recorded model-ready tensors go in as NPY files, which zoo
			// reads as they are (no range mapping), one per sample.
			files, err := writeInputNPYs(filepath.Join(inputDir, strconv.Itoa(imageInput)), arr, n)
			if err != nil {
				return importCheck{}, err
			}
			if imageInput == 0 {
				opt.Inputs = files
			} else {
				if opt.NamedInputs == nil {
					opt.NamedInputs = map[string][]string{}
				}
				opt.NamedInputs[gen.ImageInputs()[imageInput].Name] = files
			}
			imageInput++
		}
	}
	outDir := filepath.Join(capt.Dir, "zoo_out")
	var outNames []string
	for _, o := range entry.Signature.Outputs {
		outNames = append(outNames, o.Name)
	}
	run, err := output.Open(outDir, output.RunInfo{Model: entry.ID, SHA256: entry.Artifact.SHA256, N: n, Format: "png",
		Outputs: outNames, Generator: version.Generator()}, output.Fresh)
	if err != nil {
		return importCheck{}, err
	}
	enc, _ := output.Lookup("png")
	bar := progress.New(c.App.ErrWriter, "pixel check "+entry.ID, "images", int64(n), 0, c.Bool("quiet"))
	w := &pipeline.Writer{Run: run, Enc: enc, Origin: pipeline.Origin{Model: entry}, Written: func() { bar.Add(1) }}
	genErr := w.Write(c.Context, func(ctx context.Context) iter.Seq2[loader.Sample, error] {
		return gen.Samples(ctx, 0, n, 0, opt)
	})
	bar.Finish()
	if cerr := run.Close(); genErr == nil {
		genErr = cerr
	}
	if genErr != nil {
		return importCheck{}, genErr
	}
	recs, err := output.ReadManifest(filepath.Join(outDir, output.ManifestFile))
	if err != nil {
		return importCheck{}, err
	}
	var check importCheck
	for _, pf := range r.PackageFiles {
		if pf.Sample < 0 || pf.Sample >= len(recs) {
			return check, fmt.Errorf("package file %s is sample %d; zoo made %d", pf.File, pf.Sample, len(recs))
		}
		name, ok := recs[pf.Sample].Files[pf.Output]
		if !ok {
			continue // an output zoo does not reproduce (listed as unexpressed)
		}
		pkgPath, err := capt.Path(pf.File)
		if err != nil {
			return check, err
		}
		px, eq, err := comparePNG(pkgPath, filepath.Join(outDir, name))
		if err != nil {
			return check, fmt.Errorf("%s against zoo's %s: %w", pf.File, name, err)
		}
		check.images++
		check.pixels += px
		check.equal += eq
	}
	return check, nil
}

// comparePNG compares the decoded values of the package's image with
// zoo's: gray against gray (a package's RGB(A) image with R = G = B counts
// as gray, as matplotlib writes masks), colour against colour, alpha
// ignored. It returns the number of values compared and how many are equal.
func comparePNG(pkgFile, zooFile string) (int64, int64, error) {
	pi, err := decodeImage(pkgFile)
	if err != nil {
		return 0, 0, err
	}
	zi, err := decodeImage(zooFile)
	if err != nil {
		return 0, 0, err
	}
	if pi.Bounds() != zi.Bounds() {
		return 0, 0, fmt.Errorf("sizes differ: %v and %v", pi.Bounds().Size(), zi.Bounds().Size())
	}
	_, zooGray := zi.(*image.Gray)
	b := pi.Bounds()
	var n, eq int64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			p := color.NRGBAModel.Convert(pi.At(x, y)).(color.NRGBA)
			z := color.NRGBAModel.Convert(zi.At(x, y)).(color.NRGBA)
			if zooGray {
				n++
				if p.R == z.R && p.G == z.R && p.B == z.R {
					eq++
				}
				continue
			}
			for _, pair := range [3][2]uint8{{p.R, z.R}, {p.G, z.G}, {p.B, z.B}} {
				n++
				if pair[0] == pair[1] {
					eq++
				}
			}
		}
	}
	return n, eq, nil
}

func decodeImage(p string) (image.Image, error) {
	// The package wrote this file: its header is checked before decoding,
	// so a lying one cannot make zoo allocate what it declares.
	f, err := files.OpenRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if _, ok := limits.ProductInts(limits.SampleValues, cfg.Width, cfg.Height, 4); !ok {
		return nil, fmt.Errorf("%s: the %s header declares %d×%d pixels, more than zoo reads (%s values per image)",
			p, format, cfg.Width, cfg.Height, limits.Human(limits.SampleValues))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	return img, err
}

// npyArray is a recorded input: float32 (N, ...) or int64 (N,).
type npyArray struct {
	shape []int
	f32   []float32
	i64   []int64
}

func (a *npyArray) rows() int { return a.shape[0] }
func (a *npyArray) per() int {
	n := 1
	for _, d := range a.shape[1:] {
		n *= d
	}
	return n
}

// latentRows makes sample i's latent row i of arr, a float32 (N, latent...)
// array (--latents, and zoo import's recorded latents).
func latentRows(arr *npyArray, gen *loader.Generator) (func(int, []float32), error) {
	if arr.f32 == nil || arr.per() != gen.LatentSize() {
		return nil, fmt.Errorf("shape %v, want float32 (N, %d values per sample) for model %s", arr.shape, gen.LatentSize(), gen.Model.ID)
	}
	per, rows := arr.per(), arr.rows()
	return func(i int, dst []float32) {
		if i >= rows {
			// A padding row of the last compute block: its sample is
			// computed and thrown away (callers check -n against rows).
			clear(dst)
			return
		}
		copy(dst, arr.f32[i*per:(i+1)*per])
	}, nil
}

// readNPYArray reads a recorded input, float32 (N, ...) or int64 (N,),
// with imagein's NPY reader (which checks the header against the file).
func readNPYArray(p string) (*npyArray, error) {
	raw, err := imagein.ReadNPYArray(p)
	if err != nil {
		return nil, err
	}
	if len(raw.Shape) == 0 {
		return nil, errors.New("NPY array is a scalar")
	}
	a := &npyArray{shape: raw.Shape}
	switch raw.Descr {
	case "<f4":
		a.f32 = make([]float32, raw.Len())
		for k := range a.f32 {
			a.f32[k] = float32(raw.Value(k))
		}
	case "<i8":
		a.i64 = make([]int64, raw.Len())
		for k := range a.i64 {
			a.i64[k] = int64(raw.Value(k))
		}
	default:
		return nil, fmt.Errorf("NPY dtype %s is not float32 or int64", raw.Descr)
	}
	return a, nil
}

// writeInputNPYs writes the first n samples of a recorded (N, C, H, W)
// image tensor as one (C, H, W) NPY file each.
func writeInputNPYs(dir string, a *npyArray, n int) ([]string, error) {
	if len(a.shape) != 4 || a.f32 == nil {
		return nil, fmt.Errorf("recorded image input has shape %v, want (N, C, H, W) float32", a.shape)
	}
	per := a.per()
	return output.WriteNPYs(dir, n, a.shape[1], a.shape[2], a.shape[3], func(i int) []float32 { return a.f32[i*per : (i+1)*per] })
}

// copyFile copies src to dst atomically, streaming (modules are hundreds of
// MB): the exported module to its place in the config directory, --keep.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return files.WriteAtomic(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// copyTree copies the regular files under src into dst (for --keep).
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(target, 0o755)
		case fi.Mode().IsRegular():
			return copyFile(p, target)
		}
		return nil
	})
}

func printImport(c *cli.Context, s importSummary, sig *zoo.Signature) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, s)
	}
	w, imp := c.App.Writer, s.Report
	fmt.Fprintf(w, "%s: exported with %s; max |TorchScript - eager| = %g", s.Model, imp.Export, imp.MaxAbsDiff)
	if imp.BitIdentical {
		fmt.Fprint(w, " (bit-identical)")
	}
	fmt.Fprintf(w, "\n  compute block %s\n", imp.Block)
	switch {
	case imp.PixelIdentical:
		fmt.Fprintf(w, "  pixel check: %d package images, %d pixel values, all equal: zoo's images are pixel-identical to the package's\n", imp.Images, imp.Pixels)
	case imp.Images > 0:
		fmt.Fprintf(w, "  pixel check: %d package images, %d of %d pixel values equal (%.4f%%)\n", imp.Images, imp.PixelsEqual, imp.Pixels, 100*float64(imp.PixelsEqual)/float64(imp.Pixels))
	}
	for _, o := range sig.Outputs {
		fmt.Fprintf(w, "  output %s: %s\n", o.Name, zoo.DescribeOutput(o))
	}
	for _, u := range imp.Unexpressed {
		fmt.Fprintf(w, "  not reproduced: %s\n", u)
	}
	for _, x := range imp.Warnings {
		fmt.Fprintf(w, "  note: %s\n", x)
	}
	if !s.Written {
		return nil
	}
	how := "a new catalog entry"
	if s.Overlay {
		how = "an overlay on the catalog entry (its description and metrics are kept)"
	}
	fmt.Fprintf(w, "wrote %s to %s\n  artifact %s (sha256 %s)\nrun it: zoo generate %s -n 16 -o out/\n", how, s.Catalog, s.Artifact, s.SHA256, s.Model)
	return nil
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
