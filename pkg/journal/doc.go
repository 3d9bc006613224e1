// Package journal records the tags a job really removes, so that the job can
// say what it changed and be undone exactly: one {"To_Account":"u1","Tags":[…]}
// line per account that lost tags, in the API's own form, ready to be added back.
//
// # Why the tags are read first
//
// Removing a tag an account does not carry succeeds silently, and the input
// lists the tags to remove, not the tags the accounts had: neither the answers
// nor the input say what changed. So before a batch is removed its accounts'
// tags are read (im_get_tag, at most 100 accounts a call, on the get API's own
// rate: each tag API's page states its own 100 calls/s), and the listed tags
// each account carries are the batch's intent.
//
// # Exact under retries, hand-offs, duplicates and takeovers
//
// A removal's outcome is not always known: an answer is lost after the call
// was applied, an invocation is killed mid-call, a continuation is delivered
// twice, the sweep takes over a job whose owner still runs. The journal does
// not depend on knowing it, by writing ahead and resolving later:
//
//  1. Write-ahead. A batch's intent (the pairs read present) is appended to
//     the invocation's log and is durable ([Sink.Append] returned) before the
//     batch's first call is sent. Whatever happens after, the pairs that call
//     could remove are on record.
//  2. Outcome. When the engine knows the batch's outcome it is appended too, per
//     account: applied (an OK answer), known not applied (every call refused by
//     an answer of the service, or none sent), or unknown (a lost answer, an
//     HTTP error, a kill: no line at all).
//  3. Merge ([Merge], at the job's end, over every invocation's log). A pair is
//     in the journal when an intent holding it was applied, or, when no intent
//     holding it is known applied and one may have been, when a read at the
//     merge finds the tag gone: it was present when that intent was read, so a
//     call of this job removed it since (the journal assumes, as the whole
//     product does, that nothing else changes the listed tags meanwhile).
//     Known not applied intents are not read again: their pairs were not
//     removed by them, and a removal by another attempt has its own intent.
//  4. Once. Pairs are deduplicated across the whole job, so a pair read present
//     by two attempts (a call retried in a later invocation after its first
//     attempt landed, the same batch sent by a lost owner and by the sweep,
//     the same account listed twice in the file) is in the journal once.
//
// So a tag is in the journal exactly when a job of this file removed it from
// that account: every removal is preceded by a durable read that holds it, and
// every pair on record is either confirmed by the service's answer or by a read
// after the fact. No batch identity or ordering between invocations is needed:
// the rule is per pair, and the logs of invocations that lost the job, were
// killed or ran twice are merged like any other.
//
// # Cost
//
// The read runs in the worker that then sends the batch, before it waits for
// its turn on the removal's rate: the reads of some batches go on beside the
// removals of others, on the get API's own rate, and the removals keep the
// run's pace. The engine reads only as far ahead as keeps a batch ready at
// each turn, and near the deadline only the batches that can still be sent
// (imapi.BeforeSend): about one read per batch sent. Intents are written by
// group commit (Config.GroupEvery): each write carries every intent ready by
// then, so the log costs a few object writes a second however many batches
// wait on it, and the lines are written by hand, not by reflection. A batch
// waits for the write after its read, and the reads, on a rate no faster than
// the removals', never get further ahead than the run's start put them: a run
// loses about one spacing of the writes in all, so GroupEveryFor spaces them
// by the run's length (a two-hundredth of it, 50 to 250 ms). A hand-off
// writes one chunk more at most; the merge reads the chunks.
//
// The merge reads again only the pairs whose outcome was never known, and
// holds at most a partition of the pairs in memory at once (sorted, not in
// maps; two with more than one P, the next sorted while one is written). In
// the common case, every outcome known, each partition is gone through once.
// It is budgeted (Merger.Until): short of time it stops, unfinished,
// rather than fail, and what its reads found so far is a log of its own
// (resolution lines: the pairs found gone, and kept), so that the next merge,
// given every log again, reads only the accounts left. A job hands its
// finish phase on so (package job), as it does its send phase.
package journal
