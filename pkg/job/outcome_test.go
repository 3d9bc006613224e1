package job_test

import (
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
)

// checkShares holds the answers of a job's invocations, in order, to its
// report: their own parts (Result.Invocation) sum to the report's flows, each
// part's Total is its Succeeded and Failed, and the job ended in the last
// answer only.
func checkShares(t *testing.T, rep *job.FileReport, answers ...*job.Result) {
	t.Helper()
	var sum imapi.Counts
	for i, r := range answers {
		p := r.Invocation
		if p.Total != p.Succeeded+p.Failed || p.Pending != 0 {
			t.Errorf("answer %d: own part %+v: Total is not Succeeded + Failed, or Pending is set", i, p)
		}
		if last := i == len(answers)-1; r.Ended() != last {
			t.Errorf("answer %d of %d (%s): Ended() = %v", i+1, len(answers), r.Status, r.Ended())
		}
		sum.Add(p)
	}
	want := imapi.Counts{Total: rep.Succeeded + rep.Failed, Succeeded: rep.Succeeded, Failed: rep.Failed, Calls: rep.Calls, Retries: rep.Retries}
	if sum != want {
		t.Errorf("the invocations' own parts sum to %+v; the report counts %+v", sum, want)
	}
}

// TestInlineOwnPart: an inline job's own part is its report's flows, and it
// ends where it runs; a rejected one did nothing and ended nowhere.
func TestInlineOwnPart(t *testing.T) {
	e := newEnv(t, envOptions{})
	recs := e.records("i", 250)
	res, err := e.service().Handle(e.roomyCtx(), job.Direct(encode(t, "json", recs)))
	if err != nil || res.Status != job.StatusDone {
		t.Fatalf("inline job: %v, %+v", err, res)
	}
	want := imapi.Counts{Total: 250, Succeeded: 250, Calls: res.Calls, Retries: res.Retries}
	if res.Invocation != want || !res.Ended() || res.LeftForSweep() {
		t.Errorf("own part %+v, ended %v, left for the sweep %v; want %+v, ended, not left", res.Invocation, res.Ended(), res.LeftForSweep(), want)
	}
	bad, err := e.service().Handle(e.roomyCtx(), job.Direct([]byte(`{"UserTags":[{"To_Account":"","Tags":["a"]}]}`)))
	if err != nil || bad.Status != job.StatusInvalid {
		t.Fatalf("invalid inline job: %v, %+v", err, bad)
	}
	if bad.Invocation != (imapi.Counts{}) || bad.Ended() || bad.LeftForSweep() {
		t.Errorf("rejected job: own part %+v, ended %v, left %v; want nothing", bad.Invocation, bad.Ended(), bad.LeftForSweep())
	}
}
