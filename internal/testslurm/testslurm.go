// Package testslurm runs a real one-node Slurm cluster for tests and
// benchmarks: munged, slurmctld and slurmd (Debian's slurm-wlm and munge)
// as children of this process, with their key, configuration, state and
// logs in one directory and their ports chosen free, so that sbatch,
// squeue and scancel given SLURM_CONF talk to it and to nothing else.
// Accounting is off (no slurmdbd): job history comes from squeue and
// scontrol, which keep a finished job for MinJobAge (600 s here).
package testslurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binaries the cluster needs, each with the Debian package that has it.
var Binaries = map[string]string{
	"mungekey": "munge", "munged": "munge",
	"slurmctld": "slurm-wlm", "slurmd": "slurm-wlm",
	"sbatch": "slurm-wlm", "squeue": "slurm-wlm", "scancel": "slurm-wlm", "sinfo": "slurm-wlm", "scontrol": "slurm-wlm",
}

// ReadyTimeout bounds how long StartCluster waits for the node to be idle.
var ReadyTimeout = 60 * time.Second

// Cluster is a running cluster.
type Cluster struct {
	Dir  string // key, slurm.conf, state, spool and logs
	Conf string // Dir/slurm.conf: SLURM_CONF for the client commands
	Host string // the node's name (this machine's hostname)
	CPUs int

	procs []*exec.Cmd // munged, slurmctld, slurmd: stopped in reverse order
}

// Env is os.Environ() with SLURM_CONF set to the cluster's configuration,
// for client commands (sbatch, squeue, zoo slurm).
func (c *Cluster) Env() []string {
	return append(os.Environ(), "SLURM_CONF="+c.Conf)
}

// Start runs a cluster in a test directory until the test ends, and sets
// SLURM_CONF for the test so that every client command the test runs
// (and the zoo processes it starts) use it. A missing binary fails the
// test: the harness skips nothing.
func Start(t testing.TB) *Cluster {
	t.Helper()
	// The daemons' socket path must stay under 108 bytes; t.TempDir can be
	// long, so the cluster lives in a short directory of its own.
	dir, err := os.MkdirTemp("", "zoo-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := StartCluster(dir)
	if c != nil {
		t.Cleanup(func() {
			c.Stop()
			if t.Failed() {
				c.dumpLogs(t)
			}
			os.RemoveAll(dir)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_CONF", c.Conf)
	return c
}

// StartCluster runs a cluster whose files live in dir (created if missing)
// and returns once its node is idle. The caller must call Stop, also when
// StartCluster returns an error with a non-nil cluster (some daemons may
// be running). For benchmarks and Go programs; tests use Start.
func StartCluster(dir string) (*Cluster, error) {
	for bin, pkg := range Binaries {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s (Debian package %s) is not installed: install slurm-wlm munge (apt-get install slurm-wlm munge, or make test-deps)", bin, pkg)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	host, _, _ = strings.Cut(host, ".") // slurmd names itself by the short hostname
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf"), Host: host, CPUs: runtime.NumCPU()}
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, d := range []string{"state", "spool"} {
		if err := os.MkdirAll(p(d), 0o755); err != nil {
			return nil, err
		}
	}

	key := p("munge.key")
	os.Remove(key)
	if out, err := exec.Command("mungekey", "-c", "-k", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mungekey: %v\n%s", err, out)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		return nil, err
	}
	sock := p("munge.sock")
	if err := c.spawn(p("munged.out"), "munged", "-F", "--force", "--socket="+sock, "--key-file="+key,
		"--log-file="+p("munged.log"), "--pid-file="+p("munged.pid"), "--seed-file="+p("munged.seed")); err != nil {
		return c, err
	}
	if err := waitFor(10*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
		return c, fmt.Errorf("munged did not create %s: %w (see %s)", sock, err, p("munged.log"))
	}

	ctldPort, err := freePort()
	if err != nil {
		return c, err
	}
	dPort, err := freePort()
	if err != nil {
		return c, err
	}
	conf := strings.Join([]string{
		"ClusterName=zootest",
		"SlurmctldHost=" + host,
		"SlurmctldPort=" + strconv.Itoa(ctldPort),
		"SlurmdPort=" + strconv.Itoa(dPort),
		"AuthType=auth/munge",
		"AuthInfo=socket=" + sock,
		"CredType=cred/munge",
		"SlurmUser=root",
		"SlurmdUser=root",
		"ProctrackType=proctrack/linuxproc",
		"TaskPlugin=task/none",
		"StateSaveLocation=" + p("state"),
		"SlurmdSpoolDir=" + p("spool"),
		"SlurmctldPidFile=" + p("slurmctld.pid"),
		"SlurmdPidFile=" + p("slurmd.pid"),
		"SlurmctldLogFile=" + p("slurmctld.log"),
		"SlurmdLogFile=" + p("slurmd.log"),
		"SchedulerType=sched/backfill",
		"SelectType=select/cons_tres",
		"SelectTypeParameters=CR_CPU",
		"JobAcctGatherType=jobacct_gather/none",
		"AccountingStorageType=accounting_storage/none",
		"MinJobAge=600",
		"ReturnToService=2",
		fmt.Sprintf("NodeName=%s CPUs=%d State=UNKNOWN", host, c.CPUs),
		"PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
		"",
	}, "\n")
	if err := os.WriteFile(c.Conf, []byte(conf), 0o644); err != nil {
		return c, err
	}
	if err := c.spawn(p("slurmctld.out"), "slurmctld", "-D", "-f", c.Conf); err != nil {
		return c, err
	}
	if err := c.spawn(p("slurmd.out"), "slurmd", "-D", "-f", c.Conf); err != nil {
		return c, err
	}
	var state string
	err = waitFor(ReadyTimeout, func() bool {
		cmd := exec.Command("sinfo", "--noheader", "--format=%t")
		cmd.Env = c.Env()
		out, _ := cmd.Output()
		state = strings.TrimSpace(string(out))
		return state == "idle"
	})
	if err != nil {
		return c, fmt.Errorf("the node is not idle after %v (sinfo says %q; see %s and %s)", ReadyTimeout, state, p("slurmctld.log"), p("slurmd.log"))
	}
	return c, nil
}

// spawn starts a daemon as a child in its own process group, its output
// in file.
func (c *Cluster) spawn(file, name string, args ...string) error {
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = c.Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// Stop cancels the cluster's jobs, so that no job step (slurmstepd and
// the job's processes) outlives it, then ends the daemons it started, by
// their process ids: SIGTERM, then SIGKILL after 5 s.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	if len(c.procs) == 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := c.Run(ctx, "scancel", "--user=root"); err == nil {
			waitFor(5*time.Second, func() bool {
				out, err := c.Run(ctx, "squeue", "--noheader", "--states=RUNNING,COMPLETING", "--format=%i")
				return err != nil || strings.TrimSpace(out) == ""
			})
		}
		cancel()
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		cmd := c.procs[i]
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	c.procs = nil
}

// Run runs a client command (sbatch, squeue, ...) against the cluster and
// returns its standard output.
func (c *Cluster) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = c.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func (c *Cluster) dumpLogs(t testing.TB) {
	for _, f := range []string{"slurmctld.log", "slurmd.log", "munged.log"} {
		b, err := os.ReadFile(filepath.Join(c.Dir, f))
		if err == nil {
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- %s (tail) ---\n%s", f, b)
		}
	}
}

func waitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
