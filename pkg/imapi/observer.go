package imapi

import (
	"context"
	"time"
)

// Observer is told the outcome of each call an [Engine] makes: the seam for
// metrics. ObserveCall is called by the run's workers, several at once, right
// after each call and before any retry: it must be safe for concurrent use and
// quick, since the worker waits for it. Set one per engine
// ([EngineConfig].Observer) or per run ([WithObserver]).
type Observer interface {
	ObserveCall(ctx context.Context, c CallOutcome)
}

// CallOutcome is one call of a run, as an [Observer] is told it.
type CallOutcome struct {
	// Operation is the API called.
	Operation Operation
	// Accounts is the number of distinct accounts in the call; Records the
	// number of input records it sends (the records of one account merge into
	// one account of the call).
	Accounts, Records int
	// Latency is the time the call took, signing and retries of the
	// signature within it included.
	Latency time.Duration
	// Attempt is 1 for the first call of a batch, more for its retries.
	Attempt int
	// Class is the class of the call's error ([Classify]); "" when the call succeeded.
	Class Class
	// ErrorCode is the service's code (0: none); HTTPStatus the HTTP status of
	// an answer that was not 200 (0: none, or no answer at all).
	ErrorCode, HTTPStatus int
	// RateLimited says the service refused the call for the rate (60007 and
	// its kin 60011, 60018, 60019): the run slows down.
	RateLimited bool
	// FailedAccounts is the number of accounts the answer's ErrorList named:
	// the call was applied to the others. Class and ErrorCode are then the
	// first listed account's.
	FailedAccounts int
}

// tell gives the run's observer, if any, the outcome of b's last call.
func (r *run) tell(b *batch, latency time.Duration, err error) {
	if r.obs == nil {
		return
	}
	c := CallOutcome{Operation: r.op, Accounts: len(b.calls), Records: b.valid, Latency: latency, Attempt: b.attempts}
	if err != nil {
		key, _ := describe(err)
		c.Class, c.ErrorCode, c.HTTPStatus, c.RateLimited = key.class, key.code, key.status, isRateLimit(err)
		if partial, ok := partialOf(err); ok {
			c.FailedAccounts = len(partial)
		}
	}
	r.obs.ObserveCall(r.ctx, c)
}
