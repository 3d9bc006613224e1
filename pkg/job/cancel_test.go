package job_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// pendingRecords reads a canceled job's pending records; nil if there are none.
func (e *env) pendingRecords(bucket, key string) []records.Record {
	e.t.Helper()
	return e.jsonlRecords(bucket, prefix+"pending/"+key+".jsonl")
}

// waitCalls waits until the emulator has had at least n calls.
func (e *env) waitCalls(n int64) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for e.calls() < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d calls after a minute, waiting for %d", e.calls(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkCanceled checks a canceled job's report and objects: exact counts,
// the pending records some of the file's, in its order, as many as the
// report counts (those from the first not resolved to the end, but for any
// that succeeded ahead of it), every other record done, no state left. It
// returns the report and the pending records.
func (e *env) checkCanceled(bucket, key string, recs []records.Record) (*job.FileReport, []records.Record) {
	e.t.Helper()
	t := e.t
	rep := e.report(bucket, key)
	n := int64(len(recs))
	if rep.Status != job.StatusCanceled || rep.Total != n || rep.Succeeded+rep.Failed+rep.Pending != n || rep.Canceled == nil {
		t.Fatalf("report: %s, total %d = %d + %d + %d, cancel %+v; want canceled, %d records accounted once",
			rep.Status, rep.Total, rep.Succeeded, rep.Failed, rep.Pending, rep.Canceled, n)
	}
	pending := e.pendingRecords(bucket, key)
	if int64(len(pending)) != rep.Pending || (rep.Pending > 0) != (rep.PendingKey == prefix+"pending/"+key+".jsonl") {
		t.Errorf("%d pending records in %q, the report counts %d", len(pending), rep.PendingKey, rep.Pending)
	}
	isPending := map[string]bool{}
	i := 0
	for _, r := range recs {
		if i < len(pending) && pending[i].Account == r.Account && slices.Equal(pending[i].Tags, r.Tags) {
			isPending[r.Account] = true
			i++
		}
	}
	if i != len(pending) {
		t.Errorf("the pending records are not the file's, in its order: %d of %d matched", i, len(pending))
	}
	for _, r := range recs {
		if got := e.im.Tags(r.Account); !isPending[r.Account] && !slices.Equal(got, []string{"keep"}) {
			t.Errorf("%s, resolved before the cancel, holds %v", r.Account, got)
			break
		}
	}
	for _, dir := range []string{"state/", "parts/"} {
		if left := e.fs.List(bucket, prefix+dir); len(left) != 0 {
			t.Errorf("%s%s holds %v after the cancel", prefix, dir, left)
		}
	}
	return rep, pending
}

// checkJournal checks a canceled job's journal: exactly the accounts whose
// tags are gone, each with the tags it lost, counted in the report.
func (e *env) checkJournal(bucket, key string, rep *job.FileReport, recs []records.Record) {
	e.t.Helper()
	if rep.JournalKey != prefix+"journal/"+key+".jsonl" {
		e.t.Fatalf("report's journal %q", rep.JournalKey)
	}
	inJournal := map[string][]string{}
	for _, r := range e.jsonlRecords(bucket, rep.JournalKey) {
		inJournal[r.Account] = r.Tags
	}
	var gone int64
	for _, r := range recs {
		tags, ok := inJournal[r.Account]
		if lost := slices.Equal(e.im.Tags(r.Account), []string{"keep"}); lost != ok || ok && !slices.Equal(tags, []string{"a", "b"}) {
			e.t.Errorf("%s: tags gone %v, in the journal %v (%v)", r.Account, lost, ok, tags)
		} else if lost {
			gone++
		}
	}
	if rep.Changed != gone || rep.TagsRemoved != 2*gone || int64(len(inJournal)) != gone || gone < rep.Succeeded {
		e.t.Errorf("report: changed %d, tags removed %d; %d accounts in the journal, %d lost their tags, %d records succeeded",
			rep.Changed, rep.TagsRemoved, len(inJournal), gone, rep.Succeeded)
	}
}

// TestCancelRunningChain cancels a chain while an invocation sends: it stops
// within a poll of the marker (a figure, logged: the calls after the marker
// are bounded by the rate over the time it took), its counts are exact, its
// pending records are the rest of the file, a late continuation and the sweep
// find nothing to do, and the pending file, uploaded, finishes the job.
func TestCancelRunningChain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scf    bool
		bucket string
	}{{"s3", false, s3Bucket}, {"cos", true, cosBucket}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{scf: tc.scf, journal: true, config: func(c *job.Config) { c.SweepAfter = sweepAfter }})
			recs := e.records("c", 12000) // 120 calls: three invocations or more at the test rate
			key := "cancel/me.csv"
			e.put(tc.bucket, key, encode(t, "csv", recs))
			loc := storage.Location{Scheme: map[bool]string{false: "s3", true: "cos"}[tc.scf], Bucket: tc.bucket, Key: key}
			first := make(chan error, 1)
			go func() {
				_, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, ""))
				first <- err
			}()
			e.waitCalls(20)
			// Removals: with no fault each call is applied (the journal's reads
			// of the tags are calls of their own API, at its own rate).
			removals := func() int64 { return e.im.Stats().Applied }
			before, asked := removals(), time.Now()
			res, err := e.service().Handle(e.roomyCtx(), job.Cancel(loc, "test"))
			if err != nil || (res.Status != job.StatusPending && res.Status != job.StatusCanceled) || len(res.Summaries) != 1 {
				t.Fatalf("cancel: %v, %+v", err, res)
			}
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			e.waitChain()
			after, calls := removals(), e.calls()
			rep, pending := e.checkCanceled(tc.bucket, key, recs)
			c := rep.Canceled
			if c.By != "test" || c.SeenAt.Before(c.RequestedAt) || c.StoppedAt.Before(c.SeenAt) {
				t.Errorf("cancel %+v", c)
			}
			if len(pending) == 0 {
				t.Fatal("nothing was pending at the cancel: the test sent too fast to show a stop")
			}
			e.checkJournal(tc.bucket, key, rep, recs)
			// What the job did after it was asked to stop: calls start at the
			// rate (the limiter's burst is one call), over the time from the
			// request to the stop.
			took := c.StoppedAt.Sub(c.RequestedAt)
			bound := int64(testRate*c.StoppedAt.Sub(asked).Seconds()) + 5
			t.Logf("cancel seen after %v, stopped after %v; %d removals after the request (bound %d at %d calls/s)",
				c.SeenAt.Sub(c.RequestedAt).Round(time.Millisecond), took.Round(time.Millisecond), after-before, bound, testRate)
			if after-before > bound {
				t.Errorf("%d removals after the request, more than %d", after-before, bound)
			}

			// No continuation, sweep or repeated event takes the job on again.
			late := job.ContinueEvent{Source: loc.String(), Checkpoint: prefix + "state/" + key + ".json", ETag: rep.ETag, Chain: rep.Chain + 1}
			if r, err := e.service().Handle(e.budgetCtx(), job.Direct(late.Payload())); err != nil || r.Status != job.StatusSkipped {
				t.Errorf("a late continuation: %v, %+v", err, r)
			}
			time.Sleep(sweepAfter)
			if sw, err := e.service().Handle(e.budgetCtx(), job.Timer("")); err != nil || len(sw.Jobs) != 0 {
				t.Errorf("the sweep: %v, %+v", err, sw)
			}
			if r, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, "")); err != nil || r.Status != job.StatusSkipped {
				t.Errorf("a repeated upload event: %v, %+v", err, r)
			}
			if e.calls() != calls {
				t.Errorf("%d calls after the job was canceled", e.calls()-calls)
			}

			// The pending file, uploaded, finishes the job.
			restKey := "rest/me.jsonl"
			data, err := e.fs.GetObject(tc.bucket, rep.PendingKey)
			if err != nil {
				t.Fatal(err)
			}
			e.put(tc.bucket, restKey, data)
			if _, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: loc.Scheme, Bucket: tc.bucket, Key: restKey}, "")); err != nil {
				t.Fatal(err)
			}
			e.waitChain()
			rest := e.report(tc.bucket, restKey)
			if rest.Status != job.StatusDone || rest.Total != rep.Pending || rest.Succeeded != rep.Pending {
				t.Errorf("the pending file's job: %+v", rest)
			}
			for _, r := range recs {
				if got := e.im.Tags(r.Account); !slices.Equal(got, []string{"keep"}) {
					t.Fatalf("%s holds %v after the pending file's job", r.Account, got)
				}
			}
		})
	}
}

// TestCancelResting: a job no invocation works on (left for the sweep) is
// ended by the cancel request itself, sending nothing; the sweep then finds
// nothing.
func TestCancelResting(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *job.Config) { c.Invoker, c.SweepAfter = nil, sweepAfter }})
	recs := e.records("r", 9000)
	key := "resting.jsonl"
	loc, _, _ := e.putS3(key, encode(t, "jsonl", recs))
	res, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, ""))
	if err != nil || res.Status != job.StatusPending || res.Continued {
		t.Fatalf("first invocation: %v, %+v", err, res)
	}
	sum, err := e.service().Handle(e.roomyCtx(), job.Inspect(loc, "test"))
	if err != nil || len(sum.Summaries) != 1 || sum.Summaries[0].State != job.JobSweep || !strings.Contains(sum.Summaries[0].Note, "no self-invocation") {
		t.Fatalf("status before: %v, %+v", err, sum)
	}
	before := e.calls()
	res, err = e.service().Handle(e.roomyCtx(), job.Cancel(loc, "test"))
	if err != nil || res.Status != job.StatusCanceled || len(res.Summaries) != 1 || res.Summaries[0].State != job.JobCanceled {
		t.Fatalf("cancel: %v, %+v", err, res)
	}
	if e.calls() != before {
		t.Errorf("the cancel made %d calls", e.calls()-before)
	}
	rep, _ := e.checkCanceled(s3Bucket, key, recs)
	if rep.Pending == 0 || rep.Succeeded == 0 {
		t.Errorf("report %+v: want some records done before, some pending", rep.Counts)
	}
	time.Sleep(sweepAfter)
	if sw, err := e.service().Handle(e.budgetCtx(), job.Timer("")); err != nil || len(sw.Jobs) != 0 {
		t.Errorf("the sweep: %v, %+v", err, sw)
	}
	again, err := e.service().Handle(e.roomyCtx(), job.Cancel(loc, "test"))
	if err != nil || again.Status != job.StatusSkipped || !strings.Contains(again.Message, "over") {
		t.Errorf("a second cancel: %v, %+v", err, again)
	}
}

// TestCancelBeforeStart: a cancel of a file whose job has not started stops
// it as it starts, before any call, every record pending; a repeated event of
// that upload does nothing, and a new upload of the same bytes is a new job.
func TestCancelBeforeStart(t *testing.T) {
	e := newEnv(t, envOptions{scf: true})
	recs := e.records("b", 500)
	key := "early.csv"
	e.put(cosBucket, key, encode(t, "csv", recs))
	loc := storage.Location{Scheme: "cos", Bucket: cosBucket, Key: key}
	res, err := e.service().Handle(e.roomyCtx(), job.Cancel(loc, "test"))
	if err != nil || res.Status != job.StatusPending || len(res.Summaries) != 1 || res.Summaries[0].State != job.JobCanceling {
		t.Fatalf("cancel: %v, %+v", err, res)
	}
	res, err = e.service().Handle(e.budgetCtx(), job.Upload(loc, "gz"))
	if err != nil || res.Status != job.StatusCanceled || res.Pending != 500 {
		t.Fatalf("upload: %v, %+v", err, res)
	}
	if e.calls() != 0 {
		t.Errorf("%d calls for a job canceled before it started", e.calls())
	}
	if _, pending := e.checkCanceled(cosBucket, key, recs); len(pending) != 500 {
		t.Errorf("%d pending records", len(pending))
	}
	if r, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, "gz")); err != nil || r.Status != job.StatusSkipped {
		t.Errorf("a repeated upload event: %v, %+v", err, r)
	}
	// The same bytes uploaded again: Last-Modified, to the second, tells the upload apart.
	time.Sleep(time.Second)
	e.put(cosBucket, key, encode(t, "csv", recs))
	r, err := e.service().Handle(e.roomyCtx(), job.Upload(loc, "gz"))
	if err != nil || r.Status != job.StatusDone || r.Succeeded != 500 {
		t.Fatalf("a new upload of the same bytes: %v, %+v", err, r)
	}
}

// TestCancelOver: a job over has nothing to cancel; a file that does not
// exist, nor its job, is refused; the function's own objects are ignored.
func TestCancelOver(t *testing.T) {
	e := newEnv(t, envOptions{})
	recs := e.records("o", 100)
	loc, _, _ := e.putS3("over.csv", encode(t, "csv", recs))
	if r, err := e.service().Handle(e.roomyCtx(), job.Upload(loc, "")); err != nil || r.Status != job.StatusDone {
		t.Fatalf("upload: %v, %+v", err, r)
	}
	for _, tt := range []struct {
		key    string
		status job.Status
	}{{"over.csv", job.StatusSkipped}, {"missing.csv", job.StatusInvalid}, {prefix + "reports/over.csv.report.json", job.StatusInvalid}, {"folder/", job.StatusInvalid}} {
		r, err := e.service().Handle(e.roomyCtx(), job.Cancel(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: tt.key}, "test"))
		if err != nil || r.Status != tt.status {
			t.Errorf("cancel %s: %v, %+v; want %s", tt.key, err, r, tt.status)
		}
	}
	if got := e.fs.List(s3Bucket, prefix+"cancel/"); len(got) != 0 {
		t.Errorf("markers %v written for nothing to cancel", got)
	}
}

// TestCancelUndo: an undo canceled while it rests (its continuation lost) is
// ended by the request: its report under undo/, its pending parts, and the
// document that finishes it, which restores every account's tags.
func TestCancelUndo(t *testing.T) {
	e := newEnv(t, envOptions{journal: true, config: func(c *job.Config) { c.SweepAfter = time.Hour }})
	recs, before := e.undoWorld("v", 12000)
	jkey := e.removeJournaled("in/v.csv", recs)
	e.api.LoseNext(1)
	if res, err := e.service().Handle(e.budgetCtx(), job.Direct(undoDoc(jkey))); err != nil || !res.Continued {
		t.Fatalf("first invocation of the undo: %v, %+v", err, res)
	}
	e.waitChain()
	loc := storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: jkey}
	st, err := e.service().Handle(e.roomyCtx(), job.Inspect(loc, "test"))
	if err != nil || len(st.Summaries) != 1 || st.Summaries[0].Kind != job.KindUndo || st.Summaries[0].State != job.JobHandedOn {
		t.Fatalf("status of the undo: %v, %+v", err, st)
	}
	res, err := e.service().Handle(e.roomyCtx(), job.Cancel(loc, "test"))
	if err != nil || res.Status != job.StatusCanceled || len(res.Summaries) != 1 || res.Summaries[0].State != job.JobCanceled {
		t.Fatalf("cancel of the undo: %v, %+v", err, res)
	}
	rep := e.undoReport(jkey)
	pendingKey := prefix + "undo/pending/" + jkey + ".jsonl"
	doc := fmt.Sprintf(`{"Undo":"s3://%s/%s"}`, s3Bucket, pendingKey)
	if rep.Kind != job.KindUndo || rep.Status != job.StatusCanceled || rep.Pending == 0 || rep.PendingKey != pendingKey || !strings.Contains(rep.Message, doc) {
		t.Fatalf("the undo's report: %+v", rep)
	}
	if n := len(e.jsonlRecords(s3Bucket, pendingKey)); int64(n) != rep.Pending {
		t.Errorf("%d pending parts, the report counts %d", n, rep.Pending)
	}
	if _, err := e.service().Handle(e.budgetCtx(), job.Direct([]byte(doc))); err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	e.checkRestored(before)
}

// TestCancelAllTags: a job of the form of accounts alone, canceled before it
// starts, leaves its accounts as a document of that form, which, uploaded,
// clears every tag of each.
func TestCancelAllTags(t *testing.T) {
	e := newEnv(t, envOptions{})
	recs := e.records("z", 300)
	accounts := make([]string, len(recs))
	for i, r := range recs {
		accounts[i] = r.Account
	}
	doc, _ := json.Marshal(map[string]any{"AllTags": true, "To_Account": accounts})
	loc, _, _ := e.putS3("clear.json", doc)
	if r, err := e.service().Handle(e.roomyCtx(), job.Cancel(loc, "test")); err != nil || r.Status != job.StatusPending {
		t.Fatalf("cancel: %v, %+v", err, r)
	}
	r, err := e.service().Handle(e.roomyCtx(), job.Upload(loc, ""))
	if err != nil || r.Status != job.StatusCanceled || r.Pending != 300 || r.PendingKey != prefix+"pending/clear.json.json" {
		t.Fatalf("upload: %v, %+v", err, r)
	}
	pending, err := e.fs.GetObject(s3Bucket, r.PendingKey)
	if err != nil || string(pending) != string(doc)+"\n" {
		t.Fatalf("the pending document: %v\n%.300s\nwant\n%.300s", err, pending, doc)
	}
	rest, _, _ := e.putS3("rest/clear.json", pending)
	if r, err := e.service().Handle(e.roomyCtx(), job.Upload(rest, "")); err != nil || r.Status != job.StatusDone || r.Succeeded != 300 {
		t.Fatalf("the pending document's job: %v, %+v", err, r)
	}
	for _, a := range accounts {
		if got := e.im.Tags(a); len(got) != 0 {
			t.Fatalf("%s holds %v after its tags were cleared", a, got)
		}
	}
}
