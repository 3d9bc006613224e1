package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/removetag/removetag/pkg/job"
)

// cancelFlags are the flags of `removetag cancel`.
type cancelFlags struct {
	asJSON  bool
	wait    bool
	timeout time.Duration
}

func newCancelCommand(env *cliEnv) *cobra.Command {
	f := &cancelFlags{}
	c := &cobra.Command{
		Use:   "cancel [flags] s3://BUCKET/KEY | cos://BUCKET-APPID/KEY",
		Short: "Stop the deployed function's job of a file",
		Long: `Writes the job's cancel marker ({REMOVETAG_OUTPUT_PREFIX}cancel/KEY), naming
the upload the job works on, as the function's DELETE does. The invocation
working on the job sees it within about 2 s, stops sending, and ends the job:
its report says canceled, its records not done are pending, in
{REMOVETAG_OUTPUT_PREFIX}pending/KEY.jsonl, ready to upload again (outside the
output prefix) to finish the job. No continuation, sweep or repeated event
takes the job on again; a new upload of the file starts a new job. A job no
invocation works on (handed on, waiting for the sweep) is ended by this
command at once: it reads the rest of the file to write the pending records.
A file whose job has not started yet is stopped as it starts.

--wait waits, up to --timeout, for the job to say canceled. Exit status: 0
canceled (or, without --wait, the cancel requested); 1 nothing to cancel (the
job is over) or --wait ran out; 2 no such file or job, or usage; 3 the
configuration.`,
		Args: exactArgs(1, "one file, s3://BUCKET/KEY or cos://BUCKET-APPID/KEY"),
		RunE: func(c *cobra.Command, args []string) error {
			return cancelJob(c.Context(), env, f, args[0])
		},
	}
	c.Flags().BoolVar(&f.asJSON, "json", false, "print the answer as JSON (the function's DELETE answer)")
	c.Flags().BoolVar(&f.wait, "wait", false, "wait for the job to say canceled")
	c.Flags().DurationVar(&f.timeout, "timeout", time.Minute, "how long --wait waits")
	return c
}

// cancelJob cancels the file's job and says what became of it.
func cancelJob(ctx context.Context, env *cliEnv, f *cancelFlags, arg string) error {
	jobs, loc, err := openJobs(ctx, env, arg)
	if err != nil {
		return err
	}
	if loc.Key == "" {
		return usageErr("%s names a bucket: name the file whose job to cancel, %s/KEY", arg, arg)
	}
	res, err := jobs.Cancel(ctx, loc.Key, canceledBy(env))
	if err != nil {
		return &exitError{code: exitFailed, msg: err.Error()}
	}
	if f.wait && res.Status == job.StatusPending {
		if err := waitCanceled(ctx, jobs, loc.Key, f.timeout, res); err != nil {
			printCancel(env.stdout, res, f.asJSON)
			return err
		}
	}
	printCancel(env.stdout, res, f.asJSON)
	switch res.Status {
	case job.StatusCanceled, job.StatusPending:
		return nil
	case job.StatusSkipped:
		return &exitError{code: exitFailed, shown: !f.asJSON, msg: res.Message}
	}
	return &exitError{code: exitInvalid, shown: !f.asJSON, msg: res.Message}
}

// canceledBy names who cancels, for the marker and the report.
func canceledBy(env *cliEnv) string {
	user := env.getenv("USER")
	if user == "" {
		user = "unknown"
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return "cli " + user + "@" + host
}

// waitCanceled reads the job's status until it says canceled, putting it in
// res; an error when it does not within timeout.
func waitCanceled(ctx context.Context, jobs *job.Jobs, key string, timeout time.Duration, res *job.Result) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := jobs.Get(ctx, key)
		if err == nil && s != nil {
			res.Summaries = []job.Summary{*s}
			if s.State == job.JobCanceled {
				res.Status, res.Message, res.Source = job.StatusCanceled, s.Note, s.Source
				res.Report.Counts, res.PendingKey, res.FailedKey = s.Counts, s.PendingKey, s.FailedKey
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return &exitError{code: exitFailed, msg: fmt.Sprintf("the job did not say canceled within %v: see removetag status", timeout)}
		case <-tick.C:
		}
	}
}

// printCancel says what became of the job.
func printCancel(w io.Writer, res *job.Result, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return
	}
	switch res.Status {
	case job.StatusCanceled:
		fmt.Fprintf(w, "canceled: %s: %d done, %d failed, %d pending\n", res.Source, res.Succeeded, res.Failed, res.Pending)
	case job.StatusPending:
		fmt.Fprintf(w, "%s\n", res.Message)
	default:
		fmt.Fprintf(w, "%s: %s\n", res.Status, res.Message)
	}
	if len(res.Summaries) == 1 {
		writeStatus(w, res.Summaries, time.Now())
	}
}
