package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"medzoo/internal/files"
	"medzoo/slurm"
)

// jobsFile, under DIR/slurm/, records what zoo slurm submitted, so that
// zoo slurm status DIR finds the jobs again.
const jobsFile = "jobs.json"

func slurmCommand() *cli.Command {
	return &cli.Command{
		Name:  "slurm",
		Usage: "run zoo generate or zoo evaluate as a Slurm job array, one shard per task, and a merge job after it",
		UsageText: "zoo slurm generate ID -n N -o DIR --tasks M [--cpus-per-task C] [--gpus-per-task G] [--partition P] [--time T]\n" +
			"      [--seed S] [--format F] [--condition NAME=VALUE]... [--input DIR] [--job-name NAME] [--dry-run] [--json]\n" +
			"   zoo slurm evaluate -o DIR --tasks M [slurm flags as above] [--dry-run] [--json] -- REAL FAKE [evaluate flags]\n" +
			"   zoo slurm status JOBID|DIR [--json]",
		Description: "generate writes DIR/slurm/generate.sbatch, an array of M tasks: task K runs\n" +
			"   zoo generate ID -n N -o DIR --shard K/M --resume --threads C   (OMP_NUM_THREADS=C)\n" +
			"so the M tasks fill DIR together, each with its own part of the run; and DIR/slurm/merge.sbatch,\n" +
			"held until every task completed (--dependency=afterok), which runs zoo manifest merge DIR: the\n" +
			"run is then the one a single process makes. Both are submitted with sbatch; their logs go to\n" +
			"DIR/slurm/logs/. A failed or cancelled task is submitted again by the same command: --resume\n" +
			"keeps what the other tasks made.\n\n" +
			"evaluate does the same for zoo evaluate: everything after -- is zoo evaluate's own command line;\n" +
			"task K writes its exact statistics to DIR/part-K.zev (--shard K/M --partial), and the merge job\n" +
			"runs zoo evaluate merge DIR/part-*.zev --json into DIR/card.json. Relative paths are read from\n" +
			"the directory zoo slurm runs in.\n\n" +
			"status summarises a submitted array by state (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)\n" +
			"and its merge job, from squeue; given DIR it reads the job ids from DIR/slurm/jobs.json.\n" +
			"--dry-run prints the scripts and submits nothing. Every task runs this zoo binary, by its\n" +
			"absolute path: it must be reachable from the compute nodes, as must DIR.\n\n" +
			"Examples:\n" +
			"   zoo slurm generate 101 -n 100000 -o /scratch/run101 --tasks 16 --cpus-per-task 8 --time 2:00:00\n" +
			"   zoo slurm evaluate -o /scratch/eval --tasks 8 --gpus-per-task 1 -- real/ /scratch/run101 --features x.pt\n" +
			"   zoo slurm status /scratch/run101",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "n", Value: 16, Usage: "generate: number of samples"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "generate: the run `DIR`; evaluate: where the parts and card.json go"},
			&cli.IntFlag{Name: "tasks", Usage: "number of array tasks `M` (shards)", Action: intBetween("--tasks", 1, slurm.MaxTasks, "array tasks, one shard each")},
			&cli.IntFlag{Name: "cpus-per-task", Value: 4, Usage: "CPUs per task, also its --threads and OMP_NUM_THREADS", Action: intBetween("--cpus-per-task", 1, 4096, "CPUs per task")},
			&cli.IntFlag{Name: "gpus-per-task", Usage: "GPUs per task (0: none)", Action: intBetween("--gpus-per-task", 0, 64, "GPUs per task")},
			&cli.StringFlag{Name: "partition", Usage: "Slurm partition (default: the cluster's default)"},
			&cli.StringFlag{Name: "time", Usage: "time limit per task: minutes, H:M:S or D-H:M:S"},
			&cli.Uint64Flag{Name: "seed", Usage: "generate: random seed"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "generate: output format (default zoo generate's)"},
			&cli.StringSliceFlag{Name: "condition", Aliases: []string{"c"}, Usage: "generate: fix a condition, `NAME=VALUE` (repeatable)"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "generate: input images `DIR` of an image-to-image model"},
			&cli.StringFlag{Name: "job-name", Usage: "the array's job name (default zoo-generate or zoo-evaluate)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the scripts, write and submit nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error { return runVerb(c, slurmVerbs()) },
	}
}

func slurmVerbs() []verb {
	return []verb{
		{names: []string{"generate"}, usage: "generate ID", run: runSlurmGenerate},
		{names: []string{"evaluate"}, usage: "evaluate -- REAL FAKE", run: runSlurmEvaluate},
		{names: []string{"status"}, usage: "status JOBID|DIR", run: runSlurmStatus},
	}
}

// slurmJobs is DIR/slurm/jobs.json.
type slurmJobs struct {
	Kind     string `json:"kind"` // generate or evaluate
	ArrayJob string `json:"array_job"`
	MergeJob string `json:"merge_job"`
	Tasks    int    `json:"tasks"`
	Dir      string `json:"dir"`
}

// slurmPlan is what generate and evaluate submit: the array's task
// command, and the merge job's.
type slurmPlan struct {
	kind      string
	dir       string // absolute
	task      []any
	merge     []any
	mergeThen string // a shell line after merge, run if it succeeded
}

func runSlurmGenerate(c *cli.Context, args []string) error {
	if len(args) != 1 {
		return usagef("slurm generate takes one model id, got %d arguments; e.g. zoo slurm generate 101 -n 1000 -o run/ --tasks 4", len(args))
	}
	if c.String("output") == "" {
		return usagef("slurm generate needs -o DIR, the run directory the tasks fill (on a file system the nodes share)")
	}
	zoo, dir, err := slurmPaths(c)
	if err != nil {
		return err
	}
	if c.Int("n") < 1 {
		return usagef("-n %d: give the number of samples, 1 or more", c.Int("n"))
	}
	m := c.Int("tasks")
	task := []any{zoo, "generate", args[0], "-n", fmt.Sprint(c.Int("n")), "-o", dir, "--seed", fmt.Sprint(c.Uint64("seed")),
		"--threads", fmt.Sprint(c.Int("cpus-per-task")), "--resume", "--shard", slurm.TaskID + slurm.Raw(fmt.Sprintf("/%d", m))}
	if c.IsSet("format") {
		task = append(task, "--format", c.String("format"))
	}
	for _, cond := range c.StringSlice("condition") {
		task = append(task, "--condition", cond)
	}
	if in := c.String("input"); in != "" {
		abs, err := filepath.Abs(in)
		if err != nil {
			return err
		}
		task = append(task, "--input", abs)
	}
	return submitSlurm(c, slurmPlan{kind: "generate", dir: dir, task: task, merge: []any{zoo, "manifest", "merge", dir}})
}

func runSlurmEvaluate(c *cli.Context, args []string) error {
	for _, name := range []string{"n", "seed", "format", "condition", "input"} {
		if c.IsSet(name) {
			return usagef("--%s before -- is zoo slurm generate's; give zoo evaluate's flags after --: zoo slurm evaluate -o DIR --tasks M -- REAL FAKE [evaluate flags]", name)
		}
	}
	if len(args) < 2 {
		return usagef("slurm evaluate needs zoo evaluate's command line after --: zoo slurm evaluate -o DIR --tasks M -- REAL FAKE [evaluate flags]")
	}
	for _, a := range args {
		for _, f := range []string{"--shard", "--partial", "--threads"} {
			if a == f || strings.HasPrefix(a, f+"=") {
				return usagef("%s: zoo slurm evaluate gives each task its %s itself; leave it out", a, f)
			}
		}
	}
	if c.String("output") == "" {
		return usagef("slurm evaluate needs -o DIR, where the tasks write their parts and the merge job card.json")
	}
	zoo, dir, err := slurmPaths(c)
	if err != nil {
		return err
	}
	part := slurm.Raw(slurm.Quote(dir+"/part-")) + slurm.TaskID + ".zev"
	task := append([]any{zoo, "evaluate"}, stringsAny(args)...)
	task = append(task, "--threads", fmt.Sprint(c.Int("cpus-per-task")),
		"--shard", slurm.TaskID+slurm.Raw(fmt.Sprintf("/%d", c.Int("tasks"))), "--partial", part)
	card, tmp := filepath.Join(dir, "card.json"), filepath.Join(dir, ".card.json.tmp")
	merge := []any{zoo, "evaluate", "merge", slurm.Raw(slurm.Quote(dir) + "/part-*.zev"), "--json", slurm.Raw("> " + slurm.Quote(tmp))}
	// The card appears whole or not at all: written beside, then renamed.
	return submitSlurm(c, slurmPlan{kind: "evaluate", dir: dir, task: task, merge: merge, mergeThen: slurm.CommandLine("mv", "-f", tmp, card)})
}

func stringsAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// slurmPaths are this zoo binary's absolute path, which every task runs,
// and -o's, which the tasks write into from other machines.
func slurmPaths(c *cli.Context) (zoo, dir string, err error) {
	if c.Int("tasks") == 0 {
		return "", "", usagef("zoo slurm %s needs --tasks M, the number of array tasks (shards)", c.Args().First())
	}
	zoo, err = os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("finding this zoo binary for the tasks to run: %w", err)
	}
	if zoo, err = filepath.EvalSymlinks(zoo); err != nil {
		return "", "", err
	}
	dir, err = filepath.Abs(c.String("output"))
	return zoo, dir, err
}

func submitSlurm(c *cli.Context, p slurmPlan) error {
	sdir := filepath.Join(p.dir, "slurm")
	logs := filepath.Join(sdir, "logs")
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	name := c.String("job-name")
	if name == "" {
		name = "zoo-" + p.kind
	}
	m, cpus := c.Int("tasks"), c.Int("cpus-per-task")
	array := slurm.Job{Name: name, Tasks: m, CPUsPerTask: cpus, GPUsPerTask: c.Int("gpus-per-task"),
		Partition: c.String("partition"), Time: c.String("time"), Chdir: cwd,
		Output: filepath.Join(logs, "%A_%a.out"), Error: filepath.Join(logs, "%A_%a.err"),
		Env: []string{fmt.Sprintf("OMP_NUM_THREADS=%d", cpus)}, Command: p.task}
	merge := slurm.Job{Name: name + "-merge", CPUsPerTask: 1, Partition: array.Partition, Time: array.Time, Chdir: cwd,
		Output: filepath.Join(logs, "%j-merge.out"), Error: filepath.Join(logs, "%j-merge.err"),
		Env: []string{"OMP_NUM_THREADS=1"}, Command: p.merge, Then: p.mergeThen}
	arrayScript, err := array.Script()
	if err != nil {
		return usagef("%v", err)
	}
	mergeScript, err := merge.Script()
	if err != nil {
		return usagef("%v", err)
	}
	arrayFile, mergeFile := filepath.Join(sdir, p.kind+".sbatch"), filepath.Join(sdir, "merge.sbatch")
	if c.Bool("dry-run") {
		if c.Bool("json") {
			return printJSON(c.App.Writer, map[string]any{"dry_run": true, "scripts": map[string]string{arrayFile: arrayScript, mergeFile: mergeScript}})
		}
		fmt.Fprintf(c.App.Writer, "# %s\n%s\n# %s (submitted with --dependency=afterok:ARRAY_JOB)\n%s", arrayFile, arrayScript, mergeFile, mergeScript)
		return nil
	}
	// sbatch opens the log files on the node; it creates no directories.
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", logs, err)
	}
	for f, s := range map[string]string{arrayFile: arrayScript, mergeFile: mergeScript} {
		if err := files.WriteAtomicBytes(f, []byte(s)); err != nil {
			return fmt.Errorf("writing %s: %w", f, err)
		}
	}
	var client slurm.Client
	arrayID, err := client.Submit(c.Context, arrayFile)
	if err != nil {
		return fmt.Errorf("submitting %s: %w", arrayFile, err)
	}
	mergeID, err := client.Submit(c.Context, mergeFile, slurm.AfterOK(arrayID))
	if err != nil {
		return fmt.Errorf("array job %s is submitted, but its merge job is not: %w; submit it with sbatch %s %s", arrayID, err, slurm.AfterOK(arrayID), mergeFile)
	}
	jobs := slurmJobs{Kind: p.kind, ArrayJob: arrayID, MergeJob: mergeID, Tasks: m, Dir: p.dir}
	b, _ := json.MarshalIndent(jobs, "", "  ")
	if err := files.WriteAtomicBytes(filepath.Join(sdir, jobsFile), append(b, '\n')); err != nil {
		return fmt.Errorf("jobs %s and %s are submitted, but recording them failed: %w", arrayID, mergeID, err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, jobs)
	}
	fmt.Fprintf(c.App.Writer, "submitted array job %s (%d tasks) and merge job %s after it\nlogs in %s\nfollow with: zoo slurm status %s\n",
		arrayID, m, mergeID, logs, p.dir)
	return nil
}

func runSlurmStatus(c *cli.Context, args []string) error {
	if len(args) != 1 {
		return usagef("slurm status takes one job id or run directory, got %d arguments", len(args))
	}
	jobs := slurmJobs{ArrayJob: args[0]}
	if strings.Trim(args[0], "0123456789") != "" {
		f := filepath.Join(args[0], "slurm", jobsFile)
		b, err := files.ReadRegular(f, 1<<16)
		if err != nil {
			return fmt.Errorf("%s is neither a job id nor a directory zoo slurm submitted from (%v)", args[0], err)
		}
		if err := json.Unmarshal(b, &jobs); err != nil || jobs.ArrayJob == "" {
			return fmt.Errorf("%s: not what zoo slurm writes (%v); give the job id instead", f, err)
		}
	}
	ids := []string{jobs.ArrayJob}
	if jobs.MergeJob != "" {
		ids = append(ids, jobs.MergeJob)
	}
	tasks, err := slurm.Client{}.Jobs(c.Context, ids...)
	if err != nil {
		return err
	}
	sum := slurm.Summarize(jobs.ArrayJob, tasks, jobs.Tasks)
	var merge *slurm.Task
	for i := range tasks {
		if tasks[i].ArrayJob == jobs.MergeJob {
			merge = &tasks[i]
		}
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, map[string]any{"kind": jobs.Kind, "array": sum, "merge": merge})
	}
	fmt.Fprintf(c.App.Writer, "array job %s: %s\n", jobs.ArrayJob, sum)
	for _, t := range sum.Tasks {
		if t.State == "FAILED" || t.State == "CANCELLED" || t.State == "TIMEOUT" || t.State == "OUT_OF_MEMORY" {
			fmt.Fprintf(c.App.Writer, "  task %s %s\n", t.ID, t.State)
		}
	}
	if merge != nil {
		fmt.Fprintf(c.App.Writer, "merge job %s: %s", merge.ID, merge.State)
		if merge.State == "PENDING" && merge.Reason != "None" {
			fmt.Fprintf(c.App.Writer, " (%s)", merge.Reason)
		}
		fmt.Fprintln(c.App.Writer)
		if merge.Reason == "DependencyNeverSatisfied" {
			fmt.Fprintf(c.App.Writer, "a task did not complete, so the merge job will never run: read its log in DIR/slurm/logs/, "+
				"scancel %s, and submit the same zoo slurm command again (finished shards are kept)\n", merge.ID)
		}
	}
	return nil
}
