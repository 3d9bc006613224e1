package imapi

import (
	"errors"
	"fmt"
)

// Report accounts for every record an [Engine] run read: each one succeeded,
// failed (with the reason, in Failures) or is pending (in PendingRecords, or after Resume).
// Total == Succeeded + Failed + Pending, always. All counts are of input records,
// not of accounts or calls.
type Report struct {
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
	// Failures groups the failed records by their error.
	Failures []Failure `json:",omitempty"`
	// PendingErrors groups the records left pending after their retries ran out, by the last error.
	PendingErrors []Failure `json:",omitempty"`
	// EndOfInput is true when the source was read to its end.
	EndOfInput bool
	// StopReason says, as a code, why the run ended before finishing every record;
	// empty when it did not. Stopped says it in words.
	StopReason StopReason `json:",omitempty"`
	Stopped    string     `json:",omitempty"`
	// Resume is where to continue reading the same input: every record before
	// Resume.Position is resolved, and Resume counts their outcomes. Records at or
	// after it must be read and sent again (removal is idempotent). Nil only when
	// the input was read to its end and every record resolved.
	Resume *Cursor `json:",omitempty"`
	// ElapsedSeconds is the run's wall time.
	ElapsedSeconds float64
	// PendingRecords are the pending records that were read, in input order.
	// Records after them (EndOfInput false) were not read at all.
	PendingRecords []Record `json:"-"`
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
	// StopFatal: the service answered a configuration error (see Failures): every
	// other call would fail the same way. Fix the configuration, then continue.
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
	Position
	// Succeeded and Failed count the records before Position.
	Succeeded int64
	Failed    int64
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
	Class string
	// Records counts the records in the group.
	Records int64
	// Accounts lists the group's distinct accounts in input order, at most
	// EngineConfig.MaxFailureAccounts of them; AccountsOmitted counts the rest.
	Accounts        []string
	AccountsOmitted int64 `json:",omitempty"`
}

// failureKey groups errors in a report.
type failureKey struct {
	code, status int
	class        string
}

// describe returns the grouping key and the text of err.
func describe(err error) (failureKey, string) {
	var (
		ae *APIError
		he *HTTPError
		p  *Problem
	)
	switch {
	case errors.As(err, &ae):
		return failureKey{code: ae.ErrorCode, class: ClassOfCode(ae.ErrorCode).String()}, ae.ErrorInfo
	case errors.As(err, &he):
		return failureKey{status: he.StatusCode, class: Classify(err).String()}, he.Error()
	case errors.As(err, &p):
		return failureKey{class: "invalid"}, p.Error()
	default:
		return failureKey{class: Classify(err).String()}, err.Error()
	}
}

// failureSet builds the Failures of a report.
type failureSet struct {
	maxAccounts int
	order       []*Failure
	byKey       map[failureKey]*Failure
	seen        map[failureKey]map[string]struct{}
}

func newFailureSet(maxAccounts int) *failureSet {
	return &failureSet{maxAccounts: maxAccounts, byKey: map[failureKey]*Failure{}, seen: map[failureKey]map[string]struct{}{}}
}

// add counts one record that failed with err.
func (s *failureSet) add(account string, err error) {
	key, info := describe(err)
	f := s.byKey[key]
	if f == nil {
		f = &Failure{ErrorCode: key.code, HTTPStatus: key.status, ErrorInfo: info, Class: key.class}
		s.byKey[key] = f
		s.seen[key] = map[string]struct{}{}
		s.order = append(s.order, f)
	}
	f.Records++
	seen := s.seen[key]
	if _, dup := seen[account]; dup {
		return
	}
	if len(f.Accounts) < s.maxAccounts {
		seen[account] = struct{}{}
		f.Accounts = append(f.Accounts, account)
	} else {
		f.AccountsOmitted++
	}
}

func (s *failureSet) list() []Failure {
	out := make([]Failure, len(s.order))
	for i, f := range s.order {
		out[i] = *f
	}
	return out
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
