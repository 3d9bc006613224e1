package imapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/removetag/removetag/pkg/records"
)

// Counts are the outcomes of a job's records and the calls made for them: the
// one vocabulary of counts shared by [Report], the file reports and checkpoints
// built on it. All counts of records are of input records, not of accounts or calls.
type Counts struct {
	// Total is the number of records read from the source.
	Total int64
	// Succeeded counts records whose tags were removed.
	Succeeded int64
	// Failed counts records the service refused for good, or that were invalid.
	Failed int64
	// Pending counts records whose outcome is not known or that were not sent:
	// the run stopped (deadline, cancellation, a fatal error) or retries ran out.
	Pending int64
	// Calls is the number of calls made, retries included.
	Calls int64
	// Retries is the number of calls that repeated an earlier one.
	Retries int64
}

// Add adds o to c, count by count: the sum of two parts of a job.
func (c *Counts) Add(o Counts) {
	c.Total += o.Total
	c.Succeeded += o.Succeeded
	c.Failed += o.Failed
	c.Pending += o.Pending
	c.Calls += o.Calls
	c.Retries += o.Retries
}

// Balanced returns c with Pending set to the records neither succeeded nor
// failed, so that Total == Succeeded + Failed + Pending (never below 0).
func (c Counts) Balanced() Counts {
	c.Pending = max(c.Total-c.Succeeded-c.Failed, 0)
	return c
}

// Report accounts for every record an [Engine] run read: each one succeeded,
// failed (with the reason, in Failures) or is pending (in PendingRecords, or after Resume).
// Total == Succeeded + Failed + Pending, always.
type Report struct {
	// Counts are the run's records and calls.
	Counts
	// Failures groups the failed records by their error.
	Failures []Failure `json:",omitempty"`
	// PendingErrors groups the records left pending after their retries ran
	// out, by the last error, and the records of a call the service refused
	// for the configuration (class fatal: the run stopped, [StopFatal]).
	PendingErrors []Failure `json:",omitempty"`
	// EndOfInput is true when the source was read to its end.
	EndOfInput bool
	// StopReason says, as a code, why the run ended before finishing every record;
	// empty when it did not. Stopped says it in words.
	StopReason StopReason `json:",omitempty"`
	Stopped    string     `json:",omitempty"`
	// Resume is where to continue reading the same input: every record before
	// Resume.Position is resolved, and Resume counts their outcomes. Records at or
	// after it must be read and sent again (removal is idempotent), but for those
	// of Resume.Ahead, which succeeded. Nil only when the input was read to its
	// end and every record resolved.
	Resume *Cursor `json:",omitempty"`
	// ElapsedSeconds is the run's wall time.
	ElapsedSeconds float64
	// PendingRecords are the pending records that were read, in input order.
	// Records after them (EndOfInput false) were not read at all.
	PendingRecords []records.Record `json:"-"`
}

// StopReason classifies why a run stopped early.
type StopReason string

// The reasons a run stops early.
const (
	// StopDeadline: the time budget before the context's deadline was used up.
	// Continue in a new invocation.
	StopDeadline StopReason = "deadline"
	// StopCanceled: the context was canceled (or its deadline passed outright).
	StopCanceled StopReason = "canceled"
	// StopFatal: the service answered a configuration error (see PendingErrors):
	// every other call would fail the same way. The refused call's records stay
	// pending, before Resume: fix the configuration, then continue from Resume.
	StopFatal StopReason = "fatal"
	// StopUnavailable: several calls in a row ran out of retries. Continue later.
	StopUnavailable StopReason = "unavailable"
	// StopInput: reading the input failed (Run also returns the error).
	StopInput StopReason = "input"
)

// Done reports whether every record of the input was read and resolved.
func (r *Report) Done() bool { return r.EndOfInput && r.Pending == 0 }

// Cursor is a position to restart an input from, with the outcomes of the records before it.
type Cursor struct {
	records.Position
	// Succeeded and Failed count the records before Position.
	Succeeded int64
	Failed    int64
	// Ahead are the records after Position that succeeded as well (the
	// records of the calls that succeeded after it, none of them invalid or
	// failed on its own in an answer's ErrorList), by index as the source's
	// positions number them: a run resumed at Position may read past them
	// rather than send them again. Report.Succeeded less Succeeded counts
	// them, and the records that succeeded in a call some of whose accounts
	// an ErrorList failed or left pending (those are sent again). A span
	// holds every index from a call's first record to its last, so a source
	// that passes over records of its own (a job's records done already) has
	// them inside. Failed and pending records
	// after Position are not here: they are sent again, and [OnFailed] is told
	// of a failed record only once it comes before a cursor.
	Ahead records.Spans `json:",omitempty"`
}

// Failure is a group of failed records that share an error.
type Failure struct {
	// ErrorCode is the service's code; 0 for HTTP, network and input errors.
	ErrorCode int
	// HTTPStatus is set for answers that were not HTTP 200.
	HTTPStatus int `json:",omitempty"`
	// ErrorInfo is the service's text (or the error's) for the first record of the group.
	ErrorInfo string
	// Class is what the error means: permanent, fatal, retryable, renew-signature, invalid.
	Class Class
	// Records counts the records in the group.
	Records int64
	// Accounts lists the group's distinct accounts in input order, at most
	// EngineConfig.MaxFailureAccounts of them; AccountsOmitted counts the rest.
	Accounts        []string
	AccountsOmitted int64 `json:",omitempty"`
}

// failureKey is what the records of one Failure share.
type failureKey struct {
	code, status int
	class        Class
}

func (f *Failure) key() failureKey {
	return failureKey{code: f.ErrorCode, status: f.HTTPStatus, class: f.Class}
}

// describe returns the group of err and its text.
func describe(err error) (failureKey, string) {
	var (
		ae *APIError
		he *httpError
		p  *records.Problem
	)
	switch {
	case errors.As(err, &ae):
		return failureKey{code: ae.ErrorCode, class: classOfCode(ae.ErrorCode)}, ae.info()
	case errors.As(err, &he):
		return failureKey{status: he.StatusCode, class: Classify(err)}, he.Error()
	case errors.As(err, &p):
		return failureKey{class: Invalid}, p.Error()
	default:
		return failureKey{class: Classify(err)}, err.Error()
	}
}

// FailureGroups groups failed records by their error (service code, HTTP
// status and [Class]), in the order the groups first appear: an engine's run
// builds its report's Failures with it, and a job run in several parts carries
// its groups from one part to the next. Each group lists an account once, and
// at most a set number of accounts. It is not safe for concurrent use.
type FailureGroups struct {
	maxAccounts int
	list        []Failure
	index       map[failureKey]int                 // key → index in list
	seen        map[failureKey]map[string]struct{} // the accounts listed, per group
}

// NewFailureGroups returns groups that go on from list, the groups of the
// parts before (nil for none; list itself is not changed), listing at most
// maxAccounts accounts per group (0 or less: 1000).
func NewFailureGroups(list []Failure, maxAccounts int) *FailureGroups {
	if maxAccounts <= 0 {
		maxAccounts = defaultMaxFailureAccounts
	}
	g := &FailureGroups{maxAccounts: maxAccounts, index: map[failureKey]int{}, seen: map[failureKey]map[string]struct{}{}}
	for _, f := range list {
		f.Accounts = slices.Clone(f.Accounts)
		g.index[f.key()] = len(g.list)
		g.list = append(g.list, f)
		set := make(map[string]struct{}, len(f.Accounts))
		for _, a := range f.Accounts {
			set[a] = struct{}{}
		}
		g.seen[f.key()] = set
	}
	return g
}

// Add counts one record of account that failed with err.
func (g *FailureGroups) Add(account string, err error) {
	key, info := describe(err)
	i, ok := g.index[key]
	if !ok {
		i = len(g.list)
		g.index[key] = i
		g.list = append(g.list, Failure{ErrorCode: key.code, HTTPStatus: key.status, ErrorInfo: info, Class: key.class})
		g.seen[key] = map[string]struct{}{}
	}
	f := &g.list[i]
	f.Records++
	seen := g.seen[key]
	if _, dup := seen[account]; dup {
		return
	}
	if len(f.Accounts) < g.maxAccounts {
		account = strings.Clone(account) // kept: not a share of a decoder's block
		seen[account] = struct{}{}
		f.Accounts = append(f.Accounts, account)
	} else {
		f.AccountsOmitted++
	}
}

// List returns the groups in the order they first appeared; nil if there are none.
func (g *FailureGroups) List() []Failure {
	if len(g.list) == 0 {
		return nil
	}
	return slices.Clone(g.list)
}

// Summary is a one-line description of the report for logs and terminals.
func (r *Report) Summary() string {
	s := fmt.Sprintf("%d records: %d succeeded, %d failed, %d pending; %d calls, %d retries, %.1fs",
		r.Total, r.Succeeded, r.Failed, r.Pending, r.Calls, r.Retries, r.ElapsedSeconds)
	if r.Stopped != "" {
		s += "; stopped: " + r.Stopped
	}
	return s
}
