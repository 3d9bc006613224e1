package imapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/records"
)

// Caller makes one call of op with at most [MaxAccountsPerCall] distinct
// accounts: nil when the service applied it, else an error that [Classify]
// classes. [*Client] is the production Caller.
type Caller interface {
	Call(ctx context.Context, op Operation, recs []records.Record) error
}

// Defaults of [EngineConfig].
const (
	defaultConcurrency        = 48
	defaultMaxAttempts        = 8
	defaultBackoffBase        = 100 * time.Millisecond
	defaultBackoffMax         = 5 * time.Second
	defaultSlowDown           = 2 * time.Second
	defaultMaxFailureAccounts = 1000
	// unavailableAfter is how many batches in a row may run out of retries before
	// the run stops, judging the service unavailable.
	unavailableAfter = 3
)

// EngineConfig configures an [Engine]. The zero value is ready to use.
type EngineConfig struct {
	// Rate is the most calls per second of the engine's own token bucket, which
	// its runs share unless [WithLimiter] gives one its own; default
	// [MaxCallsPerSecond]. Set it lower when other jobs share the app's quota and
	// do not coordinate (package quota coordinates them).
	Rate float64
	// Concurrency is the most calls in flight; default 48, enough for the full rate
	// at 480 ms per call.
	Concurrency int
	// MaxAttempts bounds the calls made for one batch, retries included; default 8.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the exponential backoff between retries
	// (base·2ⁿ, capped, then a random point in its upper half); defaults 100 ms and 5 s.
	BackoffBase, BackoffMax time.Duration
	// SlowDown is how long the rate stays lowered after the last rate-limit answer
	// before it climbs back; default 2 s.
	SlowDown time.Duration
	// Reserve is the time kept back before the context's deadline, for the caller to
	// save its progress; default a tenth of the budget, between 100 ms and 10 s.
	Reserve time.Duration
	// MaxFailureAccounts caps the accounts listed per failure group; default 1000.
	MaxFailureAccounts int
	// Logger receives a line per failed call (never a secret); default: no logging.
	Logger *slog.Logger
	// Observer, if set, is told the outcome of every call of every run (unless
	// a run has its own, [WithObserver]); default: none.
	Observer Observer
}

func (c EngineConfig) withDefaults() EngineConfig {
	c.Rate = positiveOr(c.Rate, MaxCallsPerSecond)
	c.Concurrency = positiveOr(c.Concurrency, defaultConcurrency)
	c.MaxAttempts = positiveOr(c.MaxAttempts, defaultMaxAttempts)
	c.BackoffBase = positiveOr(c.BackoffBase, defaultBackoffBase)
	c.BackoffMax = positiveOr(c.BackoffMax, defaultBackoffMax)
	c.SlowDown = positiveOr(c.SlowDown, defaultSlowDown)
	c.MaxFailureAccounts = positiveOr(c.MaxFailureAccounts, defaultMaxFailureAccounts)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// positiveOr returns v, or def if v is not above zero: a configuration's default.
func positiveOr[T int | int64 | float64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Engine removes the tags of any number of records (or calls another
// [Operation] with them, chosen per run: [WithOperation]): it merges them into
// calls of at most 100 distinct accounts, keeps under the rate with a bounded
// number of calls in flight, retries what can be retried, slows down when the
// service says calls come too fast, and stops in time for the context's deadline.
//
// An Engine may run several jobs, one after another or at once, of one
// operation or several: they share its caller and its rate (a [TokenBucket] at
// [EngineConfig.Rate]), unless a run is given its own [Limiter] with [WithLimiter].
type Engine struct {
	caller Caller
	cfg    EngineConfig
	pace   *pacer // the slow-down around the engine's own token bucket
}

// NewEngine returns an Engine that makes its calls through c.
func NewEngine(c Caller, cfg EngineConfig) *Engine {
	cfg = cfg.withDefaults()
	return &Engine{caller: c, cfg: cfg, pace: newPacer(NewTokenBucket(cfg.Rate), cfg.SlowDown)}
}

// RunOption configures one [Engine.Run].
type RunOption func(*run)

// WithLimiter makes the run wait on lim before each call instead of on the
// engine's own token bucket: for instance its share of a quota that several
// processes use (package quota). The engine's slow-down on rate-limit answers
// throttles lim for this run.
func WithLimiter(lim Limiter) RunOption {
	return func(r *run) {
		if lim != nil {
			r.pace = newPacer(lim, r.cfg.SlowDown)
		}
	}
}

// WithOperation makes the run call op with the records instead of
// AllMemberPush.RemoveTag(), the default (the zero Operation keeps it). The
// records are judged by op's rule: an account and its tags for the operations
// that send tags (at most 10 of them for an add without Replace), the account
// alone for GetTag and ClearAllTags.
func WithOperation(op Operation) RunOption {
	return func(r *run) { r.op = op.api.op(op.verb) }
}

// WithObserver makes the run tell obs, instead of [EngineConfig].Observer, the
// outcome of each of its calls; nil tells no one.
func WithObserver(obs Observer) RunOption {
	return func(r *run) { r.obs = obs }
}

// OnFailed makes Run call fn for each failed record, in input order, once every
// record before it is resolved: exactly the failed records before Report.Resume,
// so that a job continued from Resume sees each failed record once. fn is called
// from the goroutine running Run.
func OnFailed(fn func(rec records.Record, reason error)) RunOption {
	return func(r *run) { r.onFailed = fn }
}

// Run reads src to its end, or until it must stop, and returns a report that
// accounts for every record read. It stops starting calls when the time left before
// the context's deadline (less the reserve) could not cover one, and returns before
// that deadline. The error is non-nil only when reading src failed; the report is
// valid even then.
func (e *Engine) Run(ctx context.Context, src records.Source, opts ...RunOption) (*Report, error) {
	r := newRun(ctx, e, src)
	for _, o := range opts {
		o(r)
	}
	defer r.cancelCalls()
	defer r.hardStop()
	return r.execute()
}

// outcome of a batch.
type outcome int

const (
	succeeded outcome = iota
	failed
	pending
)

// entry is one input record of a batch; bad is set for an invalid record, never sent.
type entry struct {
	rec records.Record
	bad *records.Problem
}

// batch is a run of consecutive input records that fit in one call.
type batch struct {
	seq     int64
	first   records.Position
	end     int64 // the index (Position.Record) after its last record
	entries []entry
	valid   int              // entries that are sent (not invalid)
	calls   []records.Record // distinct accounts, tags merged
	index   map[string]int   // account → index in calls
	shared  []bool           // calls[i].Tags is still the input record's slice

	maxTags int // tags of one account one call may carry; 0: records.MaxTagsPerRecord
	// accts holds the accounts an answer's ErrorList resolved apart from the
	// rest of the batch (the others of that call succeeded); nil: none did.
	// An account not in it has the batch's outcome.
	accts map[string]acctResult

	outcome  outcome
	err      error
	attempts int
	refused  bool  // pending because the service refused the configuration (Fatal)
	dropped  int64 // succeeded entries dropped by compact

	done      doneFunc  // from the run's prepare (BeforeSend); told the outcome once
	uncertain bool      // a call of the batch may have been applied unseen (see noteAttempt)
	heldSince time.Time // prepared then, holding a place in the read-ahead until its first turn
}

// acctResult is the outcome of one account of a batch, resolved apart from the rest.
type acctResult struct {
	outcome outcome
	err     error
}

// outcomeOf is the outcome of a valid entry: its account's own, if an answer
// resolved it apart, else the batch's.
func (b *batch) outcomeOf(en entry) (outcome, error) {
	if a, ok := b.accts[en.rec.Account]; ok {
		return a.outcome, a.err
	}
	return b.outcome, b.err
}

// newBatch starts a batch at first. Its slices have room for a full call, so
// that filling it allocates nothing more; index, emptied, is the account index
// of a batch handed on before (see seal), or nil for a new one.
func newBatch(seq int64, first records.Position, index map[string]int) *batch {
	if index == nil {
		index = make(map[string]int, MaxAccountsPerCall)
	}
	clear(index)
	return &batch{
		seq: seq, first: first, index: index,
		entries: make([]entry, 0, MaxAccountsPerCall),
		calls:   make([]records.Record, 0, MaxAccountsPerCall),
		shared:  make([]bool, 0, MaxAccountsPerCall),
	}
}

// seal ends the filling of a batch about to be handed on, and returns its
// account index for the next batch: only the reader uses it.
func (b *batch) seal() map[string]int {
	index := b.index
	b.index = nil
	return index
}

// fits reports whether rec can join the batch without a 101st account or more than
// records.MaxTagsPerRecord tags for one account.
func (b *batch) fits(rec records.Record) bool {
	i, ok := b.index[rec.Account]
	if !ok {
		return len(b.calls) < MaxAccountsPerCall
	}
	have, limit := b.calls[i].Tags, cmp.Or(b.maxTags, records.MaxTagsPerRecord)
	return len(have)+len(rec.Tags) <= limit || len(have)+missing(have, rec.Tags) <= limit
}

// missing counts the tags of b that a does not hold.
func missing(a, b []string) int {
	n := 0
	for _, t := range b {
		if !slices.Contains(a, t) {
			n++
		}
	}
	return n
}

func (b *batch) add(rec records.Record, bad *records.Problem) {
	b.entries = append(b.entries, entry{rec: rec, bad: bad})
	if bad != nil {
		return
	}
	b.valid++
	i, ok := b.index[rec.Account]
	if !ok {
		b.index[rec.Account] = len(b.calls)
		b.calls = append(b.calls, rec)
		b.shared = append(b.shared, true)
		return
	}
	if b.shared[i] {
		b.calls[i].Tags = append([]string(nil), b.calls[i].Tags...)
		b.shared[i] = false
	}
	b.calls[i].Tags = union(b.calls[i].Tags, rec.Tags)
}

// union appends to a the tags of b it does not hold yet.
func union(a, b []string) []string {
	for _, t := range b {
		if !slices.Contains(a, t) {
			a = append(a, t)
		}
	}
	return a
}

// run is the state of one Engine.Run.
type run struct {
	e           *Engine
	cfg         EngineConfig
	ctx         context.Context
	callCtx     context.Context // ends at stopAt: no call outlives the run
	cancelCalls context.CancelFunc
	stopAt      time.Time // zero: no deadline
	src         records.Source
	pos         records.Positioner // src, if it knows positions
	next        records.Position   // where the record after the last one read starts, as far as known
	start       time.Time
	op          Operation // the API called, AllMemberPush.RemoveTag() unless WithOperation
	obs         Observer  // told each call's outcome; nil: no one
	onFailed    func(records.Record, error)
	pace        *pacer // the limiter the run waits on, with its slow-down

	prepare prepareFunc // BeforeSend's; nil: none
	ahead   *readAhead  // bounds the batches prepared ahead of their turn; nil without prepare

	stopOnce sync.Once
	stopCh   chan struct{}      // closed by any stop: read no more, start no more calls
	reason   string             // why the run stopped; written once before stopCh closes
	cause    StopReason         // the reason's code, written with it
	hardCtx  context.Context    // canceled by a hard stop: abandon waits too
	hardStop context.CancelFunc // the hard stop

	mu          sync.Mutex // guards the fields below
	estimate    time.Duration
	exhausted   int // batches in a row that ran out of retries
	calls       int64
	retries     int64
	sourceError error
}

func newRun(ctx context.Context, e *Engine, src records.Source) *run {
	r := &run{
		e: e, cfg: e.cfg, ctx: ctx, src: src, start: time.Now(), op: AllMemberPush.RemoveTag(), obs: e.cfg.Observer,
		stopCh: make(chan struct{}), estimate: 500 * time.Millisecond, pace: e.pace,
	}
	r.pos, _ = src.(records.Positioner)
	r.hardCtx, r.hardStop = context.WithCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		reserve := r.cfg.Reserve
		if reserve <= 0 {
			reserve = DefaultReserve(deadline.Sub(r.start))
		}
		r.stopAt = deadline.Add(-reserve)
		r.estimate = min(r.estimate, max(r.stopAt.Sub(r.start)/4, 0))
		r.callCtx, r.cancelCalls = context.WithDeadline(ctx, r.stopAt)
	} else {
		r.callCtx, r.cancelCalls = context.WithCancel(ctx)
	}
	return r
}

// stop makes the run stop reading and starting calls, for the given reason (the first
// one wins). Calls already cleared to start still go: they fit the time budget.
func (r *run) stop(cause StopReason, reason string) {
	r.stopOnce.Do(func() {
		r.cause, r.reason = cause, reason
		close(r.stopCh)
		r.ahead.wake()
	})
}

// abort stops the run and abandons the waits for the rate limiter and for retries:
// nothing more is sent. Calls in flight finish.
func (r *run) abort(cause StopReason, reason string) {
	r.stop(cause, reason)
	r.hardStop()
}

// halted reports whether the run was stopped or its context ended, without
// stopping it (see stopped).
func (r *run) halted() bool {
	select {
	case <-r.stopCh:
		return true
	default:
	}
	return r.ctx.Err() != nil
}

func (r *run) stopped() bool {
	select {
	case <-r.stopCh:
		return true
	default:
	}
	if err := r.ctx.Err(); err != nil {
		r.abort(StopCanceled, "context: "+err.Error())
		return true
	}
	return false
}

// execute runs the reader, the workers and the collector, and builds the report.
func (r *run) execute() (*Report, error) {
	batches := make(chan *batch, r.cfg.Concurrency)
	results := make(chan *batch, r.cfg.Concurrency)
	var eof bool
	go func() {
		eof = r.read(batches)
		close(batches)
	}()
	workers := r.cfg.Concurrency
	if r.prepare != nil {
		// A batch holds its worker from its preparation to its last call: the
		// calls in flight, and as many batches as the read-ahead holds.
		r.ahead = newReadAhead(r.hardCtx, r.cfg.Concurrency)
		workers += r.ahead.max
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range batches {
				r.process(b)
				b.finished()
				results <- b
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	rep := r.collect(results)
	// results is closed only after batches is, so eof and next have been written.
	rep.EndOfInput = eof
	if rep.Resume == nil && !eof {
		// Every record read is resolved, but the input goes on.
		rep.Resume = &Cursor{Position: r.next, Succeeded: rep.Succeeded, Failed: rep.Failed}
	}
	rep.Calls, rep.Retries = r.calls, r.retries
	if !rep.Done() && r.reason != "" {
		rep.Stopped, rep.StopReason = r.reason, r.cause
	}
	rep.ElapsedSeconds = time.Since(r.start).Seconds()
	return rep, r.sourceError
}

// resumer is a records.Source that knows where to restart after the last record it returned.
type resumer interface {
	Resume() records.Position
}

// read fills batches from the source until its end (true) or a stop (false).
func (r *run) read(out chan<- *batch) bool {
	var (
		seq   int64
		n     int64
		cur   *batch
		index map[string]int // the account index of the batch handed on last, reused
	)
	res, _ := r.src.(resumer)
	r.next = records.Position{Offset: -1}
	if res != nil {
		r.next = res.Resume()
	}
	defer func() {
		switch {
		case res != nil:
			r.next = res.Resume()
		default:
			r.next = records.Position{Record: n, Offset: -1}
		}
	}()
	for !r.stopped() {
		rec, err := r.src.Next()
		if err == io.EOF {
			if cur != nil {
				out <- cur
			}
			return true
		}
		p, fatal := records.ProblemBy(r.pos, n, rec, err, r.op.validate)
		if fatal != nil {
			r.mu.Lock()
			r.sourceError = fmt.Errorf("imapi: read input after %d records: %w", n, fatal)
			r.mu.Unlock()
			r.abort(StopInput, "reading the input failed: "+fatal.Error())
			break
		}
		pos := records.PositionOf(r.pos, n)
		n++
		if cur != nil && p == nil && !cur.fits(rec) {
			index = cur.seal()
			out <- cur
			cur = nil
		}
		if cur == nil {
			cur = newBatch(seq, pos, index)
			cur.maxTags = r.op.maxTags()
			seq++
		}
		cur.add(rec, p)
		cur.end = pos.Record + 1
	}
	if cur != nil {
		out <- cur
	}
	return false
}

// process makes the calls for one batch and sets its outcome.
func (r *run) process(b *batch) {
	b.outcome = pending
	if len(b.calls) == 0 { // only invalid records
		b.outcome = succeeded
		return
	}
	if !r.prepared(b) {
		return
	}
	for {
		ok := r.acquire()
		if !b.heldSince.IsZero() {
			r.ahead.leave(ok, time.Since(b.heldSince))
			b.heldSince = time.Time{}
		}
		if !ok {
			return
		}
		b.attempts++
		started := time.Now()
		err := r.e.caller.Call(r.callCtx, r.op, b.calls)
		latency := time.Since(started)
		b.noteAttempt(err)
		r.observe(latency, b.attempts > 1, err)
		r.tell(b, latency, err)
		if err == nil {
			b.outcome, b.err = succeeded, nil
			r.pace.onSuccess(time.Now())
			return
		}
		if partial, ok := partialOf(err); ok {
			r.pace.onSuccess(time.Now())
			if r.settle(b, partial) {
				b.outcome, b.err = succeeded, nil
				return
			}
			if b.refused {
				return
			}
			if b.attempts >= r.cfg.MaxAttempts {
				r.exhaust(b.err)
				return
			}
			if !r.sleep(r.backoff(b.attempts)) {
				return
			}
			continue
		}
		b.err = err
		class := Classify(err)
		r.cfg.Logger.WarnContext(r.ctx, r.op.Name()+" call failed",
			"error_code", ErrorCode(err), "class", class.String(), "accounts", len(b.calls),
			"attempt", b.attempts, "error", err.Error())
		switch class {
		case Retryable:
			if isRateLimit(err) {
				r.slowDown()
			}
			if b.attempts >= r.cfg.MaxAttempts {
				r.exhaust(err)
				return
			}
			if !r.sleep(r.backoff(b.attempts)) {
				return
			}
		case Fatal:
			// A configuration refusal says nothing of the records: they stay
			// pending, and the run's resume position before them, so that
			// continuing once the configuration is fixed sends them.
			b.refused = true
			r.abort(StopFatal, fmt.Sprintf("fatal error %d: %s", ErrorCode(err), err.Error()))
			return
		default: // Permanent, or RenewSignature after the client renewed already
			b.outcome = failed
			return
		}
	}
}

// observe counts a call and updates the latency estimate.
func (r *run) observe(d time.Duration, retry bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if retry {
		r.retries++
	}
	if _, partial := partialOf(err); err == nil || partial {
		r.exhausted = 0
	}
	// The estimate is twice a moving average of call times: a call is started only
	// when that much time is left.
	ewma := r.estimate / 2
	ewma += (d - ewma) / 4
	r.estimate = min(max(2*ewma, 5*time.Millisecond), 10*time.Second)
}

// exhaust notes a batch that ran out of retries; several in a row stop the run.
func (r *run) exhaust(err error) {
	r.mu.Lock()
	r.exhausted++
	n := r.exhausted
	r.mu.Unlock()
	if n >= unavailableAfter {
		r.abort(StopUnavailable, fmt.Sprintf("service unavailable: %d batches in a row ran out of retries; last error: %v", n, err))
	}
}

func (r *run) callEstimate() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.estimate
}

// waitCtx returns a context for waiting: canceled by a hard stop, and ending when
// a call started after it would no longer end before stopAt.
func (r *run) waitCtx() (context.Context, context.CancelFunc) {
	if r.stopAt.IsZero() {
		return r.hardCtx, func() {}
	}
	return context.WithDeadline(r.hardCtx, r.stopAt.Add(-r.callEstimate()))
}

// acquire waits for the limiter's permission to call; false if the run must stop first.
// A wait that could not end in time for a call fails at once and stops the run (the
// time budget is used up); the limiter counts no call for it.
func (r *run) acquire() bool {
	if r.stopped() {
		return false
	}
	ctx, cancel := r.waitCtx()
	defer cancel()
	err := r.pace.lim.Wait(ctx)
	if r.hardCtx.Err() != nil {
		return false
	}
	if err != nil {
		r.stop(StopDeadline, "time budget used up")
		return false
	}
	return true
}

// sleep waits d before a retry; false if the run must stop first.
func (r *run) sleep(d time.Duration) bool {
	if r.stopped() {
		return false
	}
	ctx, cancel := r.waitCtx()
	defer cancel()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.stop(StopDeadline, "time budget used up")
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// backoff is the wait before the given retry: exponential, capped, jittered over its upper half.
func (r *run) backoff(attempt int) time.Duration {
	d := r.cfg.BackoffBase << min(attempt-1, 20)
	if d > r.cfg.BackoffMax || d <= 0 {
		d = r.cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// slowDown reacts to a rate-limit answer through the run's pacer, and says so
// when it lowers the rate.
func (r *run) slowDown() {
	if cut, fraction := r.pace.onRateLimit(time.Now()); cut {
		attrs := []any{"fraction", fraction, "for", r.cfg.SlowDown.String()}
		if rl, ok := r.pace.lim.(interface{ Rate() float64 }); ok {
			attrs = append(attrs, "calls_per_second", rl.Rate())
		}
		r.cfg.Logger.WarnContext(r.ctx, "rate-limit answers: slowing down", attrs...)
	}
}

// tally counts the outcomes of a run's batches, in any order.
type tally struct {
	rep          *Report
	fails, pends *FailureGroups
	pendBs       []*batch // the pending batches
	maxAttempts  int
}

// add counts the records of a batch whose calls are over.
func (t *tally) add(b *batch) {
	for _, en := range b.entries {
		t.rep.Total++
		if en.bad != nil {
			t.rep.Failed++
			t.fails.Add(en.rec.Account, en.bad)
			continue
		}
		switch o, err := b.outcomeOf(en); o {
		case succeeded:
			t.rep.Succeeded++
		case failed:
			t.rep.Failed++
			t.fails.Add(en.rec.Account, err)
		default:
			t.rep.Pending++
			if err != nil && (b.attempts >= t.maxAttempts || b.refused) {
				t.pends.Add(en.rec.Account, err)
			}
		}
	}
	if b.outcome == pending {
		t.pendBs = append(t.pendBs, b)
	}
}

// finish sets the report's failure groups and pending records, in input order.
func (t *tally) finish() {
	t.rep.Failures = t.fails.List()
	t.rep.PendingErrors = t.pends.List()
	slices.SortFunc(t.pendBs, func(a, b *batch) int { return cmp.Compare(a.seq, b.seq) })
	for _, b := range t.pendBs {
		for _, en := range b.entries {
			if o, _ := b.outcomeOf(en); en.bad == nil && o == pending {
				t.rep.PendingRecords = append(t.rep.PendingRecords, en.rec)
			}
		}
	}
}

// advance moves the cursor past a batch resolved in input order, and hands its
// failed records to OnFailed.
func (r *run) advance(cursor *Cursor, b *batch) {
	cursor.Succeeded += b.dropped
	for _, en := range b.entries {
		if en.bad != nil {
			cursor.Failed++
			r.notifyFailed(en.rec, en.bad)
			continue
		}
		if o, err := b.outcomeOf(en); o == failed {
			cursor.Failed++
			r.notifyFailed(en.rec, err)
		} else {
			cursor.Succeeded++
		}
	}
}

// collect tallies the batches' outcomes into a report and keeps the resume cursor:
// outcomes are final only in input order, up to the first unresolved batch; the
// batches that succeeded after it are the cursor's Ahead.
func (r *run) collect(results <-chan *batch) *Report {
	t := &tally{
		rep:         &Report{},
		fails:       NewFailureGroups(nil, r.cfg.MaxFailureAccounts),
		pends:       NewFailureGroups(nil, r.cfg.MaxFailureAccounts),
		maxAttempts: r.cfg.MaxAttempts,
	}
	var (
		cursor  Cursor
		next    int64                // lowest sequence not yet resolved in order
		held    = map[int64]*batch{} // resolved out of order, waiting for next
		blocked *batch               // the first pending batch: the cursor stops before it
		ahead   records.Spans        // the batches after it that succeeded
	)
	for b := range results {
		t.add(b)
		if blocked != nil {
			ahead = ahead.Add(b.span())
			continue
		}
		if b.seq != next {
			held[b.seq] = b.compact()
			continue
		}
		for b != nil {
			if b.outcome == pending {
				blocked = b
				for _, h := range held {
					ahead = ahead.Add(h.span())
				}
				clear(held)
				break
			}
			r.advance(&cursor, b)
			next++
			b = held[next]
			delete(held, next)
		}
	}
	t.finish()
	if blocked != nil {
		cursor.Position, cursor.Ahead = blocked.first, ahead
		t.rep.Resume = &cursor
	}
	return t.rep
}

// span is the records of a batch that succeeded, none of them invalid or
// failed on its own (an answer's ErrorList), by index; empty for any other batch.
func (b *batch) span() records.Span {
	if b.outcome != succeeded || slices.ContainsFunc(b.entries, func(en entry) bool { o, _ := b.outcomeOf(en); return en.bad != nil || o != succeeded }) {
		return records.Span{}
	}
	return records.Span{From: b.first.Record, To: b.end}
}

func (r *run) notifyFailed(rec records.Record, reason error) {
	if r.onFailed != nil {
		r.onFailed(rec, reason)
	}
}

// compact drops what a resolved batch no longer needs while it waits for its turn:
// only its failed records matter to the cursor, in order; succeeded ones are counted.
func (b *batch) compact() *batch {
	b.calls, b.index, b.shared = nil, nil, nil
	if b.outcome != succeeded {
		return b
	}
	kept := b.entries[:0]
	for _, en := range b.entries {
		if o, _ := b.outcomeOf(en); en.bad != nil || o == failed {
			kept = append(kept, en)
		} else {
			b.dropped++
		}
	}
	b.entries = slices.Clip(kept)
	return b
}

// partialOf returns the accounts' errors of an answer that named some accounts
// of the call in its ErrorList: the call was applied to the others.
func partialOf(err error) (accountErrors, bool) {
	var partial accountErrors
	if err == nil || !errors.As(err, &partial) {
		return nil, false
	}
	return partial, true
}

// settle takes an answer whose ErrorList named some accounts of b's call:
// every other account of the call succeeded; a listed account's records fail
// with its own error, or stay to be sent again, alone, when its code says retry
// (or pending, the run stopped, when it says the configuration is refused). It
// returns whether no account is left to send.
func (r *run) settle(b *batch, partial accountErrors) bool {
	listed := make(map[string]*APIError, len(partial))
	for _, ae := range partial {
		if _, dup := listed[ae.Account]; !dup {
			listed[ae.Account] = ae
		}
	}
	if b.accts == nil {
		b.accts = make(map[string]acctResult, len(b.calls))
	}
	var retry, fatal error
	kept := make([]records.Record, 0, len(listed))
	for _, c := range b.calls {
		ae, bad := listed[c.Account]
		switch {
		case !bad:
			b.accts[c.Account] = acctResult{outcome: succeeded}
		case classOfCode(ae.ErrorCode) == Retryable:
			kept, retry = append(kept, c), cmp.Or(retry, error(ae))
		case classOfCode(ae.ErrorCode) == Fatal:
			kept, fatal = append(kept, c), cmp.Or(fatal, error(ae))
		default:
			b.accts[c.Account] = acctResult{outcome: failed, err: ae}
		}
	}
	b.calls, b.index, b.shared = kept, nil, nil
	b.valid = 0
	for _, en := range b.entries {
		if _, done := b.accts[en.rec.Account]; en.bad == nil && !done {
			b.valid++
		}
	}
	r.cfg.Logger.WarnContext(r.ctx, r.op.Name()+" call: accounts failed (ErrorList)",
		"failed", len(partial), "retried", len(kept), "error", partial.Error())
	switch {
	case fatal != nil:
		b.err, b.refused = fatal, true
		r.abort(StopFatal, fmt.Sprintf("fatal error %d: %s", ErrorCode(fatal), fatal.Error()))
	case len(kept) > 0:
		b.err = retry
	}
	return len(kept) == 0
}
