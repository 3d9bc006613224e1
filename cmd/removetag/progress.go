package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/journal"
	"github.com/removetag/removetag/pkg/records"
	"golang.org/x/term"
)

// countingCaller counts calls and the accounts of successful calls, for
// progress, and watches the answers (of the journal's reads too): when the service last answered, how many
// calls wait for one, and the last error that was no answer at all.
type countingCaller struct {
	next     imapi.Caller
	calls    atomic.Int64
	accounts atomic.Int64
	inFlight atomic.Int64
	answered atomic.Int64 // unix nanoseconds of the last answer; 0: none yet

	mu        sync.Mutex
	lastErr   error // the last call that got no answer (connection refused, timeout…)
	lastErrAt time.Time
	refused   func([]records.Record, error) // sees the records of every call refused with an answer
}

func (c *countingCaller) Call(ctx context.Context, op imapi.Operation, recs []records.Record) error {
	c.calls.Add(1)
	err := c.watch(ctx, func() error { return c.next.Call(ctx, op, recs) })
	switch {
	case err == nil:
		c.accounts.Add(int64(len(recs)))
	case !noAnswer(err) && imapi.Classify(err) != imapi.Retryable: // a refusal
		c.mu.Lock()
		refused := c.refused
		c.mu.Unlock()
		if refused != nil {
			refused(recs, err)
		}
	}
	return err
}

// watch makes a call (a removal, or the journal's read), noting when the
// service answers, and the last error that was no answer at all.
func (c *countingCaller) watch(ctx context.Context, call func() error) error {
	c.inFlight.Add(1)
	err := call()
	c.inFlight.Add(-1)
	switch {
	case err == nil || !noAnswer(err):
		c.answered.Store(time.Now().UnixNano())
	case ctx.Err() == nil:
		c.mu.Lock()
		c.lastErr, c.lastErrAt = err, time.Now()
		c.mu.Unlock()
	}
	return err
}

// reading returns r with its calls watched as the removals are: the
// journal's reads, which go before them.
func (c *countingCaller) reading(r tagReader) tagReader { return watchedReader{c, r} }

// watchedReader is a tagReader whose calls a countingCaller watches.
type watchedReader struct {
	c    *countingCaller
	next tagReader
}

func (w watchedReader) GetTags(ctx context.Context, api imapi.API, accounts []string) (tags []records.Record, failed []*imapi.APIError, err error) {
	err = w.c.watch(ctx, func() error {
		tags, failed, err = w.next.GetTags(ctx, api, accounts)
		return err
	})
	return tags, failed, err
}

// reset starts the counts afresh for another input, whose refused calls go to refused.
func (c *countingCaller) reset(refused func([]records.Record, error)) {
	c.calls.Store(0)
	c.accounts.Store(0)
	c.mu.Lock()
	c.refused = refused
	c.mu.Unlock()
}

// silence returns how long the service has not answered since the later of
// since and its last answer, while calls wait or failed without an answer
// (zero otherwise), and the last such failure, if it came after that answer.
func (c *countingCaller) silence(since time.Time) (time.Duration, error) {
	c.mu.Lock()
	lastErr, errAt := c.lastErr, c.lastErrAt
	c.mu.Unlock()
	last := since
	if a := c.answered.Load(); a != 0 && time.Unix(0, a).After(last) {
		last = time.Unix(0, a)
	}
	if errAt.Before(last) {
		lastErr = nil
	}
	if c.inFlight.Load() == 0 && lastErr == nil {
		return 0, nil
	}
	return time.Since(last), lastErr
}

// Progress settings.
const (
	// silentAfter is how long calls may go unanswered before the run says so.
	silentAfter = 5 * time.Second
	// logEvery is the interval of progress lines where they cannot be redrawn.
	logEvery = 5 * time.Second
	// redrawEvery is the interval of the line redrawn in place on a terminal.
	redrawEvery = 200 * time.Millisecond
)

// display is how progress can be shown on a stream.
type display struct {
	tty   bool // a terminal that takes escape codes: redraw in place
	width int  // its width in columns (0: unknown)
}

// displayOf looks at w: a terminal, unless TERM says it cannot take escape
// codes (dumb, or unset), gets a line redrawn in place that fits its width.
func displayOf(w io.Writer, getenv func(string) string) display {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return display{}
	}
	if t := getenv("TERM"); t == "" || t == "dumb" {
		return display{}
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		width = 80
	}
	return display{tty: true, width: width}
}

// progressLine is one progress report for name: done of total accounts, and
// what the journal saw removed so far (ch; nil: no journal). It fits in
// width columns (0: any), dropping the bar, then the name, then cutting, as
// the width needs.
func progressLine(name string, done, total, calls int64, ch *journal.Changes, elapsed time.Duration, width int) string {
	speed := float64(done) / max(elapsed.Seconds(), 1e-9)
	eta := "?"
	if speed > 0 && total > 0 {
		eta = (time.Duration(float64(max(total-done, 0))/speed) * time.Second).Round(time.Second).String()
	}
	stats := fmt.Sprintf("%d/%d accounts", done, total)
	if ch != nil {
		stats += fmt.Sprintf(", %d changed (%d tags)", ch.Changed, ch.TagsRemoved)
	}
	stats += fmt.Sprintf(", %d calls, %.0f/s, ETA %s", calls, speed, eta)
	candidates := []string{
		name + " " + bar(done, total, 20) + " " + stats,
		name + " " + bar(done, total, 10) + " " + stats,
		name + " " + stats,
		stats,
	}
	if width <= 0 {
		return candidates[0]
	}
	for _, c := range candidates {
		if len([]rune(c)) < width {
			return c
		}
	}
	r := []rune(stats)
	return string(r[:max(width-1, 0)])
}

// bar draws done out of total as a bar of width cells.
func bar(done, total int64, width int) string {
	filled := width
	if total > 0 {
		filled = int(min(done, total) * int64(width) / total)
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

// progress shows a run's progress on w and says when the service does not answer.
type progress struct {
	w        io.Writer
	d        display
	name     string
	total    int64
	c        *countingCaller
	changes  func() *journal.Changes // the journal's counts so far; nil without one
	endpoint string
	start    time.Time
	warned   bool
}

// startProgress shows accounts done, changed (with a journal), calls, users/s and ETA: a line redrawn
// in place on a terminal that takes it, a plain line every 5 s otherwise; and
// a line of its own, whatever the stream, once calls go unanswered for
// silentAfter. It returns a function that stops it.
func startProgress(w io.Writer, d display, in *input, c *countingCaller, changes func() *journal.Changes, endpoint string) func() {
	p := &progress{w: w, d: d, name: in.name, total: in.records, c: c, changes: changes, endpoint: endpoint, start: time.Now()}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		every := logEvery
		if d.tty {
			every = redrawEvery
		}
		redraw := time.NewTicker(every)
		defer redraw.Stop()
		watch := time.NewTicker(time.Second)
		defer watch.Stop()
		for {
			select {
			case <-done:
				if d.tty {
					fmt.Fprintf(w, "\r\033[K%s\n", p.line())
				}
				return
			case <-redraw.C:
				if d.tty {
					fmt.Fprintf(w, "\r\033[K%s", p.line())
				} else {
					fmt.Fprintln(w, p.line())
				}
			case <-watch.C:
				p.watch()
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (p *progress) line() string {
	return progressLine(p.name, p.c.accounts.Load(), p.total, p.c.calls.Load(), p.changes(), time.Since(p.start), p.d.width)
}

// watch says, once per silence, that the service does not answer.
func (p *progress) watch() {
	quiet, lastErr := p.c.silence(p.start)
	switch {
	case quiet < silentAfter:
		p.warned = false
		return
	case p.warned:
		return
	}
	p.warned = true
	msg := fmt.Sprintf("removetag: no answer from %s for %s", p.endpoint, quiet.Round(time.Second))
	if lastErr != nil {
		msg = fmt.Sprintf("removetag: could not reach %s for %s: %v", p.endpoint, quiet.Round(time.Second), lastErr)
	}
	msg += fmt.Sprintf(" (%d calls waiting); retrying: Ctrl-C stops and writes the records left", p.c.inFlight.Load())
	if p.d.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", msg)
	} else {
		fmt.Fprintln(p.w, msg)
	}
}
