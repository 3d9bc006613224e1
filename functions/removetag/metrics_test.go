package main_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/metrics/metricstest"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
)

// metricsSize is the records of the file whose job TestMetrics follows: more
// than one invocation does.
const metricsSize = 10000

// TestMetrics runs jobs under both runtimes and reads the function's
// metrics from its output as the platforms would: EMF documents under the
// Lambda Runtime Interface Emulator, CLS lines under SCF, each checked
// against its format (package metricstest). The job of a file is refused for
// the configuration in its first invocation (left for the sweep), taken on
// by the sweep, continued in a chain to its end, with a call refused for the
// rate and records failed for good: the invocation records' sums equal its
// report's counts, and its job record is the report. An inline HTTP job has
// its own.
func TestMetrics(t *testing.T) {
	binaries(t)
	t.Parallel()
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			testMetrics(t, newWorld(t, p, nil))
		})
	}
}

func testMetrics(t *testing.T, w *world) {
	auth := map[string]string{"authorization": "Bearer " + httpToken, "content-type": "application/json"}
	inline := w.accounts("metrics-http", 40)
	if status, body := w.p.httpAnswer(t, w.invoke(t, w.p.http("POST", auth, userTags(inline)))); status != http.StatusOK {
		t.Fatalf("HTTP job: %d %.300s", status, body)
	}

	key := "incoming/metrics.csv"
	accs := w.accounts("metrics", metricsSize)
	w.put(t, key, csv(accs))
	// The first call is refused for the configuration (60016, the app is
	// disabled): the run stops, the job is left for the sweep.
	w.im.Script(emulator.Fault{Code: 60016})
	first := w.run(t, w.p.upload(key))
	if !first.LeftForSweep() || first.StopReason != "fatal" {
		t.Fatalf("first invocation: %+v; want it left for the sweep after a fatal stop", first)
	}
	// The sweep's first call is refused for the rate (retried); fifty
	// accounts are refused for good whenever they are sent (70107, no such
	// account, in the answer's ErrorList: their records fail). A fault of one
	// call instead would be met again or not by the time the call's batch is
	// sent again (a failed batch after the checkpoint's position is resent at
	// the next invocation), and the count of failures with it.
	w.im.Script(emulator.Fault{Code: emulator.CodeRateLimited})
	for _, a := range accs[1000:1050] {
		w.im.FailAccount(a, 70107, -1)
	}
	time.Sleep(1200 * time.Millisecond) // REMOVETAG_SWEEP_AFTER=1s
	if sw := w.run(t, w.p.sweep); sw.Status != job.StatusSwept || len(sw.Jobs) != 1 {
		t.Fatalf("sweep: %+v", sw)
	}
	w.waitIdle(t)
	rep := w.report(t, key)
	if rep.Status != job.StatusDone || rep.Total != metricsSize || rep.Failed != 50 || rep.Retries == 0 {
		t.Fatalf("report %+v; want done, with 50 failures and retries", rep)
	}
	invocations := 3 + len(w.d.list()) // HTTP, upload, sweep, continuations

	var recs []metricstest.Record
	var err error
	if w.p == lambdaPlatform {
		recs, err = metricstest.EMF(w.out.String(), time.Now())
	} else {
		recs, err = metricstest.CLS(w.out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	var (
		file, jobs []metricstest.Record
		httpInv    *metricstest.Record
		sum        = map[string]float64{}
	)
	for i, r := range recs {
		if r.Texts["FunctionName"] != "removetag" || r.Namespace != "RemoveTag" || r.Texts["requestId"] == "" {
			t.Errorf("record %d: function %q, namespace %q, request id %q", i, r.Texts["FunctionName"], r.Namespace, r.Texts["requestId"])
		}
		for _, text := range r.Texts {
			for _, secret := range []string{imKey, httpToken, tcKey, tcToken, awsSecret} {
				if strings.Contains(text, secret) {
					t.Errorf("record %d holds a secret", i)
				}
			}
		}
		switch {
		case r.Scope() == "job":
			jobs = append(jobs, r)
		case r.Texts["Trigger"] == "http":
			httpInv = &recs[i]
		default:
			file = append(file, r)
			if r.Texts["Source"] != w.source(key) {
				t.Errorf("record %d: Source %q, want the file's", i, r.Texts["Source"])
			}
			for name, v := range r.Values {
				sum[name] += v
			}
		}
	}
	if len(file)+1 != invocations || httpInv == nil {
		t.Fatalf("%d invocation records of the file job and HTTP %v; want %d invocations", len(file), httpInv != nil, invocations)
	}
	for name, want := range map[string]int64{
		"RecordsSucceeded": rep.Succeeded, "RecordsFailed": rep.Failed, "Calls": rep.Calls, "Retries": rep.Retries,
		"JobsEnded": 1, "JobsLeftForSweep": 1, "JobsSwept": 1, "RequestErrors": 0,
	} {
		if sum[name] != float64(want) {
			t.Errorf("the invocations' %s sum to %v; the report says %d", name, sum[name], want)
		}
	}
	if refused := float64(w.im.Stats().Codes[emulator.CodeRateLimited]); sum["RateRefusals"] < 1 || sum["RateRefusals"] > refused {
		t.Errorf("RateRefusals sum to %v; the emulator refused %v calls for the rate, one of them scripted", sum["RateRefusals"], refused)
	}
	if file[0].Values["JobsLeftForSweep"] != 1 || file[0].Texts["Trigger"] != "upload" || file[1].Texts["Trigger"] != "timer" {
		t.Errorf("the first two records: %v %v; want the upload's (left for the sweep), then the sweep's", file[0].Texts, file[1].Texts)
	}
	if last := file[len(file)-1]; last.Values["RecordsPending"] != 0 || last.Values["JobsEnded"] != 1 {
		t.Errorf("the last invocation's record: %v; want nothing pending, the job ended", last.Values)
	}
	if len(jobs) != 2 {
		t.Fatalf("%d job records, want the HTTP job's and the file's", len(jobs))
	}
	fj := jobs[1]
	if rep.JournalKey == "" || rep.Changed != metricsSize-50 {
		t.Errorf("report: journal %q, %d accounts changed; want a journal and %d", rep.JournalKey, rep.Changed, metricsSize-50)
	}
	for name, want := range map[string]int64{"JobRecordsTotal": rep.Total, "JobRecordsSucceeded": rep.Succeeded, "JobRecordsFailed": rep.Failed,
		"JobRecordsPending": rep.Pending, "JobCalls": rep.Calls, "JobRetries": rep.Retries, "JobContinuations": int64(rep.Chain),
		"JobAccountsChanged": rep.Changed, "JobTagsRemoved": rep.TagsRemoved} {
		if fj.Values[name] != float64(want) {
			t.Errorf("the file's job record: %s = %v, the report says %d", name, fj.Values[name], want)
		}
	}
	if fj.Texts["Source"] != w.source(key) || fj.Texts["Status"] != "done" {
		t.Errorf("the file's job record: %v", fj.Texts)
	}
	if httpInv.Values["RecordsSucceeded"] != float64(len(inline)) || httpInv.Values["JobsEnded"] != 1 || jobs[0].Values["JobRecordsSucceeded"] != float64(len(inline)) {
		t.Errorf("the HTTP job: invocation %v, job %v", httpInv.Values, jobs[0].Values)
	}
	t.Logf("%d records: %d invocations of the file job, %v calls, %v refused for the rate, p99 of the last %v ms",
		len(recs), len(file), sum["Calls"], sum["RateRefusals"], file[len(file)-1].Values["CallLatencyP99"])
}
