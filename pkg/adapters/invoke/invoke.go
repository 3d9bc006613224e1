// Package invoke hands an event to a new, asynchronous invocation of the
// running function, so that a long job can continue past one invocation's
// time limit: [NewLambda] on AWS (its client made at the first invocation),
// [NewSCF] on Tencent Cloud (each call signed with the role's credentials of
// the moment, to the namespace of the invocation being served). Both
// implement the job service's Invoker port (job.Invoker).
//
// Package loopback holds local stand-ins of both invoke APIs.
package invoke

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Largest payloads accepted, below the platforms' limits for asynchronous
// invocations: SCF takes 128 KB; Lambda takes 1 MB, but only 256 KB in older
// regions and accounts, so 256 KB is kept to.
const (
	MaxSCFPayload    = 128 << 10
	MaxLambdaPayload = 256 << 10
)

// ErrPayloadTooLarge is returned (wrapped) when a payload is over the
// platform's limit; nothing was sent.
var ErrPayloadTooLarge = errors.New("payload too large for an asynchronous invocation")

// checkPayload refuses payloads that are not JSON or are over max bytes.
func checkPayload(payload []byte, max int) error {
	if len(payload) > max {
		return fmt.Errorf("%d bytes, limit %d: %w", len(payload), max, ErrPayloadTooLarge)
	}
	if !json.Valid(payload) {
		return errors.New("payload is not valid JSON")
	}
	return nil
}
