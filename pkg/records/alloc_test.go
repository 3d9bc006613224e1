package records_test

import (
	"testing"

	"github.com/removetag/removetag/pkg/records"
)

// TestProblemOfAllocatesNothingForAValidRecord: the engine and Check judge
// every record with ProblemOf, a million times for a million records; a valid
// one costs no allocation.
func TestProblemOfAllocatesNothingForAValidRecord(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector")
	}
	rec := records.Record{Account: "user-0000001", Tags: []string{"vip"}}
	allocs := testing.AllocsPerRun(100, func() {
		if p, err := records.ProblemOf(nil, 7, rec, nil); p != nil || err != nil {
			t.Fatal(p, err)
		}
	})
	if allocs != 0 {
		t.Errorf("ProblemOf of a valid record: %v allocations, want 0", allocs)
	}
}
