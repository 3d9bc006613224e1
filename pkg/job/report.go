package job

import (
	"fmt"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/journal"

	"github.com/removetag/removetag/pkg/records"
)

// FileReport is the report of a finished file job, stored as JSON at
// {prefix}reports/{key}.report.json in the file's bucket (for the removal
// kind; see [Kind]): the whole file,
// across its chain of invocations. Its ETag makes a repeated upload event for
// the same version do nothing.
type FileReport struct {
	// Kind is the job's kind, absent for removal: "undo" for the report of
	// an undo, at {prefix}undo/reports/{key}.report.json.
	Kind Kind `json:",omitempty"`
	// Status is "done" (every record handled; Failed may be above 0),
	// "invalid" (rejected before any call; see Errors) or "canceled" (an
	// admin stopped the job: see Canceled and PendingKey).
	Status Status
	// Source is the file, "s3://bucket/key" or "cos://bucket-appid/key".
	Source string
	// ETag is the version of the file the report is for; Modified its
	// Last-Modified, where known: a canceled report stops only the upload
	// it names (a new upload of the same bytes starts a new job).
	ETag     string
	Modified time.Time `json:",omitzero"`
	// Format is the file's format: "csv", "jsonl" or "json".
	Format string `json:",omitempty"`
	// API is the operation the job called, as Tencent's pages name it:
	// "v4/all_member_push/im_remove_tag", "v4/timpush/remove_tag" (IM_TAG_API);
	// an undo's, the family's add: "v4/all_member_push/im_add_tag".
	API string `json:",omitempty"`
	// Counts: Total == Succeeded + Failed + Pending; Pending is 0 for a done
	// file, and counts every record of an invalid one (none was sent). Calls and
	// Retries count the calls made for the file.
	imapi.Counts
	// Failures groups the failed records by error.
	Failures []imapi.Failure `json:",omitempty"`
	// Errors lists the first problems of an invalid file; ErrorCount counts all.
	Errors     []records.Problem `json:",omitempty"`
	ErrorCount int               `json:",omitempty"`
	// Restarted is set when the file changed during the job, which started over.
	Restarted bool `json:",omitempty"`
	// Chain is the place of the last invocation in the file's chain: 0 when one
	// invocation did it all.
	Chain int
	// Invocations counts the invocations that worked on the file (takeovers
	// by the sweep and retries included).
	Invocations int
	// FailedKey names the object holding the failed records, one
	// {"To_Account":…,"Tags":[…]} per line, ready to upload again.
	FailedKey string `json:",omitempty"`
	// Changed counts the accounts that lost at least one tag, TagsRemoved
	// the account–tag pairs removed: what the job changed, where Succeeded
	// counts the records the service accepted (removing an absent tag succeeds
	// too). Set when the job kept a journal.
	journal.Changes
	// JournalKey names the journal: one {"To_Account":…,"Tags":[…]} per
	// account that lost tags, the tags it lost, ready to add back: an
	// {"Undo":"s3://bucket/{JournalKey}"} document does (see [KindUndo]).
	JournalKey string `json:",omitempty"`
	// PendingKey names the object holding a canceled job's pending records,
	// one {"To_Account":…,"Tags":[…]} per line, ready to upload again (outside
	// the output prefix) to finish the job.
	PendingKey string `json:",omitempty"`
	// Canceled tells who stopped a canceled job, and when.
	Canceled *Cancellation `json:",omitempty"`
	// Message explains an invalid or canceled file.
	Message string `json:",omitempty"`
	// Started and Finished bound the job; FinishedBy names the invocation
	// that wrote the report, as Checkpoint.UpdatedBy does.
	Started    time.Time
	Finished   time.Time
	FinishedBy string `json:",omitempty"`
}

// ends reports whether the report ends the job of the upload last modified
// at modified: any report of its version does, but a canceled one only for
// the upload it stopped (a new upload of the same bytes is a new job).
func (rep *FileReport) ends(modified time.Time) bool {
	return rep.Status != StatusCanceled || rep.Modified.IsZero() || modified.IsZero() || rep.Modified.Equal(modified)
}

// skippedDone is the answer for a version already done.
func (j *fileJob) skippedDone(rep *FileReport) *Result {
	res := j.reportResult(rep, StatusSkipped)
	res.Message = fmt.Sprintf("this version (ETag %s) was done already, %s: see the report", rep.ETag, rep.Finished.Format(time.RFC3339))
	return res
}

// reportResult is a result that tells a stored report.
func (j *fileJob) reportResult(rep *FileReport, status Status) *Result {
	return &Result{
		Status: status, Source: rep.Source, API: rep.API, Restarted: rep.Restarted, Chain: rep.Chain,
		Report: imapi.Report{Counts: rep.Counts, Failures: rep.Failures, EndOfInput: rep.Status == StatusDone},
		Errors: rep.Errors, ErrorCount: rep.ErrorCount, Message: rep.Message,
		ReportKey: j.st.keys.report(), FailedKey: rep.FailedKey, JournalKey: rep.JournalKey, Changes: rep.Changes,
		PendingKey: rep.PendingKey,
	}
}

// reportKind is the Kind of the job's report: none for removal, whose reports
// are as before kinds.
func (j *fileJob) reportKind() Kind {
	if j.kind == KindRemoval {
		return ""
	}
	return j.kind
}
