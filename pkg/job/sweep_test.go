package job_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// sweepAfter is above the invocations' budget, as it must be, and leaves the
// checks of a fresh checkpoint, made right after it is written, a wide margin.
const sweepAfter = testBudget + 500*time.Millisecond

// TestSweepLostInvocation loses a self-invocation: the checkpoint stays, a new
// upload event and a sweep leave the live-looking job alone, and once the
// checkpoint is stale the sweep takes it on and the chain goes on to the end.
func TestSweepLostInvocation(t *testing.T) {
	e := newEnv(t, envOptions{scf: true, config: func(c *job.Config) { c.SweepAfter = sweepAfter }})
	recs := e.records("l", 8000)
	key := "lost/accounts.jsonl"
	e.put(cosBucket, key, encode(t, "jsonl", recs))
	loc := storage.Location{Scheme: "cos", Bucket: cosBucket, Key: key}
	e.api.LoseNext(1)
	res, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, "gz"))
	if err != nil || res.Status != job.StatusPending || !res.Continued {
		t.Fatalf("first invocation: %v, %+v", err, res)
	}
	e.waitChain()
	if n := len(e.deliveries()); n != 0 {
		t.Fatalf("%d continuations delivered, want the first one lost", n)
	}
	if got := e.fs.List(cosBucket, prefix+"state/"); len(got) != 1 {
		t.Fatalf("checkpoints = %v", got)
	}

	// While the checkpoint is fresh, the job counts as alive.
	before := e.calls()
	again, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, "gz"))
	if err != nil || again.Status != job.StatusSkipped || !strings.Contains(again.Message, "in progress") {
		t.Errorf("upload event while in progress: %v, %+v", err, again)
	}
	patient := e.another(func(c *job.Config) { c.SweepAfter = time.Hour })
	sw, err := patient.Handle(e.budgetCtx(), job.Timer(""))
	if err != nil || sw.Status != job.StatusSwept || len(sw.Jobs) != 0 {
		t.Errorf("sweep of a fresh checkpoint: %v, %+v", err, sw)
	}
	if e.calls() != before {
		t.Errorf("%d calls made for a job in progress", e.calls()-before)
	}

	time.Sleep(sweepAfter + 50*time.Millisecond)
	sw, err = e.service().Handle(e.budgetCtx(), job.Timer(""))
	if err != nil || len(sw.Jobs) != 1 {
		t.Fatalf("sweep: %v, %+v", err, sw)
	}
	if j := sw.Jobs[0]; j.Source != "cos://"+cosBucket+"/"+key || j.Chain != 1 || (j.Status != job.StatusDone && !j.Continued) {
		t.Errorf("swept job: %+v", j)
	}
	e.waitChain()
	for i, d := range e.deliveries() {
		if d.err != nil || d.res.Chain != i+2 {
			t.Errorf("continuation %d: %v, %+v", i+1, d.err, d.res)
		}
	}
	rep := e.checkDone(cosBucket, key, recs)
	if rep.Invocations != rep.Chain+1 {
		t.Errorf("report: chain %d, invocations %d", rep.Chain, rep.Invocations)
	}
	sw, err = e.service().Handle(e.budgetCtx(), job.Timer(""))
	if err != nil || len(sw.Jobs) != 0 {
		t.Errorf("sweep after the end: %v, %+v", err, sw)
	}
}

// TestSweepChainLimit: past MaxChain the job is left to the sweep, which goes
// on with it one invocation per sweep.
func TestSweepChainLimit(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *job.Config) { c.SweepAfter = sweepAfter; c.MaxChain = 1 }})
	recs := e.records("m", 14000) // three invocations or more at the test rate
	key := "limit.csv"
	e.put(s3Bucket, key, encode(t, "csv", recs))
	if _, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: key}, "")); err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	ds := e.deliveries()
	if len(ds) != 1 || ds[0].res.Continued || !strings.Contains(ds[0].res.Message, "limit") {
		t.Fatalf("deliveries = %d, last %+v; want one, stopping at the limit", len(ds), ds[len(ds)-1].res)
	}
	for i := 0; ; i++ {
		if i == 20 {
			t.Fatal("not done after 20 sweeps")
		}
		time.Sleep(sweepAfter + 20*time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), e.budget)
		sw, err := e.service().Handle(ctx, job.Timer(""))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(sw.Jobs) != 1 {
			t.Fatalf("sweep %d: %+v", i, sw)
		}
		if sw.Jobs[0].Status == job.StatusDone {
			break
		}
		if sw.Jobs[0].Continued {
			t.Fatalf("the sweep handed on past the limit: %+v", sw.Jobs[0])
		}
	}
	e.checkDone(s3Bucket, key, recs)
}
