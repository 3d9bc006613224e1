package main_test

// An admin operating deployed jobs, end to end under both runtimes: the
// status of a bucket's jobs and the cancel of one, asked over HTTP (GET and
// DELETE with ?source=…) of a second instance of the function while the
// first works through a chain.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/internal/logtest"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
)

const (
	// operateRate is IM_RATE_LIMIT in these tests: the canceled job's rest,
	// uploaded again, takes seconds.
	operateRate = 50
	// bigSize is the records of the job canceled.
	bigSize = 100_000
	// leftSize is the records of the job left for the sweep: more than one
	// invocation does.
	leftSize = 40_000
	// operateBudget is the function's time limit here: its reserve (a tenth)
	// holds the hand-off's writes, the journal's seal among them (about 300
	// ms for 430 calls under -race on a loaded machine, where 3 s and 5 s at
	// 100 calls/s left too little).
	operateBudget = 6 * time.Second
)

// TestOperate runs before the parallel tests, not beside them: its two
// 100,000-row jobs at 100 calls/s would load the machine enough to push their
// 3-s invocations past their deadlines.
func TestOperate(t *testing.T) {
	binaries(t)
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			testOperate(t, p)
		})
	}
}

// another starts a second instance of the world's function, on the same
// stores, IM and invoke API: it answers while the first is busy.
func (w *world) another(t *testing.T) runtimeProc {
	out := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("second instance's output:\n%s", out)
		}
	})
	return w.p.start(t, out, w.env, w.budget)
}

// ask sends an authorised GET or DELETE with the query to rt and returns the
// HTTP status and the answer.
func (w *world) ask(t *testing.T, rt runtimeProc, method string, query map[string]string) (int, *job.Result) {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(w.p.http(method, map[string]string{"authorization": "Bearer " + httpToken}, nil), &ev); err != nil {
		t.Fatal(err)
	}
	switch w.p {
	case lambdaPlatform:
		ev["queryStringParameters"] = query
	default:
		ev["queryString"], ev["queryStringParameters"] = query, maps.Clone(query)
	}
	a, err := rt.invoke(mustJSON(ev))
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.answers = append(w.answers, a)
	w.mu.Unlock()
	status, body := w.p.httpAnswer(t, a)
	var res job.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("%s answer: %v: %.300s", method, err, body)
	}
	return status, &res
}

// jobsOf indexes a status answer's jobs by key.
func jobsOf(res *job.Result) map[string]job.Summary {
	out := map[string]job.Summary{}
	for _, s := range res.Summaries {
		out[s.Key] = s
	}
	return out
}

// lines reads an object of JSON lines.
func (w *world) lines(t *testing.T, key string) []string {
	t.Helper()
	data, err := w.fs.GetObject(w.p.bucket, key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func testOperate(t *testing.T, p *platform) {
	w := newWorldBudget(t, p, func(env []string) []string {
		env = replaceEnv(env, "REMOVETAG_SWEEP_AFTER", "2m")
		return replaceEnv(env, "IM_RATE_LIMIT", strconv.Itoa(operateRate))
	}, operateBudget)
	admin := w.another(t)

	// A job done, one with records refused for good, one left for the sweep.
	w.put(t, "done.csv", csv(w.accounts("done", 200)))
	if r := w.run(t, p.upload("done.csv")); r.Status != job.StatusDone {
		t.Fatalf("done.csv: %+v", r)
	}
	w.put(t, "refused.csv", csv(w.accounts("refused", 200)))
	w.im.Script(emulator.Fault{Code: 70107})
	if r := w.run(t, p.upload("refused.csv")); r.Status != job.StatusDone || r.Failed != 100 {
		t.Fatalf("refused.csv: %+v", r)
	}
	w.put(t, "left.csv", csv(w.accounts("left", leftSize)))
	w.api.FailNext(1, map[*platform]string{lambdaPlatform: "ResourceNotFoundException", scfPlatform: "ResourceNotFound.Function"}[p])
	if r := w.run(t, p.upload("left.csv")); r.Status != job.StatusPending || r.Continued {
		t.Fatalf("left.csv: %+v", r)
	}

	// The big one, running through its chain on the first instance.
	accs := w.accounts("big", bigSize)
	w.put(t, "big.csv", csv(accs))
	first := make(chan error, 1)
	go func() {
		_, err := w.rt.invoke(p.upload("big.csv"))
		first <- err
	}()
	big := map[string]string{"source": w.source("big.csv")}
	var running job.Summary
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		status, res := w.ask(t, admin, "GET", big)
		if s := res.Summaries; status == 200 && len(s) == 1 && s[0].State == job.JobRunning && s[0].Phase == job.PhaseSend && s[0].Succeeded > 0 {
			running = s[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("big.csv never seen running in its send phase: %d %+v", status, res)
		}
	}

	// The bucket's status while the chain runs.
	status, res := w.ask(t, admin, "GET", map[string]string{"source": p.scheme + "://" + p.bucket})
	got := jobsOf(res)
	for _, tt := range []struct {
		key   string
		state job.JobState
		ok    bool
	}{
		{"big.csv", job.JobRunning, got["big.csv"].Total == bigSize && got["big.csv"].Pending == bigSize-got["big.csv"].Done() && got["big.csv"].Chain >= 1 &&
			got["big.csv"].RecordsPerSecond > 0 && !got["big.csv"].ETA.IsZero() && strings.HasPrefix(got["big.csv"].UpdatedBy, "continue/")},
		{"done.csv", job.JobDone, got["done.csv"].Succeeded == 200 && got["done.csv"].Calls == 2 && strings.HasPrefix(got["done.csv"].UpdatedBy, "upload/")},
		{"refused.csv", job.JobFailed, got["refused.csv"].Failed == 100 && got["refused.csv"].FailedKey != ""},
		{"left.csv", job.JobSweep, got["left.csv"].Total == leftSize && got["left.csv"].Pending > 0 && strings.Contains(got["left.csv"].Note, "self-invocation failed")},
	} {
		if s, found := got[tt.key]; !found || (s.State != tt.state && !(tt.key == "big.csv" && s.State == job.JobHandedOn)) || !tt.ok {
			t.Errorf("status of %s: %+v; want %s", tt.key, s, tt.state)
		}
	}
	if status != 200 || len(got) != 4 {
		t.Errorf("bucket status: %d, %d jobs: %+v", status, len(got), res)
	}
	t.Logf("big.csv running: %d of %d done, chain %d, %.0f records/s", running.Done(), running.Total, running.Chain, running.RecordsPerSecond)

	// The cancel, on the second instance.
	// Removals: with no fault each call is applied (the journal's reads of
	// the tags are calls of their own API, at its own rate).
	removals := func() int64 { return w.im.Stats().Applied }
	before, asked := removals(), time.Now()
	status, res = w.ask(t, admin, "DELETE", big)
	if (status != 202 || res.Status != job.StatusPending) && (status != 200 || res.Status != job.StatusCanceled) {
		t.Fatalf("DELETE: %d %+v", status, res)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	w.waitIdle(t)
	after, calls := removals(), w.requests()
	checkBigCanceled(t, w, accs, before, after, asked)

	// Nothing takes the canceled job on again.
	rep := w.report(t, "big.csv")
	late := job.ContinueEvent{Source: w.source("big.csv"), Checkpoint: outPrefix + "state/big.csv.json", ETag: rep.ETag, Chain: rep.Chain + 1}
	if r := w.run(t, late.Payload()); r.Status != job.StatusSkipped {
		t.Errorf("a late continuation: %+v", r)
	}
	if r := w.run(t, p.sweep); r.Status != job.StatusSwept || len(r.Jobs) != 0 {
		t.Errorf("the sweep: %+v", r)
	}
	if r := w.run(t, p.upload("big.csv")); r.Status != job.StatusSkipped {
		t.Errorf("the upload's event again: %+v", r)
	}
	if n := w.requests() - calls; n != 0 {
		t.Errorf("%d calls after the job was canceled", n)
	}
	status, res = w.ask(t, admin, "GET", big)
	if s := res.Summaries; status != 200 || len(s) != 1 || s[0].State != job.JobCanceled || s[0].PendingKey != rep.PendingKey || s[0].Pending != rep.Pending {
		t.Errorf("status after the cancel: %d %+v", status, res)
	}
	if status, res = w.ask(t, admin, "DELETE", big); status != 409 || res.Status != job.StatusSkipped {
		t.Errorf("a second DELETE: %d %+v", status, res)
	}

	// The pending records, uploaded again, finish the job.
	data, err := w.fs.GetObject(p.bucket, rep.PendingKey)
	if err != nil {
		t.Fatal(err)
	}
	w.put(t, "rest/big.jsonl", data)
	w.run(t, p.upload("rest/big.jsonl"))
	w.waitIdle(t)
	if r := w.report(t, "rest/big.jsonl"); r.Status != job.StatusDone || r.Total != rep.Pending || r.Succeeded != rep.Pending {
		t.Errorf("the pending file's job: %+v", r)
	}
	if n := w.vipLeft(accs); n != 0 {
		t.Errorf("%d accounts keep the tag after the pending file's job", n)
	}
}

// checkBigCanceled checks the canceled job: its report's counts exact, its
// pending records exactly the file's last ones, every other account done,
// no state left, and what it did after it was asked to stop: calls start at
// the rate (the limiter's burst is one), over the time from the request to
// the stop (the function stamps the stop on this machine's clock). The time
// from the marker to the stop is a figure, logged.
func checkBigCanceled(t *testing.T, w *world, accs []string, before, after int64, asked time.Time) {
	t.Helper()
	rep := w.report(t, "big.csv")
	c := rep.Canceled
	if rep.Status != job.StatusCanceled || rep.Total != bigSize || rep.Succeeded+rep.Failed+rep.Pending != bigSize || rep.Pending == 0 || c == nil || c.By != "http" {
		t.Fatalf("report: %+v", rep)
	}
	pending := w.lines(t, rep.PendingKey)
	if int64(len(pending)) != rep.Pending {
		t.Errorf("%d pending records, the report counts %d", len(pending), rep.Pending)
	}
	// The pending records are the file's, in its order (those from the first
	// not resolved to the end, but for any that succeeded ahead of it); every
	// other account lost the tag.
	var resolved []string
	i := 0
	for _, a := range accs {
		if i < len(pending) && pending[i] == fmt.Sprintf(`{"To_Account":%q,"Tags":["vip"]}`, a) {
			i++
			continue
		}
		resolved = append(resolved, a)
	}
	if i != len(pending) {
		t.Fatalf("the pending records are not the file's, in its order: %d of %d matched", i, len(pending))
	}
	if n := w.vipLeft(resolved); n != 0 {
		t.Errorf("%d accounts done before the cancel keep the tag", n)
	}
	// The journal holds exactly the accounts that lost the tag (those done,
	// and any of a call in flight at the stop whose removal landed).
	journal := map[string]bool{}
	for _, line := range w.lines(t, rep.JournalKey) {
		journal[line] = true
	}
	gone := int64(len(accs) - w.vipLeft(accs))
	for _, a := range resolved {
		if !journal[fmt.Sprintf(`{"To_Account":%q,"Tags":["vip"]}`, a)] {
			t.Fatalf("%s lost the tag, and is not in the journal", a)
		}
	}
	if int64(len(journal)) != gone || rep.Changed != gone || rep.TagsRemoved != gone {
		t.Errorf("journal: %d lines, report changed %d, tags removed %d; %d accounts lost the tag", len(journal), rep.Changed, rep.TagsRemoved, gone)
	}
	if left := w.fs.List(w.p.bucket, outPrefix+"state/big.csv"); len(left) != 0 {
		t.Errorf("state left: %v", left)
	}
	took := c.StoppedAt.Sub(c.RequestedAt)
	bound := int64(operateRate*c.StoppedAt.Sub(asked).Seconds()) + 5
	t.Logf("%s: cancel seen after %v, sending stopped after %v: %d removals after the request (bound %d at %d calls/s); %d done, %d pending",
		w.p.name, c.SeenAt.Sub(c.RequestedAt).Round(time.Millisecond), took.Round(time.Millisecond), after-before, bound, operateRate, rep.Succeeded, rep.Pending)
	if after-before > bound {
		t.Errorf("%d removals after the request, more than %d", after-before, bound)
	}
}
