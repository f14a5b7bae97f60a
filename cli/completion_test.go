package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCompleteCandidates(t *testing.T) {
	all := strings.Fields("bench cache catalog completion env evaluate generate grid help import info init interpolate k8s list manifest pack publish pull push search serve slurm validate")
	for _, tc := range []struct {
		words []string // after zoo, the last one being completed
		want  []string // exactly these, in order; nil: none (file names)
		has   []string // or at least these
	}{
		{words: []string{"gen"}, want: []string{"generate"}},
		{words: []string{"se"}, want: []string{"search", "serve"}},
		{words: []string{""}, want: all},
		{words: []string{"--offline", "--cache", "dir", "li"}, want: []string{"list"}},
		{words: []string{"--off"}, want: []string{"--offline"}},
		{words: []string{"nosuch", ""}, want: nil},
		{words: []string{"info", "101"}, want: []string{"00101_DCGAN_MRI_COLIN27_DEMO"}},
		{words: []string{"generate", "0010"}, has: []string{"00101_DCGAN_MRI_COLIN27_DEMO", "00105_WGANGP_CT_HEAD_DEMO"}},
		{words: []string{"generate", "-n", "4", "00008"}, want: []string{"00008_C-DCGAN_MMG_MASSES"}},
		{words: []string{"info", "00101_DCGAN_MRI_COLIN27_DEMO", ""}, want: nil}, // one id only
		{words: []string{"generate", "101", "--se"}, want: []string{"--seed"}},
		{words: []string{"generate", "101", "--of"}, want: []string{"--offline"}},
		{words: []string{"generate", "101", "-o", ""}, want: nil}, // a directory: the shell's
		{words: []string{"generate", "101", "--format", "png"}, want: []string{"png", "png16"}},
		{words: []string{"generate", "101", "--format", "=", "n"}, want: []string{"nifti", "npy"}},
		{words: []string{"catalog", ""}, want: []string{"add", "diff", "list", "validate"}},
		{words: []string{"catalog", "validate", ""}, want: nil},
		{words: []string{"manifest", ""}, want: []string{"merge"}},
		{words: []string{"slurm", ""}, want: []string{"evaluate", "generate", "status"}},
		{words: []string{"k8s", ""}, want: []string{"evaluate", "generate"}},
		{words: []string{"slurm", "generate", "105"}, want: []string{"00105_WGANGP_CT_HEAD_DEMO"}},
		{words: []string{"k8s", "generate", "105"}, want: []string{"00105_WGANGP_CT_HEAD_DEMO"}},
		{words: []string{"completion", ""}, want: []string{"bash", "fish", "zsh"}},
		{words: []string{"help", "gr"}, want: []string{"grid"}},
		{words: []string{"evaluate", ""}, want: nil}, // folders, until it looks like an id
		{words: []string{"evaluate", "real/", "10"}, has: []string{"00101_DCGAN_MRI_COLIN27_DEMO"}},
		{words: []string{"search", "br"}, want: nil},
	} {
		r := runZoo(append([]string{completeCommandName, "--"}, tc.words...)...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("complete %q: %v", tc.words, r)
			continue
		}
		got := strings.Fields(r.stdout)
		if tc.has != nil {
			for _, h := range tc.has {
				if !strings.Contains(r.stdout, h+"\n") {
					t.Errorf("complete %q = %q, want it to offer %s", tc.words, got, h)
				}
			}
			continue
		}
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("complete %q = %q, want %q", tc.words, got, tc.want)
		}
	}
}

// A model id of a catalog given on the line is offered too.
func TestCompleteUserCatalogIDs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mine.toml")
	os.WriteFile(p, []byte("schema = 1\n[[model]]\nid = \"90004_MINE\"\ntitle = \"a package\"\n"+
		"[model.artifact]\nurl = \"https://example.org/x.zip\"\nformat = \"python-package\"\n"), 0o644)
	r := runZoo(completeCommandName, "--", "--catalog", p, "info", "9000")
	if r.code != 0 || r.stdout != "90004_MINE\n" {
		t.Errorf("complete with --catalog: %v", r)
	}
}

// zooOnPath puts an executable named zoo, this test binary acting as zoo,
// first on PATH.
func zooOnPath(t *testing.T) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "zoo")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(asZooEnv, "1")
}

// The bash script, run by real bash against a real zoo process.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	zooOnPath(t)
	script := runZoo("completion", "bash")
	if script.code != 0 || !strings.Contains(script.stdout, "complete -o default -F _zoo zoo") {
		t.Fatalf("completion bash: %v", script)
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"zoo", "gen"}, "generate"},
		{[]string{"zoo", "info", "0010"}, "00101_DCGAN_MRI_COLIN27_DEMO 00102_CDCGAN_MRI_COLIN27_PLANE_DEMO 00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO 00104_PIX2PIX_MRI_MASK_TO_T1_DEMO 00105_WGANGP_CT_HEAD_DEMO"},
		{[]string{"zoo", "generate", "101", "-o", ""}, ""}, // bash's own file names
	} {
		// Each case starts this test binary, which in the LibTorch build
		// loads LibTorch: the cases stay few, and TestCompleteCandidates
		// covers what zoo offers.
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c",
			`eval "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _zoo; echo "${COMPREPLY[*]}"`,
			"bash", script.stdout)
		cmd.Args = append(cmd.Args, tc.words...)
		out, err := cmd.CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != tc.want {
			t.Errorf("bash completion of %q: %q (%v), want %q", tc.words, got, err, tc.want)
		}
	}
}

// The fish script, through fish's own completer; the zsh script is only
// parsed (zsh completes through its line editor, which needs a terminal).
func TestCompletionZshFish(t *testing.T) {
	zooOnPath(t)
	tested := 0
	if fish, err := exec.LookPath("fish"); err == nil {
		tested++
		script := runZoo("completion", "fish").stdout
		out, err := exec.Command(fish, "--no-config", "-c", script+"\ncomplete -C'zoo info 101'").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "00101_DCGAN_MRI_COLIN27_DEMO" {
			t.Errorf("fish completion: %v\n%s", err, out)
		}
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		tested++
		f := filepath.Join(t.TempDir(), "_zoo")
		os.WriteFile(f, []byte(runZoo("completion", "zsh").stdout), 0o644)
		if out, err := exec.Command(zsh, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("zsh -n: %v\n%s", err, out)
		}
	}
	if tested == 0 {
		t.Skip("neither fish nor zsh is installed")
	}
}
