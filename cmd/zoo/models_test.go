package main_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/output"
)

// catalogModel is the part of `zoo list --json` these tests read.
type catalogModel struct {
	ID        string `json:"id"`
	Demo      bool   `json:"demo"`
	Signature struct {
		Conditions []struct {
			Name   string   `json:"name"`
			Values []string `json:"values"`
		} `json:"conditions"`
		Input   *struct{ Name string } `json:"input"`
		Outputs []struct {
			Name  string    `json:"name"`
			Kind  string    `json:"kind"`
			Range []float64 `json:"range"`
		} `json:"outputs"`
	} `json:"signature"`
}

func bundledModels(t *testing.T) []catalogModel {
	t.Helper()
	var all []catalogModel
	if err := json.Unmarshal([]byte(mustOK(t, zoo(t, nil, "list", "--runnable", "--json")).stdout), &all); err != nil {
		t.Fatal(err)
	}
	var demo []catalogModel
	for _, m := range all {
		if m.Demo {
			demo = append(demo, m)
		}
	}
	if len(demo) == 0 {
		t.Fatal("no bundled demonstration model in the catalog")
	}
	return demo
}

// exampleInputs is where an image-to-image demo model keeps example inputs.
func exampleInputs(t *testing.T, id string) string {
	dir := filepath.Join("..", "..", "docs", "models", strings.SplitN(id, "_", 2)[0]+"_inputs")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("%s takes input images but has no examples in %s: %v", id, dir, err)
	}
	return dir
}

// generateArgs is the generate command line for m with n samples into dir.
func generateArgs(t *testing.T, m catalogModel, n, dir string, extra ...string) []string {
	args := []string{"generate", m.ID, "-o", dir, "--seed", "4", "-q"}
	if m.Signature.Input != nil {
		args = append(args, "--input", exampleInputs(t, m.ID))
	} else {
		args = append(args, "-n", n)
	}
	return append(args, extra...)
}

// TestEveryBundledModelGenerates runs each demonstration model end to end
// and checks what its signature promises.
func TestEveryBundledModelGenerates(t *testing.T) {
	for _, m := range bundledModels(t) {
		t.Run(m.ID, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			mustOK(t, zoo(t, nil, generateArgs(t, m, "6", dir)...))
			recs := readManifest(t, dir)
			if len(recs) == 0 {
				t.Fatal("no samples")
			}
			for _, rec := range recs {
				if len(rec.Files) != len(m.Signature.Outputs) {
					t.Fatalf("sample %d has files %v, want one per output", rec.Index, rec.Files)
				}
				for _, o := range m.Signature.Outputs {
					checkOutputFile(t, filepath.Join(dir, rec.Files[o.Name]), o.Kind)
				}
			}
			// Same model, seed and inputs: the same bytes.
			again := filepath.Join(t.TempDir(), "again")
			mustOK(t, zoo(t, nil, generateArgs(t, m, "6", again)...))
			sameDirs(t, dir, again)
			if m.Signature.Input != nil {
				checkFollowsInput(t, recs, dir)
			}
			for _, c := range m.Signature.Conditions {
				checkConditionMatters(t, m, c.Name, c.Values)
			}
		})
	}
}

// checkOutputFile decodes a PNG output; masks must be binary (0 or 255).
func checkOutputFile(t *testing.T, path, kind string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if kind != "mask" {
		return
	}
	g, ok := im.(*image.Gray)
	if !ok {
		t.Fatalf("mask %s decodes as %T, want 8-bit gray", path, im)
	}
	for _, v := range g.Pix {
		if v != 0 && v != 255 {
			t.Fatalf("mask %s has value %d, want only 0 and 255", path, v)
		}
	}
}

// checkFollowsInput: different inputs give different outputs.
func checkFollowsInput(t *testing.T, recs []output.Record, dir string) {
	t.Helper()
	if len(recs) < 2 {
		t.Fatal("need two example inputs to see the output follow the input")
	}
	seen := map[string]string{}
	for _, rec := range recs {
		for name, f := range rec.Files {
			h := sha256File(t, filepath.Join(dir, f))
			if other, dup := seen[name+h]; dup {
				t.Fatalf("outputs %s and %s are identical for different inputs", other, f)
			}
			seen[name+h] = f
		}
	}
}

// checkConditionMatters: fixing another condition value changes sample 0.
func checkConditionMatters(t *testing.T, m catalogModel, name string, values []string) {
	t.Helper()
	hashes := map[string]string{}
	for _, v := range values {
		d := filepath.Join(t.TempDir(), v)
		mustOK(t, zoo(t, nil, generateArgs(t, m, "1", d, "--condition", name+"="+v)...))
		recs := readManifest(t, d)
		if recs[0].Conditions[name] != v {
			t.Fatalf("manifest records %s=%q, want %q", name, recs[0].Conditions[name], v)
		}
		for _, f := range recs[0].Files {
			h := sha256File(t, filepath.Join(d, f))
			if prev, dup := hashes[h]; dup {
				t.Fatalf("%s=%s and %s=%s gave the same image", name, prev, name, v)
			}
			hashes[h] = v
		}
	}
	wantFail(t, zoo(t, nil, generateArgs(t, m, "1", t.TempDir(), "--condition", name+"=no-such-value")...), 2, values[0])
}
