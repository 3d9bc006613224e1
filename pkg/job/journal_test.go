package job_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
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

// checkDoneJournal checks a done job's report and journal (in s3Bucket) against
// want, the pairs removed: the counts exact, the journal exactly want, no
// log left behind.
func (e *env) checkDoneJournal(rep *job.FileReport, want map[string][]string) {
	e.t.Helper()
	pairs := int64(0)
	for _, tags := range want {
		pairs += int64(len(tags))
	}
	if rep.Changed != int64(len(want)) || rep.TagsRemoved != pairs {
		e.t.Errorf("report: Changed %d, TagsRemoved %d; want %d, %d", rep.Changed, rep.TagsRemoved, len(want), pairs)
	}
	got := e.journalOf(s3Bucket, rep.JournalKey)
	bad := 0
	for a, tags := range want {
		if !slices.Equal(got[a], tags) && bad < 10 {
			e.t.Errorf("%s: journal %v, want %v", a, got[a], tags)
			bad++
		}
	}
	if len(got) != len(want) {
		e.t.Errorf("journal holds %d accounts, want %d", len(got), len(want))
	}
	if left := e.fs.List(s3Bucket, prefix+"journal-parts/"); len(left) != 0 {
		e.t.Errorf("journal logs left behind: %v", left)
	}
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
	if rep.JournalKey != prefix+"journal/in/j.csv.jsonl" {
		t.Fatalf("JournalKey = %q", rep.JournalKey)
	}
	e.checkDoneJournal(rep, want)
	if res.Status == job.StatusDone && len(e.deliveries()) == 0 {
		t.Errorf("the job took one invocation: the test wants a chain")
	}
}

// outcomeLosingStore keeps the journal's send logs without their outcome
// lines, as if every invocation had been killed after writing its intents:
// every removal's outcome is unknown, and the merge must read every account
// again.
type outcomeLosingStore struct{ storage.Store }

func (s outcomeLosingStore) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error {
	if !strings.Contains(key, "/journal-parts/") || strings.Contains(key, "-merge-") {
		return s.Store.Put(ctx, key, body, contentType)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	var kept []byte
	for line := range bytes.Lines(data) {
		if !bytes.HasPrefix(line, []byte(`{"O":`)) {
			kept = append(kept, line...)
		}
	}
	return s.Store.Put(ctx, key, bytes.NewReader(kept), contentType)
}

// TestFileJobJournalMergeHandedOn: a merge that cannot finish in one
// invocation — 12,000 accounts whose removals' outcomes are all unknown, to
// be read again 100 a call at 60 calls/s, more than an invocation of 1.5 s
// can make — is handed on, and the next invocation goes on from what the
// reads so far found: no account is read twice, the job ends done, and the
// journal is exact.
func TestFileJobJournalMergeHandedOn(t *testing.T) {
	const readRate = 60
	e := newEnv(t, envOptions{journal: true,
		store:  func(s storage.Store) storage.Store { return outcomeLosingStore{s} },
		config: func(c *job.Config) { c.JournalLimiter = imapi.NewTokenBucket(readRate) },
	})
	recs, want := e.journalRecords("m", 12000)
	e.put(s3Bucket, "in/m.csv", encode(t, "csv", recs))
	if _, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket, Key: "in/m.csv"}, "")); err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	e.checkDoneJournal(e.checkDone(s3Bucket, "in/m.csv", recs), want)
	// The merges' lines: every one but the last handed on, and their reads
	// add up to one per 100 accounts.
	var unfinished, merged int
	var reads int64
	for line := range strings.Lines(e.logs.String()) {
		var l struct {
			Msg   string
			Reads int64
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch l.Msg {
		case "journal merge unfinished: handed on":
			unfinished++
		case "journal merged":
			merged++
		default:
			continue
		}
		reads += l.Reads
	}
	if unfinished == 0 || merged != 1 {
		t.Errorf("%d merges handed on, %d finished: want at least one handed on (%d reads cannot fit in one invocation at %d/s), then one finished",
			unfinished, merged, len(want)/100, readRate)
	}
	if reads != int64(len(want)/100) {
		t.Errorf("the merges read %d times for %d accounts of unknown outcome: want %d, each account once", reads, len(want), len(want)/100)
	}
	t.Logf("%d merges handed on, then one finished; %d reads", unfinished, reads)
}

// openCounter counts the objects opened under a prefix.
type openCounter struct {
	storage.Store
	prefix string
	n      *atomic.Int64
}

func (o openCounter) Open(ctx context.Context, key string, off int64, etag string) (io.ReadCloser, storage.Info, error) {
	if strings.HasPrefix(key, o.prefix) {
		o.n.Add(1)
	}
	return o.Store.Open(ctx, key, off, etag)
}

// TestJournalMergesItsOwnLogLocally: a job done in one invocation merges its
// own log from the copy it kept, fetching none of its chunks back, and its
// journal is exact (the chains of TestFileJobJournal fetch the others' logs).
func TestJournalMergesItsOwnLogLocally(t *testing.T) {
	var opened atomic.Int64
	e := newEnv(t, envOptions{journal: true, engine: imapi.EngineConfig{Rate: 100}, store: func(s storage.Store) storage.Store {
		return openCounter{Store: s, prefix: prefix + "journal-parts/", n: &opened}
	}})
	recs, want := e.journalRecords("o", 3000)
	e.put(s3Bucket, "in/o.csv", encode(t, "csv", recs))
	res, err := e.service().Handle(e.roomyCtx(), job.Upload(storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket, Key: "in/o.csv"}, ""))
	if err != nil || res.Status != job.StatusDone {
		t.Fatalf("%v, %+v", err, res)
	}
	rep := e.report(s3Bucket, "in/o.csv")
	if got := e.journalOf(s3Bucket, rep.JournalKey); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("journal of %d accounts, want %d", len(got), len(want))
	}
	if n := opened.Load(); n != 0 {
		t.Errorf("%d chunks of its own log fetched back", n)
	}
	if left := e.fs.List(s3Bucket, prefix+"journal-parts/"); len(left) != 0 {
		t.Errorf("journal logs left behind: %v", left)
	}
}
