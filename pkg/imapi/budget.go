package imapi

import "time"

// DefaultReserve is the time a run keeps back before its deadline when
// EngineConfig.Reserve is not set: a tenth of the budget (the time from the
// run's start to the deadline), between 100 ms and 10 s. The callers that read
// or write before and after a run keep the same reserve.
func DefaultReserve(budget time.Duration) time.Duration {
	return min(max(budget/10, 100*time.Millisecond), 10*time.Second)
}
