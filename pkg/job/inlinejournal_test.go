package job_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// submit posts recs as an HTTP job and decodes the answer.
func (e *env) submit(ctx context.Context, recs []records.Record) (int, job.Result) {
	e.t.Helper()
	resp := serveHTTP(ctx, e.service(), httpRequest{Method: "POST", Headers: bearer(token), Body: mustMarshal(map[string][]records.Record{"UserTags": recs})})
	var r job.Result
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		e.t.Fatalf("answer %d: %v: %s", resp.StatusCode, err, clipBody(resp.Body))
	}
	return resp.StatusCode, r
}

// pairsOf turns journal lines into account → tags, each account once.
func pairsOf(t *testing.T, lines []records.Record) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, r := range lines {
		if _, dup := got[r.Account]; dup {
			t.Errorf("%s is in the journal twice", r.Account)
		}
		got[r.Account] = r.Tags
	}
	return got
}

// countPairs counts a journal's account–tag pairs.
func countPairs(j map[string][]string) (n int64) {
	for _, tags := range j {
		n += int64(len(tags))
	}
	return n
}

// TestInlineJournal: an HTTP job's journal is in its answer, or, over
// MaxAnswerJournal, in an object of the function's first bucket named there;
// without a bucket the answer says it was not kept; the counts are exact
// whichever, and a service that does not journal says nothing of it.
func TestInlineJournal(t *testing.T) {
	for _, tt := range []struct {
		name    string
		journal bool
		max     int  // MaxAnswerJournal; 0: the default
		noBkt   bool // no REMOVETAG_BUCKETS
		where   string
	}{
		{"in the answer", true, 0, false, "answer"},
		{"in an object", true, 4096, false, "object"},
		{"no bucket", true, 4096, true, "not kept"},
		{"off", false, 0, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{journal: tt.journal, engine: imapi.EngineConfig{Rate: 100}, config: func(c *job.Config) {
				c.MaxAnswerJournal = tt.max
				if tt.noBkt {
					c.Buckets = nil
				}
			}})
			recs, want := e.journalRecords("h", 1500)
			code, r := e.submit(e.roomyCtx(), recs)
			if code != http.StatusOK || r.Status != job.StatusDone || r.Succeeded != 1500 {
				t.Fatalf("answer %d: %s, %d succeeded", code, r.Status, r.Succeeded)
			}
			var got map[string][]string
			switch tt.where {
			case "answer":
				got = pairsOf(t, r.JournalUserTags)
			case "object":
				loc, err := storage.ParseLocation(r.JournalObject)
				if err != nil || loc.Bucket != s3Bucket || !strings.HasPrefix(loc.Key, prefix+"inline-journal/") || r.JournalUserTags != nil {
					t.Fatalf("JournalObject %q (%v), %d lines in the answer", r.JournalObject, err, len(r.JournalUserTags))
				}
				got = e.journalOf(s3Bucket, loc.Key)
			case "not kept":
				if !strings.Contains(r.JournalNotKept, "not kept") || !strings.Contains(r.JournalNotKept, "REMOVETAG_BUCKETS") || r.JournalObject != "" || r.JournalUserTags != nil {
					t.Fatalf("JournalNotKept %q, JournalObject %q, %d lines", r.JournalNotKept, r.JournalObject, len(r.JournalUserTags))
				}
				got = want
			default:
				if r.JournalUserTags != nil || r.JournalObject != "" || r.JournalNotKept != "" || r.Changed != 0 {
					t.Fatalf("a journal without one: %+v", r)
				}
				if reads := e.calls() - r.Calls; reads != 0 {
					t.Errorf("%d reads", reads)
				}
				return
			}
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("journal of %d accounts, want %d", len(got), len(want))
			}
			if r.Changed != int64(len(want)) || r.TagsRemoved != countPairs(want) {
				t.Errorf("Changed %d, TagsRemoved %d; want %d, %d", r.Changed, r.TagsRemoved, len(want), countPairs(want))
			}
		})
	}
}

// TestInlineJournalPending cuts an HTTP job at its deadline, as
// TestHTTPPending does, and sends its pending records again: the two answers'
// journals hold every removed pair once.
func TestInlineJournalPending(t *testing.T) {
	e := newEnv(t, envOptions{journal: true, engine: imapi.EngineConfig{Rate: 10}})
	recs, want := e.journalRecords("p", 6000)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code, first := e.submit(ctx, recs)
	if code != http.StatusAccepted || first.Status != job.StatusPending || first.Succeeded == 0 {
		t.Fatalf("answer %d: %s, %d succeeded, %d pending", code, first.Status, first.Succeeded, first.Pending)
	}
	code, second := e.submit(e.roomyCtx(), first.PendingUserTags)
	if code != http.StatusOK || second.Status != job.StatusDone {
		t.Fatalf("sent again: %d, %s", code, second.Status)
	}
	got := pairsOf(t, first.JournalUserTags)
	for a, tags := range pairsOf(t, second.JournalUserTags) {
		if _, dup := got[a]; dup {
			t.Errorf("%s is in both journals", a)
		}
		got[a] = tags
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("journals of %d accounts, want %d", len(got), len(want))
	}
	if first.Changed+second.Changed != int64(len(want)) || first.TagsRemoved+second.TagsRemoved != countPairs(want) {
		t.Errorf("Changed %d+%d, TagsRemoved %d+%d; want %d, %d", first.Changed, second.Changed, first.TagsRemoved, second.TagsRemoved, len(want), countPairs(want))
	}
	t.Logf("first answer: %d accounts changed, %d pending; second: %d changed", first.Changed, first.Pending, second.Changed)
}
