package job_test

import (
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// TestFileFatalRefusal: the service refuses a call of a file job for the
// configuration (70009: a UserSig made with the wrong key). The job stops and is
// left for the sweep with the refused records pending, none failed, none
// written to the failed records; once the key is right (the script is spent)
// the sweep takes the job on and every record is sent: nothing is skipped.
func TestFileFatalRefusal(t *testing.T) {
	e := newEnv(t, envOptions{scf: true, config: func(c *job.Config) { c.SweepAfter = sweepAfter }})
	recs := e.records("k", 450)
	key := "fatal/accounts.jsonl"
	e.put(cosBucket, key, encode(t, "jsonl", recs))
	e.im.Script(emulator.Fault{Code: 70009})
	res, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: "cos", Bucket: cosBucket, Key: key}, "gz"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != job.StatusPending || res.Continued || res.StopReason != imapi.StopFatal || res.Failed != 0 {
		t.Fatalf("first invocation: %+v; want pending, left for the sweep after a fatal stop, nothing failed", res)
	}
	if !res.LeftForSweep() || res.Ended() {
		t.Errorf("first invocation: left for the sweep %v, ended %v; want left, not ended", res.LeftForSweep(), res.Ended())
	}
	if got := e.fs.List(cosBucket, prefix+"parts/"); len(got) != 0 {
		t.Errorf("failed-record parts %v written for a configuration refusal", got)
	}

	time.Sleep(sweepAfter + 50*time.Millisecond)
	sw, err := e.service().Handle(e.budgetCtx(), job.Timer(""))
	if err != nil || len(sw.Jobs) != 1 {
		t.Fatalf("sweep: %v, %+v", err, sw)
	}
	e.waitChain()
	rep := e.checkDone(cosBucket, key, recs)
	if rep.Failed != 0 || rep.Succeeded != int64(len(recs)) {
		t.Errorf("report: %d succeeded, %d failed; want every record sent once the key is right", rep.Succeeded, rep.Failed)
	}
	// The refused call counts among the calls, in the first invocation's part.
	answers := []*job.Result{res, sw.Jobs[0]}
	for _, d := range e.deliveries() {
		answers = append(answers, d.res)
	}
	checkShares(t, rep, answers...)
	if sw.Invocation != sw.Jobs[0].Invocation || res.Invocation.Calls == 0 {
		t.Errorf("sweep's own part %+v, its job's %+v; first invocation's %+v", sw.Invocation, sw.Jobs[0].Invocation, res.Invocation)
	}
}
