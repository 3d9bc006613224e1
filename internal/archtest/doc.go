// Package archtest holds the tests that keep the dependency arrows pointing
// inwards: the job service (pkg/job) and the IM core (pkg/imapi) depend on no
// adapter, platform SDK or storage SDK; the records (pkg/records) on nothing
// but the standard library and one inflate (klauspost/compress); the driven adapters (storage, invoke, secrets)
// and the shared quota depend on the ports, never on the service or the
// driving side; the adapters depend on the core, not the other way. It also
// keeps the core narrow: pkg/imapi exports at most 80 names, and no non-test
// function of pkg/imapi or pkg/records is over 80 lines.
package archtest
