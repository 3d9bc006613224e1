package job_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// slowCheckpoint delays the first read of a checkpoint, as a slow store would:
// the invocation has less of its budget left when it plans its work.
type slowCheckpoint struct {
	storage.Store
	delay time.Duration
	once  *atomic.Bool
}

func (s slowCheckpoint) Open(ctx context.Context, key string, off int64, etag string) (io.ReadCloser, storage.Info, error) {
	if strings.Contains(key, "/state/") && s.once.CompareAndSwap(false, true) {
		time.Sleep(s.delay)
	}
	return s.Store.Open(ctx, key, off, etag)
}

// TestGzipResumeBudget resumes a gzip file in the middle, which means reading it
// from its start past the records done: an invocation starts that only when the
// skip (at the rate the checkpoint measured) leaves time to work. One with too
// little time left hands on at once, and the next does the job; a skip no
// invocation of that length could make is left to the sweep, saying what to
// change. Either way no call is made before the skip.
func TestGzipResumeBudget(t *testing.T) {
	const n, at = 20000, 15000
	tests := []struct {
		name     string
		rate     float64       // the checkpoint's SkipRate: a skip of 15,000 records takes 1.5 × 15,000 / rate
		delay    time.Duration // before the invocation reads its checkpoint
		wantDone bool
	}{
		// 2 s of skip: more than the 1.7 s left after a 1 s delay of a 3 s
		// budget, less than a whole invocation (2.7 s): the next one does it.
		{"handed on", 11250, time.Second, true},
		// 22.5 s of skip: no 3 s invocation can.
		{"left for the sweep", 1000, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var once atomic.Bool
			e := newEnv(t, envOptions{store: func(s storage.Store) storage.Store {
				return slowCheckpoint{Store: s, delay: tt.delay, once: &once}
			}})
			e.budget = 3 * time.Second
			recs := e.records("g", n)
			key := "in/big.csv.gz"
			loc, _, etag := e.putS3(key, encode(t, "csv.gz", recs))
			// The first 15,000 records are done: their tags are gone already.
			done := recs[:at]
			e.im.Seed(nil)
			for _, r := range done {
				e.im.SetTags(r.Account, "keep")
			}
			now := time.Now().UTC()
			cpKey := prefix + "state/" + key + ".json"
			cp := job.Checkpoint{
				Version: 1, Source: loc.String(), ETag: etag, Format: "csv", Compressed: true, SkipRate: tt.rate,
				Phase: job.PhaseSend, Counts: imapi.Counts{Total: n, Succeeded: at}, Position: records.Position{Record: at, Offset: -1},
				Chain: 1, Invocations: 1, Handoff: job.HandoffInvoked, Started: now, UpdatedAt: now,
			}
			data, _ := json.Marshal(cp)
			e.put(s3Bucket, cpKey, data)
			ev := job.ContinueEvent{Source: loc.String(), Checkpoint: cpKey, ETag: etag, Chain: 1}.Payload()

			res, err := e.invoke(ev)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != job.StatusPending || e.calls() != 0 {
				t.Fatalf("first invocation: %s with %d calls (%s); want pending, no call", res.Status, e.calls(), res.Message)
			}
			if !tt.wantDone {
				if res.Continued || !strings.Contains(res.Message, "raise the function's timeout") || !strings.Contains(res.Message, "15000 records") {
					t.Fatalf("continued %v, message %q; want it left for the sweep, saying why", res.Continued, res.Message)
				}
				return
			}
			if !res.Continued {
				t.Fatalf("not continued: %s", res.Message)
			}
			e.waitChain()
			ds := e.deliveries()
			if len(ds) == 0 || ds[len(ds)-1].err != nil || ds[len(ds)-1].res.Status != job.StatusDone {
				t.Fatalf("continuations: %+v", ds)
			}
			rep := e.checkDone(s3Bucket, key, recs)
			if rep.Succeeded != n || rep.Calls > (n-at)/100+5 {
				t.Errorf("report: %d succeeded in %d calls; want %d in about %d", rep.Succeeded, rep.Calls, n, (n-at)/100)
			}
		})
	}
}
