package journal_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/journal"
	"github.com/removetag/removetag/pkg/records"
)

// memSink keeps a log in memory; lose drops what was appended after a mark,
// as a kill loses what an invocation had not written.
type memSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	chunks int
}

func (m *memSink) Append(_ context.Context, chunk []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf.Write(chunk)
	m.chunks++
	return nil
}

func newEmulator(t testing.TB, cfg emulator.Config) (*emulator.Server, *imapi.Client) {
	t.Helper()
	srv := emulator.NewServer(cfg)
	t.Cleanup(srv.Close)
	c := srv.Config()
	client, err := imapi.NewClient(imapi.Config{SDKAppID: c.SDKAppID, SecretKey: c.Key, Admin: c.Admin, BaseURL: srv.URL(), CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

// world seeds n accounts: every one holds "keep" and "a"; two in three hold
// "b" too. The records list "a" and "b" for each account, and list a tenth of
// the accounts a second time (with "b"), so the file lists pairs twice.
func world(srv *emulator.Server, n int) (recs []records.Record, want map[string][]string) {
	want = map[string][]string{}
	for i := range n {
		acct := fmt.Sprintf("u%05d", i)
		tags := []string{"a", "keep"}
		removed := []string{"a"}
		if i%3 != 0 {
			tags = append(tags, "b")
			removed = append(removed, "b")
		}
		srv.SetTags(acct, tags...)
		slices.Sort(removed)
		want[acct] = removed
		recs = append(recs, records.Record{Account: acct, Tags: []string{"a", "b"}})
		if i%10 == 0 {
			recs = append(recs, records.Record{Account: acct, Tags: []string{"b"}})
		}
	}
	return recs, want
}

// readJournal parses a merged journal, failing on an account given twice.
func readJournal(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	dec, err := records.NewDecoder(bytes.NewReader(b), records.DecoderOptions{Format: records.FormatJSONL})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := dec.Next()
		if err != nil {
			break
		}
		if _, dup := got[r.Account]; dup {
			t.Fatalf("account %s is in the journal twice", r.Account)
		}
		got[r.Account] = r.Tags
	}
	return got
}

func diff(t *testing.T, got, want map[string][]string) {
	t.Helper()
	n := 0
	for _, a := range slices.Sorted(maps.Keys(want)) {
		if !slices.Equal(got[a], want[a]) && n < 10 {
			t.Errorf("%s: journal has %v, want %v", a, got[a], want[a])
			n++
		}
	}
	for a := range got {
		if _, ok := want[a]; !ok && n < 10 {
			t.Errorf("%s: in the journal (%v), but lost no tag", a, got[a])
			n++
		}
	}
}

// TestJournalExactUnderFaults runs a job as a chain of invocations over an
// emulator that loses answers before and after applying calls: each run ends
// with batches pending (two attempts at most), the next goes on from the
// first pending record, and one run in the middle is "killed": its outcomes
// are never written. The merged journal holds exactly the pairs removed.
func TestJournalExactUnderFaults(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Rate: -1, Faults: emulator.Faults{DropAfterApply: 0.2, Drop: 0.1}, Seed: 7})
	recs, want := world(srv, 3000)
	eng := imapi.NewEngine(client, imapi.EngineConfig{MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond, SlowDown: time.Millisecond, Rate: 1e6})
	var logs bytes.Buffer
	src := recs
	for inv := 0; len(src) > 0; inv++ {
		if inv > 30 {
			t.Fatalf("still %d records left after 30 invocations", len(src))
		}
		sink := &memSink{}
		rec, err := journal.NewRecorder(journal.Config{Reader: client, Sink: sink, Attempt: fmt.Sprintf("%06d-test", inv), Limiter: imapi.NewTokenBucket(1e6)})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := eng.Run(context.Background(), records.NewSliceSource(src), rec.Option())
		if err != nil {
			t.Fatal(err)
		}
		if inv != 1 { // invocation 1 is killed after its calls: its outcomes are lost
			if _, err := rec.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		logs.Write(sink.buf.Bytes())
		if rep.Resume == nil {
			break
		}
		src = src[rep.Resume.Position.Record:]
		if inv == 0 {
			srv.SetFaults(emulator.Faults{DropAfterApply: 0.3})
		}
	}
	srv.SetFaults(emulator.Faults{})
	var out bytes.Buffer
	st, err := journal.Merge(context.Background(), bytes.NewReader(logs.Bytes()), int64(logs.Len()), client, imapi.AllMemberPush, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	got := readJournal(t, out.Bytes())
	diff(t, got, want)
	pairs := 0
	for _, tags := range want {
		pairs += len(tags)
	}
	if st.Changed != int64(len(want)) || st.TagsRemoved != int64(pairs) {
		t.Errorf("counts = %+v, want %d changed, %d pairs", st.Changes, len(want), pairs)
	}
	if st.Unknown == 0 {
		t.Errorf("no pair was resolved by a read: the faults did not test the unknown outcomes")
	}
	t.Logf("merge: %+v", st)
}

// TestMergeCountsALineOnce gives the merge the same log twice, as a sealed
// log and its chunks left behind would: nothing counts twice.
func TestMergeCountsALineOnce(t *testing.T) {
	log := `{"I":"0/1","UserTags":[{"To_Account":"u1","Tags":["a","b"]},{"To_Account":"u2","Tags":["a"]}]}
{"O":"0/1","S":"ok"}
{"I":"0/2","UserTags":[{"To_Account":"u3","Tags":["a"]}]}
{"O":"0/2","S":"no"}
{"I":"1/1","UserTags":[{"To_Account":"u1","Tags":["b","c"]}]}
{"O":"1/1","Ok":["u1"]}
`
	twice := log + log
	var out bytes.Buffer
	st, err := journal.Merge(context.Background(), bytes.NewReader([]byte(twice)), int64(len(twice)), nil, "", nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"To_Account\":\"u1\",\"Tags\":[\"a\",\"b\",\"c\"]}\n{\"To_Account\":\"u2\",\"Tags\":[\"a\"]}\n"
	if out.String() != want || st.Changed != 2 || st.TagsRemoved != 4 || st.Unknown != 0 {
		t.Errorf("journal = %q, %+v; want %q, 2 changed, 4 pairs", out.String(), st, want)
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
	}
}

// TestMergeRefusesAForeignLine: a line that is not the log's is an error that says where.
func TestMergeRefusesAForeignLine(t *testing.T) {
	log := "{\"I\":\"0/1\",\"UserTags\":[]}\n{\"To_Account\":\"u1\"}\n"
	_, err := journal.Merge(context.Background(), bytes.NewReader([]byte(log)), int64(len(log)), nil, "", nil, &bytes.Buffer{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("line 2")) {
		t.Fatalf("err = %v, want one naming line 2", err)
	}
}

// TestMergeGoesOnWhereItStopped merges a log of 1,000 accounts whose removals'
// outcomes are all unknown (half applied, half not) with reads paced at 20 a
// second and each merge given 150 ms: each stops, unfinished, having written
// what its reads found; the next, given those findings too, reads only the
// accounts left. In all each account is read once, and the last merge's
// journal is exact.
func TestMergeGoesOnWhereItStopped(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Rate: -1})
	var log bytes.Buffer
	want := map[string][]string{}
	for b := range 10 {
		var recs []string
		for i := range 100 {
			acct := fmt.Sprintf("u%04d", b*100+i)
			recs = append(recs, fmt.Sprintf(`{"To_Account":%q,"Tags":["a","b"]}`, acct))
			if i%2 == 0 { // removed: the intent's call applied, its answer lost
				srv.SetTags(acct, "keep")
				want[acct] = []string{"a", "b"}
			} else { // not removed: the call never reached the service
				srv.SetTags(acct, "a", "b", "keep")
			}
		}
		fmt.Fprintf(&log, `{"I":"0/%d","UserTags":[%s]}`+"\n", b, strings.Join(recs, ","))
	}
	found := &memSink{}
	lim := imapi.NewTokenBucket(20)
	var reads int64
	var merges int
	var out bytes.Buffer
	for ; ; merges++ {
		if merges > 50 {
			t.Fatalf("not finished after 50 merges (%d reads)", reads)
		}
		logs := journal.Readers(bytes.NewReader(log.Bytes()), bytes.NewReader(found.buf.Bytes()))
		out.Reset()
		m := &journal.Merger{Reader: client, Limiter: lim, Until: time.Now().Add(150 * time.Millisecond), Resolutions: found}
		st, err := m.Merge(context.Background(), logs, int64(log.Len()), &out)
		if err != nil {
			t.Fatal(err)
		}
		reads += st.Reads
		if !st.Unfinished {
			diff(t, readJournal(t, out.Bytes()), want)
			if st.Changed != 500 || st.TagsRemoved != 1000 {
				t.Errorf("counts = %+v, want 500 changed, 1000 pairs", st.Changes)
			}
			break
		}
	}
	if merges == 0 {
		t.Errorf("the first merge finished: 10 reads at 20/s cannot fit in 150 ms")
	}
	if reads != 10 {
		t.Errorf("%d reads for 1,000 accounts: want 10, each account once", reads)
	}
	t.Logf("%d merges unfinished, then one finished; %d reads", merges, reads)
}

// TestMergeMixesKnownAndUnknown: accounts whose removals are known applied,
// known not, and of unknown outcome (read again: some tags found gone, some
// kept), interleaved in sort order, an account with both known and unknown
// pairs among them; in one partition and spread over many (merged with the
// next partition sorted beside the current one where there is more than
// one P). Each gives the same exact journal and counts.
func TestMergeMixesKnownAndUnknown(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Rate: -1})
	var log bytes.Buffer
	intent := func(id string, from, to int, tags string) {
		var recs []string
		for i := from; i < to; i++ {
			recs = append(recs, fmt.Sprintf(`{"To_Account":"u%03d","Tags":[%s]}`, i, tags))
		}
		fmt.Fprintf(&log, `{"I":%q,"UserTags":[%s]}`+"\n", id, strings.Join(recs, ","))
	}
	want := map[string][]string{}
	intent("0/1", 0, 100, `"a","b"`) // applied
	fmt.Fprintln(&log, `{"O":"0/1","S":"ok"}`)
	intent("0/2", 100, 200, `"a"`) // unknown: the even ones were removed
	intent("0/3", 200, 300, `"a"`) // not applied
	fmt.Fprintln(&log, `{"O":"0/3","S":"no"}`)
	intent("0/4", 50, 100, `"c"`) // unknown: gone from the first 25
	for i := range 300 {
		acct := fmt.Sprintf("u%03d", i)
		switch {
		case i < 50:
			want[acct] = []string{"a", "b"}
		case i < 75:
			srv.SetTags(acct, "keep")
			want[acct] = []string{"a", "b", "c"}
		case i < 100:
			srv.SetTags(acct, "c", "keep")
			want[acct] = []string{"a", "b"}
		case i < 200 && i%2 == 0:
			srv.SetTags(acct, "keep")
			want[acct] = []string{"a"}
		case i < 200:
			srv.SetTags(acct, "a", "keep")
		default:
			srv.SetTags(acct, "a")
		}
	}
	for _, size := range []int64{int64(log.Len()), 100 << 20} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			var out bytes.Buffer
			st, err := journal.Merge(t.Context(), bytes.NewReader(log.Bytes()), size, client, "", nil, &out)
			if err != nil {
				t.Fatal(err)
			}
			diff(t, readJournal(t, out.Bytes()), want)
			if st.Changed != 150 || st.TagsRemoved != 275 || st.Unknown != 150 || st.Unfinished {
				t.Errorf("stats = %+v, want 150 changed, 275 pairs removed, 150 of unknown outcome", st)
			}
		})
	}
}
