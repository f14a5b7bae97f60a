package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Client runs Slurm's client commands.
type Client struct {
	// Env is their environment (nil: this process's). SLURM_CONF in it
	// picks the cluster.
	Env []string
}

// jobID is what sbatch --parsable prints: the id, then ";cluster" on a
// federation.
var jobID = regexp.MustCompile(`^[0-9]+$`)

func (c Client) run(ctx context.Context, name string, args ...string) (string, error) {
	if _, err := exec.LookPath(name); err != nil {
		return "", fmt.Errorf("%s is not on PATH: run this on a Slurm login node (or install slurm-wlm)", name)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = c.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), &CommandError{Command: name, Message: msg}
	}
	return stdout.String(), nil
}

// CommandError is a Slurm command that failed, with what it said.
type CommandError struct {
	Command string
	Message string
}

func (e *CommandError) Error() string {
	msg := e.Message
	if strings.Contains(msg, "Could not establish a configuration source") || strings.Contains(msg, "Unable to contact slurm controller") {
		msg += " (is this a Slurm login node? SLURM_CONF names the cluster's slurm.conf)"
	}
	if strings.HasPrefix(msg, e.Command+":") {
		return msg
	}
	return e.Command + ": " + msg
}

// Submit submits the script file with sbatch --parsable, options first
// (--dependency=afterok:ID), and returns the job id.
func (c Client) Submit(ctx context.Context, script string, options ...string) (string, error) {
	args := append([]string{"--parsable"}, options...)
	out, err := c.run(ctx, "sbatch", append(args, script)...)
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	if !jobID.MatchString(id) {
		return "", fmt.Errorf("sbatch printed %q, not a job id", strings.TrimSpace(out))
	}
	return id, nil
}

// AfterOK is the sbatch option that holds a job until every task of job id
// completed with exit code 0.
func AfterOK(id string) string { return "--dependency=afterok:" + id }

// Cancel cancels a job, an array or one task of it ("ID_K").
func (c Client) Cancel(ctx context.Context, id string) error {
	_, err := c.run(ctx, "scancel", id)
	return err
}

// Task is one job, or one task of an array, as squeue lists it.
type Task struct {
	ID        string `json:"id"`         // 12 or 12_3
	ArrayJob  string `json:"array_job"`  // the array's job id; the job's own id if no array
	ArrayTask int    `json:"array_task"` // -1 when the job is no array
	State     string `json:"state"`      // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...
	Reason    string `json:"reason"`     // why it pends ("Dependency"), or "None"
}

// Terminal reports whether a state is final: the task will not run again.
func Terminal(state string) bool {
	switch state {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
		"RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "POWER_UP_NODE", "UPDATE_DB", "REVOKED":
		return false
	}
	return true
}

// squeueFormat is what ParseSqueue reads: the id (12_3), the job's own
// number (which a pending array's tasks share until they start), the array
// job id, the task, the state, the reason.
const squeueFormat = "--format=%i|%A|%F|%K|%T|%r"

// Jobs lists the jobs' tasks, one line per array task (pending ones
// included), finished ones too while slurmctld keeps them (MinJobAge).
// A job squeue does not know is an error naming why that may be.
func (c Client) Jobs(ctx context.Context, ids ...string) ([]Task, error) {
	for _, id := range ids {
		if !jobID.MatchString(id) {
			return nil, fmt.Errorf("job id %q: give the number sbatch printed", id)
		}
	}
	out, err := c.run(ctx, "squeue", "--array", "--states=all", "--noheader", "--jobs="+strings.Join(ids, ","), squeueFormat)
	var ce *CommandError
	if errors.As(err, &ce) && strings.Contains(ce.Message, "Invalid job id") {
		return nil, fmt.Errorf("squeue does not know job %s: it never existed on this cluster, or it finished longer ago than the cluster keeps jobs (MinJobAge; sacct has older ones where accounting is on)", strings.Join(ids, ","))
	}
	if err != nil {
		return nil, err
	}
	return ParseSqueue(out)
}

// ParseSqueue reads squeue output in squeueFormat, sorted by array job
// and task.
func ParseSqueue(out string) ([]Task, error) {
	var tasks []Task
	for n, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 6 {
			return nil, fmt.Errorf("squeue line %d %q: want 6 fields id|job|array job|task|state|reason", n+1, line)
		}
		t := Task{ID: f[0], ArrayJob: f[2], ArrayTask: -1, State: f[4], Reason: f[5]}
		if f[3] != "N/A" {
			k, err := strconv.Atoi(f[3])
			if err != nil {
				return nil, fmt.Errorf("squeue line %d %q: task %q is not a number (was squeue run with --array?)", n+1, line, f[3])
			}
			t.ArrayTask = k
		}
		if !jobID.MatchString(t.ArrayJob) || t.State == "" {
			return nil, fmt.Errorf("squeue line %d %q: no job id or state", n+1, line)
		}
		tasks = append(tasks, t)
	}
	sort.Slice(tasks, func(i, j int) bool {
		a, b := tasks[i], tasks[j]
		if a.ArrayJob != b.ArrayJob {
			return len(a.ArrayJob) < len(b.ArrayJob) || len(a.ArrayJob) == len(b.ArrayJob) && a.ArrayJob < b.ArrayJob
		}
		return a.ArrayTask < b.ArrayTask
	})
	return tasks, nil
}

// Summary counts an array's tasks by state.
type Summary struct {
	Job    string         `json:"job"`
	Tasks  []Task         `json:"tasks"`
	States map[string]int `json:"states"` // state → tasks
	// Unlisted are task indices below the array's size that squeue does
	// not list: cancelled while pending (they never got a job record), or
	// forgotten after MinJobAge.
	Unlisted []int `json:"unlisted,omitempty"`
	Done     bool  `json:"done"` // every task is in a terminal state (or unlisted)
}

// Summarize sums up the tasks of array job id among tasks; size, when
// known (> 0), is the array's task count, to find unlisted tasks.
func Summarize(id string, tasks []Task, size int) Summary {
	s := Summary{Job: id, States: map[string]int{}, Done: true}
	seen := map[int]bool{}
	for _, t := range tasks {
		if t.ArrayJob != id {
			continue
		}
		s.Tasks = append(s.Tasks, t)
		s.States[t.State]++
		seen[t.ArrayTask] = true
		if !Terminal(t.State) {
			s.Done = false
		}
	}
	for k := 0; k < size; k++ {
		if !seen[k] {
			s.Unlisted = append(s.Unlisted, k)
		}
	}
	return s
}

// String is the summary on one line: "4 tasks: 2 COMPLETED, 1 RUNNING, 1 PENDING".
func (s Summary) String() string {
	states := make([]string, 0, len(s.States))
	for st := range s.States {
		states = append(states, st)
	}
	sort.Slice(states, func(i, j int) bool {
		if s.States[states[i]] != s.States[states[j]] {
			return s.States[states[i]] > s.States[states[j]]
		}
		return states[i] < states[j]
	})
	parts := make([]string, len(states))
	for i, st := range states {
		parts[i] = fmt.Sprintf("%d %s", s.States[st], st)
	}
	out := fmt.Sprintf("%d tasks: %s", len(s.Tasks), strings.Join(parts, ", "))
	if len(s.Unlisted) > 0 {
		out += fmt.Sprintf("; %d not listed by squeue (cancelled while pending, or finished before MinJobAge)", len(s.Unlisted))
	}
	return out
}
