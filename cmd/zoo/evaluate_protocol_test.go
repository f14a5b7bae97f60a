package main_test

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"medzoo/internal/testmodules"
)

// protocolCard is what these tests read of a card.
type protocolCard struct {
	Protocol      string   `json:"protocol"`
	ProtocolNotes []string `json:"protocol_notes"`
	Preprocessing string   `json:"preprocessing"`
	Real          struct {
		Cached   bool `json:"features_cached"`
		Warnings []string
	}
	Results []struct {
		Metric  string
		Details map[string]any
	}
}

// tinyExtractor is scripts/protocol_reference.py's small random extractor
// (30x34 input, 16 features): protocols are about pixels, not networks.
func tinyExtractor(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command(testmodules.Python, filepath.Join("..", "..", "scripts", "protocol_reference.py"), "--make-test-extractor", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("protocol_reference.py: %v\n%s", err, out)
	}
	return filepath.Join(dir, "tiny.pt")
}

// writeProtocolPNGs writes n w×h PNGs into dir: 16-bit gray ones (values
// 0..1023, so that PIL's convert saturates about three quarters) or 8-bit
// RGB ones.
func writeProtocolPNGs(t *testing.T, dir string, n, w, h int, sixteen bool, seed uint64) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	rng := rand.New(rand.NewPCG(seed, 5))
	for i := 0; i < n; i++ {
		var img image.Image
		if sixteen {
			g := image.NewGray16(image.Rect(0, 0, w, h))
			for p := 0; p < w*h; p++ {
				g.SetGray16(p%w, p/w, color.Gray16{Y: uint16(rng.IntN(1024))})
			}
			img = g
		} else {
			c := image.NewRGBA(image.Rect(0, 0, w, h))
			for p := 0; p < w*h; p++ {
				c.SetRGBA(p%w, p/w, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
			}
			img = c
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%02d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// TestEvaluateProtocol: --protocol names itself on the card (JSON and
// text), brings its reference's defaults (torch-fidelity: PRDC k=3) unless
// a flag is set, warns of the 16-bit PNGs PIL saturates (also when the
// features come from the cache), and keeps zoo's own protocol as it was;
// an unknown protocol, --resize with a reference's, and a merge of parts
// of two protocols are refused with the fix.
func TestEvaluateProtocol(t *testing.T) {
	ex := tinyExtractor(t)
	work := t.TempDir()
	env := []string{"ZOO_CACHE=" + filepath.Join(work, "cache"), "ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real, fake := filepath.Join(work, "real"), filepath.Join(work, "fake")
	writeProtocolPNGs(t, real, 8, 40, 36, true, 1)
	writeProtocolPNGs(t, fake, 8, 40, 36, false, 2)

	wantFail(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--protocol", "clean"), 2,
		`--protocol "clean"`, "zoo, clean-fid, pytorch-fid, torch-fidelity")
	wantFail(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--protocol", "torch-fidelity", "--resize", "nearest"), 2,
		"--resize", "leave --resize out")

	eval := func(args ...string) protocolCard {
		t.Helper()
		r := mustOK(t, zoo(t, env, append([]string{"evaluate", real, fake, "--features", ex, "--metrics", "fid,prdc", "--json"}, args...)...))
		var c protocolCard
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		return c
	}
	prdcK := func(c protocolCard) any {
		for _, r := range c.Results {
			if r.Metric == "precision" {
				return r.Details["k"]
			}
		}
		return nil
	}
	saturated := func(c protocolCard) string {
		for _, w := range c.Real.Warnings {
			if strings.Contains(w, "16-bit gray PNGs") {
				return w
			}
		}
		return ""
	}
	tf := eval("--protocol", "torch-fidelity")
	if tf.Protocol != "torch-fidelity" || !strings.HasPrefix(tf.Preprocessing, "protocol torch-fidelity: ") || len(tf.ProtocolNotes) == 0 {
		t.Errorf("card: protocol %q, preprocessing %q, notes %q", tf.Protocol, tf.Preprocessing, tf.ProtocolNotes)
	}
	if prdcK(tf) != float64(3) {
		t.Errorf("torch-fidelity's PRDC k on the card: %v, want its default 3", prdcK(tf))
	}
	if w := saturated(tf); !strings.Contains(w, "8 16-bit gray PNGs") || !strings.Contains(w, "saturated 7") {
		t.Errorf("16-bit warning: %q (values 0..1023: about 75%% saturate)", w)
	}
	again := eval("--protocol", "torch-fidelity", "--prdc-k", "4")
	if !again.Real.Cached || saturated(again) != saturated(tf) || prdcK(again) != float64(4) {
		t.Errorf("cached run: cached %v, warning %q, k %v (--prdc-k set wins)", again.Real.Cached, saturated(again), prdcK(again))
	}
	own := eval()
	if own.Protocol != "zoo" || strings.HasPrefix(own.Preprocessing, "protocol") || saturated(own) != "" || prdcK(own) != float64(5) || len(own.ProtocolNotes) != 0 {
		t.Errorf("zoo's protocol: %q %q warning %q k %v notes %q", own.Protocol, own.Preprocessing, saturated(own), prdcK(own), own.ProtocolNotes)
	}
	text := mustOK(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--metrics", "fid", "--protocol", "clean-fid"))
	for _, frag := range []string{"protocol:      clean-fid", "note: FID: clean-fid fits a float32 mean", "warning: 8 16-bit gray PNGs"} {
		if !strings.Contains(text.stdout, frag) {
			t.Errorf("text card lacks %q:\n%s", frag, text.stdout)
		}
	}

	parts := filepath.Join(work, "parts")
	mustOK(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--metrics", "fid", "--protocol", "clean-fid", "--shard", "0/2", "--partial", filepath.Join(parts, "0.part")))
	mustOK(t, zoo(t, env, "evaluate", real, fake, "--features", ex, "--metrics", "fid", "--shard", "1/2", "--partial", filepath.Join(parts, "1.part")))
	wantFail(t, zoo(t, env, "evaluate", "merge", filepath.Join(parts, "0.part"), filepath.Join(parts, "1.part")), 1,
		"--protocol clean-fid and --protocol zoo", "one --protocol")
}

// TestEvaluateProtocolGeneratedAsPNG: with a reference protocol a model's
// images generated in memory are quantized as zoo generate's PNG files
// are, so evaluating the model equals evaluating the folder it writes,
// and the card says so.
func TestEvaluateProtocolGeneratedAsPNG(t *testing.T) {
	ex := tinyExtractor(t)
	work := t.TempDir()
	env := []string{"ZOO_CACHE=" + filepath.Join(work, "cache"), "ZOO_CONFIG_DIR=" + filepath.Join(work, "config")}
	real, fake := filepath.Join(work, "real"), filepath.Join(work, "fake")
	mustOK(t, zoo(t, env, "generate", "101", "-n", "6", "--seed", "1", "-o", real, "-q"))
	mustOK(t, zoo(t, env, "generate", "101", "-n", "6", "--seed", "3", "-o", fake, "-q"))
	fid := func(args ...string) (float64, []string) {
		t.Helper()
		r := mustOK(t, zoo(t, env, append([]string{"evaluate", "--features", ex, "--metrics", "fid", "--json", "--no-cache"}, args...)...))
		var c struct {
			Fake    struct{ Warnings []string }
			Results []struct{ Value float64 }
		}
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || len(c.Results) != 1 {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		return c.Results[0].Value, c.Fake.Warnings
	}
	for _, proto := range []string{"clean-fid", "torch-fidelity"} {
		folder, _ := fid(real, fake, "--protocol", proto)
		model, warnings := fid(real, "101", "-n", "6", "--seed", "3", "--protocol", proto)
		if folder != model || folder == 0 {
			t.Errorf("%s: FID %v against the PNG folder, %v against the model's images in memory", proto, folder, model)
		}
		if !strings.Contains(strings.Join(warnings, "\n"), "quantized to 8 bits as zoo generate's PNG files are") {
			t.Errorf("%s: fake set's warnings %q", proto, warnings)
		}
	}
	// zoo's own protocol keeps the model's unquantized floats: not the same.
	folder, _ := fid(real, fake)
	model, _ := fid(real, "101", "-n", "6", "--seed", "3")
	if folder == model {
		t.Errorf("zoo's protocol gave the folder's FID %v for unquantized images too", folder)
	}
}
