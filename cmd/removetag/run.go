package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
	"github.com/spf13/cobra"
)

// runFlags are the flags of "removetag run".
type runFlags struct {
	dryRun, asJSON, emulator, yes, allowEmpty bool
	noJournal                                 bool
	inputFlags
	rate       float64
	rateSet    bool
	timeout    time.Duration
	coordinate string
	api        string // --api: the tag API family, over IM_TAG_API
	allTags    bool   // --all-tags: the inputs are accounts alone, every tag of which goes
	verify     int64  // accounts to read back after the run; verifyAll: every one
	out        string
	outSet     bool
	undo       bool // removetag undo: the runs add the tags (undo.go)
}

func newRunCommand(env *cliEnv) *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "run [flags] FILE…",
		Short: "Remove the tags listed in files of accounts",
		Long: `Removes the tags listed in each FILE (.csv, .jsonl/.ndjson, .json, optionally
.gz; "-" reads standard input, see --format) from Tencent Cloud Chat users.

Every input is validated before a single call is made. The target (the app, or
the emulator with --emulator) is named before the first call; on a terminal a
run on a real app asks for confirmation (--yes does not). Records left by a run
that stops (a signal, --timeout, a refusal) are written under --out in the
API's JSON Lines form, and the summary names the command that continues.
Unless --no-journal, each batch's accounts are read before the removal and the
listed tags they carried written to removetag-{start}-journal.jsonl under --out:
the tags the run removed, which removetag undo adds back. A journal log left in
--out by a run that ended before merging it (SIGKILL, a crash) is merged into
that run's journal before anything is sent; one of a run still going is left.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			f.rateSet, f.outSet = changed(c.Flags(), "rate"), changed(c.Flags(), "out")
			return runFiles(c.Context(), env, f, args)
		},
	}
	fs := c.Flags()
	fs.BoolVar(&f.emulator, "emulator", false, "run against the built-in emulator of the API, seeded from the input: nothing is sent to Tencent Cloud")
	fs.BoolVar(&f.dryRun, "dry-run", false, "validate the input and show the calls it would make, without making them")
	fs.BoolVar(&f.yes, "yes", false, "do not ask for confirmation on a terminal (scripts never are asked)")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON (one object, whatever the number of files)")
	f.inputFlags.addTo(c)
	fs.BoolVar(&f.allowEmpty, "allow-empty", false, "accept an input without records (by default an error: a failed export looks like one)")
	fs.Float64Var(&f.rate, "rate", 0, "calls per second, from 1 to the quota (IM_RATE_LIMIT, default 100); with --coordinate, the quota shared")
	fs.StringVar(&f.api, "api", "", "the tag API family: all_member_push or timpush (the Push service's v4/timpush/*); default IM_TAG_API, else all_member_push; `removetag check` says which the app can use")
	fs.BoolVar(&f.allTags, "all-tags", false, "remove EVERY tag of the listed accounts: the inputs are accounts alone (CSV of one column, JSON Lines {\"To_Account\":…}, JSON {\"To_Account\":[…]}); a record naming tags is invalid input")
	fs.StringVar(&f.coordinate, "coordinate", "", "share the quota with the deployed function's jobs through leases in this bucket: s3://BUCKET or cos://BUCKET-APPID")
	fs.DurationVar(&f.timeout, "timeout", 0, "stop after this long and write what is left (0: no limit)")
	fs.StringVar(&f.out, "out", ".", "folder for the files of pending and failed records a run leaves")
	fs.BoolVar(&f.noJournal, "no-journal", false, "keep no journal of the tags removed (by default each batch's accounts are read before the removal, and the listed tags they carried written to removetag-{start}-journal.jsonl in --out)")
	fs.Var(verifyFlag{&f.verify}, "verify", "read the accounts back afterwards with im_get_tag and report any that still carry a removed tag: --verify for all, --verify=N for the first N")
	fs.Lookup("verify").NoOptDefVal = "all"
	return c
}

// runFiles runs the inputs and prints the report, in one shape whatever happens.
func runFiles(ctx context.Context, env *cliEnv, f *runFlags, names []string) error {
	rep := &runReport{Target: targetNone, DryRun: f.dryRun, Files: []*fileReport{}}
	return rep.conclude(env, f, runAll(ctx, env, f, names, rep))
}

// conclude prints the report of a run that ended with err, and returns the
// error of its exit status (nil for 0).
func (rep *runReport) conclude(env *cliEnv, f *runFlags, err error) error {
	ex := exitFor(err, f.dryRun || rep.done())
	switch {
	case err == nil && f.dryRun:
		rep.Status = statusDryRun
	case err == nil && ex.code == exitOK:
		rep.Status = statusDone
	case rep.Status == "":
		rep.Status = statusFor(ex.code)
	}
	rep.ExitCode, rep.Error = ex.code, ex.msg
	rep.print(env.stdout, f.asJSON)
	return ex.orNil()
}

// done reports whether every record succeeded (and was found so, if verified).
func (rep *runReport) done() bool {
	for _, r := range rep.Files {
		if r.Failed > 0 || r.Pending > 0 || (r.Verify != nil && r.Verify.StillTagged > 0) {
			return false
		}
	}
	return true
}

// runAll validates the inputs, names the target, asks (on a terminal), sends,
// and writes what is left.
func runAll(ctx context.Context, env *cliEnv, f *runFlags, names []string, rep *runReport) error {
	switch {
	case len(names) == 0:
		return usageErr("no input: give one or more files, or - for standard input")
	case f.rateSet && (math.IsNaN(f.rate) || f.rate < 1):
		return usageErr("--rate %g: want calls per second from 1 to the app's quota (IM_RATE_LIMIT, default %d)", f.rate, imapi.MaxCallsPerSecond)
	}
	if !f.dryRun {
		if err := checkOutDir(f.out); err != nil {
			return err
		}
	}
	inputs, err := openInputs(names, f.format, f.headerMode(), env.stdin)
	if err != nil {
		return usageErr("%v", err)
	}
	defer closeInputs(inputs)
	for _, in := range inputs {
		in.accountsOnly = f.allTags
		rep.Files = append(rep.Files, &fileReport{File: in.name})
	}
	inv, err := validate(inputs, rep.Files, f.allowEmpty)
	for _, fr := range rep.Files {
		rep.Total += fr.Total
	}
	if err != nil {
		return err
	}
	t, err := newTarget(env.getenv, f, inputs, env.stderr)
	if err != nil {
		return err
	}
	defer t.close()
	rep.Target, rep.App = t.name, t.app
	t.announce(env.stderr)
	if t.real() && !f.dryRun && !f.yes && interactive(env) && !confirm(ctx, env, t, inv) {
		rep.Pending = rep.Total
		for _, fr := range rep.Files {
			fr.Pending = fr.Total
		}
		return &exitError{code: exitFailed, msg: "not confirmed: nothing was sent"}
	}
	if !f.dryRun {
		// The journal logs that runs killed before their merge left in --out.
		if err := recoverLogs(ctx, f.out, t, env.stderr); err != nil {
			rep.Pending = rep.Total
			for _, fr := range rep.Files {
				fr.Pending = fr.Total
			}
			return err
		}
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	return sendAll(ctx, env, f, t, inputs, rep)
}

// sendAll runs the inputs one after the other, until one stops early, and
// writes the records left.
func sendAll(ctx context.Context, env *cliEnv, f *runFlags, t *target, inputs []*input, rep *runReport) error {
	lo := newLeftovers(f.out, time.Now())
	if !f.dryRun && !f.undo && !f.noJournal && !t.noJournal && t.tags != nil { // an undo adds: nothing to journal
		lo.journal = newRunJournal(lo, t)
	}
	rep.Counts = imapi.Counts{}
	var (
		stopped *fileReport
		refusal error
		errs    []error
	)
	for i, in := range inputs {
		fr := rep.Files[i]
		var r inputResult
		if stopped == nil {
			var err error
			if r, err = runInput(ctx, env, t, in, fr, lo, f); err != nil {
				errs = append(errs, err)
			}
			if refusal == nil {
				refusal = r.refusal
			}
			if fr.StopReason != "" || err != nil {
				stopped = fr
			}
		} else {
			fr.Pending, fr.Stopped = fr.Total, "not started: "+stopped.File+" stopped"
		}
		if !f.dryRun {
			if err := lo.addPending(in, append(r.pending, r.held...), r.from); err != nil {
				errs = append(errs, err)
			}
		}
		rep.add(fr)
	}
	t.after(env.stderr)
	if err := lo.close(); err != nil {
		errs = append(errs, fmt.Errorf("the records left could not all be written: %w", err))
	}
	rep.setLeftovers(lo, f)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if refusal != nil {
		rep.Status = statusRefused
		return &exitError{code: exitConfig, msg: refusalHint(refusal, rep.Continue)}
	}
	return nil
}

// setLeftovers names the files of records left, and the command that continues.
func (rep *runReport) setLeftovers(lo *leftovers, f *runFlags) {
	if lo.failed.n > 0 {
		rep.FailedFile = lo.failed.path
	}
	rep.JournalFile, rep.NoJournal = lo.journal.written(), lo.journal == nil && !f.dryRun
	if lo.pending.n == 0 {
		return
	}
	rep.PendingFile = lo.pending.path
	cmd := "removetag run"
	if f.undo {
		cmd = "removetag undo"
	}
	if f.emulator {
		cmd += " --emulator"
	}
	if f.rateSet {
		cmd += " --rate " + strconv.FormatFloat(f.rate, 'g', -1, 64)
	}
	if f.api != "" {
		cmd += " --api " + shellQuote(f.api)
	}
	if f.allTags {
		cmd += " --all-tags"
	}
	if f.coordinate != "" {
		cmd += " --coordinate " + shellQuote(f.coordinate)
	}
	if f.outSet {
		cmd += " --out " + shellQuote(f.out)
	}
	if f.noJournal {
		cmd += " --no-journal"
	}
	if f.verify != 0 {
		cmd += " --verify"
		if f.verify != verifyAll {
			cmd += "=" + strconv.FormatInt(f.verify, 10)
		}
	}
	rep.Continue = cmd + " " + shellQuote(lo.pending.path)
}

// inputResult is what a run of one input leaves.
type inputResult struct {
	held    []records.Record // pending records the engine counted failed: refused for the configuration
	from    int64            // the index of the first record not read
	pending []records.Record // the records read and left pending
	refusal error            // the configuration refusal that stopped the run, if one did
}

// outcomes keeps the records of calls refused with an answer: failed for
// good (written to the failed file as they were sent, one line per account
// and call), or refused for the configuration (held: pending). Calls are
// answered concurrently.
type outcomes struct {
	mu      sync.Mutex
	lo      *leftovers
	held    []records.Record
	refusal error
}

func (o *outcomes) refused(recs []records.Record, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if imapi.Classify(err) == imapi.Fatal {
		// A configuration refusal says nothing of the records: they stay pending.
		o.held = append(o.held, recs...)
		if o.refusal == nil {
			o.refusal = err
		}
		return
	}
	for _, r := range recs {
		o.lo.failed.add(r)
	}
}

// runInput sends one input's records, shows progress, and sets fr: every
// record of the input is succeeded, failed (written to the failed file) or
// pending (those read and left, those the configuration refused, and those
// from the index where reading stopped).
func runInput(ctx context.Context, env *cliEnv, t *target, in *input, fr *fileReport, lo *leftovers, f *runFlags) (inputResult, error) {
	var res inputResult
	dec, err := in.decoder(0)
	if err != nil {
		fr.Pending = fr.Total
		return res, fmt.Errorf("%s: %w", in.name, err)
	}
	out := &outcomes{lo: lo}
	opts := []imapi.RunOption{imapi.WithOperation(t.op())}
	var reads imapi.Limiter // the journal's: the share's beside the removals', if coordinated
	if t.quota != nil {
		lim, beside, release := t.quota.Share(ctx)
		defer release()
		opts = append(opts, imapi.WithLimiter(lim))
		reads = beside
	}
	t.counter.reset(out.refused)
	jr, opts, err := lo.journal.begin(in, opts, out.refused, reads)
	if err != nil {
		fr.Pending = fr.Total
		return res, fmt.Errorf("%s: %w", in.name, err)
	}
	stopProgress := func() {}
	if !f.dryRun {
		stopProgress = startProgress(env.stderr, displayOf(env.stderr, env.getenv), in, t.counter, jr.progress(), t.app.Endpoint)
	}
	rep, runErr := t.engine.Run(ctx, dec, opts...)
	stopProgress()
	jerr := jr.end(fr)
	res.from, res.pending, res.refusal = rep.Total, rep.PendingRecords, out.refusal
	var fatal int64
	for _, g := range rep.Failures {
		if g.Class == imapi.Fatal {
			fatal += g.Records
			fr.PendingErrors = append(fr.PendingErrors, g)
		} else {
			fr.Failures = append(fr.Failures, g)
		}
	}
	if fatal > 0 {
		res.held = out.held // the engine counted them failed
	}
	for _, g := range rep.PendingErrors {
		if g.Class == imapi.Fatal {
			fatal += g.Records // the engine left them pending itself
		}
	}
	fr.PendingErrors = append(fr.PendingErrors, rep.PendingErrors...)
	fr.Succeeded, fr.Failed, fr.Refused = rep.Succeeded, rep.Failed, fatal
	if res.held != nil {
		fr.Failed -= fatal - countPending(rep.PendingErrors)
	}
	fr.Pending = fr.Total - fr.Succeeded - fr.Failed
	fr.Calls, fr.Retries, fr.ElapsedSeconds = rep.Calls, rep.Retries, rep.ElapsedSeconds
	fr.StopReason, fr.Stopped = rep.StopReason, rep.Stopped
	if fr.StopReason == "" && !rep.Done() && ctx.Err() != nil {
		fr.StopReason, fr.Stopped = imapi.StopCanceled, context.Cause(ctx).Error()
	}
	if rep.StopReason == imapi.StopFatal && res.refusal == nil {
		res.refusal = fatalOf(rep)
	}
	if f.dryRun {
		fr.Planned, fr.PlannedCalls = fr.Succeeded, fr.Calls
		fr.Succeeded, fr.Calls, fr.Pending = 0, 0, 0
	}
	if err := errors.Join(runErr, jerr); err != nil {
		return res, fmt.Errorf("%s: %w", in.name, err)
	}
	if f.verify != 0 && t.tags != nil {
		if err := verifyInput(ctx, t, in, fr, res, f.verify); err != nil {
			return res, err
		}
	}
	return res, nil
}

// countPending counts the records of fatal groups among pending ones.
func countPending(groups []imapi.Failure) int64 {
	var n int64
	for _, g := range groups {
		if g.Class == imapi.Fatal {
			n += g.Records
		}
	}
	return n
}

// fatalOf finds the configuration refusal a report stopped on, where the
// engine keeps its records pending.
func fatalOf(rep *imapi.Report) error {
	for _, g := range append(append([]imapi.Failure(nil), rep.PendingErrors...), rep.Failures...) {
		if g.Class == imapi.Fatal {
			return &imapi.APIError{ErrorCode: g.ErrorCode, ErrorInfo: g.ErrorInfo, ActionStatus: "FAIL"}
		}
	}
	return errors.New(rep.Stopped)
}

// verifyInput reads back the accounts of the records of in that were read,
// but those of records failed or pending.
func verifyInput(ctx context.Context, t *target, in *input, fr *fileReport, res inputResult, limit int64) error {
	dec, err := in.decoder(0)
	if err != nil {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	resolved := &imapi.Report{Failures: fr.Failures, PendingRecords: append(res.pending, res.held...)}
	v, err := verify(ctx, t.tags, t.api, &firstN{src: dec, n: res.from}, resolved, limit, t.rate)
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: verify: %v", in.name, err)}
	}
	fr.Verify = v
	return nil
}

// firstN reads the first n records of src.
type firstN struct {
	src  records.Source
	n    int64
	read int64
}

func (s *firstN) Next() (records.Record, error) {
	if s.read >= s.n {
		return records.Record{}, io.EOF
	}
	s.read++
	return s.src.Next()
}
