package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/removetag/removetag/internal/wiring"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// statusFlags are the flags of `removetag status`.
type statusFlags struct {
	asJSON   bool
	watch    bool
	interval time.Duration
}

func newStatusCommand(env *cliEnv) *cobra.Command {
	f := &statusFlags{}
	c := &cobra.Command{
		Use:   "status [flags] s3://BUCKET[/PREFIX] | cos://BUCKET-APPID[/PREFIX]",
		Short: "Show the deployed function's file jobs in a bucket: state, progress, rate, ETA",
		Long: `Reads the jobs of the files in a bucket (those whose keys start with PREFIX)
from their checkpoints, reports and cancel markers under the output prefix
(REMOVETAG_OUTPUT_PREFIX, default removetag/), as the function's GET answers
them, and shows one line each: the state (running, handed-on,
waiting-for-sweep, canceling, canceled, done, failed), the records done of
the total, failed, changed accounts (where the job counts them), calls, the
rate and ETA, the chain's length, and when and by which invocation the job
was last written. A running job's figures are as of its checkpoint, written
at the start and end of each invocation.

It needs no app: the bucket is reached as the function reaches it (S3 through
the AWS SDK's default chain; COS through REMOVETAG_COS_BUCKET_URL,
TENCENTCLOUD_REGION and TENCENTCLOUD_SECRETID/SECRETKEY). --watch redraws the
table on a terminal every --interval until Ctrl-C.`,
		Args: exactArgs(1, "one bucket, s3://BUCKET[/PREFIX] or cos://BUCKET-APPID[/PREFIX]"),
		RunE: func(c *cobra.Command, args []string) error {
			return showStatus(c.Context(), env, f, args[0])
		},
	}
	c.Flags().BoolVar(&f.asJSON, "json", false, "print the answer as JSON (the function's GET answer)")
	c.Flags().BoolVar(&f.watch, "watch", false, "redraw the table in place on a terminal until Ctrl-C")
	c.Flags().DurationVar(&f.interval, "interval", 2*time.Second, "how often --watch reads the bucket again")
	return c
}

// openJobs opens the bucket of a location given on the command line and
// returns its Jobs, as the function's configuration of the environment sees
// them; what names the bucket is checked first.
func openJobs(ctx context.Context, env *cliEnv, arg string) (*job.Jobs, storage.Location, error) {
	loc, err := storage.ParseLocation(arg)
	if err != nil {
		return nil, loc, usageErr("%v", err)
	}
	cfg, err := wiring.LoadStorage(env.getenv)
	if err != nil {
		return nil, loc, configErr("%v", err)
	}
	opener, err := wiring.NewStoreOpener(cfg)
	if err != nil {
		return nil, loc, configErr("%v", err)
	}
	store, err := opener.Open(ctx, loc, "")
	if err != nil {
		return nil, loc, configErr("%v", err)
	}
	jobs, err := job.NewJobs(store, loc, job.Config{OutputPrefix: cfg.OutputPrefix, SweepAfter: cfg.SweepAfter})
	if err != nil {
		return nil, loc, configErr("%v", err)
	}
	return jobs, loc, nil
}

// showStatus prints the jobs once, or redraws them with --watch.
func showStatus(ctx context.Context, env *cliEnv, f *statusFlags, arg string) error {
	switch {
	case f.watch && f.asJSON:
		return usageErr("--watch redraws a table: it does not go with --json")
	case f.watch && !isTerminal(env.stdout):
		return usageErr("--watch redraws a terminal, and standard output is not one: run status without --watch (or status --json, again)")
	case f.interval < 100*time.Millisecond:
		return usageErr("--interval %v: want at least 100ms", f.interval)
	}
	jobs, loc, err := openJobs(ctx, env, arg)
	if err != nil {
		return err
	}
	if f.watch {
		return watchStatus(ctx, env.stdout, jobs, loc, f.interval)
	}
	res, err := jobs.Status(ctx, loc.Key)
	if err != nil {
		return &exitError{code: exitFailed, msg: err.Error()}
	}
	if f.asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	writeStatus(env.stdout, res.Summaries, time.Now())
	return nil
}

// watchStatus redraws the table every interval until ctx is done (Ctrl-C),
// then leaves the last one on the screen. A read that fails is said on the
// screen and tried again.
func watchStatus(ctx context.Context, w io.Writer, jobs *job.Jobs, loc storage.Location, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		var b strings.Builder
		now := time.Now()
		fmt.Fprintf(&b, "\x1b[H\x1b[2J%s, every %v (Ctrl-C ends): %s\n\n", loc, interval, now.Format("15:04:05"))
		if list, err := jobs.List(ctx, loc.Key); err != nil {
			fmt.Fprintf(&b, "could not read the jobs: %v (trying again)\n", err)
		} else {
			writeStatus(&b, list, now)
		}
		io.WriteString(w, b.String())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// writeStatus writes the jobs as a table, then the notes of those that have one.
func writeStatus(w io.Writer, list []job.Summary, now time.Time) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no jobs")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSTATE\tDONE/TOTAL\tFAILED\tCHANGED\tCALLS\tRECORDS/S\tETA\tCHAIN\tUPDATED\tBY")
	for _, s := range list {
		changed := "-"
		if s.Changed != nil {
			changed = thousands(*s.Changed)
		}
		key := s.Key
		if s.Kind != "" {
			key += " (" + string(s.Kind) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", key, stateText(s), doneText(s), thousands(s.Failed), changed,
			thousands(s.Calls), rateText(s.RecordsPerSecond), etaText(s.ETA, now), s.Chain, agoText(s.UpdatedAt, now), s.UpdatedBy)
	}
	tw.Flush()
	for _, s := range list {
		for _, line := range notes(s) {
			fmt.Fprintf(w, "%s: %s\n", s.Key, line)
		}
	}
}

// stateText is the job's state, with its phase while it validates.
func stateText(s job.Summary) string {
	if s.Phase == job.PhaseValidate && (s.State == job.JobRunning || s.State == job.JobHandedOn) {
		return string(s.State) + " (validating)"
	}
	return string(s.State)
}

// doneText is "done/total (percent)"; while validating, the records checked.
func doneText(s job.Summary) string {
	if s.Phase == job.PhaseValidate {
		return thousands(s.Total) + " checked"
	}
	if s.Total == 0 {
		return "0/0"
	}
	return fmt.Sprintf("%s/%s (%.0f%%)", thousands(s.Done()), thousands(s.Total), 100*float64(s.Done())/float64(s.Total))
}

// notes are the lines said of a job below the table.
func notes(s job.Summary) []string {
	var out []string
	if s.Note != "" {
		out = append(out, s.Note)
	}
	if s.FailedKey != "" {
		out = append(out, "failed records: "+s.FailedKey)
	}
	if s.PendingKey != "" {
		out = append(out, "pending records: "+s.PendingKey)
	}
	return out
}

// thousands writes n with commas between thousands.
func thousands(n int64) string {
	switch {
	case n < 0:
		return "-" + thousands(-n)
	case n < 1000:
		return strconv.FormatInt(n, 10)
	}
	return thousands(n/1000) + fmt.Sprintf(",%03d", n%1000)
}

// rateText is a rate in records per second, "-" for none.
func rateText(r float64) string {
	if r <= 0 {
		return "-"
	}
	return thousands(int64(r + 0.5))
}

// etaText is the time left until eta, "-" for none.
func etaText(eta, now time.Time) string {
	if eta.IsZero() {
		return "-"
	}
	if left := eta.Sub(now); left > 0 {
		return shortDuration(left)
	}
	return "any time"
}

// agoText says how long ago t was.
func agoText(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return shortDuration(now.Sub(t)) + " ago"
}

// shortDuration writes d in whole seconds, minutes, hours or days.
func shortDuration(d time.Duration) string {
	switch d = max(d, 0); {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
