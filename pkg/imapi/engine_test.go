package imapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// job makes n records over accounts u0…u{accounts-1} (repeating), each removing
// tag "t{i%3}", and seeds the emulator so that every account also holds "keep".
func job(srv *emulator.Server, n, accounts int) []records.Record {
	recs := make([]records.Record, n)
	for i := range recs {
		acct := fmt.Sprintf("u%d", i%accounts)
		recs[i] = records.Record{Account: acct, Tags: []string{fmt.Sprintf("t%d", i%3)}}
		srv.SetTags(acct, append(srv.Tags(acct), recs[i].Tags[0], "keep")...)
	}
	return recs
}

// assertOnlyKeepLeft checks that every account holds exactly "keep".
func assertOnlyKeepLeft(t *testing.T, srv *emulator.Server, accounts int) {
	t.Helper()
	if got := srv.TagCount(); got != accounts {
		t.Errorf("tags left = %d, want %d (one \"keep\" per account)", got, accounts)
	}
	for i := 0; i < accounts; i += max(accounts/50, 1) {
		if got := srv.Tags(fmt.Sprintf("u%d", i)); !slices.Equal(got, []string{"keep"}) {
			t.Errorf("u%d tags = %v, want [keep]", i, got)
		}
	}
}

// assertBalanced checks the report's invariant.
func assertBalanced(t *testing.T, rep *imapi.Report) {
	t.Helper()
	if rep.Total != rep.Succeeded+rep.Failed+rep.Pending {
		t.Fatalf("Total %d != Succeeded %d + Failed %d + Pending %d", rep.Total, rep.Succeeded, rep.Failed, rep.Pending)
	}
	if int64(len(rep.PendingRecords)) != rep.Pending {
		t.Fatalf("%d pending records listed, %d counted", len(rep.PendingRecords), rep.Pending)
	}
}

func TestEngineRemovesEverythingAndMerges(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 1050, 700) // 350 accounts appear twice, with different tags
	rep, err := imapi.NewEngine(client, imapi.EngineConfig{}).Run(context.Background(), records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if !rep.Done() || rep.Succeeded != 1050 || rep.Stopped != "" || rep.Resume != nil {
		t.Fatalf("report = %s, want all 1050 succeeded", rep.Summary())
	}
	st := srv.Stats()
	if st.DuplicateAccountCalls != 0 || st.MaxAccountsPerCall > imapi.MaxAccountsPerCall {
		t.Errorf("a call carried an account twice (%d) or over 100 accounts (%d)", st.DuplicateAccountCalls, st.MaxAccountsPerCall)
	}
	if rep.Calls != st.Requests || rep.Calls > 11 {
		t.Errorf("calls = %d (emulator saw %d), want at most 11 for 1050 records", rep.Calls, st.Requests)
	}
	assertOnlyKeepLeft(t, srv, 700)
}

// grants records when a limiter lets each call start.
type grants struct {
	imapi.Limiter
	mu    sync.Mutex
	times []time.Time
}

func (g *grants) Wait(ctx context.Context) error {
	err := g.Limiter.Wait(ctx)
	if err == nil {
		g.mu.Lock()
		g.times = append(g.times, time.Now())
		g.mu.Unlock()
	}
	return err
}

// maxInSecond returns the most grants within any one second.
func (g *grants) maxInSecond() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	most := 0
	for i, from := range g.times {
		n := 0
		for _, at := range g.times[i:] {
			if at.Sub(from) < time.Second {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

func TestEngineKeepsToRate(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Rate: -1})
	recs := job(srv, 6000, 6000) // 60 calls
	lim := &grants{Limiter: imapi.NewTokenBucket(30)}
	start := time.Now()
	rep, err := imapi.NewEngine(client, imapi.EngineConfig{Rate: 30}).Run(context.Background(), records.NewSliceSource(recs), imapi.WithLimiter(lim))
	if err != nil || !rep.Done() {
		t.Fatalf("run: %v, %s", err, rep.Summary())
	}
	// The calls start at the limiter's pace: one token, no burst. (Where they
	// arrive, a loaded machine may bunch them: the emulator's count is only a
	// sanity check.)
	if got := lim.maxInSecond(); got > 31 || len(lim.times) != 60 {
		t.Errorf("%d calls let start within one second (%d in all), the rate is 30", got, len(lim.times))
	}
	if got := srv.Stats().MaxPerSecond; got > 45 {
		t.Errorf("%d calls arrived within one second, the rate is 30", got)
	}
	if el := time.Since(start); el < 1900*time.Millisecond {
		t.Errorf("60 calls at 30/s took %v", el)
	}
}

func TestEngineRetriesTransientFaults(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 300, 300)
	srv.Script(
		emulator.Fault{Code: emulator.CodeInternal},
		emulator.Fault{HTTPStatus: 502},
		emulator.Fault{Drop: true},
		emulator.Fault{Code: emulator.CodeTooManyRequests},
		emulator.Fault{Drop: true, Apply: true},
		emulator.Fault{Code: 70500},
	)
	eng := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, SlowDown: 10 * time.Millisecond})
	rep, err := eng.Run(context.Background(), records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if !rep.Done() || rep.Succeeded != 300 || rep.Retries != 6 || rep.Calls != 9 {
		t.Fatalf("report = %s, want 300 succeeded in 9 calls with 6 retries", rep.Summary())
	}
	assertOnlyKeepLeft(t, srv, 300)
}

func TestEnginePermanentFailure(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 250, 250)
	srv.Script(emulator.Fault{}, emulator.Fault{Code: 70107}) // the second call: "account does not exist"
	var failed []string
	onFailed := imapi.OnFailed(func(r records.Record, err error) {
		if imapi.ErrorCode(err) != 70107 {
			t.Errorf("OnFailed reason = %v", err)
		}
		failed = append(failed, r.Account)
	})
	eng := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1})
	rep, err := eng.Run(context.Background(), records.NewSliceSource(recs), onFailed)
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Succeeded != 150 || rep.Failed != 100 || rep.Pending != 0 || rep.Retries != 0 {
		t.Fatalf("report = %s, want 150 succeeded, 100 failed, no retry", rep.Summary())
	}
	if len(rep.Failures) != 1 {
		t.Fatalf("failures = %+v, want one group", rep.Failures)
	}
	f := rep.Failures[0]
	if f.ErrorCode != 70107 || f.Records != 100 || len(f.Accounts) != 100 || f.Accounts[0] != "u100" || f.ErrorInfo == "" || f.Class != "permanent" {
		t.Errorf("failure = %+v", f)
	}
	if len(failed) != 100 || failed[0] != "u100" || failed[99] != "u199" {
		t.Errorf("OnFailed saw %d records from %v", len(failed), failed[:min(len(failed), 1)])
	}
	if got := srv.Tags("u150"); len(got) != 2 {
		t.Errorf("u150 (failed call) tags = %v, want its two tags kept", got)
	}
}

// TestEngineFatalErrorStops: a configuration refusal (70016, the wrong region)
// stops the run and leaves the refused call's records pending, with the resume
// position before them, so that the run continued once the configuration is
// fixed sends them; nothing is counted failed.
func TestEngineFatalErrorStops(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 1000, 1000)
	srv.Script(emulator.Fault{Code: 70016})
	obs := &recorder{}
	engine := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1, Observer: obs})
	rep, err := engine.Run(context.Background(), records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Calls != 1 || rep.Failed != 0 || rep.Succeeded != 0 || rep.StopReason != imapi.StopFatal || !strings.Contains(rep.Stopped, "70016") {
		t.Fatalf("report = %s, want one refused call, nothing failed, a fatal stop naming 70016", rep.Summary())
	}
	if rep.Resume == nil || rep.Resume.Record != 0 || rep.Resume.Failed != 0 || rep.Resume.Succeeded != 0 {
		t.Errorf("resume = %+v, want record 0 (before the refused call), nothing resolved before it", rep.Resume)
	}
	if len(rep.Failures) != 0 || len(rep.PendingErrors) != 1 || rep.PendingErrors[0].Class != imapi.Fatal ||
		rep.PendingErrors[0].ErrorCode != 70016 || rep.PendingErrors[0].Records != 100 {
		t.Errorf("failures %+v, pending errors %+v: want none failed, the refused call's 100 records pending with 70016", rep.Failures, rep.PendingErrors)
	}
	if got := obs.outcomes(); len(got) != 1 || got[0].Class != imapi.Fatal || got[0].ErrorCode != 70016 || got[0].RateLimited {
		t.Errorf("observed %+v, want one fatal call answered 70016", got)
	}
	if !slices.Contains(srv.Tags("u0"), "t0") {
		t.Fatalf("u0 holds %v: the refused call removed its tags", srv.Tags("u0"))
	}

	// The configuration fixed (the script is spent), the run continues from Resume.
	rest, err := engine.Run(context.Background(), records.NewSliceSource(recs[rep.Resume.Record:]))
	if err != nil {
		t.Fatal(err)
	}
	if !rest.Done() || rest.Succeeded != 1000 {
		t.Fatalf("continued run = %s, want all 1000 records done", rest.Summary())
	}
	assertOnlyKeepLeft(t, srv, 1000)
}

func TestEngineStopsWhenServiceUnavailable(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Faults: emulator.Faults{Internal: 1}})
	recs := job(srv, 2000, 2000)
	eng := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1, MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	rep, err := eng.Run(context.Background(), records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Failed != 0 || rep.Succeeded != 0 || rep.Calls != 6 || !strings.Contains(rep.Stopped, "unavailable") {
		t.Fatalf("report = %s, want 3 batches × 2 attempts, then a stop", rep.Summary())
	}
	if len(rep.PendingErrors) != 1 || rep.PendingErrors[0].ErrorCode != emulator.CodeInternal || rep.PendingErrors[0].Records != 300 {
		t.Errorf("pending errors = %+v, want 300 records under 91000", rep.PendingErrors)
	}
	if rep.Resume == nil || rep.Resume.Record != 0 {
		t.Errorf("resume = %+v, want the start", rep.Resume)
	}
}

func TestEngineUnknownOutcomeIsPending(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 50, 50)
	srv.Script(emulator.Fault{Drop: true, Apply: true})
	rep, err := imapi.NewEngine(client, imapi.EngineConfig{MaxAttempts: 1}).Run(context.Background(), records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Pending != 50 || rep.Failed != 0 || rep.Succeeded != 0 {
		t.Fatalf("report = %s, want 50 pending (the call was cut off)", rep.Summary())
	}
	if len(rep.PendingErrors) != 1 || rep.PendingErrors[0].Class != "retryable" {
		t.Errorf("pending errors = %+v", rep.PendingErrors)
	}
}

func TestEngineInvalidRecordsFailWithoutCalls(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 10, 10)
	recs = slices.Insert(recs, 3, records.Record{Account: "", Tags: []string{"t0"}})
	recs = slices.Insert(recs, 7, records.Record{Account: strings.Repeat("x", 33), Tags: []string{"t0"}})
	recs = append(recs, records.Record{Account: "u1", Tags: []string{strings.Repeat("é", 26)}})
	var order []int64
	eng := imapi.NewEngine(client, imapi.EngineConfig{})
	rep, err := eng.Run(context.Background(), records.NewSliceSource(recs), imapi.OnFailed(func(r records.Record, err error) {
		order = append(order, int64(len(r.Account)))
	}))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Total != 13 || rep.Succeeded != 10 || rep.Failed != 3 {
		t.Fatalf("report = %s, want 10 succeeded and 3 invalid", rep.Summary())
	}
	if len(rep.Failures) != 1 || rep.Failures[0].Class != "invalid" || rep.Failures[0].Records != 3 {
		t.Errorf("failures = %+v", rep.Failures)
	}
	if !slices.Equal(order, []int64{0, 33, 2}) {
		t.Errorf("OnFailed order (by account length) = %v, want [0 33 2]", order)
	}
	if st := srv.Stats(); st.Codes[90001] != 0 {
		t.Error("an invalid record reached the service")
	}
}

func TestEngineDeadlineAndContinuation(t *testing.T) {
	// 400 calls: 4 s at 100 calls/s, three budgets of 2 s or more. A budget of
	// 2 s keeps 200 ms in reserve: room for a loaded machine to wind the run down.
	const accounts, budget = 40000, 2 * time.Second
	tests := []struct {
		name   string
		resume func(recs []records.Record, src *records.SliceSource, rep *imapi.Report, done *int64) []records.Record
	}{
		{
			// Send again what the report lists as pending, then what was not read.
			name: "pending records",
			resume: func(_ []records.Record, src *records.SliceSource, rep *imapi.Report, done *int64) []records.Record {
				*done += rep.Succeeded + rep.Failed
				return append(slices.Clone(rep.PendingRecords), src.Rest()...)
			},
		},
		{
			// Restart the input at the cursor, counting only the outcomes before it.
			name: "resume cursor",
			resume: func(recs []records.Record, _ *records.SliceSource, rep *imapi.Report, done *int64) []records.Record {
				if rep.Resume == nil {
					*done += rep.Succeeded + rep.Failed
					return recs[len(recs):]
				}
				*done += rep.Resume.Succeeded + rep.Resume.Failed
				return recs[rep.Resume.Record:]
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, client := newEmulator(t, emulator.Config{Latency: 20 * time.Millisecond})
			left := job(srv, accounts, accounts)
			eng := imapi.NewEngine(client, imapi.EngineConfig{})
			var done int64
			for i := 0; len(left) > 0; i++ {
				if i == 30 {
					t.Fatalf("not finished after 30 runs, %d records left", len(left))
				}
				ctx, cancel := context.WithTimeout(context.Background(), budget)
				deadline, _ := ctx.Deadline()
				src := records.NewSliceSource(left)
				rep, err := eng.Run(ctx, src)
				returned := time.Now()
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				if returned.After(deadline) {
					t.Fatalf("run %d returned %v after its deadline", i, returned.Sub(deadline))
				}
				assertBalanced(t, rep)
				if i == 0 && (rep.Pending == 0 && rep.EndOfInput || rep.Stopped == "") {
					t.Fatalf("first run finished everything in %v: %s", budget, rep.Summary())
				}
				left = tt.resume(left, src, rep, &done)
			}
			if done != accounts {
				t.Errorf("accounted %d records across runs, want exactly %d", done, accounts)
			}
			assertOnlyKeepLeft(t, srv, accounts)
		})
	}
}

func TestEngineAdaptsToSharedQuota(t *testing.T) {
	// Another job uses half the quota: the emulator accepts 40 calls/s while the engine
	// is allowed 100. The engine must slow down and still finish everything.
	srv, client := newEmulator(t, emulator.Config{Rate: 40})
	recs := job(srv, 12000, 12000)
	rep, err := imapi.NewEngine(client, imapi.EngineConfig{SlowDown: 500 * time.Millisecond, BackoffBase: 50 * time.Millisecond}).
		Run(context.Background(), records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if !rep.Done() || rep.Failed != 0 {
		t.Fatalf("report = %s", rep.Summary())
	}
	rejected := srv.Stats().Codes[emulator.CodeRateLimited]
	t.Logf("%s; %d rate-limit answers", rep.Summary(), rejected)
	// Until it learns the quota the engine sends at 100/s into a window that takes 40:
	// some 30 calls are refused in the first second. After that it must keep under it.
	if rejected == 0 || rejected > 70 {
		t.Errorf("%d rate-limit answers for 120 calls: want some, but the engine should slow down", rejected)
	}
	if el := rep.ElapsedSeconds; el > 6 {
		t.Errorf("120 calls took %.1fs: the engine slowed down far below the 40 calls/s available", el)
	}
	assertOnlyKeepLeft(t, srv, 12000)
}

func TestEngineFaultSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test")
	}
	const accounts = 100_000
	srv, client := newEmulator(t, emulator.Config{
		Seed:   7,
		Faults: emulator.Faults{Internal: 0.10, BadGateway: 0.05, RateLimit: 0.05, Drop: 0.01, DropAfterApply: 0.01},
	})
	left := job(srv, accounts, accounts)
	eng := imapi.NewEngine(client, imapi.EngineConfig{BackoffBase: 20 * time.Millisecond, SlowDown: 20 * time.Millisecond})
	var succeeded int64
	for run := 0; len(left) > 0; run++ {
		if run == 5 {
			t.Fatalf("%d records still pending after 5 runs", len(left))
		}
		rep, err := eng.Run(context.Background(), records.NewSliceSource(left))
		if err != nil {
			t.Fatal(err)
		}
		assertBalanced(t, rep)
		if rep.Failed != 0 {
			t.Fatalf("run %d: %d failed: %+v", run, rep.Failed, rep.Failures)
		}
		t.Logf("run %d: %s", run, rep.Summary())
		succeeded += rep.Succeeded
		left = rep.PendingRecords
	}
	if succeeded != accounts {
		t.Errorf("succeeded %d, want %d", succeeded, accounts)
	}
	st := srv.Stats()
	if st.DuplicateAccountCalls != 0 || st.Dropped == 0 || st.HTTPStatus[502] == 0 {
		t.Errorf("stats = %+v: faults not exercised or duplicates sent", st)
	}
	assertOnlyKeepLeft(t, srv, accounts)
}

func TestEngineCanceledBeforeStart(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 500, 500)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := imapi.NewEngine(client, imapi.EngineConfig{}).Run(ctx, records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Done() || rep.EndOfInput || rep.Calls != 0 || rep.StopReason != imapi.StopCanceled {
		t.Fatalf("report = %s (reason %q), want nothing done and a canceled stop", rep.Summary(), rep.StopReason)
	}
	if rep.Resume == nil || rep.Resume.Record != 0 {
		t.Fatalf("resume = %+v, want the start: the input was not read", rep.Resume)
	}
}

func TestEngineStopReasons(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Latency: 20 * time.Millisecond})
	recs := job(srv, 20000, 20000)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, _ := imapi.NewEngine(client, imapi.EngineConfig{}).Run(ctx, records.NewSliceSource(recs))
	if rep.StopReason != imapi.StopDeadline || rep.Resume == nil {
		t.Errorf("budget: reason %q, resume %+v", rep.StopReason, rep.Resume)
	}
	srv.Script(emulator.Fault{Code: 70016})
	rep, _ = imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1}).Run(context.Background(), records.NewSliceSource(recs))
	if rep.StopReason != imapi.StopFatal {
		t.Errorf("fatal: reason %q", rep.StopReason)
	}
}
