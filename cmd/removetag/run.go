package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
	"golang.org/x/term"
)

// options are the flags of "removetag run".
type options struct {
	dryRun     bool
	asJSON     bool
	format     string
	rate       float64
	timeout    time.Duration
	coordinate string
	verify     int64 // accounts to read back after the run; verifyAll: every one
}

func runCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	var o options
	fs := flag.NewFlagSet("removetag run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.dryRun, "dry-run", false, "validate the input and show the calls it would make, without making them")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&o.format, "format", "", "input format when the name does not tell (stdin): csv, jsonl or json")
	fs.Float64Var(&o.rate, "rate", 0, "calls per second (default IM_RATE_LIMIT, or 100); with --coordinate, the quota shared")
	fs.StringVar(&o.coordinate, "coordinate", "", "share the quota with the deployed function's jobs through leases in this bucket: s3://BUCKET or cos://BUCKET-APPID")
	fs.DurationVar(&o.timeout, "timeout", 0, "stop after this long and report what is pending (0: no limit)")
	fs.Var(verifyFlag{&o.verify}, "verify", "read the accounts back afterwards with im_get_tag and report any that still carry a removed tag: --verify for all, --verify=N for the first N")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitInvalid}
	}
	if fs.NArg() == 0 {
		return &exitError{code: exitInvalid, msg: "no input: give one or more files, or - for standard input"}
	}

	inputs, err := openInputs(fs.Args(), o.format, stdin)
	if err != nil {
		return &exitError{code: exitInvalid, msg: err.Error()}
	}
	defer closeInputs(inputs)
	if err := validate(inputs, stderr); err != nil {
		return err
	}

	target, err := newTarget(getenv, o, inputs, stderr)
	if err != nil {
		return err
	}
	defer target.close()

	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	var reports []*fileReport
	for _, in := range inputs {
		rep, err := runInput(ctx, target, in, o, stderr)
		if err != nil {
			return err
		}
		if o.verify != 0 && target.tags != nil {
			if err := verifyInput(ctx, target, in, rep, o.verify); err != nil {
				return err
			}
		}
		reports = append(reports, rep)
	}
	target.after(stderr)
	printReports(stdout, reports, o.asJSON)
	for _, r := range reports {
		if r.Failed > 0 || r.Pending > 0 || !r.EndOfInput || (r.Verify != nil && r.Verify.StillTagged > 0) {
			return &exitError{code: exitFailed}
		}
	}
	return nil
}

// fileReport is one input's report.
type fileReport struct {
	File string
	*imapi.Report
	// Verify is what reading the accounts back found (--verify).
	Verify *Verification `json:",omitempty"`
}

// verifyInput reads the accounts of in back after its run.
func verifyInput(ctx context.Context, t *target, in *input, rep *fileReport, limit int64) error {
	dec, err := in.decoder()
	if err != nil {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	v, err := verify(ctx, t.tags, dec, rep.Report, limit, t.rate)
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%s: verify: %v", in.name, err)}
	}
	rep.Verify = v
	return nil
}

// validate checks every input before any call is made.
func validate(inputs []*input, stderr io.Writer) error {
	bad := false
	for _, in := range inputs {
		dec, err := in.decoder()
		if err != nil {
			return &exitError{code: exitInvalid, msg: fmt.Sprintf("%s: %v", in.name, err)}
		}
		n, err := records.Check(dec)
		var inv *records.InvalidInputError
		switch {
		case errors.As(err, &inv):
			fmt.Fprintf(stderr, "%s: %v\n", in.name, inv)
			bad = true
		case err != nil:
			return &exitError{code: exitInvalid, msg: fmt.Sprintf("%s: %v", in.name, err)}
		}
		in.records = n
	}
	if bad {
		return &exitError{code: exitInvalid, msg: "invalid input: nothing was sent"}
	}
	return nil
}

// runInput sends one input's records and shows progress.
func runInput(ctx context.Context, t *target, in *input, o options, stderr io.Writer) (*fileReport, error) {
	dec, err := in.decoder()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.name, err)
	}
	t.counter.calls.Store(0)
	t.counter.accounts.Store(0)
	stopProgress := startProgress(stderr, in, t.counter)
	var opts []imapi.RunOption
	if t.quota != nil {
		lim, release := t.quota.Share(ctx)
		defer release()
		opts = append(opts, imapi.WithLimiter(lim))
	}
	rep, err := t.engine.Run(ctx, dec, opts...)
	stopProgress()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.name, err)
	}
	return &fileReport{File: in.name, Report: rep}, nil
}

// countingCaller counts calls and the accounts of successful calls, for progress.
type countingCaller struct {
	next     imapi.Caller
	calls    atomic.Int64
	accounts atomic.Int64
}

func (c *countingCaller) Call(ctx context.Context, op imapi.Operation, recs []records.Record) error {
	c.calls.Add(1)
	err := c.next.Call(ctx, op, recs)
	if err == nil {
		c.accounts.Add(int64(len(recs)))
	}
	return err
}

// startProgress shows accounts done, calls, users/s and ETA: a line redrawn in place
// on a terminal, a log line every 5 s otherwise. It returns a function that stops it.
func startProgress(w io.Writer, in *input, c *countingCaller) func() {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	every := 5 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	start := time.Now()
	done := make(chan struct{})
	finished := make(chan struct{})
	line := func() string {
		n, el := c.accounts.Load(), time.Since(start).Seconds()
		speed := float64(n) / max(el, 1e-9)
		eta := "?"
		if speed > 0 && in.records > 0 {
			eta = (time.Duration(float64(max(in.records-n, 0))/speed) * time.Second).Round(time.Second).String()
		}
		return fmt.Sprintf("%s %s %d/%d accounts, %d calls, %.0f users/s, ETA %s", in.name, bar(n, in.records, 20), n, in.records, c.calls.Load(), speed, eta)
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintf(w, "\r\033[K%s\n", line())
				}
				return
			case <-tick.C:
				if tty {
					fmt.Fprintf(w, "\r\033[K%s", line())
				} else {
					fmt.Fprintln(w, line())
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// bar draws done out of total as a bar of width cells.
func bar(done, total int64, width int) string {
	filled := width
	if total > 0 {
		filled = int(min(done, total) * int64(width) / total)
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

func printReports(w io.Writer, reports []*fileReport, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if len(reports) == 1 {
			_ = enc.Encode(reports[0])
		} else {
			_ = enc.Encode(reports)
		}
		return
	}
	for _, r := range reports {
		fmt.Fprintf(w, "%s: %s\n", r.File, r.Summary())
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  failed: %d records, ErrorCode %d (%s): %s; accounts: %s\n",
				f.Records, f.ErrorCode, f.Class, f.ErrorInfo, strings.Join(f.Accounts[:min(len(f.Accounts), 10)], ", "))
		}
		for _, f := range r.PendingErrors {
			fmt.Fprintf(w, "  pending after retries: %d records, last error %d: %s\n", f.Records, f.ErrorCode, f.ErrorInfo)
		}
		if r.Resume != nil {
			fmt.Fprintf(w, "  resume from record %d (line %d)\n", r.Resume.Record+1, r.Resume.Line)
		}
		if v := r.Verify; v != nil {
			fmt.Fprintf(w, "  verify: %d accounts read back", v.Checked)
			if v.Skipped > 0 {
				fmt.Fprintf(w, " (%d of failed or pending records not)", v.Skipped)
			}
			if v.StillTagged == 0 {
				fmt.Fprintln(w, ": none carries a removed tag")
			} else {
				fmt.Fprintf(w, ": %d still carry a removed tag:", v.StillTagged)
				for _, a := range v.Accounts[:min(len(v.Accounts), 10)] {
					fmt.Fprintf(w, " %s %v", a.Account, a.Tags)
				}
				fmt.Fprintln(w)
			}
		}
	}
}

// emulatorNote is printed when no credentials are configured.
const emulatorNote = `
  ┌──────────────────────────────────────────────────────────────────────┐
  │ NO IM CREDENTIALS (IM_SDKAPPID, IM_SECRET_KEY): using the BUILT-IN   │
  │ EMULATOR, seeded from the input. Nothing is sent to Tencent Cloud.   │
  └──────────────────────────────────────────────────────────────────────┘
`
