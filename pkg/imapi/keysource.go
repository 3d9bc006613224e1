package imapi

import (
	"context"
	"errors"
)

// KeySource gives the app's secret key to a [Client] that does not hold it
// itself, such as a key kept in a secret store and rotated there while the
// client runs. Implementations live outside this package (see
// pkg/adapters/secrets); they must be safe for concurrent use and must never
// put the key in an error.
type KeySource interface {
	// Key returns the key to sign with: a cached value is fine, and is what
	// the client uses between reads. The client signs a new UserSig whenever
	// the key it returns differs from the one the current UserSig was made with.
	Key(ctx context.Context) (string, error)
	// Refresh is called when the service refused a UserSig made with rejected
	// as made with a wrong key (70009, 70003 or 70005): it reads the key from its
	// store now, unless it did since rejected was current, and returns it.
	Refresh(ctx context.Context, rejected string) (string, error)
}

// KeySourceError is a key that could not be had from the client's
// [KeySource] (the secret store is down or refuses): the call was not sent.
// [Classify] makes it Retryable, so that its records stay pending rather than
// fail; Err names the secret, never its value.
type KeySourceError struct {
	// Err is the source's error.
	Err error
	// Rejected, if not nil, is the answer that made the client read the key
	// again (a wrong-key code): the key in use is refused and no other could
	// be read.
	Rejected error
}

// Error says that no key could be read, and why.
func (e *KeySourceError) Error() string {
	if e.Rejected != nil {
		return "im key: the service refused the key in use (" + e.Rejected.Error() + ") and it could not be read again: " + e.Err.Error()
	}
	return "im key: cannot read it: " + e.Err.Error()
}

// Unwrap returns the source's error.
func (e *KeySourceError) Unwrap() error { return e.Err }

// keyRejected reports whether err is the service saying that the UserSig was
// not made with the app's key: 70009 (the HMAC does not verify with the app's
// key), and its kin 70003 and 70005 (UserSig invalid), which a UserSig made
// with another key draws from some of the service's checks. After a key
// rotation every call draws one of these until the client signs with the new key.
func keyRejected(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode {
	case codeSigWrongKey, codeSigInvalid, codeSigInvalid2:
		return true
	}
	return false
}
