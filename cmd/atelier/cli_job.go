package main

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
)

// jobPollInterval is how often --wait asks for a version's state. A
// variable so tests can shorten it.
var jobPollInterval = time.Second

// newJobCommand returns `atelier job`: training jobs and their versions.
func newJobCommand() *cobra.Command {
	cmd := groupCommand("job", "Run training jobs and follow their versions")
	cmd.AddCommand(newJobSubmitCommand(), newJobListCommand(), newJobShowCommand(), newJobVersionsCommand(),
		newJobEventsCommand(), newJobLogsCommand(), newJobStopCommand(), newJobDeleteCommand(), newJobRerunCommand(),
		newJobFlavorsCommand(), newJobFrameworksCommand())
	return cmd
}

// specFlags are the flags that describe what a version runs, shared by
// submit and rerun (where unset flags keep the previous version's value).
type specFlags struct {
	codeDir, codeObsPath   string
	bootFile, command      string
	interpreter            string
	params, inputs, envs   []string
	output, logURL, flavor string
	count                  int
	framework, fwVersion   string
	maxRun                 time.Duration
}

func (f *specFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.codeDir, "code-dir", "", "the code: obs://bucket/dir/, an OBS .zip, or a local directory (zipped and uploaded to --code-obs-path)")
	fl.StringVar(&f.codeObsPath, "code-obs-path", "", "where a local --code-dir is uploaded: obs://bucket/dir/ (as <dir name>.zip) or obs://bucket/code.zip")
	fl.StringVar(&f.bootFile, "boot-file", "", "the script to run, relative to --code-dir")
	fl.StringVar(&f.command, "command", "", "a shell command to run instead of --boot-file (user_command)")
	fl.StringVar(&f.interpreter, "interpreter", "", "the boot file's interpreter (default: the framework's, else python3)")
	fl.StringArrayVar(&f.params, "param", nil, "a parameter name=value, passed as --name=value; a bare name is passed as --name (repeatable)")
	fl.StringArrayVar(&f.inputs, "input", nil, "input data obs://bucket/dir/[:local_path] (repeatable)")
	// Not --output: that is the global -o/--output format flag.
	fl.StringVar(&f.output, "output-path", "", "output directory obs://bucket/dir/[:local_path], uploaded when the job ends")
	fl.StringVar(&f.logURL, "log-url", "", "OBS directory the worker logs are copied to when the job ends")
	fl.StringArrayVar(&f.envs, "env", nil, "an environment variable NAME=value of the workers (repeatable)")
	fl.StringVar(&f.flavor, "flavor", "", "the resource flavor (see 'atelier job flavors')")
	fl.IntVar(&f.count, "count", 1, "the number of workers")
	fl.StringVar(&f.framework, "framework", "", "the framework type (see 'atelier job frameworks')")
	fl.StringVar(&f.fwVersion, "framework-version", "", "the framework version")
	fl.DurationVar(&f.maxRun, "max-run", 0, "stop the job after this long, e.g. 2h (default: the server's)")
}

// obsPathArg checks the object path s given as name (objectPathArg) and
// returns it in the canonical obs://bucket/key spelling.
func obsPathArg(name, s string) (string, error) {
	p, err := objectPathArg(name, s)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// obsDirArg is obsPathArg for a directory (objectDirArg).
func obsDirArg(name, s string) (string, error) {
	p, err := objectDirArg(name, s)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// splitDataArg splits obs://bucket/dir/[:local_path], given as the flag
// name, at the first colon after the scheme, and checks the object path
// with check (obsPathArg or obsDirArg).
func splitDataArg(name, s string, check func(name, s string) (string, error)) (obsPath, local string, err error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", "", usagef("%s %q is not an object path like obs://bucket/dir/[:local_path]", name, s)
	}
	if p, l, found := strings.Cut(rest, ":"); found {
		if l == "" {
			return "", "", usagef("%s %q: the local path after ':' is empty", name, s)
		}
		rest, local = p, l
	}
	obsPath, err = check(name, scheme+"://"+rest)
	return obsPath, local, err
}

// parseParam parses name=value, or a bare name (nil value).
func parseParam(s string) (core.JobParam, error) {
	name, value, hasValue := strings.Cut(s, "=")
	name = strings.TrimLeft(name, "-")
	if name == "" {
		return core.JobParam{}, usagef("--param %q has no name; use name=value or name", s)
	}
	p := core.JobParam{Name: name}
	if hasValue {
		p.Value = &value
	}
	return p, nil
}

// localCode is a local --code-dir waiting for upload.
type localCode struct{ dir, bucket, key string }

// spec returns the JobSpec of the flags that are set (all of them for a
// submission), and the local code directory to upload first, if any.
func (f *specFlags) spec(cmd *cobra.Command, submit bool) (core.JobSpec, *localCode, error) {
	var s core.JobSpec
	var code *localCode
	fl := cmd.Flags()
	if f.bootFile != "" && f.command != "" {
		return s, nil, usagef("--boot-file and --command exclude each other")
	}
	if submit && f.bootFile == "" && f.command == "" {
		return s, nil, usagef("say what to run: --boot-file (with --code-dir) or --command")
	}
	if submit && f.bootFile != "" && f.codeDir == "" {
		return s, nil, usagef("--boot-file needs --code-dir")
	}
	if f.codeObsPath != "" && (f.codeDir == "" || sdk.IsObjectPath(f.codeDir)) {
		return s, nil, usagef("--code-obs-path is only for a local --code-dir")
	}
	if f.codeDir != "" {
		if sdk.IsObjectPath(f.codeDir) {
			p, err := obsPathArg("--code-dir", f.codeDir)
			if err != nil {
				return s, nil, err
			}
			s.CodeDir = p
		} else {
			fi, err := os.Stat(f.codeDir)
			if err != nil || !fi.IsDir() {
				return s, nil, usagef("--code-dir %q is neither an object path nor a local directory", f.codeDir)
			}
			if f.codeObsPath == "" {
				return s, nil, usagef("a local --code-dir needs --code-obs-path obs://bucket/dir/ to upload it to")
			}
			bucket, key, err := objectArg("--code-obs-path", f.codeObsPath)
			if err != nil {
				return s, nil, err
			}
			if sdk.IsDir(key) {
				abs, _ := filepath.Abs(f.codeDir)
				key += filepath.Base(abs) + ".zip"
			} else if !strings.HasSuffix(strings.ToLower(key), ".zip") {
				return s, nil, usagef("--code-obs-path must be a directory (ending in /) or a .zip object")
			}
			code = &localCode{dir: f.codeDir, bucket: bucket, key: key}
			s.CodeDir = "obs://" + bucket + "/" + key
		}
	}
	s.BootFile, s.UserCommand, s.ScriptInterpreter = f.bootFile, f.command, f.interpreter
	for _, raw := range f.params {
		p, err := parseParam(raw)
		if err != nil {
			return s, nil, err
		}
		s.Parameters = append(s.Parameters, p)
	}
	for _, raw := range f.inputs {
		p, local, err := splitDataArg("--input", raw, obsPathArg)
		if err != nil {
			return s, nil, err
		}
		s.Inputs = append(s.Inputs, core.JobInput{ObsPath: p, LocalPath: local})
	}
	if f.output != "" {
		p, local, err := splitDataArg("--output-path", f.output, obsDirArg)
		if err != nil {
			return s, nil, err
		}
		s.Outputs = []core.JobOutput{{ObsPath: p, LocalPath: local}}
	}
	if f.logURL != "" {
		p, err := obsDirArg("--log-url", f.logURL)
		if err != nil {
			return s, nil, err
		}
		s.LogURL = p
	}
	for _, raw := range f.envs {
		k, v, ok := strings.Cut(raw, "=")
		if !ok || k == "" {
			return s, nil, usagef("--env %q is not NAME=value", raw)
		}
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env[k] = v
	}
	s.Flavor, s.Framework, s.FrameworkVersion = f.flavor, f.framework, f.fwVersion
	if f.count < 1 {
		return s, nil, usagef("--count must be 1 or more, not %d", f.count)
	}
	if submit || fl.Changed("count") {
		s.InstanceCount = f.count
	}
	if f.maxRun < 0 || (f.maxRun > 0 && f.maxRun < time.Second) {
		return s, nil, usagef("--max-run must be at least 1s")
	}
	s.MaxRunSeconds = int64(f.maxRun / time.Second)
	return s, code, nil
}

// uploadCode zips a local code directory into a temporary file and uploads
// it.
func uploadCode(cmd *cobra.Command, c *sdk.Client, code *localCode) error {
	tmp, err := os.CreateTemp("", "atelier-code-*.zip")
	if err != nil {
		return fmt.Errorf("zip the code directory: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	files, err := zipDir(code.dir, tmp)
	if err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("zip the code directory: %w", err)
	}
	o, err := c.UploadFile(ctxOf(cmd), tmp.Name(), code.bucket, code.key, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Uploaded %s (%d file(s), %d bytes) to obs://%s/%s\n", code.dir, files, o.Size, o.Bucket, o.Key)
	return nil
}

// zipDir writes the regular files under dir to w as a zip archive, with
// slash-separated paths relative to dir, streaming each file. It returns the
// number of files.
func zipDir(dir string, w io.Writer) (int, error) {
	zw := zip.NewWriter(w)
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are implied; links and devices are left out
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Method = zip.Deflate
		dst, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(dst, f); err != nil {
			return err
		}
		files++
		return nil
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return 0, fmt.Errorf("zip the code directory %s: %w", dir, err)
	}
	return files, nil
}

// runFlags are --wait and --follow of submit and rerun.
type runFlags struct{ wait, follow bool }

func (r *runFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&r.wait, "wait", "w", false, "wait until the version ends; exit 1 unless it completed")
	cmd.Flags().BoolVarP(&r.follow, "follow", "f", false, "stream the log of worker-0 until the version ends; exit 1 unless it completed")
}

// followLog streams a worker's log to standard output until the version
// has ended. A stream that ends while the version still runs (the server
// restarted, or the log was opened while the job was being staged) is
// resumed from the offset reached; once the version has ended, one last
// read picks up whatever the stream missed.
func followLog(cmd *cobra.Command, c *sdk.Client, jobID string, version int64, task string, offset int64) error {
	ctx := ctxOf(cmd)
	for {
		off, err := c.StreamLog(ctx, jobID, version, task, offset, true, cmd.OutOrStdout())
		if err != nil {
			return err
		}
		offset = off
		v, err := c.GetVersion(ctx, jobID, version)
		if err != nil {
			return err
		}
		if core.JobStateFinal(v.State) {
			_, err := c.StreamLog(ctx, jobID, version, task, offset, false, cmd.OutOrStdout())
			return err
		}
		t := time.NewTimer(jobPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// finish waits for or follows a started version as the flags say, and
// reports it. A version that did not complete is an error (exit 1) naming
// its state and reason.
func (r *runFlags) finish(cmd *cobra.Command, c *sdk.Client, job *core.TrainingJob, v *core.JobVersion, show func(*core.JobVersion) error) error {
	if !r.wait && !r.follow {
		return show(v)
	}
	ctx := ctxOf(cmd)
	if r.follow {
		fmt.Fprintf(cmd.ErrOrStderr(), "Job %s (%s) version %d: %s; following worker-0\n", job.Name, job.ID, v.VersionID, v.State)
		if err := followLog(cmd, c, job.ID, v.VersionID, "worker-0", 0); err != nil {
			return err
		}
	}
	final, err := c.WaitVersion(ctx, job.ID, v.VersionID, jobPollInterval)
	if err != nil {
		return err
	}
	switch {
	case isJSON(cmd):
		if err := printJSON(cmd, final); err != nil {
			return err
		}
	case r.follow: // standard output holds the log
		fmt.Fprintf(cmd.ErrOrStderr(), "Job %s version %d %s\n", job.Name, final.VersionID, final.State)
	default:
		fmt.Fprintf(cmd.OutOrStdout(), "Job %s (%s) version %d %s\n", job.Name, job.ID, final.VersionID, final.State)
	}
	if final.State != core.JobCompleted {
		msg := fmt.Sprintf("job %s version %d ended %s", job.Name, final.VersionID, final.State)
		if final.Reason != "" {
			msg += ": " + final.Reason
		}
		return errors.New(msg)
	}
	return nil
}

func newJobSubmitCommand() *cobra.Command {
	var sf specFlags
	var rf runFlags
	var name, desc string
	cmd := &cobra.Command{
		Use:   "submit --flavor F (--code-dir DIR --boot-file FILE | --command CMD) [flags]",
		Short: "Create a training job and start its first version",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			spec, code, err := sf.spec(cmd, true)
			if err != nil {
				return err
			}
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			if code != nil {
				if err := uploadCode(cmd, c, code); err != nil {
					return err
				}
			}
			job, v, err := c.SubmitJob(ctxOf(cmd), name, desc, spec)
			if err != nil {
				return err
			}
			return rf.finish(cmd, c, job, v, func(v *core.JobVersion) error {
				return report(cmd, map[string]any{"job": job, "version": v},
					"Submitted job %s (%s) version %d: %s", job.Name, job.ID, v.VersionID, v.State)
			})
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "the job name: letters, digits, '_' and '-' (default: generated)")
	cmd.Flags().StringVar(&desc, "desc", "", "a description")
	sf.add(cmd)
	rf.add(cmd)
	return cmd
}

func newJobRerunCommand() *cobra.Command {
	var sf specFlags
	var rf runFlags
	var desc string
	var pre int64
	cmd := &cobra.Command{
		Use:   "rerun JOB [--pre-version N] [flags]",
		Short: "Run a job again as a new version; set flags override the previous version's settings",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if pre < 0 {
				return usagef("--pre-version must be a version number (0: the latest)")
			}
			spec, code, err := sf.spec(cmd, false)
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			job, err := resolveJob(cmd, c, args[0])
			if err != nil {
				return err
			}
			if code != nil {
				if err := uploadCode(cmd, c, code); err != nil {
					return err
				}
			}
			v, err := c.CreateJobVersion(ctx, job.ID, pre, desc, spec)
			if err != nil {
				return err
			}
			return rf.finish(cmd, c, job, v, func(v *core.JobVersion) error {
				return report(cmd, v, "Started job %s (%s) version %d: %s", job.Name, job.ID, v.VersionID, v.State)
			})
		}),
	}
	cmd.Flags().Int64Var(&pre, "pre-version", 0, "the version whose settings to start from (default: the latest)")
	cmd.Flags().StringVar(&desc, "desc", "", "a description of the new version")
	sf.add(cmd)
	rf.add(cmd)
	return cmd
}

// resolveJob finds a job by id, or else by name.
func resolveJob(cmd *cobra.Command, c *sdk.Client, ref string) (*core.TrainingJob, error) {
	ctx := ctxOf(cmd)
	j, err := c.GetJob(ctx, ref)
	if err == nil || core.ErrorKind(err) != core.NotFound {
		return j, err
	}
	page, lerr := c.ListJobs(ctx, core.JobFilter{Name: ref, Limit: 1})
	if lerr != nil || len(page.Jobs) == 0 {
		return nil, err
	}
	return page.Jobs[0], nil
}

func newJobListCommand() *cobra.Command {
	var f core.JobFilter
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List training jobs, newest first",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if f.Limit < 0 {
				return usagef("--limit must be 1 or more")
			}
			f.State = strings.ToUpper(f.State)
			var jobs []*core.TrainingJob
			next := ""
			for {
				page, err := c.ListJobs(ctxOf(cmd), f)
				if err != nil {
					return err
				}
				jobs = append(jobs, page.Jobs...)
				next = page.NextCursor
				if f.Limit > 0 || next == "" {
					break // --limit asks for one page
				}
				f.Cursor = next
			}
			if isJSON(cmd) {
				if jobs == nil {
					jobs = []*core.TrainingJob{}
				}
				return printJSON(cmd, core.JobPage{Jobs: jobs, NextCursor: next})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "ID\tNAME\tVERSION\tSTATUS\tCREATED\tUPDATED")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", j.ID, j.Name, j.LatestVersion, j.State, timeCell(j.CreatedAt), timeCell(j.UpdatedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "More jobs: --cursor %s\n", next)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&f.Name, "name", "", "only the job of this name")
	cmd.Flags().StringVar(&f.State, "status", "", "only jobs whose latest version is in this state")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "show one page of this many jobs (default: all)")
	cmd.Flags().StringVar(&f.Cursor, "cursor", "", "start after this cursor of an earlier page")
	return cmd
}

// printVersion prints a version's fields.
func printVersion(cmd *cobra.Command, v *core.JobVersion) error {
	exit := "-"
	if v.ExitCode != nil {
		exit = strconv.Itoa(*v.ExitCode)
	}
	run := v.Spec.UserCommand
	if run == "" {
		run = strings.TrimSuffix(v.Spec.CodeDir, "/") + "/" + v.Spec.BootFile
	}
	return printFields(cmd,
		"Version", fmt.Sprintf("%d (%s)", v.VersionID, v.Name),
		"Status", v.State,
		"Reason", orDash(v.Reason),
		"Exit code", exit,
		"Runs", run,
		"Flavor", fmt.Sprintf("%s × %d", v.Spec.Flavor, v.Spec.InstanceCount),
		"Framework", orDash(strings.TrimSpace(v.Spec.Framework+" "+v.Spec.FrameworkVersion)),
		"Created", timeCell(v.CreatedAt),
		"Started", timeCell(v.StartedAt),
		"Finished", timeCell(v.FinishedAt))
}

func newJobShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show JOB",
		Short: "Describe a job (by id or name) and its latest version",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			j, err := resolveJob(cmd, c, args[0])
			if err != nil {
				return err
			}
			v, err := c.GetVersion(ctxOf(cmd), j.ID, 0)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, map[string]any{"job": j, "version": v})
			}
			if err := printFields(cmd, "Job", j.ID, "Name", j.Name, "Description", orDash(j.Description),
				"Versions", j.VersionCount, "Created", timeCell(j.CreatedAt)); err != nil {
				return err
			}
			return printVersion(cmd, v)
		}),
	}
}

func newJobVersionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "versions JOB",
		Short: "List a job's versions, newest first",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			j, err := resolveJob(cmd, c, args[0])
			if err != nil {
				return err
			}
			vs, err := c.ListVersions(ctxOf(cmd), j.ID)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if vs == nil {
					vs = []*core.JobVersion{}
				}
				return printJSON(cmd, map[string]any{"versions": vs})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "VERSION\tSTATUS\tFLAVOR\tCOUNT\tCREATED\tFINISHED\tREASON")
			for _, v := range vs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", v.VersionID, v.State, v.Spec.Flavor, v.Spec.InstanceCount,
					timeCell(v.CreatedAt), timeCell(v.FinishedAt), oneLine(v.Reason))
			}
			return tw.Flush()
		}),
	}
}

// oneLine returns the first line of s for a table cell, "-" when empty.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return orDash(first)
}

// versionFlag adds --version N (0: the latest).
func versionFlag(cmd *cobra.Command, v *int64) {
	cmd.Flags().Int64Var(v, "version", 0, "the version number (default: the latest)")
}

func checkVersion(v int64) error {
	if v < 0 {
		return usagef("--version must be a version number (0: the latest)")
	}
	return nil
}

func newJobEventsCommand() *cobra.Command {
	var version int64
	cmd := &cobra.Command{
		Use:   "events JOB [--version N]",
		Short: "List the state changes of a version",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := checkVersion(version); err != nil {
				return err
			}
			j, err := resolveJob(cmd, c, args[0])
			if err != nil {
				return err
			}
			es, err := c.ListEvents(ctxOf(cmd), j.ID, version)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if es == nil {
					es = []*core.JobEvent{}
				}
				return printJSON(cmd, map[string]any{"events": es})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "SEQ\tTIME\tSTATUS\tREASON")
			for _, e := range es {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Seq, timeCell(e.Time), e.State, oneLine(e.Reason))
			}
			return tw.Flush()
		}),
	}
	versionFlag(cmd, &version)
	return cmd
}

func newJobLogsCommand() *cobra.Command {
	var version, offset int64
	var task string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs JOB [--version N] [--task worker-0] [-f] [--offset N]",
		Short: "Print the log of one worker of a version",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := checkVersion(version); err != nil {
				return err
			}
			if offset < 0 {
				return usagef("--offset must be 0 or more")
			}
			if task == "" {
				return usagef("--task must name a worker like worker-0")
			}
			j, err := resolveJob(cmd, c, args[0])
			if err != nil {
				return err
			}
			if follow {
				return followLog(cmd, c, j.ID, version, task, offset)
			}
			_, err = c.StreamLog(ctxOf(cmd), j.ID, version, task, offset, false, cmd.OutOrStdout())
			return err
		}),
	}
	versionFlag(cmd, &version)
	cmd.Flags().StringVar(&task, "task", "worker-0", "the worker")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the version ends")
	cmd.Flags().Int64Var(&offset, "offset", 0, "start at this byte of the log")
	return cmd
}

func newJobStopCommand() *cobra.Command {
	var version int64
	cmd := &cobra.Command{
		Use:   "stop JOB [--version N]",
		Short: "Stop a version (default: the latest)",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := checkVersion(version); err != nil {
				return err
			}
			j, err := resolveJob(cmd, c, args[0])
			if err != nil {
				return err
			}
			v, err := c.StopVersion(ctxOf(cmd), j.ID, version)
			if err != nil {
				return err
			}
			return report(cmd, v, "Job %s version %d: %s", j.Name, v.VersionID, v.State)
		}),
	}
	versionFlag(cmd, &version)
	return cmd
}

func newJobDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm JOB",
		Short: "Stop a job's running versions and delete it",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			j, err := resolveJob(cmd, c, args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteJob(ctxOf(cmd), j.ID); err != nil {
				return err
			}
			return report(cmd, map[string]string{"deleted": j.ID}, "Deleted job %s (%s)", j.Name, j.ID)
		}),
	}
}

func newJobFlavorsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "flavors",
		Short: "List the resource flavors jobs run on",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			fs, err := c.ListFlavors(ctxOf(cmd))
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if fs == nil {
					fs = []*core.Flavor{}
				}
				return printJSON(cmd, map[string]any{"flavors": fs})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "FLAVOR\tNAME\tCPU\tMEMORY\tGPU\tMAX WORKERS\tEXECUTOR")
			for _, f := range fs {
				gpu := "-"
				if f.GPU > 0 {
					gpu = strings.TrimSpace(fmt.Sprintf("%d %s", f.GPU, f.GPUType))
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d MiB\t%s\t%d\t%s\n", f.ID, f.Name, f.CPU, f.MemoryMB, gpu, f.MaxNum, f.Executor)
			}
			return tw.Flush()
		}),
	}
}

func newJobFrameworksCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "frameworks",
		Short: "List the AI frameworks jobs can name",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			fs, err := c.ListFrameworks(ctxOf(cmd))
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if fs == nil {
					fs = []*core.Framework{}
				}
				return printJSON(cmd, map[string]any{"frameworks": fs})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "FRAMEWORK\tVERSION\tINTERPRETER")
			for _, f := range fs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Type, orDash(f.Version), f.Interpreter)
			}
			return tw.Flush()
		}),
	}
}
