package imapi_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// refusing is a Caller that answers some calls itself, by their first account,
// and passes the others on.
type refusing struct {
	imapi.Caller
	errs map[string]error
}

func (c *refusing) Call(ctx context.Context, op imapi.Operation, recs []records.Record) error {
	if err, ok := c.errs[recs[0].Account]; ok {
		return err
	}
	return c.Caller.Call(ctx, op, recs)
}

// skipping is a Source with positions that reads past some records of recs
// (records known to be done), as a job resumed with its cursor's Ahead does.
type skipping struct {
	recs []records.Record
	skip records.Spans
	next int64 // the index of the next record to look at
	last int64 // the index of the record returned last
}

func (s *skipping) Next() (records.Record, error) {
	for ; s.next < int64(len(s.recs)); s.next++ {
		if !s.skip.Contains(s.next) {
			s.last = s.next
			s.next++
			return s.recs[s.last], nil
		}
	}
	return records.Record{}, io.EOF
}

func (s *skipping) Pos() records.Position { return records.Position{Record: s.last, Offset: -1} }

// TestEngineCursorAhead: batches that succeed after the first one left pending
// are the cursor's Ahead (by index, with the records the source read past
// inside them), and Succeeded less the cursor's counts them; a batch that
// failed after the cursor is not there, and OnFailed is not told of it.
func TestEngineCursorAhead(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 1000, 1000) // distinct accounts: calls of 100 records, u0–u99 first
	caller := &refusing{Caller: client, errs: map[string]error{
		"u300": &imapi.TransportError{Err: errors.New("connection reset")}, // retried, then pending
		"u650": &imapi.TransportError{Err: errors.New("connection reset")},
		"u850": &imapi.APIError{ActionStatus: "FAIL", ErrorCode: 70107, ErrorInfo: "no such account"}, // failed for good
	}}
	src := &skipping{recs: recs, skip: records.Spans{{From: 450, To: 500}}}
	var failed []string
	eng := imapi.NewEngine(caller, imapi.EngineConfig{Concurrency: 4, MaxAttempts: 2, BackoffBase: 1, BackoffMax: 1})
	rep, err := eng.Run(context.Background(), src, imapi.OnFailed(func(r records.Record, _ error) { failed = append(failed, r.Account) }))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	// Read: 0–449, 500–999 (950 records) in calls of 0–99, …, 300–399,
	// 400–449 with 500–549, 550–649, 650–749, 750–849, 850–949, 950–999.
	if rep.Total != 950 || rep.Succeeded != 650 || rep.Failed != 100 || rep.Pending != 200 {
		t.Fatalf("report = %s, want 950 records: 650 succeeded, 100 failed, 200 pending", rep.Summary())
	}
	cur := rep.Resume
	if cur == nil || cur.Record != 300 || cur.Succeeded != 300 || cur.Failed != 0 {
		t.Fatalf("resume = %+v, want record 300 with the 300 records before it succeeded", cur)
	}
	want := records.Spans{{From: 400, To: 650}, {From: 750, To: 850}, {From: 950, To: 1000}}
	if !slices.Equal(cur.Ahead, want) {
		t.Errorf("ahead = %v, want %v", cur.Ahead, want)
	}
	if read := cur.Ahead.Len() - 50; rep.Succeeded-cur.Succeeded != read {
		t.Errorf("succeeded after the cursor = %d, want the %d records of Ahead that were read", rep.Succeeded-cur.Succeeded, read)
	}
	if len(failed) != 0 {
		t.Errorf("OnFailed told of %d records after the cursor (from %s)", len(failed), failed[0])
	}
}
