package metrics

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
)

// Scopes of the records: the one record of an invocation, and the record of
// each job that ended in it (the Scope member of both).
const (
	ScopeInvocation = "invocation"
	ScopeJob        = "job"
)

// Metric is one figure a [Meter] may write.
type Metric struct {
	// Name is the metric's name (and the record's member holding its value).
	Name string
	// Unit is its CloudWatch unit: Count, Milliseconds or Count/Second.
	Unit string
	// Scope is the record that holds it: ScopeInvocation or ScopeJob.
	Scope string
	// Help says what it counts.
	Help string
}

// The units the metrics use, as CloudWatch names them (MetricDatum's Unit).
const (
	unitCount     = "Count"
	unitMillis    = "Milliseconds"
	unitPerSecond = "Count/Second"
)

// catalogue lists every metric a Meter may write, in the order it writes them.
var catalogue = []Metric{
	{"RecordsSucceeded", unitCount, ScopeInvocation, "records whose tags this invocation removed (its own part of its jobs: summed over a job's invocations, the report's Succeeded)"},
	{"RecordsFailed", unitCount, ScopeInvocation, "records this invocation failed for good (summed over a job's invocations, the report's Failed)"},
	{"Calls", unitCount, ScopeInvocation, "calls this invocation made for its jobs, retries included (summed, the report's Calls)"},
	{"Retries", unitCount, ScopeInvocation, "calls that repeated an earlier one (summed, the report's Retries)"},
	{"RecordsPending", unitCount, ScopeInvocation, "records its jobs had left at its end: a file job's not yet resolved, an inline job's handed back"},
	{"RateRefusals", unitCount, ScopeInvocation, "calls the service refused for the rate (60007 and its kin 60011, 60018, 60019)"},
	{"CallLatencyAverage", unitMillis, ScopeInvocation, "mean time of a call (written when the invocation made calls)"},
	{"CallLatencyP50", unitMillis, ScopeInvocation, "median time of a call, within 5 %"},
	{"CallLatencyP99", unitMillis, ScopeInvocation, "99th percentile of a call's time, within 5 %"},
	{"CallLatencyMax", unitMillis, ScopeInvocation, "longest call"},
	{"UsersPerSecond", unitPerSecond, ScopeInvocation, "records resolved (succeeded or failed) a second of the invocation"},
	{"JobsEnded", unitCount, ScopeInvocation, "jobs that ended in this invocation (each has a record of scope job)"},
	{"JobsSwept", unitCount, ScopeInvocation, "file jobs the timer sweep took over in this invocation: left for it, or whose chain was lost (a continuation that never came, an invocation that died)"},
	{"JobsLeftForSweep", unitCount, ScopeInvocation, "file jobs whose rest this invocation left for the timer sweep (a fatal stop, an unavailable service, the chain's limit, no or a failed self-invocation)"},
	{"RequestErrors", unitCount, ScopeInvocation, "requests of the invocation that failed with an error (the platform retries; the sweep takes a file job on)"},
	{"JobRecordsTotal", unitCount, ScopeJob, "the job's records"},
	{"JobRecordsSucceeded", unitCount, ScopeJob, "its records whose tags were removed"},
	{"JobRecordsFailed", unitCount, ScopeJob, "its records that failed for good"},
	{"JobRecordsPending", unitCount, ScopeJob, "its records left (0 for a done file; an invalid one's every record)"},
	{"JobCalls", unitCount, ScopeJob, "the calls made for the job, retries included"},
	{"JobRetries", unitCount, ScopeJob, "the calls that repeated an earlier one"},
	{"JobContinuations", unitCount, ScopeJob, "the times the job was handed on to another invocation (its chain's last place)"},
	{"JobAccountsChanged", unitCount, ScopeJob, "the accounts that lost at least one tag, from the job's journal (only for a job that kept one)"},
	{"JobTagsRemoved", unitCount, ScopeJob, "the account-tag pairs removed, from the job's journal (only for a job that kept one)"},
}

// Metrics lists every metric a Meter may write.
func Metrics() []Metric { return append([]Metric(nil), catalogue...) }

// countFigure is a figure read from an imapi.Counts field.
type countFigure struct {
	field, name string
	get         func(imapi.Counts) int64
}

// ownFlows are the invocation figures of Result.Invocation's flows, by
// imapi.Counts field. What a job changed (issue 20's journal.Changes: known
// only when its journal is merged, at its end) is a figure of its job record,
// JobAccountsChanged and JobTagsRemoved.
var ownFlows = []countFigure{
	{"Succeeded", "RecordsSucceeded", func(c imapi.Counts) int64 { return c.Succeeded }},
	{"Failed", "RecordsFailed", func(c imapi.Counts) int64 { return c.Failed }},
	{"Calls", "Calls", func(c imapi.Counts) int64 { return c.Calls }},
	{"Retries", "Retries", func(c imapi.Counts) int64 { return c.Retries }},
}

// notOwnFlows are the Counts fields that are no invocation figure: in an
// invocation's part Total is Succeeded + Failed and Pending 0 (RecordsPending
// is read from the results' Report instead).
var notOwnFlows = []string{"Total", "Pending"}

// jobCounts are a job record's figures, by imapi.Counts field.
var jobCounts = []countFigure{
	{"Total", "JobRecordsTotal", func(c imapi.Counts) int64 { return c.Total }},
	{"Succeeded", "JobRecordsSucceeded", func(c imapi.Counts) int64 { return c.Succeeded }},
	{"Failed", "JobRecordsFailed", func(c imapi.Counts) int64 { return c.Failed }},
	{"Pending", "JobRecordsPending", func(c imapi.Counts) int64 { return c.Pending }},
	{"Calls", "JobCalls", func(c imapi.Counts) int64 { return c.Calls }},
	{"Retries", "JobRetries", func(c imapi.Counts) int64 { return c.Retries }},
}

// prop is a record's member of text: a dimension or a property.
type prop struct{ name, value string }

// figure is a record's metric.
type figure struct {
	name, unit string
	value      float64
}

// record is one document: its texts and its metrics.
type record struct {
	props   []prop
	figures []figure
}

// add appends the metric name of the catalogue with value v.
func (r *record) add(name string, v float64) {
	for _, m := range catalogue {
		if m.Name == name {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = 0 // JSON has no such number
			}
			r.figures = append(r.figures, figure{name: name, unit: m.Unit, value: v})
			return
		}
	}
	panic(fmt.Sprintf("metrics: %q is not in the catalogue", name))
}

// figures makes an invocation's records from its event, its outcome, the
// tally of its calls and its duration: the invocation's, then one for each
// job that ended in it.
func figures(ev trigger.Event, o trigger.Outcome, c calls, elapsed time.Duration) []record {
	results, errs := outcomeResults(o)
	var (
		own                         imapi.Counts
		pending, ended, left, swept int64
		jobs                        []record
		sources                     []string
	)
	for _, r := range results {
		own.Add(r.Invocation) // a sweep's is the sum of its jobs'
		if r.Status == job.StatusSwept {
			swept += int64(len(r.Jobs))
		}
		for _, u := range units(r) {
			if u.Source != "" && !slices.Contains(sources, u.Source) {
				sources = append(sources, u.Source)
			}
			pending += u.Pending
			if u.LeftForSweep() {
				left++
			}
			if u.Ended() {
				ended++
				jobs = append(jobs, jobRecord(u))
			}
		}
	}
	inv := record{props: []prop{{"Scope", ScopeInvocation}}}
	if ev.Name != "" {
		inv.props = append(inv.props, prop{"Event", ev.Name})
	}
	if len(sources) == 1 { // the file the invocation worked on, to follow one job
		inv.props = append(inv.props, prop{"Source", sources[0]})
	}
	for _, f := range ownFlows {
		inv.add(f.name, float64(f.get(own)))
	}
	inv.add("RecordsPending", float64(pending))
	inv.add("RateRefusals", float64(c.RateRefusals))
	if c.Count > 0 {
		inv.add("CallLatencyAverage", millis(c.Average))
		inv.add("CallLatencyP50", millis(c.P50))
		inv.add("CallLatencyP99", millis(c.P99))
		inv.add("CallLatencyMax", millis(c.Max))
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(own.Succeeded+own.Failed) / s
	}
	inv.add("UsersPerSecond", math.Round(rate*100)/100)
	inv.add("JobsEnded", float64(ended))
	inv.add("JobsSwept", float64(swept))
	inv.add("JobsLeftForSweep", float64(left))
	inv.add("RequestErrors", float64(errs))
	return append([]record{inv}, jobs...)
}

// jobRecord is the record of a job that ended: its report's counts.
func jobRecord(r *job.Result) record {
	rec := record{props: []prop{{"Scope", ScopeJob}, {"Status", string(r.Status)}}}
	if r.Source != "" {
		rec.props = append(rec.props, prop{"Source", r.Source})
	}
	for _, f := range jobCounts {
		rec.add(f.name, float64(f.get(r.Counts)))
	}
	rec.add("JobContinuations", float64(r.Chain))
	if r.JournalKey != "" {
		// What changed is known from the journal alone (issue 20): a job
		// without one does not say 0.
		rec.add("JobAccountsChanged", float64(r.Changed))
		rec.add("JobTagsRemoved", float64(r.TagsRemoved))
	}
	return rec
}

// outcomeResults are the results of an invocation's requests, and the
// number of those that failed with an error (a panic counts as one).
func outcomeResults(o trigger.Outcome) (rs []*job.Result, errs int64) {
	if o.Err != nil {
		errs++
	}
	if o.Kind == trigger.KindHTTP {
		if o.HTTP.StatusCode >= 500 {
			errs++
		}
		if o.HTTP.Result != nil {
			rs = append(rs, o.HTTP.Result)
		}
		return rs, errs
	}
	for _, d := range o.Done {
		switch {
		case d.Err != nil:
			errs++
		case d.Result != nil:
			rs = append(rs, d.Result)
		}
	}
	return rs, errs
}

// units are the jobs a result answers for: a sweep's jobs, or the result's own.
func units(r *job.Result) []*job.Result {
	if r.Status == job.StatusSwept {
		return r.Jobs
	}
	return []*job.Result{r}
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
