package job_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// rendezvous holds the first two callers of wait until both have come (or a
// minute has passed), so that what follows races; later callers pass.
type rendezvous struct {
	mu   sync.Mutex
	n    int
	both chan struct{}
}

func newRendezvous() *rendezvous { return &rendezvous{both: make(chan struct{})} }

func (r *rendezvous) wait() {
	r.mu.Lock()
	r.n++
	n := r.n
	if n == 2 {
		close(r.both)
	}
	r.mu.Unlock()
	if n <= 2 {
		select {
		case <-r.both:
		case <-time.After(time.Minute):
		}
	}
}

// racingStore makes the claims of two invocations race. The writes of one
// key (the checkpoint) meet at before, just before they are sent. Then, with
// after set, both are done before either writer goes on (reads back); else
// the first goes on at once and the second is held until the first has read
// something after its write: the interleaving in which reading back one's
// own write proves nothing.
type racingStore struct {
	storage.Store
	key    string
	before *rendezvous
	after  *rendezvous // nil: in turn
	turn   *turns
}

// turns lets a second writer go once the first has read after writing.
type turns struct {
	mu      sync.Mutex
	writers int
	wrote   bool
	read    chan struct{}
	once    sync.Once
}

func newTurns() *turns { return &turns{read: make(chan struct{})} }

// write runs a writer's write in its turn.
func (t *turns) write(w func()) {
	t.mu.Lock()
	t.writers++
	first := t.writers == 1
	t.mu.Unlock()
	if !first {
		select {
		case <-t.read:
		case <-time.After(time.Minute):
		}
		w()
		return
	}
	w()
	t.mu.Lock()
	t.wrote = true
	t.mu.Unlock()
}

// readDone is called after each read: the first after the first write lets
// the second writer go.
func (t *turns) readDone() {
	t.mu.Lock()
	wrote := t.wrote
	t.mu.Unlock()
	if wrote {
		t.once.Do(func() { close(t.read) })
	}
}

// race runs a write of key as the store's interleaving has it.
func (s racingStore) race(key string, w func()) {
	if key != s.key {
		w()
		return
	}
	s.before.wait()
	if s.after != nil {
		w()
		s.after.wait()
		return
	}
	s.turn.write(w)
}

func (s racingStore) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) (err error) {
	s.race(key, func() { err = s.Store.Put(ctx, key, body, contentType) })
	return err
}

func (s racingStore) PutIf(ctx context.Context, key string, body io.ReadSeeker, contentType string, c storage.Condition) (etag string, err error) {
	s.race(key, func() { etag, err = s.Store.PutIf(ctx, key, body, contentType, c) })
	return etag, err
}

func (s racingStore) Open(ctx context.Context, key string, off int64, etag string) (io.ReadCloser, storage.Info, error) {
	if s.turn != nil {
		defer s.turn.readDone()
	}
	return s.Store.Open(ctx, key, off, etag)
}

// TestClaimTwoDeliveries delivers one upload event twice at once, the two
// claims meeting at the store: exactly one invocation works on the file, the
// other answers skipped, and the report counts every record once.
//
// On S3 and on a COS bucket that never had versioning the claim is a
// conditional create, which holds however the two invocations' writes and
// reads interleave: here, in the order that defeats a write read back (one
// writes and reads back before the other writes). On a versioned COS bucket
// it is a write read back, which holds when both writes land before either
// reads, held so here; the README says what it does not cover.
func TestClaimTwoDeliveries(t *testing.T) {
	tests := []struct {
		name      string
		scheme    string
		bucket    string
		versioned bool
		claim     string // the log line of the claim
	}{
		{"S3 If-None-Match", storage.SchemeS3, s3Bucket, false, `"condition":"create-only"`},
		{"COS x-cos-forbid-overwrite", storage.SchemeCOS, cosBucket, false, `"condition":"create-only"`},
		{"COS versioned: write then read", storage.SchemeCOS, cosBucket, true, "claim: write, then read back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "twice/accounts.csv"
			race := racingStore{key: prefix + "state/" + key + ".json", before: newRendezvous(), turn: newTurns()}
			if tt.versioned {
				race.after, race.turn = newRendezvous(), nil
			}
			e := newEnv(t, envOptions{store: func(s storage.Store) storage.Store {
				race := race
				race.Store = s
				return race
			}})
			if tt.versioned {
				if err := e.fs.EnableVersioning(tt.bucket); err != nil {
					t.Fatal(err)
				}
			}
			// 2,000 records: 20 calls, done well within one invocation.
			e.budget = 30 * time.Second
			recs := e.records("t", 2000)
			e.put(tt.bucket, key, encode(t, "csv", recs))
			loc := storage.Location{Scheme: tt.scheme, Bucket: tt.bucket, Key: key}

			var wg sync.WaitGroup
			results := make([]*job.Result, 2)
			errs := make([]error, 2)
			for i := range 2 {
				wg.Go(func() { results[i], errs[i] = e.service().Handle(e.budgetCtx(), job.Upload(loc, "gz")) })
			}
			wg.Wait()

			var done, skipped int
			for i, res := range results {
				switch {
				case errs[i] != nil:
					t.Fatalf("delivery %d: %v", i, errs[i])
				case res.Status == job.StatusDone:
					done++
				case res.Status == job.StatusSkipped && strings.Contains(res.Message, "claimed the job at the same time"):
					skipped++
				default:
					t.Errorf("delivery %d: %s (%s)", i, res.Status, res.Message)
				}
			}
			if done != 1 || skipped != 1 {
				t.Fatalf("%d deliveries worked on the file and %d were skipped, want one each", done, skipped)
			}
			rep := e.checkDone(tt.bucket, key, recs)
			if rep.Invocations != 1 || rep.Calls != e.calls() {
				t.Errorf("report: %d invocations, %d calls; the emulator saw %d calls; want one invocation making them all",
					rep.Invocations, rep.Calls, e.calls())
			}
			if !strings.Contains(e.logs.String(), tt.claim) {
				t.Errorf("no claim logged as %s", tt.claim)
			}
		})
	}
}

// TestClaimLostMidRun lets another invocation take a job over from one that
// is working on it (a sweep that finds its checkpoint stale: here, with
// SweepAfter at a nanosecond). The first one learns it at its next write of
// the checkpoint and stops: it writes no checkpoint, no report and hands
// nothing on, and removes the part of failed records it wrote. The records it
// handled are sent again by the owner's chain: the report is exact, and the
// records the emulator refused to the first invocation alone are done.
func TestClaimLostMidRun(t *testing.T) {
	key := "lost/accounts.csv"
	var (
		claims    atomic.Int32
		hook      func()
		firstDone = make(chan struct{})
		release   = sync.OnceFunc(func() { close(firstDone) })
		parts     = &keyLog{}
	)
	defer release()
	e := newEnv(t, envOptions{store: func(s storage.Store) storage.Store {
		return hookedStore{Store: s, key: prefix + "state/" + key + ".json", parts: parts, after: func() {
			if claims.Add(1) == 1 {
				hook()
			}
		}}
	}})
	recs := e.records("m", 12000)
	e.put(s3Bucket, key, encode(t, "csv", recs))
	impatient := e.another(func(c *job.Config) {
		c.SweepAfter = time.Nanosecond
		c.Buckets = []storage.Location{{Scheme: storage.SchemeS3, Bucket: s3Bucket}}
	})
	var sweep *job.Result
	hook = func() {
		// The first invocation has just claimed the job: the sweep takes it
		// over and runs one invocation's share, handing the rest on.
		var err error
		if sweep, err = impatient.Handle(e.budgetCtx(), job.Timer("")); err != nil {
			t.Errorf("sweep: %v", err)
		}
		// The first invocation's next calls: two refused for good.
		e.im.Script(emulator.Fault{}, emulator.Fault{Code: 70107}, emulator.Fault{}, emulator.Fault{Code: 70107})
	}
	// The chain waits for the first invocation to end, which is thus alone
	// to call while it works.
	e.hook = func(int, []byte) bool { <-firstDone; return true }

	// Its budget covers the sweep's, which runs inside its claim, and two
	// seconds of its own: too short for the whole file.
	ctx, cancel := context.WithTimeout(context.Background(), e.budget+2*time.Second)
	defer cancel()
	res, err := e.service().Handle(ctx, job.Upload(storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket, Key: key}, ""))
	if err != nil {
		t.Fatal(err)
	}
	// The parts written so far are the first invocation's (the sweep had no
	// failures): none is left.
	written := parts.keys()
	if len(written) == 0 {
		t.Fatal("the first invocation wrote no part of failed records")
	}
	if left := e.fs.List(s3Bucket, prefix+"parts/"); len(left) != 0 {
		t.Errorf("parts %v left behind by the invocation that lost the job (it wrote %v)", left, written)
	}
	release()
	if res.Status != job.StatusSkipped || !strings.Contains(res.Message, "took the job over") || res.Continued {
		t.Errorf("first invocation: %s, continued %v (%s); want skipped, having lost the job", res.Status, res.Continued, res.Message)
	}
	if sweep == nil || len(sweep.Jobs) != 1 || sweep.Jobs[0].Status != job.StatusPending || !sweep.Jobs[0].Continued {
		t.Fatalf("the sweep did not take the job over and hand it on: %+v", sweep)
	}
	if refused := e.im.Stats().Codes[70107]; refused != 2 {
		t.Fatalf("the emulator refused %d calls, want the first invocation's two", refused)
	}
	e.waitChain()
	ds := e.deliveries()
	for i, d := range ds {
		if d.err != nil {
			t.Errorf("continuation %d: %v", i+1, d.err)
		}
	}
	// Done, exact, no part left; the records refused to the lost invocation
	// were sent again and done.
	rep := e.checkDone(s3Bucket, key, recs)
	// Invocations: the first one's claim, the sweep's, each continuation's.
	if rep.Failed != 0 || rep.Invocations != 2+len(ds) {
		t.Errorf("report: %d failed, %d invocations; want none failed and %d invocations", rep.Failed, rep.Invocations, 2+len(ds))
	}
	// The lost invocation's work counts in nobody's part: the owner's chain redid it.
	if res.Invocation != (imapi.Counts{}) || res.Ended() {
		t.Errorf("the invocation that lost the job: own part %+v, ended %v; want none", res.Invocation, res.Ended())
	}
	answers := []*job.Result{sweep.Jobs[0]}
	for _, d := range ds {
		answers = append(answers, d.res)
	}
	checkShares(t, rep, answers...)
	if !strings.Contains(e.logs.String(), "job lost") {
		t.Error("the loss is not logged")
	}
}

// hookedStore calls after once each write of one key is done, and notes the
// parts of failed records written.
type hookedStore struct {
	storage.Store
	key   string
	after func()
	parts *keyLog
}

func (s hookedStore) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error {
	err := s.Store.Put(ctx, key, body, contentType)
	if err == nil && strings.HasPrefix(key, prefix+"parts/") {
		s.parts.add(key)
	}
	return err
}

// keyLog notes keys, safe for concurrent use.
type keyLog struct {
	mu   sync.Mutex
	list []string
}

func (l *keyLog) add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, key)
}

func (l *keyLog) keys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

func (s hookedStore) PutIf(ctx context.Context, key string, body io.ReadSeeker, contentType string, c storage.Condition) (string, error) {
	etag, err := s.Store.PutIf(ctx, key, body, contentType, c)
	if key == s.key && err == nil {
		s.after()
	}
	return etag, err
}

// answerLostStore loses the answer to the first conditional write of one
// key, as a connection cut after the request was served would; the SDK's
// retry of it then finds the condition gone. With written false the first
// write never reaches the store: a conflict nobody won.
type answerLostStore struct {
	storage.Store
	key     string
	written bool
	done    *atomic.Bool
}

func (s answerLostStore) PutIf(ctx context.Context, key string, body io.ReadSeeker, contentType string, c storage.Condition) (string, error) {
	if key != s.key || s.done.Swap(true) {
		return s.Store.PutIf(ctx, key, body, contentType, c)
	}
	if s.written {
		if _, err := s.Store.PutIf(ctx, key, body, contentType, c); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("put %s (%s), retried after a lost answer: %w", key, c, storage.ErrPreconditionFailed)
}

// TestClaimAnswerLost: a claim whose write landed but whose answer was lost
// looks like a lost race; reading the checkpoint back, the invocation finds
// its own name and goes on. A conflict that left no checkpoint is an error,
// for the platform's retry, which then does the job.
func TestClaimAnswerLost(t *testing.T) {
	for _, written := range []bool{true, false} {
		name := map[bool]string{true: "own write landed", false: "nobody won"}[written]
		t.Run(name, func(t *testing.T) {
			key := "answer/accounts.csv"
			var done atomic.Bool
			e := newEnv(t, envOptions{store: func(s storage.Store) storage.Store {
				return answerLostStore{Store: s, key: prefix + "state/" + key + ".json", written: written, done: &done}
			}})
			e.budget = 30 * time.Second
			recs := e.records("a", 500)
			e.put(s3Bucket, key, encode(t, "csv", recs))
			loc := storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket, Key: key}
			res, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, ""))
			if written {
				if err != nil || res.Status != job.StatusDone {
					t.Fatalf("claim whose answer was lost: %v, %+v; want the job done", err, res)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), "no invocation holds the job") || e.calls() != 0 {
					t.Fatalf("conflict nobody won: %v, %+v, %d calls; want an error and no call", err, res, e.calls())
				}
				if res, err = e.service().Handle(e.budgetCtx(), job.Upload(loc, "")); err != nil || res.Status != job.StatusDone {
					t.Fatalf("the platform's retry: %v, %+v", err, res)
				}
			}
			rep := e.checkDone(s3Bucket, key, recs)
			if rep.Invocations != 1 {
				t.Errorf("report: %d invocations, want 1", rep.Invocations)
			}
		})
	}
}
