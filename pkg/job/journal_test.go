package job_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// journalRecords makes n records removing a and b; the emulator holds a and
// keep for every account and b for two in three, so a third of the listed
// b's are absent. want is what the journal must hold.
func (e *env) journalRecords(name string, n int) (recs []records.Record, want map[string][]string) {
	want = map[string][]string{}
	for i := range n {
		acct := fmt.Sprintf("%s%06d", name, i)
		recs = append(recs, records.Record{Account: acct, Tags: []string{"a", "b"}})
		if i%3 == 0 {
			e.im.SetTags(acct, "a", "keep")
			want[acct] = []string{"a"}
		} else {
			e.im.SetTags(acct, "a", "b", "keep")
			want[acct] = []string{"a", "b"}
		}
	}
	return recs, want
}

// journalOf reads a file's journal: account → tags, each account once.
func (e *env) journalOf(bucket, key string) map[string][]string {
	e.t.Helper()
	data, err := e.fs.GetObject(bucket, key)
	if err != nil {
		e.t.Fatalf("no journal at %s: %v", key, err)
	}
	got := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r records.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			e.t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		if _, dup := got[r.Account]; dup {
			e.t.Errorf("%s is in the journal twice", r.Account)
		}
		got[r.Account] = r.Tags
	}
	return got
}

// TestFileJobJournal runs a file of 12,000 records over several invocations,
// on an emulator that applies some calls and loses their answers: the report
// says exactly what changed, and the journal holds exactly the removed pairs,
// with no log left behind.
func TestFileJobJournal(t *testing.T) {
	im := emulator.Config{Latency: 5 * time.Millisecond, Jitter: 15 * time.Millisecond, Faults: emulator.Faults{DropAfterApply: 0.05}, Seed: 3}
	e := newEnv(t, envOptions{im: &im, journal: true})
	recs, want := e.journalRecords("j", 12000)
	e.put(s3Bucket, "in/j.csv", encode(t, "csv", recs))
	res, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket, Key: "in/j.csv"}, ""))
	if err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	rep := e.checkDone(s3Bucket, "in/j.csv", recs)
	pairs := int64(0)
	for _, tags := range want {
		pairs += int64(len(tags))
	}
	if rep.Changed != int64(len(want)) || rep.TagsRemoved != pairs {
		t.Errorf("report: Changed %d, TagsRemoved %d; want %d, %d", rep.Changed, rep.TagsRemoved, len(want), pairs)
	}
	if rep.JournalKey != prefix+"journal/in/j.csv.jsonl" {
		t.Fatalf("JournalKey = %q", rep.JournalKey)
	}
	got := e.journalOf(s3Bucket, rep.JournalKey)
	bad := 0
	for a, tags := range want {
		if !slices.Equal(got[a], tags) && bad < 10 {
			t.Errorf("%s: journal %v, want %v", a, got[a], tags)
			bad++
		}
	}
	if len(got) != len(want) {
		t.Errorf("journal holds %d accounts, want %d", len(got), len(want))
	}
	if left := e.fs.List(s3Bucket, prefix+"journal-parts/"); len(left) != 0 {
		t.Errorf("journal logs left behind: %v", left)
	}
	if res.Status == job.StatusDone && len(e.deliveries()) == 0 {
		t.Errorf("the job took one invocation: the test wants a chain")
	}
}
