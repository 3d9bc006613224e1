// Package imapi removes user tags in Tencent Cloud Chat (IM) through the REST API
// v4/all_member_push/im_remove_tag, or the Push service's v4/timpush/remove_tag
// (the two [API] families), at the API's full speed, within a time budget,
// accounting for every input record.
//
// The package has three parts:
//
//   - [Client] makes one call of an [Operation] (a family's remove, add, get or
//     clear-all) with at most [MaxAccountsPerCall] accounts: it signs with a
//     cached admin UserSig, decodes every answer into a typed error (an answer
//     OK with an ErrorList into one *[APIError] per listed account) and renews
//     the signature when the service says it expired.
//   - [Engine] takes a stream of records of any length (a records.Source),
//     merges them into calls of at most 100 distinct accounts, keeps under the
//     rate limit with a bounded number of calls in flight, retries what can be
//     retried, stops in time for the context's deadline and returns a [Report]
//     that accounts for every record.
//     Its operation is chosen per run ([WithOperation]), im_remove_tag by
//     default, and an [Observer] may be told the outcome of every call. An
//     answer's ErrorList resolves its accounts apart: each fails with its own
//     code, or is sent again alone when the code says retry; the call's other
//     accounts succeeded.
//   - Package emulator holds an emulator of the API for tests and local runs.
//
// The records themselves, their formats, decoders, resume positions and checks
// are package records'.
//
// The vocabulary of outcomes is shared by everything built on the package:
// [Counts] (Total == Succeeded + Failed + Pending, and the calls), [Failure]
// groups built by [FailureGroups] (for one run, or carried across the parts of
// a longer job), each with its [Class].
//
// The package knows nothing of the serverless platforms; their adapters live elsewhere.
package imapi
