package job_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// byKey indexes summaries by their files' keys.
func byKey(list []job.Summary) map[string]job.Summary {
	m := map[string]job.Summary{}
	for _, s := range list {
		m[s.Key] = s
	}
	return m
}

// TestStatus: the jobs of a bucket as status tells them: a chain seen
// running and handed on, then done; a job done, one with records failed, an
// invalid file, one left for the sweep, one canceled, and a report that
// counts changed accounts; by prefix, by key, and through the service.
func TestStatus(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *job.Config) { c.SweepAfter = time.Minute }})
	s3 := func(key string) storage.Location { return storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: key} }
	upload := func(svc *job.Service, key string) *job.Result {
		t.Helper()
		r, err := svc.Handle(e.budgetCtx(), job.Upload(s3(key), ""))
		if err != nil {
			t.Fatalf("upload %s: %v", key, err)
		}
		return r
	}
	e.put(s3Bucket, "done.csv", encode(t, "csv", e.records("d", 200)))
	upload(e.service(), "done.csv")
	e.put(s3Bucket, "failed.csv", encode(t, "csv", e.records("f", 200)))
	e.im.Script(emulator.Fault{Code: 70107})
	upload(e.service(), "failed.csv")
	e.put(s3Bucket, "invalid.csv", []byte("To_Account,Tag\n,vip\n"))
	upload(e.service(), "invalid.csv")
	e.put(s3Bucket, "sweep.jsonl", encode(t, "jsonl", e.records("s", 9000)))
	upload(e.another(func(c *job.Config) { c.Invoker = nil }), "sweep.jsonl")
	e.put(s3Bucket, "canceled.csv", encode(t, "csv", e.records("x", 300)))
	if _, err := e.service().Handle(e.roomyCtx(), job.Cancel(s3("canceled.csv"), "admin@example")); err != nil {
		t.Fatal(err)
	}
	upload(e.service(), "canceled.csv")
	journaled := map[string]any{"Status": "done", "Source": "s3://" + s3Bucket + "/journaled.csv", "ETag": "e1", "Total": 10,
		"Succeeded": 10, "Changed": 7, "TagsRemoved": 9, "JournalKey": prefix + "journal/journaled.csv.jsonl", "Started": time.Now().Add(-time.Second), "Finished": time.Now()}
	data, _ := json.Marshal(journaled)
	e.put(s3Bucket, prefix+"reports/journaled.csv.report.json", data)

	// A chain, watched as it runs; its first continuation is held until the
	// watch has seen the job handed on.
	recs := e.records("c", 12000)
	e.put(s3Bucket, "chain/big.csv", encode(t, "csv", recs))
	handedOn := make(chan struct{})
	release := sync.OnceFunc(func() { close(handedOn) })
	e.hook = func(n int, _ []byte) bool {
		if n == 1 {
			select {
			case <-handedOn:
			case <-time.After(30 * time.Second):
			}
		}
		return true
	}
	chainDone := make(chan error, 1)
	go func() {
		_, err := e.service().Handle(e.budgetCtx(), job.Upload(s3("chain/big.csv"), ""))
		chainDone <- err
	}()
	_, store, _ := e.putS3("unrelated.csv", []byte("To_Account,Tag\nu,t\n"))
	jobs, err := job.NewJobs(store, storage.Location{Scheme: "s3", Bucket: s3Bucket}, job.Config{SweepAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[job.JobState]job.Summary{}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s, err := jobs.Get(context.Background(), "chain/big.csv")
		if err != nil {
			t.Fatal(err)
		}
		if s == nil {
			continue // not claimed yet
		}
		if _, ok := seen[s.State]; !ok || s.Phase == job.PhaseSend {
			seen[s.State] = *s
		}
		if s.State == job.JobHandedOn {
			release()
		}
		if s.State == job.JobDone || time.Now().After(deadline) {
			break
		}
	}
	if err := <-chainDone; err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	for _, st := range []job.JobState{job.JobRunning, job.JobHandedOn, job.JobDone} {
		if _, ok := seen[st]; !ok {
			t.Errorf("the chain was never seen %s (seen: %v)", st, seen)
		}
	}
	if r, ok := seen[job.JobRunning]; ok {
		if r.Total != 12000 || r.Pending != r.Total-r.Done() || r.UpdatedBy == "" || r.CheckpointKey != prefix+"state/chain/big.csv.json" {
			t.Errorf("running: %+v", r)
		}
		if r.Phase == job.PhaseSend && (r.Calls == 0 || r.RecordsPerSecond <= 0 || r.ETA.Before(r.UpdatedAt)) {
			t.Errorf("running, sending: calls %d, %.0f records/s, ETA %v (updated %v)", r.Calls, r.RecordsPerSecond, r.ETA, r.UpdatedAt)
		}
	}

	list, err := jobs.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	got := byKey(list)
	for _, tt := range []struct {
		key   string
		state job.JobState
		check func(job.Summary) bool
	}{
		{"done.csv", job.JobDone, func(s job.Summary) bool {
			return s.Total == 200 && s.Succeeded == 200 && s.Calls == 2 && s.RecordsPerSecond > 0 && s.ReportKey != ""
		}},
		{"failed.csv", job.JobFailed, func(s job.Summary) bool {
			return s.Failed == 100 && s.Succeeded == 100 && s.FailedKey == prefix+"failed/failed.csv.jsonl"
		}},
		{"invalid.csv", job.JobFailed, func(s job.Summary) bool { return strings.Contains(s.Note, "invalid") }},
		{"sweep.jsonl", job.JobSweep, func(s job.Summary) bool {
			return s.Total == 9000 && s.Pending > 0 && s.Chain == 1 && strings.Contains(s.Note, "no self-invocation") && s.ETA.IsZero()
		}},
		{"canceled.csv", job.JobCanceled, func(s job.Summary) bool {
			return s.Pending == 300 && s.PendingKey != "" && s.Cancel != nil && s.Cancel.By == "admin@example"
		}},
		{"journaled.csv", job.JobDone, func(s job.Summary) bool {
			return s.Changed != nil && *s.Changed == 7 && *s.TagsRemoved == 9 && s.JournalKey == prefix+"journal/journaled.csv.jsonl"
		}},
		{"chain/big.csv", job.JobDone, func(s job.Summary) bool { return s.Succeeded == 12000 && s.Chain > 0 && s.Changed == nil }},
	} {
		s, ok := got[tt.key]
		if !ok || s.State != tt.state || !tt.check(s) {
			t.Errorf("%s: %+v; want %s", tt.key, s, tt.state)
		}
	}
	if len(list) != 7 {
		t.Errorf("%d jobs listed, want 7: %v", len(list), list)
	}
	if sub, err := jobs.List(context.Background(), "chain/"); err != nil || len(sub) != 1 || sub[0].Key != "chain/big.csv" {
		t.Errorf("by prefix: %v, %+v", err, sub)
	}
	if undos, err := jobs.List(context.Background(), prefix); err != nil || len(undos) != 0 {
		t.Errorf("the jobs of files under the output prefix (undos): %v, %+v; want none", err, undos)
	}

	// Through the service: one job, a folder, every configured bucket.
	for _, tt := range []struct {
		loc  storage.Location
		want int
	}{{s3("done.csv"), 1}, {s3("chain/"), 1}, {s3(""), 7}, {storage.Location{}, 7}, {s3("nothing.csv"), 0}} {
		r, err := e.service().Handle(e.roomyCtx(), job.Inspect(tt.loc, "test"))
		if err != nil || r.Status != job.StatusListed || len(r.Summaries) != tt.want {
			t.Errorf("status of %v: %v, %+v; want %d job(s)", tt.loc, err, r, tt.want)
		}
	}
}
