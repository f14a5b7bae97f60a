package zoo

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"medzoo/internal/limits"
)

func TestScanTOMLLimits(t *testing.T) {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, text string
		want       string // "" for accepted
		line       int
	}{
		{"plain", "schema = 1\n[[model]]\nid = \"a\"\nx = [[1, 2], [3]]\n", "", 0},
		{"depth-at-limit", "x = " + deep("[", "]", MaxTOMLDepth), "", 0},
		{"depth-over-limit", "x = " + deep("[", "]", MaxTOMLDepth+1), "nested more than 32 deep", 1},
		{"inline-tables", "\n\nx = " + deep("{a = ", "}", 1000), "nested more than", 3},
		{"mixed", "x = " + deep("[{a = ", "}]", 20), "nested more than", 1},
		{"brackets-in-basic-string", `x = "` + strings.Repeat("[", 1000) + `"`, "", 0},
		{"brackets-in-literal-string", `x = '` + strings.Repeat("{", 1000) + `'`, "", 0},
		{"brackets-in-multiline-string", "x = \"\"\"\n" + strings.Repeat("[", 1000) + "\n\"\"\"\ny = 1", "", 0},
		{"brackets-in-multiline-literal", "x = '''\n" + strings.Repeat("[", 1000) + "\n'''", "", 0},
		{"escaped-quote-in-string", `x = "\"` + strings.Repeat("[", 100) + `"`, "", 0},
		{"brackets-in-comment", "# " + strings.Repeat("[", 1000) + "\nx = 1", "", 0},
		{"quoted-key-with-dots", `"` + strings.Repeat("a.", 100) + `" = 1`, "", 0},
		{"floats-are-not-keys", "x = [" + strings.Repeat("1.5, ", 100) + "1.5]", "", 0},
		{"dotted-key", strings.Repeat("a.", 40) + "b = 1", "dotted key has more than", 1},
		{"header-parts", "[" + strings.Repeat("a.", 40) + "b]", "table header has more than", 1},
		{"array-at-limit", "x = [" + strings.Repeat("1,", MaxTOMLArray-1) + "1]", "", 0},
		{"array-over-limit", "x = [" + strings.Repeat("1,", MaxTOMLArray) + "1]", "more than 65536 elements", 1},
		{"many-model-tables", strings.Repeat("[[model]]\nid = \"a\"\n", MaxTOMLArray+10), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := scanTOMLLimits([]byte(tc.text))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var le *limits.TOMLError
			if !errors.As(err, &le) || !strings.Contains(le.Msg, tc.want) || le.Line != tc.line {
				t.Fatalf("err = %v, want %q at line %d", err, tc.want, tc.line)
			}
		})
	}
}

func TestParseRefusesDeepNestingBeforeDecoding(t *testing.T) {
	// 50,000 levels took 4.2 GB inside toml.Decode; refused, it costs a scan.
	text := "schema = 1\nx = " + strings.Repeat("[", 50000) + strings.Repeat("]", 50000) + "\n"
	_, err := Parse([]byte(text), "deep.toml")
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Line != 2 || !strings.Contains(ve.Problems[0].Message, "nested more than") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadCatalogFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.toml")
	os.WriteFile(ok, []byte("schema = 1\n"), 0o644)
	if b, err := ReadCatalogFile(ok); err != nil || string(b) != "schema = 1\n" {
		t.Fatalf("regular file: %q, %v", b, err)
	}
	if _, err := ReadCatalogFile(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("directory: %v", err)
	}
	fifo := filepath.Join(dir, "pipe.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs:", err)
	}
	// Would block forever in os.ReadFile.
	if _, err := ReadCatalogFile(fifo); err == nil || !strings.Contains(err.Error(), "FIFO") || !strings.Contains(err.Error(), "pipe.toml") {
		t.Fatalf("FIFO: %v", err)
	}
}

func TestSignatureSizeLimits(t *testing.T) {
	sig := func(body string) string {
		return "schema = 1\n[[model]]\nid = \"m\"\ntitle = \"t\"\n[model.artifact]\nurl = \"m.pt\"\nsha256 = \"" + strings.Repeat("0", 64) +
			"\"\nformat = \"torchscript\"\n[model.signature]\n" + body
	}
	out := func(c, h, w int) string {
		return "[[model.signature.outputs]]\nname = \"o\"\nkind = \"image\"\nchannels = " + itoa(c) + "\nheight = " + itoa(h) + "\nwidth = " + itoa(w) + "\n"
	}
	for _, tc := range []struct{ name, body, want string }{
		{"ok", "latent = [100, 1, 1]\n" + out(3, 1024, 1024), ""},
		{"largest-image", "latent = [8]\nbatch = 1\n" + out(1, 8192, 8192), ""},
		{"image-over-limit", "latent = [8]\nbatch = 1\n" + out(1, 8192, 8193), "more than the limit of 64 Mi values per sample image"},
		{"product-overflows-int64", "latent = [8]\n" + out(4294967296, 4294967296, 4294967296), "4294967296×4294967296×4294967296 (channels×height×width), more than the limit"},
		{"latent-over-limit", "latent = [1024, 1025]\n" + out(1, 4, 4), "holds more than 1 Mi values"},
		{"latent-wraps", "latent = [4294967296, 4294967296]\n" + out(1, 4, 4), "holds more than 1 Mi values"},
		{"block-over-limit", "latent = [8]\nbatch = 4096\n" + out(3, 256, 256), "lower signature.batch"},
		{"default-block-fits", "latent = [8]\n" + out(3, 2048, 2048), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(sig(tc.body)), "s.toml")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// BenchmarkScanTOMLLimits measures the pre-scan on the embedded catalog,
// against BenchmarkParseEmbedded's whole parse.
func BenchmarkScanTOMLLimits(b *testing.B) {
	b.SetBytes(int64(len(embeddedCatalog)))
	for i := 0; i < b.N; i++ {
		if err := scanTOMLLimits(embeddedCatalog); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEmbedded(b *testing.B) {
	b.SetBytes(int64(len(embeddedCatalog)))
	for i := 0; i < b.N; i++ {
		if _, err := Parse(embeddedCatalog, "embedded"); err != nil {
			b.Fatal(err)
		}
	}
}
