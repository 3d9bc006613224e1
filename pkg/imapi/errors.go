package imapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/removetag/removetag/pkg/records"
)

// Error codes that this package treats specially. The full table is in [Classify].
const (
	codeBadJSON          = 90001 // the request body is not valid JSON
	codeNeedsAdmin       = 90009 // the identifier is not an app admin
	codeTooManyAccounts  = 90018 // more than 100 accounts in one call
	codeInternal         = 91000 // internal service error: retry
	codeRateLimited      = 60007 // REST call frequency over limit
	codeAppRateLimited   = 60011 // SDKAppID call frequency over limit
	codeTooManyRequests  = 60018 // too many requests
	codeTooManyRequests2 = 60019 // too many requests
	codeSigExpired       = 70001 // the UserSig expired: renew it and retry
	codeSigInvalid       = 70003 // the UserSig is invalid
	codeSigInvalid2      = 70005 // the UserSig is invalid
	codeSigWrongKey      = 70009 // the UserSig was made with another key
	codeSigCheckLockout  = 70050 // too many failed UserSig checks: wait a minute
)

// Class says what a caller should do about a failed call, or why a record
// failed. Its text is what reports and checkpoints store ("permanent",
// "retryable", "renew-signature", "fatal", "invalid"). A class this version
// does not know, read from a report or checkpoint of a later one, is kept as
// its text: it groups and is written back unchanged, and no rule here treats it
// as one of the classes below.
type Class string

const (
	// Permanent: sending the same call again will fail again; report the records as failed.
	Permanent Class = "permanent"
	// Retryable: the call may succeed if sent again later (with backoff).
	Retryable Class = "retryable"
	// RenewSignature: the UserSig expired or was refused; make a new one and retry once.
	RenewSignature Class = "renew-signature"
	// Fatal: permanent for every call of this run (configuration, account or plan problems):
	// stop sending, because every other call would fail the same way.
	Fatal Class = "fatal"
	// Invalid: the record itself is invalid (see [records.Problem]); it was never sent.
	// [Classify] never returns it: it classes records in reports, not calls.
	Invalid Class = "invalid"
)

// String returns the class's name.
func (c Class) String() string { return string(c) }

// APIError is an answer of the service whose ErrorCode is not 0 (or whose
// ActionStatus is not OK), or, with Account set, one element of an answer's
// ErrorList: the call was applied to the other accounts, not to this one.
type APIError struct {
	// Op is the API called, such as "im_get_tag"; "" means im_remove_tag.
	Op           string
	ActionStatus string
	ErrorCode    int
	ErrorInfo    string
	// Account is the To_Account of an ErrorList element; "" for an answer
	// about the whole call.
	Account string `json:",omitempty"`
}

// Error returns the code and the service's text.
func (e *APIError) Error() string {
	if e.Account != "" {
		return fmt.Sprintf("%s: account %q: ErrorCode %d: %s", opName(e.Op), e.Account, e.ErrorCode, e.info())
	}
	return fmt.Sprintf("%s: ErrorCode %d (%s): %s", opName(e.Op), e.ErrorCode, e.ActionStatus, e.ErrorInfo)
}

// info is the service's text, or for an ErrorList element without one (the
// pages say it may be empty) where the code came from.
func (e *APIError) info() string {
	if e.ErrorInfo == "" && e.Account != "" {
		return "listed in the answer's ErrorList"
	}
	return e.ErrorInfo
}

// accountErrors is an answer with ActionStatus OK and an ErrorList: the
// service applied the call to every account of it but those listed, each with
// its own code (an *APIError with Account set). The Push service's pages show
// it (1047/60567: get_tag answers {"ErrorList":[{"ErrorCode":70107,
// "To_Account":"Mary"}]} beside the others' UserTags; 67822 remove_tag, 67821
// add_tag with 90035, 60570 clear_all_tags: "partially successful", ErrorInfo
// "may be empty"); all_member_push answers are parsed the same way.
type accountErrors []*APIError

// Error names how many accounts failed, and the first of them.
func (e accountErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	return fmt.Sprintf("%d accounts failed, the first: %s", len(e), e[0].Error())
}

// outside returns the first listed account that is not one of recs', or "".
func (e accountErrors) outside(recs []records.Record) string {
	for _, ae := range e {
		if !slices.ContainsFunc(recs, func(r records.Record) bool { return r.Account == ae.Account }) {
			return cmp.Or(ae.Account, `""`)
		}
	}
	return ""
}

// Unwrap returns the accounts' errors.
func (e accountErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, ae := range e {
		errs[i] = ae
	}
	return errs
}

// opName names the API an error is about.
func opName(op string) string {
	if op == "" {
		return "im_remove_tag"
	}
	return op
}

// httpError is an answer with an HTTP status other than 200 (a gateway error such as 502).
type httpError struct {
	// Op is the API called, such as "im_get_tag"; "" means im_remove_tag.
	Op         string
	StatusCode int
	// Body is the start of the answer's body, for the report.
	Body string
}

// Error returns the status and the start of the body.
func (e *httpError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("%s: HTTP %d %s", opName(e.Op), e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("%s: HTTP %d %s: %s", opName(e.Op), e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// transportError is a call whose outcome is unknown: the connection failed, was cut, or
// the answer did not arrive in time. The removal may or may not have been applied;
// since removing tags is idempotent, sending the call again is safe.
type transportError struct {
	// Op is the API called, such as "im_get_tag"; "" means im_remove_tag.
	Op  string
	Err error
}

// Error returns the cause.
func (e *transportError) Error() string { return opName(e.Op) + ": outcome unknown: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *transportError) Unwrap() error { return e.Err }

// codeClasses lists every code whose class is not Permanent. Unknown codes are Permanent.
var codeClasses = map[int]Class{
	// retry
	codeInternal:         Retryable,
	codeRateLimited:      Retryable,
	60008:                Retryable, // service timeout
	codeAppRateLimited:   Retryable,
	60014:                Retryable, // account switch timeout
	codeTooManyRequests:  Retryable,
	codeTooManyRequests2: Retryable,
	70169:                Retryable, // server timeout
	70202:                Retryable, // server timeout
	70500:                Retryable, // internal server error
	// signature
	codeSigExpired: RenewSignature,
	60004:          RenewSignature, // UserID or UserSig error in the URL
	60005:          RenewSignature,
	// configuration: no call of this run can succeed
	60006:               Fatal, // invalid SDKAppID
	60010:               Fatal, // identifier is not the app admin
	60016:               Fatal, // app disabled
	60017:               Fatal, // request disabled
	60020:               Fatal, // plan expired
	60021:               Fatal, // source IP not allowed
	70002:               Fatal, // UserSig empty
	codeSigInvalid:      Fatal, // UserSig invalid
	codeSigInvalid2:     Fatal, // UserSig invalid
	codeSigWrongKey:     Fatal, // UserSig made with a wrong key
	70013:               Fatal, // identifier does not match the UserSig
	70014:               Fatal, // SDKAppID does not match the UserSig
	70016:               Fatal, // key not found: often the wrong regional domain
	70020:               Fatal, // SDKAppID not found: often the wrong regional domain
	codeSigCheckLockout: Fatal,
	codeNeedsAdmin:      Fatal,
	90045:               Fatal, // the push-to-all feature is not enabled
}

// classOfCode returns the class of a service ErrorCode.
func classOfCode(code int) Class {
	if c, ok := codeClasses[code]; ok {
		return c
	}
	return Permanent
}

// isRateLimit reports whether err is the service saying calls come too fast,
// which should slow down every sender sharing the quota, not only this call.
func isRateLimit(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode {
	case codeRateLimited, codeAppRateLimited, codeTooManyRequests, codeTooManyRequests2:
		return true
	}
	return false
}

// Classify says what to do about an error returned by [Client.Call].
// Service codes follow the table of the API's documentation; HTTP 5xx, 429 and 408
// and transport errors (timeouts, resets, refused connections) are Retryable;
// a *KeySourceError (no key to sign with: nothing was sent) is Retryable too;
// a canceled context and other HTTP statuses are Permanent; nil is Permanent too,
// since there is nothing to retry.
func Classify(err error) Class {
	if err == nil {
		return Permanent // at once: the targets of errors.As below are allocated
	}
	var ke *KeySourceError
	if errors.As(err, &ke) {
		return Retryable
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return classOfCode(ae.ErrorCode)
	}
	var he *httpError
	if errors.As(err, &he) {
		if he.StatusCode >= 500 || he.StatusCode == http.StatusTooManyRequests || he.StatusCode == http.StatusRequestTimeout {
			return Retryable
		}
		return Permanent
	}
	var te *transportError
	if errors.As(err, &te) {
		return Retryable
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return Retryable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Retryable
	}
	return Permanent
}

// ErrorCode returns the service code carried by err, or 0 if it carries none.
func ErrorCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode
	}
	return 0
}

// HTTPStatus returns the HTTP status and the start of the body of an answer
// that was not HTTP 200 (a gateway's error page, say) anywhere in err's
// chain; 0 and "" for any other error.
func HTTPStatus(err error) (status int, body string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.StatusCode, he.Body
	}
	return 0, ""
}
