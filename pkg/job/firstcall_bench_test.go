package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// BenchmarkFirstCall measures the time from the start of a continuation to its
// first IM call, against the position it resumes at in a 1,000,000-record file:
// a ranged GET for CSV, JSON Lines and JSON documents, a skip from the start for
// gzip. Metric: ms-to-first-call.
//
//	go test -run '^$' -bench BenchmarkFirstCall -benchtime 3x ./pkg/job
func BenchmarkFirstCall(b *testing.B) {
	const n = 1_000_000
	e := newEnv(b, envOptions{config: func(c *job.Config) { c.Invoker = nil }})
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{Account: fmt.Sprintf("f%07d", i), Tags: []string{"a", "b"}}
	}
	for _, format := range []string{"csv", "jsonl", "json", "csv.gz"} {
		key := "bench/accounts." + format
		data := encode(b, format, recs)
		loc, store, etag := e.putS3(key, data)
		f, gz, _ := records.FormatOf(key)
		for _, pct := range []int{0, 25, 50, 90} {
			pos := resumeAt(b, data, f, gz, int64(n*pct/100))
			b.Run(fmt.Sprintf("%s/%d%%", format, pct), func(b *testing.B) {
				var total time.Duration
				for b.Loop() {
					total += firstCall(b, e, store, loc, etag, f, gz, pos)
				}
				b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-call")
			})
		}
	}
}

// resumeAt returns the position of record k of data, as a checkpoint has it.
func resumeAt(b *testing.B, data []byte, f records.Format, gz bool, k int64) records.Position {
	if gz || k == 0 {
		return records.Position{Record: k, Offset: -1}
	}
	dec, err := records.NewDecoder(bytes.NewReader(data), records.DecoderOptions{Format: f, SkipRecords: k})
	if err != nil {
		b.Fatal(err)
	}
	if err := dec.SkipNow(); err != nil {
		b.Fatal(err)
	}
	return dec.Resume()
}

// firstCall writes a checkpoint at pos, runs its continuation until the first
// call reaches the emulator, and returns how long that took.
func firstCall(b *testing.B, e *env, store storage.Store, loc storage.Location, etag string, f records.Format, gz bool, pos records.Position) time.Duration {
	now := time.Now().UTC()
	cpKey := prefix + "state/" + loc.Key + ".json"
	cp := job.Checkpoint{
		Version: 1, Source: loc.String(), ETag: etag, Format: f.String(), Compressed: gz, Phase: job.PhaseSend,
		Counts: imapi.Counts{Total: 1_000_000, Succeeded: pos.Record}, Position: pos, Chain: 1, Invocations: 1, Handoff: job.HandoffInvoked,
		Started: now, UpdatedAt: now,
	}
	data, _ := json.Marshal(cp)
	if err := store.Put(b.Context(), cpKey, bytes.NewReader(data), "application/json"); err != nil {
		b.Fatal(err)
	}
	ev := job.ContinueEvent{Source: loc.String(), Checkpoint: cpKey, ETag: etag, Chain: 1}.Payload()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := e.calls()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Canceled once its first call is seen, the continuation may fail to read
		// on: that is not what is measured.
		if _, err := e.service().Handle(ctx, job.Direct(ev)); err != nil && ctx.Err() == nil {
			b.Error(err)
		}
	}()
	for e.calls() == before {
		select {
		case <-done:
			b.Fatal("the continuation ended without a call")
		case <-time.After(200 * time.Microsecond):
		}
	}
	took := time.Since(start)
	cancel()
	<-done
	return took
}
