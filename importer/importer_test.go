package importer

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"medzoo/zoo"
)

// TestSignatureFromReport: the capture's report becomes the catalog
// signature: latent, labelled condition, channel split with post-processing.
func TestSignatureFromReport(t *testing.T) {
	var r Report
	if err := json.Unmarshal([]byte(`{
		"block": 16, "stochastic": false,
		"inputs": [
			{"name": "z", "role": "latent", "shape": [100, 1, 1], "distribution": "normal", "file": "inputs/z.npy"},
			{"name": "condition", "role": "condition", "values": ["malignant", "benign"], "file": "inputs/condition.npy"}
		],
		"outputs": [
			{"name": "image", "kind": "image", "source": 0, "channel_offset": 0, "channels": 3, "height": 8, "width": 8,
			 "raw_range": [-1, 1], "post": {"map": [-1, 1, 0, 255], "clamp": true, "arithmetic": "float32", "cast": "truncate", "overflow": "clip", "lut": null, "threshold": null}},
			{"name": "mask", "kind": "mask", "source": 0, "channel_offset": 3, "channels": 1, "height": 8, "width": 8,
			 "raw_range": [-1, 1], "post": {"map": [-1, 1, 0, 256], "clamp": true, "cast": "truncate", "overflow": "clip", "threshold": 0.5}}
		]}`), &r); err != nil {
		t.Fatal(err)
	}
	s, function, err := r.Signature()
	if err != nil {
		t.Fatal(err)
	}
	if function != zoo.FunctionNoiseToImage || s.Batch != 16 || len(s.Latent) != 3 || s.Latent[0] != 100 {
		t.Fatalf("signature %+v, function %s", s, function)
	}
	if len(s.Conditions) != 1 || s.Conditions[0].Values[1] != "benign" {
		t.Errorf("conditions %+v", s.Conditions)
	}
	if len(s.Outputs) != 2 || s.Outputs[1].Source != "0" || s.Outputs[1].ChannelOffset != 3 || s.Outputs[1].Post.Threshold == nil || *s.Outputs[1].Post.Threshold != 0.5 {
		t.Errorf("outputs %+v", s.Outputs)
	}
	// A module that takes its latent after an image cannot be fed by zoo.
	r.Inputs = append([]ReportInput{{Name: "image", Role: "image", Channels: 1, Height: 8, Width: 8}}, r.Inputs...)
	if _, _, err := r.Signature(); err == nil || !strings.Contains(err.Error(), "zoo feeds") {
		t.Errorf("latent after image: %v", err)
	}
}

func TestFindPackage(t *testing.T) {
	dir := t.TempDir()
	if _, err := FindPackage(dir); err == nil || !strings.Contains(err.Error(), "__init__.py") {
		t.Errorf("empty folder: %v", err)
	}
	sub := filepath.Join(dir, "00005_DCGAN", "src")
	os.MkdirAll(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "__init__.py"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "00005_DCGAN", "__init__.py"), nil, 0o644)
	got, err := FindPackage(dir)
	if err != nil || got != filepath.Join(dir, "00005_DCGAN") {
		t.Errorf("FindPackage = %s, %v; want the shallowest folder with __init__.py", got, err)
	}
}

// TestMetadataFromCatalog: a package zip without metadata.json gets its
// execution block from the catalog's upstream section.
func TestMetadataFromCatalog(t *testing.T) {
	m := &zoo.Model{ID: "00001_DCGAN_MMG_CALC_ROI", Title: "t", Upstream: &zoo.Upstream{Package: "p", ModelFile: "DCGAN.pt",
		Generate: "generate", CustomArgs: `{"image_size": 128}`, LatentSize: 100}}
	data, err := MetadataFromCatalog(m)
	if err != nil {
		t.Fatal(err)
	}
	md, err := ReadMetadata(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	if md.ID != m.ID || md.Execution.ModelName != "DCGAN" || md.Execution.Extension != ".pt" || !strings.Contains(string(md.Execution.GenerateMethod), `"image_size":128`) {
		t.Errorf("metadata %+v / %s", md, md.Execution.GenerateMethod)
	}
	m.Upstream.CustomArgs = "[1]"
	if _, err := MetadataFromCatalog(m); err == nil {
		t.Error("custom_args that is not an object accepted")
	}
	if _, err := ReadMetadata([]byte(`{"a": {}, "b": {}}`), "two.json"); err == nil || !strings.Contains(err.Error(), "describes 2 models") {
		t.Errorf("two models: %v", err)
	}
}

// TestSandbox runs real commands in the strongest sandbox here: no
// network interface but loopback, writes outside the scratch directory
// refused, a wall-time limit that kills the whole process group.
func TestSandbox(t *testing.T) {
	sb, err := DetectSandbox(false)
	if err != nil {
		t.Skipf("no sandbox on this machine: %v", err)
	}
	scratch := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside.txt")
	run := func(timeout time.Duration, script string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := sb.Command(ctx, scratch, scratch, nil, []string{"PATH=/usr/bin:/bin"}, []string{"/bin/sh", "-c", script})
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(10*time.Second, "cat /proc/net/dev"); err != nil || strings.Contains(out, "eth") || strings.Contains(out, "ens") {
		t.Errorf("network devices in the sandbox (%v):\n%s", err, out)
	}
	if out, err := run(10*time.Second, "echo ok > inside.txt && cat inside.txt"); err != nil || !strings.Contains(out, "ok") {
		t.Errorf("writing the scratch dir: %v %s", err, out)
	}
	if sb.Kind == SandboxBubblewrap {
		if _, err := run(10*time.Second, "echo x > "+outside); err == nil {
			t.Error("bubblewrap let the command write outside its scratch dir")
		}
		if _, err := os.Stat(outside); err == nil {
			t.Error("the file written outside exists")
		}
	}
	// Paths under a symbolic link (a package in a linked folder, a linked
	// TMPDIR) are bound by their real location: bubblewrap cannot make a
	// mount point through a link.
	real := t.TempDir()
	os.WriteFile(filepath.Join(real, "pkg.txt"), []byte("package\n"), 0o644)
	linked := filepath.Join(t.TempDir(), "linked")
	os.Symlink(real, linked)
	linkedScratch := filepath.Join(t.TempDir(), "scratch-link")
	os.Symlink(scratch, linkedScratch)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := sb.Command(ctx, linkedScratch, linkedScratch, []string{linked}, []string{"PATH=/usr/bin:/bin"},
		[]string{"/bin/sh", "-c", "cat " + filepath.Join(linked, "pkg.txt") + " && echo w > written.txt"}).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "package") {
		t.Errorf("a package under a linked folder: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(scratch, "written.txt")); err != nil {
		t.Errorf("the linked scratch dir was not writable: %v", err)
	}
	start := time.Now()
	if _, err := run(time.Second, "sleep 30 & sleep 30"); err == nil {
		t.Error("a command past its time limit succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the time limit took %s to stop the command", d)
	}
	if _, err := exec.LookPath("bwrap"); err == nil && sb.Kind != SandboxBubblewrap {
		t.Errorf("bwrap is installed but the sandbox is %s", sb.Kind)
	}
	if none, _ := DetectSandbox(true); none.Kind != SandboxNone || !strings.Contains(none.Describe(), "NO sandbox") {
		t.Errorf("--no-sandbox: %+v", none)
	}
}
