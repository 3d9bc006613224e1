// Package archtest holds the tests that keep the dependency arrows pointing
// inwards: the job service (pkg/job) and the IM core (pkg/imapi) depend on no
// adapter, platform SDK or storage SDK; the driven adapters (storage, invoke,
// secrets) and the shared quota depend on the ports, never on the service or
// the driving side; the adapters depend on the core, not the other way.
package archtest
