package job

import "github.com/removetag/removetag/pkg/imapi"

// What became of a job in the invocation that answers a Result, for those
// who watch jobs from outside (metrics): its own part of the work
// (Result.Invocation), whether the job ended there, whether it was left for
// the sweep.

// share is the part of the counts c that came after base, counts of the same
// job: the records resolved and the calls made in between (Total their sum,
// Pending none). Every flow of imapi.Counts is here: TestShareCoversCounts
// fails for a field it leaves out.
func share(c, base imapi.Counts) imapi.Counts {
	s := imapi.Counts{
		Succeeded: c.Succeeded - base.Succeeded,
		Failed:    c.Failed - base.Failed,
		Calls:     c.Calls - base.Calls,
		Retries:   c.Retries - base.Retries,
	}
	s.Total = s.Succeeded + s.Failed
	return s
}

// Ended reports whether r's job ended in the invocation that answers r: a
// file job whose report it wrote (done, invalid, or any other end but a
// skip), or an inline job it ran (done, or pending with the records left in
// PendingUserTags). A sweep's jobs are its Jobs, each with its own answer.
func (r *Result) Ended() bool {
	switch {
	case r.Status == StatusSkipped || r.Status == StatusIgnored || r.Status == StatusSwept:
		return false
	case r.ReportKey != "":
		return true
	}
	inline := r.Source == "" && r.CheckpointKey == "" && len(r.Jobs) == 0
	return inline && (r.Status == StatusDone || r.Status == StatusPending)
}

// LeftForSweep reports whether r is the answer of a file job whose rest this
// invocation left for the timer sweep: records left, its checkpoint saved
// with the hand-off "sweep" (see handOn: a run stopped by a fatal answer or
// an unavailable service, too many idle invocations, the chain at MaxChain,
// no self-invocation configured, or one that failed), no continuation sent.
func (r *Result) LeftForSweep() bool {
	return r.Status == StatusPending && r.CheckpointKey != "" && !r.Continued
}
