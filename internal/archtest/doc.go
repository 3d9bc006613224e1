// Package archtest holds the tests that keep the dependency arrows pointing
// inwards: the job service (pkg/job) and the IM core (pkg/imapi) depend on no
// adapter, platform SDK or storage SDK; the adapters depend on them.
package archtest
