package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// refusals scripts the emulator to refuse some of the next calls for good
// (70107: the account does not exist), spread over the first links of a chain.
func refusals(e *env) {
	faults := make([]emulator.Fault, 90)
	for _, i := range []int{3, 31, 58, 87} {
		faults[i] = emulator.Fault{Code: 70107}
	}
	e.im.Script(faults...)
}

// TestFileChain runs files too big for one invocation through a chain of
// continuations, in every format, on S3 and COS, with Lambda's and SCF's
// invoke APIs, while the service refuses some calls for good.
func TestFileChain(t *testing.T) {
	const n = 20000
	tests := []struct {
		format string
		bucket string
		scheme string
		scf    bool
	}{
		{"csv", s3Bucket, storage.SchemeS3, false},
		{"jsonl", s3Bucket, storage.SchemeS3, true},
		{"json", cosBucket, storage.SchemeCOS, true},
		{"csv.gz", cosBucket, storage.SchemeCOS, false},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.scheme, func(t *testing.T) {
			e := newEnv(t, envOptions{scf: tt.scf})
			recs := e.records("f", n)
			key := "uploads/accounts." + tt.format
			e.put(tt.bucket, key, encode(t, tt.format, recs))
			refusals(e)

			res, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: tt.scheme, Bucket: tt.bucket, Key: key}, "gz"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != job.StatusPending || !res.Continued || res.Chain != 0 {
				t.Fatalf("first invocation: status %s, continued %v, chain %d (%s)", res.Status, res.Continued, res.Chain, res.Message)
			}
			e.waitChain()

			ds := e.deliveries()
			if len(ds) < 2 {
				t.Fatalf("%d continuations, want a chain of several", len(ds))
			}
			for i, d := range ds {
				switch {
				case d.err != nil:
					t.Errorf("continuation %d: %v", i+1, d.err)
				case d.res.Chain != i+1:
					t.Errorf("continuation %d ran as chain %d", i+1, d.res.Chain)
				case i < len(ds)-1 && (d.res.Status != job.StatusPending || !d.res.Continued):
					t.Errorf("continuation %d: %s, continued %v (%s)", i+1, d.res.Status, d.res.Continued, d.res.Message)
				case i == len(ds)-1 && d.res.Status != job.StatusDone:
					t.Errorf("last continuation: %s (%s)", d.res.Status, d.res.Message)
				}
			}
			var ev job.ContinueEvent
			if err := json.Unmarshal(ds[0].payload, &ev); err != nil || !job.IsContinuation(ds[0].payload) ||
				ev.Source != tt.scheme+"://"+tt.bucket+"/"+key || ev.Checkpoint != prefix+"state/"+key+".json" || ev.Chain != 1 {
				t.Errorf("continuation event %s: %v", ds[0].payload, err)
			}
			rep := e.checkDone(tt.bucket, key, recs)
			answers := []*job.Result{res}
			for _, d := range ds {
				answers = append(answers, d.res)
				if d.res.LeftForSweep() {
					t.Errorf("chain %d: left for the sweep (%s)", d.res.Chain, d.res.Message)
				}
			}
			checkShares(t, rep, answers...)
			if rep.Failed == 0 || rep.Chain != len(ds) || rep.Invocations != len(ds)+1 || rep.Restarted {
				t.Errorf("report: failed %d, chain %d, invocations %d, restarted %v; want failures, chain %d",
					rep.Failed, rep.Chain, rep.Invocations, rep.Restarted, len(ds))
			}
			if rep.Failures[0].ErrorCode != 70107 || rep.Failures[0].Class != "permanent" {
				t.Errorf("failures = %+v", rep.Failures)
			}
			last := ds[len(ds)-1].res
			if last.Total != n || last.Succeeded != rep.Succeeded || last.ReportKey != prefix+"reports/"+key+".report.json" {
				t.Errorf("last result = %+v", last)
			}
			t.Logf("%d records in %d invocations: %d succeeded, %d failed, %d calls, %d retries",
				rep.Total, rep.Invocations, rep.Succeeded, rep.Failed, rep.Calls, rep.Retries)

			// A repeated upload event for the same version does nothing.
			before := e.calls()
			res, err = e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: tt.scheme, Bucket: tt.bucket, Key: key}, "gz"))
			if err != nil || res.Status != job.StatusSkipped || res.Total != n {
				t.Errorf("repeated upload event: %v, %+v", err, res)
			} else if res.Invocation != (imapi.Counts{}) || res.Ended() {
				t.Errorf("repeated upload event: own part %+v, ended %v; it did nothing", res.Invocation, res.Ended())
			}
			// So does a continuation event delivered again.
			res, err = e.invoke(ds[0].payload)
			if err != nil || res.Status != job.StatusSkipped {
				t.Errorf("continuation delivered again: %v, %+v", err, res)
			}
			if e.calls() != before {
				t.Errorf("%d calls made for a done file", e.calls()-before)
			}
		})
	}
}

// TestFileDuplicateContinuation delivers a continuation twice: the second is skipped.
func TestFileDuplicateContinuation(t *testing.T) {
	e := newEnv(t, envOptions{})
	recs := e.records("u", 12000)
	e.put(s3Bucket, "dup.csv", encode(t, "csv", recs))
	var dupRes atomic.Pointer[job.Result]
	e.hook = func(n int, payload []byte) bool {
		if n == 2 { // the first continuation ran: deliver it again
			first := e.deliveries()[0].payload
			before := e.calls()
			res, err := e.invoke(first)
			if err != nil {
				t.Errorf("duplicate: %v", err)
			} else if e.calls() != before {
				t.Errorf("the duplicate made %d calls", e.calls()-before)
			}
			dupRes.Store(res)
		}
		return true
	}
	if _, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: "dup.csv"}, "")); err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	if r := dupRes.Load(); r == nil || r.Status != job.StatusSkipped || !strings.Contains(r.Message, "stale or duplicate") {
		t.Fatalf("duplicate continuation: %+v", r)
	}
	e.checkDone(s3Bucket, "dup.csv", recs)
}

// TestFileReplaced replaces the file in the middle of its chain: the job starts over.
func TestFileReplaced(t *testing.T) {
	for _, format := range []string{"csv", "json"} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			old := e.records("o", 12000)
			key := "replaced." + format
			e.put(s3Bucket, key, encode(t, format, old))
			recs := e.records("n", 5000)
			e.hook = func(n int, _ []byte) bool {
				if n == 2 {
					e.put(s3Bucket, key, encode(t, format, recs))
				}
				return true
			}
			if _, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: key}, "")); err != nil {
				t.Fatal(err)
			}
			e.waitChain()
			ds := e.deliveries()
			if len(ds) < 2 || !ds[1].res.Restarted {
				t.Fatalf("continuation 2 after the replacement: %+v", ds[min(1, len(ds)-1)].res)
			}
			rep := e.checkDone(s3Bucket, key, recs)
			if !rep.Restarted || rep.Failed != 0 {
				t.Errorf("report: restarted %v, failed %d", rep.Restarted, rep.Failed)
			}
		})
	}
}

// TestFileRefusals covers the files that are not run.
func TestFileRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put(cosBucket, "bad.jsonl", []byte("{\"To_Account\":\"x1\",\"Tags\":[\"a\"]}\n{\"To_Account\":\"\",\"Tags\":[\"a\"]}\nnot json\n"))
	e.put(cosBucket, "list.txt", []byte("x1,a\n"))
	e.put(cosBucket, "broken.json", []byte(`{"UserTags":[{"To_Account":"x1","Tags":["a"]},`))
	e.put(cosBucket, prefix+"failed/old.csv.jsonl", []byte("{\"To_Account\":\"x1\",\"Tags\":[\"a\"]}\n"))
	tests := []struct {
		key    string
		status job.Status
		report bool
		check  func(t *testing.T, r *job.Result)
	}{
		{key: "bad.jsonl", status: job.StatusInvalid, report: true, check: func(t *testing.T, r *job.Result) {
			if r.ErrorCount != 2 || r.Errors[0].Where != "line 2" || r.Errors[1].Where != "line 3" || r.Total != 3 {
				t.Errorf("errors %d %+v, total %d", r.ErrorCount, r.Errors, r.Total)
			}
		}},
		{key: "list.txt", status: job.StatusInvalid, report: true, check: func(t *testing.T, r *job.Result) {
			if !strings.Contains(r.Errors[0].Reason, `unknown extension ".txt"`) {
				t.Errorf("errors %+v", r.Errors)
			}
		}},
		{key: "broken.json", status: job.StatusInvalid, report: true},
		{key: prefix + "failed/old.csv.jsonl", status: job.StatusIgnored},
		{key: prefix + "reports/none.json", status: job.StatusIgnored},
		{key: "missing.csv", status: job.StatusInvalid},
		{key: "folder/", status: job.StatusInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			before := e.calls()
			res, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: "cos", Bucket: cosBucket, Key: tt.key}, "gz"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.status {
				t.Errorf("status %s, want %s (%s)", res.Status, tt.status, res.Message)
			}
			if e.calls() != before {
				t.Errorf("%d calls made", e.calls()-before)
			}
			if tt.report {
				rep := e.report(cosBucket, tt.key)
				if rep.Status != job.StatusInvalid || rep.ErrorCount != res.ErrorCount || rep.ETag == "" {
					t.Errorf("report %+v", rep)
				}
				// The same version again: skipped.
				again, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: "cos", Bucket: cosBucket, Key: tt.key}, "gz"))
				if err != nil || again.Status != job.StatusSkipped {
					t.Errorf("again: %v, %+v", err, again)
				}
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
	if left := e.fs.List(cosBucket, prefix+"state/"); len(left) != 0 {
		t.Errorf("state left: %v", left)
	}
}

// TestFileStorageFailing: object storage failures are errors, for a platform
// retry, and a retry after one goes on where the job was.
func TestFileStorageFailing(t *testing.T) {
	for _, scheme := range []string{"s3", "cos"} {
		t.Run(scheme, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			bucket := map[string]string{"s3": s3Bucket, "cos": cosBucket}[scheme]
			recs := e.records("s", 50)
			e.put(bucket, "x.csv", encode(t, "csv", recs))
			loc := storage.Location{Scheme: scheme, Bucket: bucket, Key: "x.csv"}
			for _, status := range []int{http.StatusForbidden, http.StatusInternalServerError} {
				e.fs.FailNext(100, status)
				res, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, ""))
				e.fs.FailNext(0, 0)
				if err == nil || errors.Is(err, storage.ErrNotFound) {
					t.Errorf("status %d: error %v, result %+v; want an error", status, err, res)
				}
			}
			res, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, ""))
			if err != nil || res.Status != job.StatusDone {
				t.Fatalf("after the failures: %v, %+v", err, res)
			}
			e.checkDone(bucket, "x.csv", recs)
		})
	}
}

// flakyStore fails the ranged reads of one key while fail is above 0.
type flakyStore struct {
	storage.Store
	key  string
	fail *atomic.Int32
}

func (s flakyStore) Open(ctx context.Context, key string, off int64, etag string) (io.ReadCloser, storage.Info, error) {
	if key == s.key && off > 0 && s.fail.Add(-1) >= 0 {
		return nil, storage.Info{}, errors.New("connection reset by the flaky store")
	}
	return s.Store.Open(ctx, key, off, etag)
}

// TestFileRetryAfterError fails an invocation after it claimed the job: it
// releases the job, and the platform's retry of the same event goes on.
func TestFileRetryAfterError(t *testing.T) {
	var fail atomic.Int32
	e := newEnv(t, envOptions{store: func(s storage.Store) storage.Store { return flakyStore{Store: s, key: "retry.csv", fail: &fail} }})
	recs := e.records("r", 12000)
	e.put(s3Bucket, "retry.csv", encode(t, "csv", recs))
	var retried atomic.Bool
	e.hook = func(n int, payload []byte) bool {
		if n != 2 {
			return true
		}
		fail.Store(1)
		res, err := e.invoke(payload)
		if err == nil || res != nil {
			t.Errorf("flaky read: %v, %+v; want an error", err, res)
		}
		retried.Store(true)
		return true // the platform retries the event
	}
	if _, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: "retry.csv"}, "")); err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	if !retried.Load() {
		t.Fatal("the chain ended before the second continuation")
	}
	for i, d := range e.deliveries() {
		if d.err != nil {
			t.Errorf("continuation %d: %v", i+1, d.err)
		}
	}
	e.checkDone(s3Bucket, "retry.csv", recs)
}

// TestFileEdgeCases: an empty file is rejected; a damaged checkpoint is
// replaced by a new job; a {"Source":…} over HTTP that must continue answers 202.
func TestFileEdgeCases(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put(s3Bucket, "empty.csv", []byte("To_Account,Tag\n\n"))
	res, err := e.service().Handle(e.roomyCtx(), job.Upload(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: "empty.csv"}, ""))
	if err != nil || res.Status != job.StatusInvalid || res.ErrorCount != 1 || !strings.Contains(res.Errors[0].Reason, "no records") {
		t.Errorf("empty file: %v, %+v", err, res)
	}

	recs := e.records("c", 40)
	e.put(s3Bucket, "damaged.jsonl", encode(t, "jsonl", recs))
	e.put(s3Bucket, prefix+"state/damaged.jsonl.json", []byte("{not json"))
	res, err = e.service().Handle(e.roomyCtx(), job.Upload(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: "damaged.jsonl"}, ""))
	if err != nil || res.Status != job.StatusDone {
		t.Fatalf("damaged checkpoint: %v, %+v", err, res)
	}

	big := e.records("h", 12000)
	e.put(s3Bucket, "http.csv", encode(t, "csv", big))
	resp := serveHTTP(e.budgetCtx(), e.service(), httpRequest{Method: "POST", Headers: bearer(token), Body: []byte(`{"Source":"s3://data/http.csv"}`)})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("HTTP file job: %d %s", resp.StatusCode, clipBody(resp.Body))
	}
	var r job.Result
	if err := json.Unmarshal(resp.Body, &r); err != nil || !r.Continued || r.Status != job.StatusPending {
		t.Fatalf("HTTP file job: %v, %s", err, clipBody(resp.Body))
	}
	// Asked again while it runs: 202, skipped.
	resp = serveHTTP(e.budgetCtx(), e.service(), httpRequest{Method: "POST", Headers: bearer(token), Body: []byte(`{"Source":"s3://data/http.csv"}`)})
	if err := json.Unmarshal(resp.Body, &r); err != nil || resp.StatusCode != http.StatusAccepted || r.Status != job.StatusSkipped {
		t.Errorf("HTTP file job in progress: %d %s", resp.StatusCode, clipBody(resp.Body))
	}
	e.waitChain()
	rep := e.report(s3Bucket, "http.csv")
	if rep.Status != job.StatusDone || rep.Succeeded != int64(len(big)) {
		t.Errorf("report %+v", rep)
	}
}

// TestFileDeleted deletes the file in the middle of its chain: the job ends
// without a report and leaves no state.
func TestFileDeleted(t *testing.T) {
	e := newEnv(t, envOptions{})
	recs := e.records("x", 12000)
	loc := storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: "deleted.csv"}
	e.put(s3Bucket, loc.Key, encode(t, "csv", recs))
	e.hook = func(n int, _ []byte) bool {
		if n == 2 {
			store, err := e.cfg.OpenStore.Open(context.Background(), loc, "")
			if err == nil {
				err = store.Delete(context.Background(), loc.Key)
			}
			if err != nil {
				t.Error(err)
			}
		}
		return true
	}
	if _, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, "")); err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	ds := e.deliveries()
	if last := ds[len(ds)-1]; len(ds) != 2 || last.err != nil || last.res.Status != job.StatusSkipped || !strings.Contains(last.res.Message, "deleted") {
		t.Fatalf("%d deliveries, last %v %+v", len(ds), last.err, last.res)
	}
	if left := e.fs.List(s3Bucket, prefix); len(left) != 0 {
		t.Errorf("left under the prefix: %v", left)
	}
}
