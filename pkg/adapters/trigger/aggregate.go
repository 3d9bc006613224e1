package trigger

import (
	"fmt"
	"slices"

	"github.com/removetag/removetag/pkg/job"
)

// statusRank orders statuses from the one that most needs attention.
var statusRank = []job.Status{
	StatusError, job.StatusPending, job.StatusInvalid, StatusRefused,
	job.StatusDone, job.StatusSwept, job.StatusSkipped, job.StatusIgnored,
}

// aggregate sums the results of several objects into one: its Jobs are the
// results, its counts their sums, its Status the one that most needs
// attention (pending before done before skipped …). One result is returned
// as it is.
func aggregate(results []*job.Result) *job.Result {
	if len(results) == 1 {
		return results[0]
	}
	agg := &job.Result{Jobs: results, Message: fmt.Sprintf("%d objects", len(results))}
	best := len(statusRank)
	for _, r := range results {
		agg.Counts.Add(r.Counts)
		agg.Continued = agg.Continued || r.Continued
		if i := slices.Index(statusRank, r.Status); i >= 0 && i < best {
			best = i
		}
	}
	agg.Status = job.StatusDone
	if best < len(statusRank) {
		agg.Status = statusRank[best]
	}
	return agg
}
