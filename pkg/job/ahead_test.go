package job_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// holdOne is the client with one call held: the first call whose first
// account is account waits until later calls than it (of accounts after it)
// have succeeded, then fails as the service's internal error (retryable). Its
// retry, a minute later, does not fit the invocation: the run stops with that
// call pending, and the calls that succeeded after it ahead of the resume point.
type holdOne struct {
	imapi.Caller
	account string
	later   int // the calls after it that succeed before it fails

	mu      sync.Mutex
	held    bool
	passed  int
	release chan struct{}
}

func newHoldOne(c imapi.Caller, account string, later int) *holdOne {
	return &holdOne{Caller: c, account: account, later: later, release: make(chan struct{})}
}

func (h *holdOne) Call(ctx context.Context, op imapi.Operation, recs []records.Record) error {
	h.mu.Lock()
	hold := !h.held && recs[0].Account == h.account
	h.held = h.held || hold
	h.mu.Unlock()
	if hold {
		select {
		case <-h.release:
		case <-ctx.Done():
		}
		return &imapi.APIError{ActionStatus: "FAIL", ErrorCode: emulator.CodeInternal, ErrorInfo: "held, then refused by the test"}
	}
	err := h.Caller.Call(ctx, op, recs)
	h.mu.Lock()
	if err == nil && h.held && recs[0].Account > h.account {
		if h.passed++; h.passed == h.later {
			close(h.release)
		}
	}
	h.mu.Unlock()
	return err
}

// checkpoint reads a file's checkpoint from the fake store.
func (e *env) checkpoint(bucket, key string) *job.Checkpoint {
	e.t.Helper()
	data, err := e.fs.GetObject(bucket, prefix+"state/"+key+".json")
	if err != nil {
		e.t.Fatalf("no checkpoint: %v", err)
	}
	var cp job.Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		e.t.Fatal(err)
	}
	return &cp
}

// TestHandOffSendsAheadOnce: an invocation hands the job on with a call
// pending and calls that succeeded after it; the next invocation (a
// continuation, or the sweep taking over a job whose continuation was lost)
// sends the pending call and the rest, and none of the calls that succeeded:
// the emulator receives each call once, in every format (gzip resumed by
// skipping records), and the report counts each record once. A call after
// the pending one whose answer failed one account (an ErrorList) is not
// ahead: it is sent again, and the failed record is in the failed records
// once.
func TestHandOffSendsAheadOnce(t *testing.T) {
	const n = 3000
	const calls = n / imapi.MaxAccountsPerCall
	tests := []struct {
		format string
		sweep  bool
		fail   int // a record whose account the service refuses (70107) in every call; 0: none
	}{
		{"csv", false, 0},
		{"jsonl", false, 0},
		{"json", false, 0},
		{"csv.gz", false, 0},
		{"csv", true, 0},
		{"csv", false, 2050},
	}
	for _, tt := range tests {
		name := tt.format
		if tt.sweep {
			name += "/sweep"
		}
		if tt.fail > 0 {
			name += "/failed-ahead"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			// A roomy budget: only the held call stops the first invocation,
			// and the next one ends the file without a call cut at its deadline.
			e.budget = 20 * time.Second
			client, err := imapi.NewClient(imapi.Config{SDKAppID: emulator.DefaultSDKAppID, SecretKey: emulator.DefaultKey, BaseURL: e.im.URL()})
			if err != nil {
				t.Fatal(err)
			}
			holder := newHoldOne(client, "h000500", 3) // the sixth call, records 500–599
			e.cfg.Engine = imapi.NewEngine(holder, imapi.EngineConfig{Rate: testRate, BackoffBase: time.Minute, BackoffMax: time.Minute})
			e.svc.Store(e.another(func(*job.Config) {}))

			recs := e.records("h", n)
			if tt.fail > 0 {
				e.im.FailAccount(recs[tt.fail].Account, 70107, -1)
			}
			key := "ahead/accounts." + tt.format
			loc := storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket, Key: key}
			e.put(s3Bucket, key, encode(t, tt.format, recs))
			var between *job.Checkpoint
			var sentFirst int64
			e.hook = func(n int, _ []byte) bool {
				if n == 1 {
					between, sentFirst = e.checkpoint(s3Bucket, key), e.calls()
				}
				return true
			}
			if tt.sweep {
				e.api.LoseNext(1)
			}

			res, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, ""))
			if err != nil || res.Status != job.StatusPending || res.StopReason != imapi.StopDeadline {
				t.Fatalf("first invocation: %v, %+v; want pending, stopped for its budget", err, res)
			}
			if tt.sweep {
				e.waitChain()
				between, sentFirst = e.checkpoint(s3Bucket, key), e.calls()
				sweeper := e.another(func(c *job.Config) { c.SweepAfter = time.Nanosecond })
				sw, err := sweeper.Handle(e.roomyCtx(), job.Timer(""))
				if err != nil || len(sw.Jobs) != 1 {
					t.Fatalf("sweep: %v, %+v", err, sw)
				}
			}
			e.waitChain()

			if between == nil {
				t.Fatal("no continuation was delivered")
			}
			ahead := between.SucceededAhead.Len()
			if between.Position.Record != 500 || ahead < 300 || between.Succeeded != 500 || int64(len(between.SucceededAhead)) < 1 {
				t.Fatalf("checkpoint at the hand-off: position %d, %d succeeded before it, ahead %v; want position 500, 500 before it, at least 3 calls ahead",
					between.Position.Record, between.Succeeded, between.SucceededAhead)
			}
			if between.Pending != n-500-ahead {
				t.Errorf("checkpoint at the hand-off: pending %d, want %d (total %d, succeeded %d, ahead %d)",
					between.Pending, n-500-ahead, between.Total, between.Succeeded, ahead)
			}
			rep := e.checkDone(s3Bucket, key, recs)
			want := int64(calls)
			if tt.fail > 0 {
				if rep.Failed != 1 || between.SucceededAhead.Contains(int64(tt.fail)) {
					t.Errorf("failed %d, ahead %v; want record %d failed, never ahead", rep.Failed, between.SucceededAhead, tt.fail)
				}
				if e.calls() > want {
					want++ // its call was made in the first invocation, and again in the next
				}
			}
			if got := e.calls(); got != want {
				t.Errorf("the emulator received %d calls (%d in the first invocation, whose %d records ahead were all sent), want %d: each call once",
					got, sentFirst, ahead, want)
			}
			if rep.Calls != want+1 || rep.Retries != 0 {
				t.Errorf("report: %d calls, %d retries; want %d calls (the held one counted), no retry", rep.Calls, rep.Retries, want+1)
			}
		})
	}
}

// checkpointOfTheVersionBefore is a checkpoint as the version before
// SucceededAhead wrote it, in the send phase at a byte offset: 250 records
// resolved (one failed), 350 to go.
const checkpointOfTheVersionBefore = `{
  "Version": 1,
  "Source": "s3://data/in/before.csv",
  "ETag": %q,
  "Format": "csv",
  "Phase": "send",
  "Total": 600,
  "Succeeded": 249,
  "Failed": 1,
  "Pending": 350,
  "Calls": 3,
  "Retries": 0,
  "Position": {"Record": 250, "Line": 252, "Offset": %d},
  "Failures": [{"ErrorCode": 70107, "ErrorInfo": "no such account", "Class": "permanent", "Records": 1, "Accounts": ["p000007"]}],
  "Chain": 1,
  "Invocations": 1,
  "Handoff": "invoked",
  "Started": "2026-11-20T00:00:00Z",
  "UpdatedAt": "2026-11-20T00:00:00Z"
}`

// TestCheckpointBeforeAheadIsContinued: a checkpoint without SucceededAhead,
// as the version before wrote it, is continued from its position: every
// record after it is sent once, and the counts add up.
func TestCheckpointBeforeAheadIsContinued(t *testing.T) {
	e := newEnv(t, envOptions{})
	key := "in/before.csv"
	recs := e.records("p", 600)
	data := encode(t, "csv", recs)
	loc, _, etag := e.putS3(key, data)
	offset := offsetOfLine(t, data, 252)
	cpKey := prefix + "state/" + key + ".json"
	e.put(s3Bucket, cpKey, fmt.Appendf(nil, checkpointOfTheVersionBefore, etag, offset))

	res, err := e.service().Handle(e.roomyCtx(), job.Direct(job.ContinueEvent{Source: loc.String(), Checkpoint: cpKey, ETag: etag, Chain: 1}.Payload()))
	if err != nil {
		t.Fatal(err)
	}
	want := imapi.Counts{Total: 600, Succeeded: 599, Failed: 1, Calls: 3 + 4}
	if res.Status != job.StatusDone || res.Counts != want {
		t.Fatalf("answer: %s %+v (%s); want done %+v", res.Status, res.Counts, res.Message, want)
	}
	if got := e.calls(); got != 4 {
		t.Errorf("%d calls for the 350 records after the position, want 4", got)
	}
	for i, r := range recs {
		if held := e.im.Tags(r.Account); (i >= 250) != (len(held) == 1) {
			t.Fatalf("record %d (%s) holds %v: want the records from 250 on done, those before untouched (the checkpoint says done)", i, r.Account, held)
		}
	}
}

// TestCheckpointAheadIsReadPast: a checkpoint whose SucceededAhead says
// records after its position succeeded is continued without sending them, and
// counts them once; one whose SucceededAhead is damaged forgets it and sends
// those records again, counting them once too.
func TestCheckpointAheadIsReadPast(t *testing.T) {
	tests := []struct {
		name  string
		ahead string
		calls int64 // for records 250–599, less the ahead
	}{
		{"usable", `[{"From": 300, "To": 400}, {"From": 500, "To": 550}]`, 2}, // 250–299 with 400–449, 450–499 with 550–599
		{"overlapping", `[{"From": 300, "To": 400}, {"From": 350, "To": 550}]`, 4},
		{"before the position", `[{"From": 200, "To": 400}]`, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			key := "in/before.csv"
			recs := e.records("p", 600)
			data := encode(t, "csv", recs)
			loc, _, etag := e.putS3(key, data)
			var cp map[string]any
			if err := json.Unmarshal(fmt.Appendf(nil, checkpointOfTheVersionBefore, etag, offsetOfLine(t, data, 252)), &cp); err != nil {
				t.Fatal(err)
			}
			cp["SucceededAhead"] = json.RawMessage(tt.ahead)
			doc, _ := json.Marshal(cp)
			cpKey := prefix + "state/" + key + ".json"
			e.put(s3Bucket, cpKey, doc)

			res, err := e.service().Handle(e.roomyCtx(), job.Direct(job.ContinueEvent{Source: loc.String(), Checkpoint: cpKey, ETag: etag, Chain: 1}.Payload()))
			if err != nil {
				t.Fatal(err)
			}
			want := imapi.Counts{Total: 600, Succeeded: 599, Failed: 1, Calls: 3 + tt.calls}
			if res.Status != job.StatusDone || res.Counts != want {
				t.Fatalf("answer: %s %+v (%s); want done %+v", res.Status, res.Counts, res.Message, want)
			}
			if got := e.calls(); got != tt.calls {
				t.Errorf("%d calls, want %d", got, tt.calls)
			}
		})
	}
}

// offsetOfLine is the byte offset at which 1-based line n of data starts.
func offsetOfLine(t *testing.T, data []byte, n int) int {
	t.Helper()
	line := 1
	for i, b := range data {
		if line == n {
			return i
		}
		if b == '\n' {
			line++
		}
	}
	t.Fatalf("no line %d", n)
	return 0
}
