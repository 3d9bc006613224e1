package imapi

// What the package's external tests (package imapi_test) need of its unexported names.

// HTTPError and TransportError are the client's errors for an HTTP status and a failed transport.
type (
	HTTPError      = httpError
	TransportError = transportError
	ClientStats    = clientStats
)

// KeyRejected reports whether err says the key is wrong.
var KeyRejected = keyRejected

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats { return c.stats() }

// Domain returns the region's API domain.
func (r Region) Domain() string { return r.domain() }
