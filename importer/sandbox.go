package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Sandbox kinds, strongest first.
const (
	// SandboxBubblewrap: bwrap with every namespace unshared (no network),
	// the whole filesystem read-only except the scratch directory.
	SandboxBubblewrap = "bubblewrap"
	// SandboxNetNS: a new network namespace only (unshare --net): no
	// network, but writes are not confined. Used where bwrap is missing.
	SandboxNetNS = "network namespace"
	// SandboxNone: --no-sandbox, package code runs as the user.
	SandboxNone = "none"
)

// Sandbox runs a command confined as its Kind says.
type Sandbox struct {
	Kind string
	bin  string // bwrap or unshare
}

// Describe says in words what confines the package code, for the notice
// printed before it runs and the import report.
func (s Sandbox) Describe() string {
	switch s.Kind {
	case SandboxBubblewrap:
		return "bubblewrap sandbox: no network, filesystem read-only except a scratch directory that is deleted afterwards"
	case SandboxNetNS:
		return "network namespace: no network (install bubblewrap to also confine writes to a scratch directory)"
	default:
		return "NO sandbox (--no-sandbox): the package runs with your permissions and network"
	}
}

// DetectSandbox finds the strongest sandbox that works here, by running
// `true` in it. With allowNone, no sandbox at all is accepted when none
// works; otherwise that is an error saying what to install.
func DetectSandbox(allowNone bool) (Sandbox, error) {
	if allowNone {
		return Sandbox{Kind: SandboxNone}, nil
	}
	var tried []string
	if bin, err := exec.LookPath("bwrap"); err == nil {
		sb := Sandbox{Kind: SandboxBubblewrap, bin: bin}
		if err := sb.probe(); err == nil {
			return sb, nil
		} else {
			tried = append(tried, "bwrap: "+err.Error())
		}
	} else {
		tried = append(tried, "bwrap is not installed")
	}
	if bin, err := exec.LookPath("unshare"); err == nil {
		sb := Sandbox{Kind: SandboxNetNS, bin: bin}
		if err := sb.probe(); err == nil {
			return sb, nil
		} else {
			tried = append(tried, "unshare --net: "+err.Error())
		}
	}
	return Sandbox{}, fmt.Errorf("no sandbox is available to run the package's Python code without network (%s); install bubblewrap (apt-get install bubblewrap), or run again with --no-sandbox if you trust the package",
		strings.Join(tried, "; "))
}

func (s Sandbox) probe() error {
	dir, err := os.MkdirTemp("", "zoo-sandbox-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := s.Command(ctx, dir, dir, nil, nil, []string{"/bin/true"})
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// resolved is p with its symbolic links resolved. bubblewrap binds onto a
// mount point it creates, and cannot create one through a link (a package
// under a symlinked folder failed with "Can't mkdir parents"); the package
// still sees its paths as given, since the read-only root keeps the links.
func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// Command builds the command running argv in the sandbox in working
// directory dir, inside scratch (the only writable place under bubblewrap). readOnly
// lists paths the command reads (package, checkpoint, inputs): visible
// under bubblewrap's read-only root anyway, listed so they stay visible if
// that changes. env is the whole environment: nothing of the caller's
// leaks in except what is passed.
func (s Sandbox) Command(ctx context.Context, scratch, dir string, readOnly, env []string, argv []string) *exec.Cmd {
	var cmd *exec.Cmd
	switch s.Kind {
	case SandboxBubblewrap:
		args := []string{
			"--ro-bind", "/", "/",
			"--dev", "/dev",
			"--proc", "/proc",
			"--unshare-all", // network, IPC, PID, UTS, cgroup (and user where allowed)
			"--die-with-parent",
			"--new-session",
		}
		for _, p := range readOnly {
			if p = resolved(p); p != "/" {
				args = append(args, "--ro-bind", p, p)
			}
		}
		args = append(args, "--bind", resolved(scratch), resolved(scratch), "--chdir", dir, "--clearenv")
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			args = append(args, "--setenv", k, v)
		}
		args = append(args, "--")
		cmd = exec.CommandContext(ctx, s.bin, append(args, argv...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
	case SandboxNetNS:
		args := []string{"--net"}
		if os.Geteuid() != 0 {
			args = append(args, "--map-root-user")
		}
		cmd = exec.CommandContext(ctx, s.bin, append(append(args, "--"), argv...)...)
		cmd.Env = env
	default:
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
	}
	cmd.Dir = dir
	// Own process group, killed whole when the context ends: the package
	// may have started processes of its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
