package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/metrics"
	"github.com/removetag/removetag/pkg/adapters/metrics/metricstest"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
)

// now is the records' clock.
var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newMeter(t *testing.T, f metrics.Format, out *bytes.Buffer, secrets ...string) *metrics.Meter {
	t.Helper()
	m, err := metrics.New(metrics.Config{
		Format: f, FunctionName: "removetag-prod", Out: out, Now: func() time.Time { return now },
		RequestID: func(context.Context) string { return "req-1" },
		Secrets:   func() []string { return secrets },
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// uploadOutcome is an invocation of three objects: a file job that ended
// (its last link), one handed on, one that failed with an error.
func uploadOutcome() trigger.Outcome {
	done := &job.Result{
		Status: job.StatusDone, Source: "s3://inbox/incoming/a.csv", Chain: 2, ReportKey: "removetag/reports/incoming/a.csv.report.json",
		Report:     imapi.Report{Counts: imapi.Counts{Total: 1000, Succeeded: 990, Failed: 10, Calls: 12, Retries: 2}},
		Invocation: imapi.Counts{Total: 300, Succeeded: 295, Failed: 5, Calls: 4, Retries: 1},
	}
	handed := &job.Result{
		Status: job.StatusPending, Source: "s3://inbox/incoming/b.csv", Continued: true, CheckpointKey: "removetag/state/incoming/b.csv.json",
		Report:     imapi.Report{Counts: imapi.Counts{Total: 5000, Succeeded: 2000, Pending: 3000, Calls: 20}},
		Invocation: imapi.Counts{Total: 2000, Succeeded: 2000, Calls: 20},
	}
	return trigger.Outcome{Kind: trigger.KindUpload, Done: []trigger.Done{
		{Result: done}, {Result: handed}, {Err: errors.New("storage unreachable")},
	}}
}

// observe tells the meter of ctx's invocation of n calls, 1 to n ms, every
// tenth refused for the rate.
func observe(m *metrics.Meter, ctx context.Context, n int) {
	for i := 1; i <= n; i++ {
		m.ObserveCall(ctx, imapi.CallOutcome{Operation: imapi.AllMemberPush.RemoveTag(), Accounts: 100, Records: 100,
			Latency: time.Duration(i) * time.Millisecond, Attempt: 1, RateLimited: i%10 == 0})
	}
}

// TestEMF: the records of an invocation follow the EMF specification
// (metricstest checks each rule), and their figures are the invocation's.
func TestEMF(t *testing.T) {
	var out bytes.Buffer
	m := newMeter(t, metrics.FormatEMF, &out)
	ev := trigger.Event{Kind: trigger.KindUpload, Name: "s3"}
	ctx := m.Begin(context.Background(), ev)
	observe(m, ctx, 24)
	m.End(ctx, ev, uploadOutcome(), 2*time.Second)

	recs, err := metricstest.EMF(out.String(), now)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); len(recs) != 2 || n != 2 {
		t.Fatalf("%d records in %d lines, want the invocation's and the ended job's:\n%s", len(recs), n, out.String())
	}
	inv, jobRec := recs[0], recs[1]
	for _, r := range recs {
		if r.Namespace != metrics.DefaultNamespace || !r.Timestamp.Equal(now) ||
			!reflect.DeepEqual(r.Dimensions, [][]string{{"FunctionName", "Trigger"}, {"FunctionName"}}) ||
			r.Texts["FunctionName"] != "removetag-prod" || r.Texts["Trigger"] != "upload" || r.Texts["requestId"] != "req-1" {
			t.Errorf("record %+v: namespace, time, dimensions or request id wrong", r)
		}
		for name, unit := range r.Units {
			if !slices.ContainsFunc(metrics.Metrics(), func(m metrics.Metric) bool { return m.Name == name && m.Unit == unit && m.Scope == r.Scope() }) {
				t.Errorf("%s (%s) in a record of scope %s is not in the catalogue", name, unit, r.Scope())
			}
		}
		for name := range r.Values {
			if _, ok := r.Units[name]; !ok {
				t.Errorf("member %s is a number no directive declares", name)
			}
		}
	}
	want := map[string]float64{
		"RecordsSucceeded": 2295, "RecordsFailed": 5, "Calls": 24, "Retries": 1, "RecordsPending": 3000,
		"RateRefusals": 2, "CallLatencyAverage": 12.5, "CallLatencyMax": 24,
		"UsersPerSecond": 1150, "JobsEnded": 1, "JobsLeftForSweep": 0, "JobsSwept": 0, "RequestErrors": 1,
	}
	for name, v := range want {
		if inv.Values[name] != v {
			t.Errorf("invocation %s = %v, want %v", name, inv.Values[name], v)
		}
	}
	if p50, p99 := inv.Values["CallLatencyP50"], inv.Values["CallLatencyP99"]; math.Abs(p50-12) > 12*0.05+0.001 || p99 > 24 || p99 < 24*0.95 {
		t.Errorf("latency p50 %v, p99 %v; want 12 and 24 within 5 %%", p50, p99)
	}
	if inv.Scope() != metrics.ScopeInvocation || inv.Texts["Event"] != "s3" || inv.Texts["Source"] != "" {
		t.Errorf("invocation record texts %v", inv.Texts)
	}
	wantJob := map[string]float64{"JobRecordsTotal": 1000, "JobRecordsSucceeded": 990, "JobRecordsFailed": 10, "JobRecordsPending": 0,
		"JobCalls": 12, "JobRetries": 2, "JobContinuations": 2}
	if !reflect.DeepEqual(jobRec.Values, wantJob) || jobRec.Scope() != metrics.ScopeJob ||
		jobRec.Texts["Source"] != "s3://inbox/incoming/a.csv" || jobRec.Texts["Status"] != "done" {
		t.Errorf("job record %v %v, want %v", jobRec.Values, jobRec.Texts, wantJob)
	}
}

// TestCLS: the same figures as one flat line for CLS (every member a string
// or a number), and a sweep counts its jobs: the one left for the sweep, the
// one that ended.
func TestCLS(t *testing.T) {
	var out bytes.Buffer
	m := newMeter(t, metrics.FormatCLS, &out)
	ev := trigger.Event{Kind: trigger.KindTimer, Name: "timer"}
	ctx := m.Begin(context.Background(), ev)
	sweep := &job.Result{Status: job.StatusSwept, Invocation: imapi.Counts{Total: 70, Succeeded: 60, Failed: 10, Calls: 3}, Jobs: []*job.Result{
		{Status: job.StatusPending, Source: "cos://files-1250000000/in/x.csv", CheckpointKey: "removetag/state/in/x.csv.json",
			Report: imapi.Report{Counts: imapi.Counts{Total: 900, Succeeded: 400, Pending: 500, Calls: 5}}, Invocation: imapi.Counts{Total: 50, Succeeded: 50, Calls: 1}},
		{Status: job.StatusDone, Source: "cos://files-1250000000/in/y.csv", ReportKey: "removetag/reports/in/y.csv.report.json",
			Report: imapi.Report{Counts: imapi.Counts{Total: 20, Succeeded: 10, Failed: 10, Calls: 2}}, Invocation: imapi.Counts{Total: 20, Succeeded: 10, Failed: 10, Calls: 2}},
	}}
	m.End(ctx, ev, trigger.Outcome{Kind: trigger.KindTimer, Done: []trigger.Done{{Result: sweep}}}, time.Second)

	recs, err := metricstest.CLS(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("%d lines:\n%s", len(recs), out.String())
	}
	inv := recs[0]
	for name, v := range map[string]float64{"RecordsSucceeded": 60, "RecordsFailed": 10, "Calls": 3, "RecordsPending": 500,
		"JobsEnded": 1, "JobsLeftForSweep": 1, "JobsSwept": 2, "RequestErrors": 0, "RateRefusals": 0, "UsersPerSecond": 70} {
		if inv.Values[name] != v {
			t.Errorf("%s = %v, want %v", name, inv.Values[name], v)
		}
	}
	if _, ok := inv.Values["CallLatencyMax"]; ok {
		t.Error("latency figures without a call")
	}
	if inv.Namespace != metrics.DefaultNamespace || inv.Texts["Trigger"] != "timer" || inv.Texts["requestId"] != "req-1" || inv.Scope() != "invocation" {
		t.Errorf("line texts %v", inv.Texts)
	}
	if recs[1].Scope() != "job" || recs[1].Values["JobRecordsFailed"] != 10 || recs[1].Texts["Source"] != "cos://files-1250000000/in/y.csv" {
		t.Errorf("job line %v %v", recs[1].Values, recs[1].Texts)
	}
}

// TestHTTPOutcome: an HTTP invocation's result is its job's; an answer of
// 500 counts as a request error.
func TestHTTPOutcome(t *testing.T) {
	var out bytes.Buffer
	m := newMeter(t, metrics.FormatEMF, &out)
	ev := trigger.Event{Kind: trigger.KindHTTP, Name: "function-url"}
	inline := &job.Result{Status: job.StatusDone, Report: imapi.Report{Counts: imapi.Counts{Total: 3, Succeeded: 3, Calls: 1}},
		Invocation: imapi.Counts{Total: 3, Succeeded: 3, Calls: 1}}
	ctx := m.Begin(context.Background(), ev)
	m.End(ctx, ev, trigger.Outcome{Kind: trigger.KindHTTP, HTTP: trigger.HTTPResponse{StatusCode: 200, Result: inline}}, time.Second)
	ctx = m.Begin(context.Background(), ev)
	m.End(ctx, ev, trigger.Outcome{Kind: trigger.KindHTTP, HTTP: trigger.HTTPResponse{StatusCode: 500}}, time.Second)
	recs, err := metricstest.EMF(out.String(), now)
	if err != nil || len(recs) != 3 {
		t.Fatalf("%v, %d records", err, len(recs))
	}
	if r := recs[0]; r.Values["RecordsSucceeded"] != 3 || r.Values["JobsEnded"] != 1 || r.Values["RequestErrors"] != 0 {
		t.Errorf("inline job's invocation: %v", r.Values)
	}
	if r := recs[1]; r.Scope() != "job" || r.Values["JobRecordsTotal"] != 3 || r.Texts["Source"] != "" {
		t.Errorf("inline job's record: %v %v", r.Values, r.Texts)
	}
	if r := recs[2]; r.Values["RequestErrors"] != 1 || r.Values["JobsEnded"] != 0 {
		t.Errorf("500's invocation: %v", r.Values)
	}
	// An invocation of one file job names it.
	out.Reset()
	one := &job.Result{Status: job.StatusPending, Source: "s3://b/k.csv", Continued: true, CheckpointKey: "c"}
	ctx = m.Begin(context.Background(), ev)
	m.End(ctx, ev, trigger.Outcome{Kind: trigger.KindHTTP, HTTP: trigger.HTTPResponse{StatusCode: 202, Result: one}}, time.Second)
	if recs, err := metricstest.EMF(out.String(), now); err != nil || len(recs) != 1 || recs[0].Texts["Source"] != "s3://b/k.csv" {
		t.Errorf("an invocation of one file: %v, %+v", err, recs)
	}
}

// TestUnmeasured: calls outside a Begin's context are not counted, and an
// End without a Begin writes nothing.
func TestUnmeasured(t *testing.T) {
	var out bytes.Buffer
	m := newMeter(t, metrics.FormatEMF, &out)
	observe(m, context.Background(), 5)
	m.End(context.Background(), trigger.Event{Kind: trigger.KindTimer}, trigger.Outcome{}, time.Second)
	if out.Len() != 0 {
		t.Errorf("wrote %q", out.String())
	}
}

// TestSecretsRedacted: a secret that found its way into a record (here a
// key named like it) is redacted from the line.
func TestSecretsRedacted(t *testing.T) {
	const secret = "s3cr3t-value-of-the-im-key"
	var out bytes.Buffer
	m := newMeter(t, metrics.FormatCLS, &out, secret)
	ev := trigger.Event{Kind: trigger.KindUpload}
	ctx := m.Begin(context.Background(), ev)
	res := &job.Result{Status: job.StatusDone, Source: "s3://b/" + secret + ".csv", ReportKey: "r"}
	m.End(ctx, ev, trigger.Outcome{Kind: trigger.KindUpload, Done: []trigger.Done{{Result: res}}}, time.Second)
	if strings.Contains(out.String(), secret) || !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("line %q", out.String())
	}
	if _, err := metricstest.CLS(out.String()); err != nil {
		t.Error(err)
	}
}

// TestConcurrentCalls: the workers of a run tell of their calls at once;
// every call is counted (go test -race checks the rest).
func TestConcurrentCalls(t *testing.T) {
	var out bytes.Buffer
	m := newMeter(t, metrics.FormatEMF, &out)
	ev := trigger.Event{Kind: trigger.KindDirect}
	ctx := m.Begin(context.Background(), ev)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { observe(m, ctx, 1000) })
	}
	wg.Wait()
	m.End(ctx, ev, trigger.Outcome{Kind: trigger.KindDirect}, time.Second)
	recs, err := metricstest.EMF(out.String(), now)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%v %d", err, len(recs))
	}
	v := recs[0].Values
	if v["RateRefusals"] != 800 || v["CallLatencyMax"] != 1000 || v["CallLatencyAverage"] != 500.5 ||
		math.Abs(v["CallLatencyP50"]-500) > 25 || math.Abs(v["CallLatencyP99"]-990) > 50 {
		t.Errorf("figures %v", v)
	}
}

// TestCountsCovered: every field of imapi.Counts is a figure of the
// invocation (or said not to be) and of a job record; every figure is in the
// catalogue, in its scope, under the directive's limit. A field added to the
// counts (issue 20's Changed) fails here until the metrics count it.
func TestCountsCovered(t *testing.T) {
	own, notOwn, jobs := metrics.CountFigures()
	fields := reflect.TypeFor[imapi.Counts]()
	for i := range fields.NumField() {
		f := fields.Field(i).Name
		if _, ok := own[f]; !ok && !slices.Contains(notOwn, f) {
			t.Errorf("imapi.Counts.%s is no figure of an invocation: add it to ownFlows (or notOwnFlows, saying why)", f)
		}
		if _, ok := jobs[f]; !ok {
			t.Errorf("imapi.Counts.%s is no figure of a job record: add it to jobCounts", f)
		}
	}
	scopes := map[string]int{}
	for _, m := range metrics.Metrics() {
		scopes[m.Scope]++
		if !slices.Contains(metricstest.Units, m.Unit) || m.Help == "" {
			t.Errorf("metric %+v: unit or help", m)
		}
	}
	for scope, n := range scopes {
		if n > metricstest.MaxMetricsPerDirective {
			t.Errorf("scope %s has %d metrics", scope, n)
		}
	}
	for _, names := range []map[string]string{own, jobs} {
		for _, name := range names {
			if !slices.ContainsFunc(metrics.Metrics(), func(m metrics.Metric) bool { return m.Name == name }) {
				t.Errorf("%s is not in the catalogue", name)
			}
		}
	}
}

func TestCheckNamespace(t *testing.T) {
	for ns, ok := range map[string]bool{
		"RemoveTag": true, "Acme/Chat jobs#1:prod": true, "a.b_c-d": true,
		"": false, "   ": false, "AWS/Lambda": false, "émoji": false, "tab\there": false, strings.Repeat("n", 256): false,
	} {
		if err := metrics.CheckNamespace(ns); (err == nil) != ok {
			t.Errorf("%q: %v, want ok %v", ns, err, ok)
		}
	}
	if _, err := metrics.New(metrics.Config{Format: metrics.FormatEMF, Out: &bytes.Buffer{}, Namespace: "AWS/Mine"}); err == nil {
		t.Error("New took a reserved namespace")
	}
	if _, err := metrics.New(metrics.Config{Format: "xml", Out: &bytes.Buffer{}}); err == nil {
		t.Error("New took an unknown format")
	}
}
