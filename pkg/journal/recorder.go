package journal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// Reader reads accounts' tags, at most imapi.MaxAccountsPerCall at a time,
// through api's get operation: *imapi.Client's GetTags. failed are the
// accounts the answer's ErrorList named, each with its own code.
type Reader interface {
	GetTags(ctx context.Context, api imapi.API, accounts []string) (tags []records.Record, failed []*imapi.APIError, err error)
}

// Sink keeps an invocation's log durably.
type Sink interface {
	// Append stores the next chunk of the log: when it returns nil, the chunk
	// outlives the process. The chunk is the caller's again once Append
	// returns.
	Append(ctx context.Context, chunk []byte) error
}

// Config configures a [Recorder].
type Config struct {
	// Reader reads the tags before a batch is removed. Required.
	Reader Reader
	// API is the tag API family the reads go to: the removals' (IM_TAG_API);
	// "" is imapi.AllMemberPush.
	API imapi.API
	// Sink keeps the log. Required.
	Sink Sink
	// Limiter paces the reads: the get API's own rate. Default: a token bucket
	// at imapi.MaxCallsPerSecond: "Maximum call frequency: 100 times/second" on
	// im_get_tag's own page (tencentcloud.com 1047/37172, updated 2024-07-16;
	// looked up 2026-12-02), a window of its own beside im_remove_tag's.
	Limiter imapi.Limiter
	// Attempt names this recorder's entries apart from every other
	// invocation's: the chain number and the owner, say. Required.
	Attempt string
	// MaxReads bounds the reads of one batch, retries included; default 5.
	MaxReads int
	// GroupEvery spaces the writes of the log: intents ready meanwhile wait
	// and go in one chunk (group commit). Default DefaultGroupEvery; from the
	// recorder's start it grows to that, a quarter of the time since the
	// first write, so that the first batches wait little.
	GroupEvery time.Duration
}

// DefaultGroupEvery is the default spacing of the log's writes: at most four
// chunks a second, however many batches wait on them, so that the log costs
// a few object writes a second (each a request and its CPU) and the batches
// wait a quarter of a second at most for theirs (the engine reads that much
// ahead, see imapi.BeforeSend).
const DefaultGroupEvery = 250 * time.Millisecond

// GroupEveryFor is the spacing of the log's writes for a run expected to
// last about d: a two-hundredth of it, from 50 ms to DefaultGroupEvery.
// A batch waits for the write after its read before it is sent, and the
// reads go no faster than the removals (each API has the same 100 calls/s),
// so the reads never get further ahead than the run's start put them: the run
// loses about one spacing in all, never won back (BenchmarkJournaledRun). At
// a two-hundredth of the run that is half a percent of it, for about two
// hundred writes however long the run: a 10-s run writes every 50 ms, a run
// of 50 s or more every 250 ms; a shorter one no more than 20 times a second.
func GroupEveryFor(d time.Duration) time.Duration {
	return min(max(d/200, 50*time.Millisecond), DefaultGroupEvery)
}

// Recorder writes one invocation's log: each batch's intent before it is
// sent, and its outcome after. Its Prepare is an imapi.BeforeSend function.
type Recorder struct {
	cfg   Config
	first time.Time // the first write's start; zero before
	last  time.Time // the last write's start

	mu       sync.Mutex
	cond     *sync.Cond
	pending  []byte // lines not yet handed to the sink
	spare    []byte // the last chunk the sink stored, for the next
	gen      int64  // generation of pending: flushed once durable >= gen
	durable  int64  // last generation the sink stored
	writing  bool
	err      error // the first failed Append: every later Prepare fails
	next     int   // intents numbered so far
	intents  int64
	pairs    int64
	appended int64   // chunks appended
	removed  Changes // confirmed by an answer so far (see Removed)
}

// NewRecorder returns a recorder for one run.
func NewRecorder(cfg Config) (*Recorder, error) {
	if cfg.Reader == nil || cfg.Sink == nil || cfg.Attempt == "" {
		return nil, errors.New("journal: Reader, Sink and Attempt are required")
	}
	if cfg.Limiter == nil {
		cfg.Limiter = imapi.NewTokenBucket(imapi.MaxCallsPerSecond)
	}
	if cfg.MaxReads <= 0 {
		cfg.MaxReads = 5
	}
	if cfg.GroupEvery <= 0 {
		cfg.GroupEvery = DefaultGroupEvery
	}
	r := &Recorder{cfg: cfg}
	r.cond = sync.NewCond(&r.mu)
	return r, nil
}

// Option is the run option that journals a run: imapi.BeforeSend(r.Prepare).
func (r *Recorder) Option() imapi.RunOption { return imapi.BeforeSend(r.Prepare) }

// intent is a log line: the pairs read present before a batch was sent.
type intent struct {
	I        string           // the intent's ID: Attempt/n
	UserTags []records.Record `json:",omitempty"`
}

// outcome is a log line: how the batch of intent O ended, per account of
// its pairs. S is "ok" (every account applied) or "no" (every account known
// not applied); else Ok and No list them, and an account in neither is unknown.
type outcome struct {
	O  string
	S  string   `json:",omitempty"`
	Ok []string `json:",omitempty"`
	No []string `json:",omitempty"`
}

// Prepare reads the accounts of calls, writes their listed tags that are
// present ahead, and returns once that is durable: imapi.BeforeSend's
// function. A batch none of whose listed tags is present writes nothing.
func (r *Recorder) Prepare(ctx context.Context, calls []records.Record) (func(func(string) (bool, bool)), error) {
	present, err := r.read(ctx, calls)
	if err != nil {
		return nil, err
	}
	if len(present) == 0 {
		return nil, nil
	}
	r.mu.Lock()
	r.next++
	id := r.cfg.Attempt + "/" + strconv.Itoa(r.next)
	r.mu.Unlock()
	if err := r.write(ctx, true, func(b []byte) []byte { return appendIntent(b, id, present) }); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.intents++
	for _, p := range present {
		r.pairs += int64(len(p.Tags))
	}
	r.mu.Unlock()
	return func(applied func(string) (bool, bool)) { r.done(id, present, applied) }, nil
}

// read returns, for each call, the listed tags its account carries now.
func (r *Recorder) read(ctx context.Context, calls []records.Record) ([]records.Record, error) {
	accounts := make([]string, len(calls))
	for i, c := range calls {
		accounts[i] = c.Account
	}
	var (
		have []records.Record
		err  error
	)
	for attempt := 1; ; attempt++ {
		if err = r.cfg.Limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("journal: wait to read tags: %w", err)
		}
		var failed []*imapi.APIError
		if have, failed, err = r.cfg.Reader.GetTags(ctx, r.cfg.API, accounts); err == nil {
			// An account the service would not read for good (70107: it does
			// not know it) carries no tag to journal, and its removal fails
			// alike; one it may read if asked again makes the read retried.
			if i := slices.IndexFunc(failed, func(e *imapi.APIError) bool { return imapi.Classify(e) == imapi.Retryable }); i >= 0 {
				err = failed[i]
			}
		}
		if err == nil {
			break
		}
		if imapi.Classify(err) != imapi.Retryable || attempt >= r.cfg.MaxReads {
			return nil, fmt.Errorf("journal: read the tags before removing them: %w", err)
		}
		d := min(50*time.Millisecond<<attempt, 2*time.Second)
		select {
		case <-time.After(d/2 + rand.N(d/2+1)):
		case <-ctx.Done():
			return nil, fmt.Errorf("journal: read the tags before removing them: %w", err)
		}
	}
	return Present(calls, have), nil
}

// Present returns, for each listed record, the tags of it that the account
// carries in have, in the listed order; accounts that carry none are left out.
// A listed record without tags (a call clearing every tag of its account,
// imapi's ClearAllTags) lists every tag the account carries.
func Present(listed, have []records.Record) []records.Record {
	// The answer lists the accounts as asked, as a rule: then no index is
	// needed. The tags found are carved out of one array.
	inOrder := len(have) == len(listed)
	for i := 0; inOrder && i < len(have); i++ {
		inOrder = have[i].Account == listed[i].Account
	}
	var tags map[string][]string
	if !inOrder {
		tags = make(map[string][]string, len(have))
		for _, h := range have {
			tags[h.Account] = h.Tags
		}
	}
	n := 0
	for _, c := range listed {
		n += len(c.Tags)
	}
	found := make([]string, 0, n)
	var out []records.Record
	for i, c := range listed {
		carried := tags[c.Account]
		if inOrder {
			carried = have[i].Tags
		}
		want := c.Tags
		if len(want) == 0 {
			want = carried
		}
		start := len(found)
		for _, t := range want {
			if slices.Contains(carried, t) && !slices.Contains(found[start:], t) {
				found = append(found, t)
			}
		}
		if len(found) > start {
			if out == nil {
				out = make([]records.Record, 0, len(listed)-i)
			}
			out = append(out, records.Record{Account: c.Account, Tags: found[start:len(found):len(found)]})
		}
	}
	return out
}

// done appends a batch's outcome; it is made durable with the next intent's
// write, or at Close.
func (r *Recorder) done(id string, present []records.Record, applied func(string) (bool, bool)) {
	o := outcome{O: id}
	var oks, nos int
	var pairs int64
	for _, p := range present {
		switch ok, known := applied(p.Account); {
		case ok:
			oks++
			pairs += int64(len(p.Tags))
		case known:
			nos++
		}
	}
	r.mu.Lock()
	r.removed.Changed += int64(oks)
	r.removed.TagsRemoved += pairs
	r.mu.Unlock()
	switch {
	case oks == len(present):
		o.S = "ok"
	case nos == len(present):
		o.S = "no"
	case oks == 0 && nos == 0:
		return // unknown: the merge reads again
	default:
		for _, p := range present {
			switch ok, known := applied(p.Account); {
			case ok:
				o.Ok = append(o.Ok, p.Account)
			case known:
				o.No = append(o.No, p.Account)
			}
		}
	}
	// A lost outcome only costs a read at the merge.
	_ = r.write(context.Background(), false, func(b []byte) []byte { return appendOutcome(b, o) })
}

// Removed returns the accounts and pairs whose removal an answer confirmed so
// far, for progress: the merge's counts are exact, these are not (an account
// of two batches counts twice, a call whose answer was lost not at all).
func (r *Recorder) Removed() Changes {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removed
}

// write adds a line to the log, as line appends it; with wait, it returns
// once the line is durable.
func (r *Recorder) write(ctx context.Context, wait bool, line func([]byte) []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.pending = append(line(r.pending), '\n')
	gen := r.gen + 1
	if !wait {
		return nil
	}
	if !r.writing {
		r.writing = true
		go r.flushLoop()
	}
	for r.durable < gen && r.err == nil {
		r.cond.Wait()
	}
	return r.err
}

// flushLoop hands the pending lines to the sink, one chunk at a time, while
// there are any: every intent that arrives while a chunk is written, or
// before the next is due (see Config.GroupEvery), goes into the next (group
// commit).
func (r *Recorder) flushLoop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.pending) > 0 && r.err == nil {
		if !r.last.IsZero() {
			every := min(r.cfg.GroupEvery, r.last.Sub(r.first)/4)
			if wait := time.Until(r.last.Add(every)); wait > 0 {
				r.mu.Unlock()
				time.Sleep(wait)
				r.mu.Lock()
			}
		}
		r.last = time.Now()
		if r.first.IsZero() {
			r.first = r.last
		}
		chunk := r.pending
		r.pending, r.spare = r.spare[:0], nil
		r.gen++
		gen := r.gen
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.append(ctx, chunk)
		cancel()
		r.mu.Lock()
		if err != nil {
			r.err = fmt.Errorf("journal: write the log ahead of the removal: %w", err)
		} else {
			r.durable = gen
		}
		r.spare = chunk // the sink keeps no chunk it was given
		r.cond.Broadcast()
	}
	r.writing = false
}

// append stores a chunk in the sink.
func (r *Recorder) append(ctx context.Context, chunk []byte) error {
	if err := r.cfg.Sink.Append(ctx, chunk); err != nil {
		return err
	}
	r.appended++
	return nil
}

// Stats are what a recorder wrote.
type Stats struct {
	// Intents counts the batches written ahead; Pairs the account–tag pairs
	// they held (read present, before removal: an upper bound of the pairs the
	// run removed until the merge resolves them).
	Intents, Pairs int64
	// Chunks counts the writes to the sink.
	Chunks int64
}

// Close makes the outcomes durable: one more chunk at most. Call it after
// the run, before the job's progress is saved.
func (r *Recorder) Close(ctx context.Context) (Stats, error) {
	r.mu.Lock()
	for r.writing {
		r.cond.Wait()
	}
	chunk := r.pending
	r.pending = nil
	err := r.err
	r.mu.Unlock()
	if err == nil && len(chunk) > 0 {
		err = r.append(ctx, chunk)
	}
	st := Stats{Intents: r.intents, Pairs: r.pairs, Chunks: r.appended}
	if err != nil {
		return st, fmt.Errorf("journal: close the log: %w", err)
	}
	return st, nil
}
