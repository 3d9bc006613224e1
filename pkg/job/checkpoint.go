package job

import (
	"fmt"
	"time"

	"github.com/removetag/removetag/pkg/imapi"

	"github.com/removetag/removetag/pkg/records"
)

// Phase is where a file job is, as its [Checkpoint] stores it.
type Phase string

// Phases of a file job.
const (
	PhaseValidate Phase = "validate" // reading the whole file once, checking every record
	PhaseSend     Phase = "send"     // sending the records
	PhaseFinish   Phase = "finish"   // every record sent: the report is left to write
)

// Handoff is what the invocation that wrote a [Checkpoint] last expects to happen next.
type Handoff string

// Hand-offs of a file job.
const (
	HandoffInvoked Handoff = "invoked" // a continuation event for Chain is on its way
	HandoffSweep   Handoff = "sweep"   // no event was sent: the timer sweep takes it on
	HandoffError   Handoff = "error"   // the invocation failed; a platform retry (or the sweep) takes it on
)

// Checkpoint is the durable state of a file job between invocations, stored
// as JSON at {prefix}state/{key}.json in the file's bucket (for the removal
// kind; see [Kind]). Counts are of the records before Position, accumulated
// across the chain; SucceededAhead holds the records after it that succeeded.
type Checkpoint struct {
	// Version is the checkpoint format's version, 1.
	Version int
	// Source is the file, "s3://bucket/key" or "cos://bucket-appid/key".
	Source string
	// Region is the region an upload event named, if any.
	Region string `json:",omitempty"`
	// ETag is the version of the file the job works on.
	ETag string
	// Modified is that version's Last-Modified, when the store said it: with
	// the ETag it names the upload a cancel marker stops (see CancelMarker).
	Modified time.Time `json:",omitzero"`
	// Format is the file's format: "csv", "jsonl" or "json".
	Format string
	// Compressed is set for gzip files, which are resumed by skipping records
	// rather than at a byte offset.
	Compressed bool `json:",omitempty"`
	// AllTags is set for a file of the job form of accounts alone (a JSON
	// document that says "AllTags": true): its send pass clears every tag of
	// each account.
	AllTags bool `json:",omitempty"`
	// SkipRate is how many records per second reading a compressed file past
	// records went at, as last measured (a validation pass, which is slower, until
	// a skip is measured): what an invocation plans a resume with.
	SkipRate float64 `json:",omitempty"`
	// Phase is "validate", "send" or "finish".
	Phase Phase
	// Counts: Total counts the records of the file (in the validate phase:
	// those checked so far); Succeeded and Failed the records before Position
	// that succeeded or failed, Calls and Retries the calls made so far;
	// Pending the rest of Total, less SucceededAhead. Checkpoints written
	// before Pending was stored have none: it is worked out again (see counts).
	imapi.Counts
	// Position is where to go on reading: the first record not done.
	Position records.Position
	// SucceededAhead are the records after Position that succeeded already, by
	// index (records.Position.Record), sorted, at most maxAhead spans: the next
	// invocation reads past them rather than send them again. Succeeded does
	// not count them, so that a version of this program that knows nothing of
	// them (checkpoints before it have none) sends them again and counts them
	// once; forgetting a span is always safe. See counts.
	SucceededAhead records.Spans `json:",omitempty"`
	// Failures groups the failed records by error.
	Failures []imapi.Failure `json:",omitempty"`
	// Problems and ProblemCount are what the validate phase found so far.
	Problems     []records.Problem `json:",omitempty"`
	ProblemCount int               `json:",omitempty"`
	// Parts are the objects holding the failed records, in input order.
	Parts []string `json:",omitempty"`
	// PartSeq numbers the next part.
	PartSeq int `json:",omitempty"`
	// Chain is the place, in the file's chain, of the invocation that works on
	// the job or is to work on it next.
	Chain int
	// Invocations counts the invocations that worked on the job.
	Invocations int
	// Idle counts the invocations in a row that could do no record.
	Idle int `json:",omitempty"`
	// Restarted is set when the file changed during the job, which started over.
	Restarted bool `json:",omitempty"`
	// Owner identifies the invocation working on the job now; empty between invocations.
	Owner string `json:",omitempty"`
	// Handoff says what the last invocation expects next: "invoked", "sweep" or "error".
	Handoff Handoff `json:",omitempty"`
	// Note says why the job was left for the sweep, if it was.
	Note string `json:",omitempty"`
	// Started is when the job started; UpdatedAt when the checkpoint was
	// written, and UpdatedBy by which invocation: its trigger and its name in
	// claims ("continue/3fa2c1d0e4b5a697"), as its log lines say them.
	Started   time.Time
	UpdatedAt time.Time
	UpdatedBy string `json:",omitempty"`
}

const checkpointVersion = 1

// counts returns the checkpoint's counts, Succeeded including SucceededAhead
// and Pending being the records of Total not yet resolved.
func (cp *Checkpoint) counts() imapi.Counts {
	c := cp.Counts
	c.Succeeded += cp.SucceededAhead.Len()
	return c.Balanced()
}

// maxAhead bounds the spans of SucceededAhead a checkpoint keeps: each is a
// gap of unresolved records behind it (calls waiting for a retry or cut at the
// deadline), a few per invocation, and the next invocation fills them.
const maxAhead = 512

// checkAhead says why SucceededAhead cannot be used, if it cannot.
func (cp *Checkpoint) checkAhead() error {
	if err := cp.SucceededAhead.Check(); err != nil {
		return err
	}
	if len(cp.SucceededAhead) > 0 && cp.SucceededAhead[0].From < cp.Position.Record {
		return fmt.Errorf("a span starts at record %d, before the position, record %d", cp.SucceededAhead[0].From, cp.Position.Record)
	}
	return nil
}

// advance moves the checkpoint to the run's cursor, cur: the spans of
// SucceededAhead before it count as succeeded, those of cur after it join the
// rest (cur.Ahead may hold the spans that the run read past). It returns how
// many records of cur.Ahead were not ahead already: the records of the run
// that succeeded after its cursor.
func (cp *Checkpoint) advance(cur imapi.Cursor) (fresh int64) {
	passed, ahead := cp.SucceededAhead.Split(cur.Record)
	before := ahead.Len()
	for _, sp := range cur.Ahead {
		ahead = ahead.Add(sp)
	}
	fresh = ahead.Len() - before
	if len(ahead) > maxAhead {
		ahead = ahead[:maxAhead:maxAhead] // the farthest are sent again
	}
	cp.Succeeded += passed.Len() + cur.Succeeded
	cp.Failed += cur.Failed
	cp.Position, cp.SucceededAhead = cur.Position, ahead
	return fresh
}

// fresh reports whether the checkpoint was written less than SweepAfter ago.
func (s *Service) fresh(cp *Checkpoint) bool {
	return time.Since(cp.UpdatedAt) < s.cfg.SweepAfter
}

// busy reports whether a live invocation works on the job or is about to: the
// checkpoint is fresh and has an owner or an event on its way.
func (s *Service) busy(cp *Checkpoint) bool {
	return s.fresh(cp) && (cp.Owner != "" || cp.Handoff == HandoffInvoked)
}
