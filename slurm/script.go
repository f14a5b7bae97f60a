// Package slurm writes sbatch scripts, submits them with sbatch and reads
// the state of their jobs from squeue. It runs Slurm's own client commands
// (which find the cluster through slurm.conf or $SLURM_CONF) and knows
// nothing of zoo: the caller gives the command line each task runs.
package slurm

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxTasks bounds an array: Slurm's default MaxArraySize is 1001, and no
// site allows more than a few hundred thousand.
const MaxTasks = 1 << 16

// Raw is a piece of shell text written into a command line as is: a
// variable to expand ("$SLURM_ARRAY_TASK_ID"), a glob, a redirection.
// Every other value is quoted.
type Raw string

// TaskID expands, inside a task, to the task's index in the array.
const TaskID Raw = `"$SLURM_ARRAY_TASK_ID"`

// Job is one sbatch script.
type Job struct {
	Name        string   // --job-name
	Tasks       int      // an array of tasks 0..Tasks-1; 0: one job, no array
	CPUsPerTask int      // --cpus-per-task (0: Slurm's default)
	GPUsPerTask int      // --gpus-per-task (0: none asked)
	Partition   string   // --partition ("": the default partition)
	Time        string   // --time limit ("": the partition's)
	Chdir       string   // --chdir: where the tasks run (relative paths in Command)
	Output      string   // --output file pattern (%A array job id, %a task, %j job id)
	Error       string   // --error file pattern
	Env         []string // NAME=VALUE exported before the command
	Command     []any    // the task's command line: strings (quoted) and Raw pieces
	// Then, when set, runs after Command in the same script (a shell line,
	// quoted by the caller), only if Command succeeded.
	Then string
}

var (
	// Slurm's --time forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or
	// UNLIMITED/INFINITE.
	timeForm = regexp.MustCompile(`^(\d+-)?\d+(:\d+){0,2}$|^(UNLIMITED|INFINITE|unlimited|infinite)$`)
	// A partition name and a job name end up on an #SBATCH line, which
	// sbatch reads without a shell: no spaces, quotes or newlines.
	plainWord = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,128}$`)
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Check reports the first bad field, naming the fix.
func (j Job) Check() error {
	switch {
	case j.Tasks < 0 || j.Tasks > MaxTasks:
		return fmt.Errorf("%d tasks: give 1 to %d", j.Tasks, MaxTasks)
	case j.CPUsPerTask < 0 || j.CPUsPerTask > 4096:
		return fmt.Errorf("%d CPUs per task: give 1 to 4096", j.CPUsPerTask)
	case j.GPUsPerTask < 0 || j.GPUsPerTask > 64:
		return fmt.Errorf("%d GPUs per task: give 0 to 64", j.GPUsPerTask)
	case j.Partition != "" && !plainWord.MatchString(j.Partition):
		return fmt.Errorf("partition %q: a Slurm partition name is letters, digits and ._+- (see sinfo)", j.Partition)
	case j.Name != "" && !plainWord.MatchString(j.Name):
		return fmt.Errorf("job name %q: use letters, digits and ._+- only", j.Name)
	case j.Time != "" && !timeForm.MatchString(j.Time):
		return fmt.Errorf("time limit %q is not one Slurm reads: give minutes (30), H:M:S (2:00:00) or D-H:M:S (1-12:00:00)", j.Time)
	case len(j.Command) == 0:
		return fmt.Errorf("the job has no command")
	}
	for _, p := range []string{j.Chdir, j.Output, j.Error} {
		if strings.ContainsAny(p, "\n\r\x00\"") {
			return fmt.Errorf("path %q has a newline or a double quote, which an #SBATCH line cannot hold: choose another directory", p)
		}
	}
	for _, e := range j.Env {
		name, _, ok := strings.Cut(e, "=")
		if !ok || !envName.MatchString(name) {
			return fmt.Errorf("environment %q is not NAME=VALUE", e)
		}
	}
	for _, a := range j.Command {
		switch a.(type) {
		case string, Raw:
		default:
			return fmt.Errorf("command argument %v (%T) is neither a string nor Raw", a, a)
		}
	}
	return nil
}

// Script is the sbatch script of j.
func (j Job) Script() (string, error) {
	if err := j.Check(); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	opt := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "#SBATCH --%s=%s\n", name, sbatchValue(value))
		}
	}
	opt("job-name", j.Name)
	if j.Tasks > 0 {
		opt("array", fmt.Sprintf("0-%d", j.Tasks-1))
	}
	if j.CPUsPerTask > 0 {
		opt("cpus-per-task", fmt.Sprint(j.CPUsPerTask))
	}
	if j.GPUsPerTask > 0 {
		opt("gpus-per-task", fmt.Sprint(j.GPUsPerTask))
	}
	opt("partition", j.Partition)
	opt("time", j.Time)
	opt("chdir", j.Chdir)
	opt("output", j.Output)
	opt("error", j.Error)
	b.WriteString("set -eu\n")
	for _, e := range j.Env {
		name, value, _ := strings.Cut(e, "=")
		fmt.Fprintf(&b, "export %s=%s\n", name, Quote(value))
	}
	line := CommandLine(j.Command...)
	if j.Then == "" {
		// exec: scancel's SIGTERM reaches the command itself, not a shell
		// that would wait for it.
		fmt.Fprintf(&b, "exec %s\n", line)
	} else {
		fmt.Fprintf(&b, "%s\n%s\n", line, j.Then)
	}
	return b.String(), nil
}

// sbatchValue writes a value of an #SBATCH line. sbatch splits those lines
// on white space and strips double quotes, like a shell without expansion:
// a value with spaces is double-quoted (Check refused newlines; a double
// quote inside a path cannot be written there at all).
func sbatchValue(v string) string {
	if strings.ContainsAny(v, " \t'") {
		return `"` + v + `"`
	}
	return v
}

// CommandLine joins args into a shell command line: each string quoted,
// each Raw as is.
func CommandLine(args ...any) string {
	words := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case Raw:
			words[i] = string(a)
		case string:
			words[i] = Quote(a)
		default:
			words[i] = Quote(fmt.Sprint(a))
		}
	}
	return strings.Join(words, " ")
}

// Quote makes s one shell word that stands for s itself: unchanged when it
// has only safe characters, else in single quotes (a single quote inside
// written '\”).
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:=+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
