package zoo

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"medzoo/internal/limits"

	"medzoo/internal/editdist"
)

// Problem is one thing wrong with a catalog, at a line of its source.
type Problem struct {
	Source  string // "embedded" or a file path
	Line    int    // 1-based; 0 when no line applies
	Message string
}

func (p Problem) String() string {
	if p.Line <= 0 {
		return fmt.Sprintf("%s: %s", p.Source, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s", p.Source, p.Line, p.Message)
}

// ValidationError holds every problem found in one or more catalogs, so that
// an author fixes them in one pass instead of one per run.
type ValidationError struct {
	Problems []Problem
}

// Error prints one `source:line: message` per line, in file order.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Parse reads a catalog in zoo.toml format. source names it in messages and
// in Model.Source ("embedded" or a path). Any problem — TOML syntax, unknown
// key, wrong type, duplicate or missing id, missing or invalid field — makes
// it return a *ValidationError listing all of them with their lines.
//
// Why not toml.Decode into the struct: it stops at the first type error, and
// neither MetaData.Undecoded nor its (unexported) key positions tell the
// [[model]] tables apart. So the TOML is parsed into a generic tree (syntax
// errors carry toml.ParseError positions), decoded here by reflection over
// the same struct tags, and lines come from a small scan of the text that
// knows which [[model]] each key belongs to.
func Parse(data []byte, source string) (*Catalog, error) {
	// The limits first: toml.Decode recurses and builds a tree of every
	// value, so a small hostile file could exhaust memory inside it.
	if err := checkTOML(data, source); err != nil {
		return nil, err
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// The lexer's line is one too far when the error is at a newline;
			// the byte offset is exact.
			line := pe.Position.Line
			if st := pe.Position.Start; st > 0 && st <= len(data) {
				line = 1 + bytes.Count(data[:st], []byte("\n"))
			}
			return nil, &ValidationError{[]Problem{{source, line, pe.Message}}}
		}
		return nil, &ValidationError{[]Problem{{source, 0, err.Error()}}}
	}
	d := &catDecoder{source: source, lines: scanLines(string(data)), bad: map[string]bool{}, ids: map[string]string{}}
	if models, ok := raw["model"].([]map[string]any); ok {
		for i, m := range models {
			if id, ok := m["id"].(string); ok && id != "" {
				d.ids["#"+strconv.Itoa(i)] = id
			}
		}
	}

	// The schema comes first: a newer catalog may use keys this build does
	// not know, and listing them all as unknown would hide the real fix.
	// A catalog without `schema` is read as schema 1.
	if s, ok := raw["schema"].(int64); ok {
		if s > SchemaVersion {
			d.addf([]string{"schema"}, "catalog schema %d is newer than this zoo understands (%d): upgrade zoo", s, SchemaVersion)
			return nil, d.err()
		}
		if s < 1 {
			d.addf([]string{"schema"}, "schema must be %d, not %d", SchemaVersion, s)
		}
	}

	cat := &Catalog{Schema: SchemaVersion}
	d.value(nil, raw, reflect.ValueOf(cat).Elem())
	if cat.Schema < 1 {
		cat.Schema = SchemaVersion
	}
	cat.Sources = []string{source}

	firstLine := map[string]int{}
	for i := range cat.Models {
		m := &cat.Models[i]
		p := modelPath(i)
		m.Source, m.Line = source, d.lines.find(p)
		d.model(p, m)
		if m.ID == "" {
			continue
		}
		key := strings.ToLower(m.ID)
		if first, ok := firstLine[key]; ok {
			d.addf(append(p, "id"), "duplicate id %q: also defined at line %d", m.ID, first)
		} else {
			firstLine[key] = m.Line
		}
	}
	if len(d.problems) > 0 {
		return nil, d.err()
	}
	return cat, nil
}

// catDecoder decodes the generic TOML tree into catalog structs and collects
// problems. Paths are key parts from the root, with "#i" for array elements.
type catDecoder struct {
	source   string
	lines    lineIndex
	problems []Problem
	bad      map[string]bool   // paths that already have a type problem
	ids      map[string]string // "#i" -> id of model i, for messages
}

func (d *catDecoder) err() error {
	sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].Line < d.problems[j].Line })
	return &ValidationError{d.problems}
}

func (d *catDecoder) addf(path []string, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(path) >= 2 && path[0] == "model" {
		msg = d.modelName(path) + ": " + msg
	}
	d.problems = append(d.problems, Problem{d.source, d.lines.find(path), msg})
}

// modelName names the model a path is in, for messages: its id when it has a
// usable one, else its position.
func (d *catDecoder) modelName(path []string) string {
	if name, ok := d.ids[path[1]]; ok {
		return "model " + name
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(path[1], "#"))
	return fmt.Sprintf("model #%d", n+1)
}

func modelPath(i int) []string { return []string{"model", "#" + strconv.Itoa(i)} }

func join(path []string, more ...string) []string {
	return append(append(make([]string, 0, len(path)+len(more)), path...), more...)
}

// showPath prints a path relative to its model: signature.outputs[0].kind.
func showPath(path []string) string {
	if len(path) >= 2 && path[0] == "model" {
		path = path[2:]
	}
	var b strings.Builder
	for _, p := range path {
		switch {
		case strings.HasPrefix(p, "#"):
			b.WriteString("[" + p[1:] + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			if bareKey.MatchString(p) {
				b.WriteString(p)
			} else {
				b.WriteString(strconv.Quote(p))
			}
		}
	}
	return b.String()
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// value decodes v into rv (settable), reporting unknown keys and wrong types.
func (d *catDecoder) value(path []string, v any, rv reflect.Value) {
	t := rv.Type()
	wrong := func() {
		d.bad[pathKey(path)] = true
		d.addf(path, "%s must be %s, not %s", showPath(path), typeWant(t), typeGot(v))
	}
	switch t.Kind() {
	case reflect.Pointer:
		if _, ok := v.(map[string]any); !ok && t.Elem().Kind() == reflect.Struct {
			wrong()
			return
		}
		nv := reflect.New(t.Elem())
		d.value(path, v, nv.Elem())
		rv.Set(nv)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			wrong()
			return
		}
		fields := tomlFields(t)
		for _, k := range sortedKeys(m) {
			f, ok := fields[k]
			if !ok {
				hint := ""
				if s := closestName(k, fields); s != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
				d.addf(join(path, k), "unknown key %s%s", showPath(join(path, k)), hint)
				continue
			}
			d.value(join(path, k), m[k], rv.Field(f))
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			wrong()
			return
		}
		mv := reflect.MakeMapWithSize(t, len(m))
		for _, k := range sortedKeys(m) {
			ev := reflect.New(t.Elem()).Elem()
			d.value(join(path, k), m[k], ev)
			mv.SetMapIndex(reflect.ValueOf(k), ev)
		}
		rv.Set(mv)
	case reflect.Slice, reflect.Array:
		var items []any
		switch a := v.(type) {
		case []any:
			items = a
		case []map[string]any:
			for _, x := range a {
				items = append(items, x)
			}
		default:
			wrong()
			return
		}
		if t.Kind() == reflect.Array {
			if len(items) != t.Len() {
				wrong()
				return
			}
		} else {
			rv.Set(reflect.MakeSlice(t, len(items), len(items)))
		}
		for i, x := range items {
			d.value(join(path, "#"+strconv.Itoa(i)), x, rv.Index(i))
		}
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			wrong()
			return
		}
		rv.SetString(s)
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok || rv.OverflowInt(n) {
			wrong()
			return
		}
		rv.SetInt(n)
	case reflect.Float64:
		switch n := v.(type) {
		case float64:
			rv.SetFloat(n)
		case int64:
			rv.SetFloat(float64(n))
		default:
			wrong()
		}
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			wrong()
			return
		}
		rv.SetBool(b)
	default:
		panic("zoo: catalog field of unsupported type " + t.String())
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tomlFields maps toml tag names to field indexes; `toml:"-"` fields are not
// part of the format.
func tomlFields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	return fields
}

func closestName(k string, fields map[string]int) string {
	best, bestD := "", 3
	for name := range fields {
		dist := editdist.Distance(strings.ToLower(k), name)
		if dist < bestD || (dist == bestD && name < best) {
			best, bestD = name, dist
		}
	}
	return best
}

func typeWant(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return typeWant(t.Elem())
	case reflect.Struct, reflect.Map:
		return "a table"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Array:
		return fmt.Sprintf("an array of %d %ss", t.Len(), strings.TrimPrefix(strings.TrimPrefix(typeWant(t.Elem()), "a "), "an "))
	case reflect.Slice:
		e := t.Elem()
		if e.Kind() == reflect.Struct {
			return "an array of tables"
		}
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(typeWant(e), "a "), "an ") + "s"
	}
	return t.String()
}

func typeGot(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:37] + "..."
		}
		return "a string (" + strconv.Quote(x) + ")"
	case int64:
		return "an integer (" + strconv.FormatInt(x, 10) + ")"
	case float64:
		return "a float (" + strconv.FormatFloat(x, 'g', -1, 64) + ")"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date-time"
}

var (
	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
	idChars   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// model checks one decoded entry. Missing-field checks skip fields that
// already have a type problem, so each mistake is reported once.
func (d *catDecoder) model(p []string, m *Model) {
	missing := d.missingIfOK
	switch {
	case m.ID == "":
		missing(join(p, "id"), "id")
	case !idChars.MatchString(m.ID):
		d.addf(join(p, "id"), "id %q may only hold letters, digits, '.', '_' and '-'", m.ID)
	}
	if strings.TrimSpace(m.Title) == "" && !m.Overlay {
		missing(join(p, "title"), "title")
	}
	if m.Function != "" && m.Function != FunctionNoiseToImage && m.Function != FunctionImageToImage {
		d.addf(join(p, "function"), "function %q is not one of %s, %s", m.Function, FunctionNoiseToImage, FunctionImageToImage)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"height", m.Height}, {"width", m.Width}, {"depth", m.Depth}} {
		if f.v < 0 {
			d.addf(join(p, f.name), "%s must not be negative", f.name)
		}
	}

	for _, name := range sortedMetricNames(m.Metrics) {
		mt, mp := m.Metrics[name], join(p, "metrics", name)
		if name == "" {
			d.addf(mp, "metric with an empty name")
		}
		switch mt.Direction {
		case "lower", "higher":
		case "":
			missing(join(mp, "direction"), fmt.Sprintf("metrics.%s.direction (lower or higher is better)", showPath([]string{name})))
		default:
			d.addf(join(mp, "direction"), "metric %s: direction %q is not lower or higher", name, mt.Direction)
		}
		if math.IsNaN(mt.Value) || math.IsInf(mt.Value, 0) {
			d.addf(join(mp, "value"), "metric %s: value must be a finite number", name)
		}
		if mt.Images < 0 {
			d.addf(join(mp, "images"), "metric %s: images must not be negative", name)
		}
	}

	// An overlay that only adds metrics leaves the artifact to its base.
	if !m.Overlay || m.Artifact != (Artifact{}) {
		d.artifact(p, m)
	}
	if m.Signature != nil {
		d.signature(join(p, "signature"), m)
	}

	if m.Demo {
		t, tp := m.Training, join(p, "training")
		if t == nil {
			missing(tp, "[model.training] (demo models record how to retrain them)")
		} else {
			if t.DataSource == "" {
				missing(join(tp, "data_source"), "training.data_source")
			}
			if t.DataLicense == "" {
				missing(join(tp, "data_license"), "training.data_license")
			}
			if t.Command == "" {
				missing(join(tp, "command"), "training.command")
			}
		}
	}
}

func (d *catDecoder) artifact(p []string, m *Model) {
	a, ap := m.Artifact, join(p, "artifact")
	if a.URL == "" {
		d.missingIfOK(join(ap, "url"), "artifact.url")
	}
	switch a.Format {
	case FormatTorchScript, FormatPythonPackage:
	case "":
		d.missingIfOK(join(ap, "format"), fmt.Sprintf("artifact.format (%s or %s)", FormatTorchScript, FormatPythonPackage))
	default:
		d.addf(join(ap, "format"), "artifact.format %q is not one of %s, %s", a.Format, FormatTorchScript, FormatPythonPackage)
	}
	if a.SHA256 != "" && !sha256Hex.MatchString(a.SHA256) {
		d.addf(join(ap, "sha256"), "artifact.sha256 must be 64 lower-case hex digits, got %q", a.SHA256)
	}
	if a.Size < 0 {
		d.addf(join(ap, "size"), "artifact.size must not be negative")
	}
	if a.Format == FormatTorchScript {
		if a.SHA256 == "" {
			d.missingIfOK(join(ap, "sha256"), "artifact.sha256 (zoo runs only TorchScript it can verify)")
		}
		if m.Signature == nil {
			d.missingIfOK(join(p, "signature"), "[model.signature] (a torchscript model needs its inputs and outputs declared)")
		}
	}
}

func sortedMetricNames(m map[string]Metric) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (d *catDecoder) signature(sp []string, m *Model) {
	s := m.Signature
	latentOK := true
	for i, n := range s.Latent {
		if n <= 0 {
			d.addf(join(sp, "latent", "#"+strconv.Itoa(i)), "signature.latent sizes must be positive, got %d", n)
			latentOK = false
		}
	}
	latentN := int64(0)
	switch {
	case len(s.Latent) > limits.LatentDims:
		d.addf(join(sp, "latent"), "signature.latent has %d dimensions, more than the limit of %d", len(s.Latent), limits.LatentDims)
	case latentOK && len(s.Latent) > 0:
		n, ok := limits.Product(limits.LatentValues, s.Latent...)
		if !ok {
			d.addf(join(sp, "latent"), "signature.latent %v holds more than %s values per sample, the limit (%d); check the shape", s.Latent, limits.Human(limits.LatentValues), limits.LatentValues)
		}
		latentN = n
	}
	switch s.Distribution {
	case "", "normal", "uniform":
	default:
		d.addf(join(sp, "distribution"), "signature.distribution %q is not normal or uniform", s.Distribution)
	}
	seen := map[string]bool{}
	for i, c := range s.Conditions {
		cp := join(sp, "conditions", "#"+strconv.Itoa(i))
		if c.Name == "" {
			d.missingIfOK(join(cp, "name"), showPath(join(cp, "name")))
		} else if seen[c.Name] {
			d.addf(join(cp, "name"), "condition %q declared twice", c.Name)
		}
		seen[c.Name] = true
		switch c.Type {
		case "", ConditionIndex:
			if len(c.Values) == 0 {
				d.missingIfOK(join(cp, "values"), showPath(join(cp, "values"))+" (the allowed values)")
			}
		case ConditionFloat:
			if c.Range != [2]float64{} && !(c.Range[0] <= c.Default && c.Default <= c.Range[1]) {
				d.addf(join(cp, "default"), "condition %q: default %v is outside its range %v", c.Name, c.Default, c.Range)
			}
		default:
			d.addf(join(cp, "type"), "condition %q: type %q is not %s or %s", c.Name, c.Type, ConditionIndex, ConditionFloat)
		}
	}
	okBlock := s.Batch >= 0 && s.Batch <= MaxBatch
	if s.Input != nil {
		d.tensor(join(sp, "input"), s.Input, false)
		if okBlock {
			d.tensorBlockFits(join(sp, "input"), s.Input, int64(cmp.Or(s.Batch, DefaultBatch)))
		}
	}
	for i := range s.Inputs {
		ip := join(sp, "inputs", "#"+strconv.Itoa(i))
		d.tensor(ip, &s.Inputs[i], true)
		if okBlock {
			d.tensorBlockFits(ip, &s.Inputs[i], int64(cmp.Or(s.Batch, DefaultBatch)))
		}
		if n := s.Inputs[i].Name; n != "" {
			if seen["input:"+n] {
				d.addf(join(ip, "name"), "input %q declared twice", n)
			}
			seen["input:"+n] = true
		}
	}
	for i, a := range s.Args {
		ap := join(sp, "args", "#"+strconv.Itoa(i))
		switch a.Type {
		case "int", "bool":
			if a.Value != math.Trunc(a.Value) {
				d.addf(join(ap, "value"), "argument %q is an %s but its value %v is not a whole number", a.Name, a.Type, a.Value)
			}
		case "float":
		default:
			d.addf(join(ap, "type"), "argument %q: type %q is not int, float or bool", a.Name, a.Type)
		}
	}
	if s.Batch < 0 || s.Batch > MaxBatch {
		d.addf(join(sp, "batch"), "signature.batch must be between 1 and %d (0: the default %d), not %d", MaxBatch, DefaultBatch, s.Batch)
	}
	block := int64(cmp.Or(s.Batch, DefaultBatch))
	if latentN > 0 && s.Batch >= 0 && s.Batch <= MaxBatch {
		d.blockFits(join(sp, "latent"), "the latent", block, latentN)
	}
	if m.Function == FunctionImageToImage && m.Artifact.Format == FormatTorchScript && s.Input == nil {
		d.missingIfOK(join(sp, "input"), "[model.signature.input] (an image-to-image model takes an image)")
	}
	if len(s.Outputs) == 0 {
		d.missingIfOK(join(sp, "outputs"), "signature.outputs (at least one [[model.signature.outputs]])")
	}
	names := map[string]bool{}
	for i := range s.Outputs {
		op := join(sp, "outputs", "#"+strconv.Itoa(i))
		d.tensor(op, &s.Outputs[i], true)
		d.planeCondition(op, &s.Outputs[i], s.Conditions)
		if s.Batch >= 0 && s.Batch <= MaxBatch {
			d.tensorBlockFits(op, &s.Outputs[i], block)
		}
		if n := s.Outputs[i].Name; n != "" {
			if names[n] {
				d.addf(join(op, "name"), "output %q declared twice", n)
			}
			names[n] = true
		}
	}
}

// tensorBlockFits checks that a forward block of an image tensor stays
// within limits.BlockValues; an image too large by itself is tensor's to
// report.
func (d *catDecoder) tensorBlockFits(tp []string, t *TensorSpec, block int64) {
	if per, ok := limits.ProductInts(limits.SampleValues, t.Channels, t.Height, t.Width); ok {
		d.blockFits(tp, showPath(tp), block, per)
	}
}

// blockFits checks block × per values against limits.BlockValues, naming
// what to lower.
func (d *catDecoder) blockFits(path []string, what string, block, per int64) {
	if _, ok := limits.Product(limits.BlockValues, block, per); !ok {
		d.addf(path, "%s of a compute block of %d samples holds %d×%d values, more than the limit of %s (%d); lower signature.batch",
			what, block, block, per, limits.Human(limits.BlockValues), limits.BlockValues)
	}
}

func (d *catDecoder) missingIfOK(path []string, what string) {
	if !d.bad[pathKey(path)] {
		d.addf(path, "missing %s", what)
	}
}

func (d *catDecoder) tensor(tp []string, t *TensorSpec, needName bool) {
	if needName && t.Name == "" {
		d.missingIfOK(join(tp, "name"), showPath(join(tp, "name")))
	}
	switch t.Kind {
	case KindImage, KindMask, KindLabel:
	case "":
		d.missingIfOK(join(tp, "kind"), showPath(join(tp, "kind"))+fmt.Sprintf(" (%s, %s or %s)", KindImage, KindMask, KindLabel))
	default:
		d.addf(join(tp, "kind"), "%s %q is not one of %s, %s, %s", showPath(join(tp, "kind")), t.Kind, KindImage, KindMask, KindLabel)
	}
	positive := true
	for _, f := range []struct {
		name string
		v    int
	}{{"channels", t.Channels}, {"height", t.Height}, {"width", t.Width}} {
		if f.v <= 0 && !d.bad[pathKey(join(tp, f.name))] {
			d.addf(join(tp, f.name), "%s must be a positive integer", showPath(join(tp, f.name)))
		}
		positive = positive && f.v > 0
	}
	if _, ok := limits.ProductInts(limits.SampleValues, t.Channels, t.Height, t.Width); positive && !ok {
		d.addf(tp, "%s is %d×%d×%d (channels×height×width), more than the limit of %s values per sample image (%d); check the sizes",
			showPath(tp), t.Channels, t.Height, t.Width, limits.Human(limits.SampleValues), limits.SampleValues)
	}
	if t.ChannelOffset > limits.SampleValues {
		d.addf(join(tp, "channel_offset"), "%s is larger than any image zoo reads", showPath(join(tp, "channel_offset")))
	}
	if t.Range != [2]float64{} && !(t.Range[0] < t.Range[1]) {
		d.addf(join(tp, "range"), "%s must be [low, high] with low < high", showPath(join(tp, "range")))
	}
	if t.ChannelOffset < 0 {
		d.addf(join(tp, "channel_offset"), "%s must not be negative", showPath(join(tp, "channel_offset")))
	}
	if t.Post != nil {
		d.post(join(tp, "post"), t)
	}
	d.physical(tp, t)
}

// physical checks what a tensor says of its physical meaning: units
// (with their mapping) on images only, a spacing per axis within
// MinSpacingMM..MaxSpacingMM, a known plane. The condition a
// plane_condition names is checked with the conditions (planeCondition).
func (d *catDecoder) physical(tp []string, t *TensorSpec) {
	key := func(k string) []string { return join(tp, k) }
	name := func(k string) string { return showPath(key(k)) }
	mapped := t.Scale != nil || t.Offset != 0 || t.StoredBits != 0
	switch {
	case (t.Units != "" || mapped) && (t.Kind == KindMask || t.Kind == KindLabel):
		d.addf(key("units"), "%s: a %s holds classes, not measurements; remove units, scale, offset and stored_bits from it", name("units"), t.Kind)
	case t.Units == "" && mapped:
		d.addf(key("units"), "%s is missing: scale, offset and stored_bits say how values map to units; set units = %q (CT) or %q (MR), or remove them",
			name("units"), UnitsHU, UnitsMR)
	case t.Units == UnitsHU:
		if t.StoredBits != 0 {
			d.addf(key("stored_bits"), "%s: HU are stored as signed 16 bits; remove stored_bits (it is for MR)", name("stored_bits"))
		}
		sc := t.PhysicalScale()
		if sc == 0 || math.IsInf(sc, 0) || math.IsNaN(sc) || math.IsInf(t.Offset, 0) || math.IsNaN(t.Offset) {
			d.addf(key("scale"), "%s must be a finite, non-zero number (HU = offset + scale × value)", name("scale"))
		} else if t.Range != [2]float64{} {
			lo, hi := t.Offset+sc*t.Range[0], t.Offset+sc*t.Range[1]
			if math.Min(lo, hi) < math.MinInt16 || math.Max(lo, hi) > math.MaxInt16 {
				d.addf(key("scale"), "%s maps the range %v to [%g, %g] HU, outside the %d..%d that DICOM stores; check scale and offset",
					name("scale"), t.Range, math.Min(lo, hi), math.Max(lo, hi), math.MinInt16, math.MaxInt16)
			}
		}
	case t.Units == UnitsMR:
		if t.Scale != nil || t.Offset != 0 {
			d.addf(key("scale"), "%s: MR values are arbitrary units, stored by mapping the range onto stored_bits; remove scale and offset", name("scale"))
		}
		if t.StoredBits != 0 && (t.StoredBits < MinStoredBits || t.StoredBits > MaxStoredBits) {
			d.addf(key("stored_bits"), "%s must be %d to %d (12 and 16 are usual), not %d", name("stored_bits"), MinStoredBits, MaxStoredBits, t.StoredBits)
		}
	case t.Units != "":
		d.addf(key("units"), "%s %q is not %q (CT) or %q (MR)", name("units"), t.Units, UnitsHU, UnitsMR)
	}
	if t.SpacingMM != nil {
		if n := len(t.SpacingMM); n != 2 && n != 3 {
			d.addf(key("spacing_mm"), "%s must be [row, column] (or [row, column, slice]) in millimetres, not %d values", name("spacing_mm"), n)
		}
		for _, v := range t.SpacingMM {
			if !(v >= MinSpacingMM && v <= MaxSpacingMM) {
				d.addf(key("spacing_mm"), "%s: %g mm is not a pixel spacing; each must be between %g and %g mm", name("spacing_mm"), v, MinSpacingMM, float64(MaxSpacingMM))
				break
			}
		}
	}
	switch {
	case t.Plane != "" && t.PlaneCondition != "":
		d.addf(key("plane"), "%s and plane_condition contradict each other: a fixed plane, or the condition that gives it", name("plane"))
	case t.Plane != "" && !slices.Contains(Planes, t.Plane):
		d.addf(key("plane"), "%s %q is not one of %s", name("plane"), t.Plane, strings.Join(Planes, ", "))
	}
}

// planeCondition checks that an output's plane_condition names an index
// condition of the signature whose values are all planes.
func (d *catDecoder) planeCondition(op []string, t *TensorSpec, conds []Condition) {
	if t.PlaneCondition == "" {
		return
	}
	for _, c := range conds {
		if c.Name != t.PlaneCondition {
			continue
		}
		for _, v := range c.Values {
			if !slices.Contains(Planes, v) {
				d.addf(join(op, "plane_condition"), "%s: condition %q has the value %q, which is not a plane (%s)",
					showPath(join(op, "plane_condition")), c.Name, v, strings.Join(Planes, ", "))
				return
			}
		}
		return
	}
	d.addf(join(op, "plane_condition"), "%s names no condition of the signature: %q", showPath(join(op, "plane_condition")), t.PlaneCondition)
}

// post checks a post-processing table; the loader trusts what passes.
func (d *catDecoder) post(pp []string, t *TensorSpec) {
	p := t.Post
	if p.Map[0] == p.Map[1] && p.Threshold == nil {
		d.addf(join(pp, "map"), "%s must be [from_low, from_high, to_low, to_high] with from_low != from_high", showPath(join(pp, "map")))
	}
	for _, f := range []struct {
		key, v  string
		allowed []string
	}{{"arithmetic", p.Arithmetic, PostArithmetics}, {"cast", p.Cast, PostCasts}, {"overflow", p.Overflow, PostOverflows}} {
		if f.v != "" && !slices.Contains(f.allowed, f.v) {
			d.addf(join(pp, f.key), "%s %q is not one of %s", showPath(join(pp, f.key)), f.v, strings.Join(f.allowed, ", "))
		}
	}
	if p.LUT != nil {
		if len(p.LUT) != 256 {
			d.addf(join(pp, "lut"), "%s must have 256 entries, not %d", showPath(join(pp, "lut")), len(p.LUT))
		}
		for _, v := range p.LUT {
			if v < 0 || v > 255 {
				d.addf(join(pp, "lut"), "%s entries must be 0..255, found %d", showPath(join(pp, "lut")), v)
				break
			}
		}
	}
	if p.BGR && t.Channels != 3 {
		d.addf(join(pp, "bgr"), "%s needs a 3-channel output, this one has %d", showPath(join(pp, "bgr")), t.Channels)
	}
}
