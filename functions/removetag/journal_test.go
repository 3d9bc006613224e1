package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/records"
)

// journalSize is the rows of the journaled file: several invocations.
const journalSize = 30000

// journalWorld seeds n accounts each holding keep and two of the three listed
// tags (vip, gold, club, a different one absent in turn), and a file listing
// the three for every account: a third of the listed tags are absent. It
// returns the file and each account's tags before the job.
func journalWorld(w *world, prefix string, n int) ([]byte, map[string][]string) {
	listed := []string{"vip", "gold", "club"}
	before := make(map[string][]string, n)
	var b strings.Builder
	b.WriteString("To_Account,Tag1,Tag2,Tag3\n")
	for i := range n {
		acct := fmt.Sprintf("%s-%d", prefix, i)
		tags := []string{"keep"}
		for k, t := range listed {
			if k != i%3 {
				tags = append(tags, t)
			}
		}
		w.im.SetTags(acct, tags...)
		before[acct] = w.im.Tags(acct)
		b.WriteString(acct + ",vip,gold,club\n")
	}
	return []byte(b.String()), before
}

// readJournal reads a journal object: account → tags, each account once.
func (w *world) readJournal(t *testing.T, key string) map[string][]string {
	t.Helper()
	data, err := w.fs.GetObject(w.p.bucket, key)
	if err != nil {
		t.Fatalf("no journal %s: %v", key, err)
	}
	got := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r records.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		if _, dup := got[r.Account]; dup {
			t.Errorf("%s is in the journal twice", r.Account)
		}
		got[r.Account] = r.Tags
	}
	return got
}

// checkJournal checks a finished journaled file against the tags before the
// job: Changed and TagsRemoved exact, the journal exactly the removed pairs,
// no log left; it returns the journal.
func checkJournal(t *testing.T, w *world, key string, before map[string][]string) map[string][]string {
	t.Helper()
	rep, err := w.waitReport(key, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	var pairs int64
	for a, tags := range before {
		var gone []string
		for _, tg := range tags {
			if tg != "keep" {
				gone = append(gone, tg)
			}
		}
		want[a] = gone
		pairs += int64(len(gone))
	}
	if rep.Status != job.StatusDone || rep.Succeeded != int64(len(before)) {
		t.Errorf("report: %s, %d succeeded of %d", rep.Status, rep.Succeeded, len(before))
	}
	if rep.Changed != int64(len(want)) || rep.TagsRemoved != pairs {
		t.Errorf("report: Changed %d, TagsRemoved %d; want %d and %d", rep.Changed, rep.TagsRemoved, len(want), pairs)
	}
	got := w.readJournal(t, rep.JournalKey)
	bad := 0
	for _, a := range slices.Sorted(maps.Keys(want)) {
		if !slices.Equal(got[a], want[a]) && bad < 10 {
			t.Errorf("%s: journal %v, want %v", a, got[a], want[a])
			bad++
		}
	}
	if len(got) != len(want) {
		t.Errorf("journal holds %d accounts, want %d", len(got), len(want))
	}
	if left := w.fs.List(w.p.bucket, outPrefix+"journal-parts/"); len(left) != 0 {
		t.Errorf("journal logs left behind: %v", left)
	}
	t.Logf("report: %d invocations, Changed %d, TagsRemoved %d", rep.Invocations, rep.Changed, rep.TagsRemoved)
	return got
}

// undoJournal submits {"Undo":"…"} for the journal at jkey as a direct
// invocation's job document, through the function, and waits for its chain:
// the undo's report counts each journal line (ten tags or fewer each) once,
// succeeded, and the store holds every account's tags as before the job, tag
// set by tag set. The same document again does nothing: the undo is done.
func undoJournal(t *testing.T, w *world, jkey string, jr, before map[string][]string) {
	t.Helper()
	doc := mustJSON(map[string]string{"Undo": w.source(jkey)})
	first := w.run(t, doc)
	if first.Status != job.StatusDone && !first.Continued {
		t.Fatalf("undo: %s, %s", first.Status, first.Message)
	}
	w.waitIdle(t)
	rep, err := w.waitReportAt(outPrefix+"undo/reports/"+jkey+".report.json", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(jr))
	if rep.Kind != job.KindUndo || rep.Status != job.StatusDone || rep.Total != n || rep.Succeeded != n || rep.Failed != 0 ||
		rep.API != "v4/all_member_push/im_add_tag" {
		t.Errorf("undo report: %s %s via %s, %d records, %d succeeded, %d failed; want %d succeeded",
			rep.Kind, rep.Status, rep.API, rep.Total, rep.Succeeded, rep.Failed, n)
	}
	bad := 0
	for _, a := range slices.Sorted(maps.Keys(before)) {
		if got := w.im.Tags(a); !slices.Equal(got, before[a]) && bad < 10 {
			t.Errorf("%s holds %v, held %v before the job", a, got, before[a])
			bad++
		}
	}
	if left := w.fs.List(w.p.bucket, outPrefix+"undo/state/"); len(left) != 0 {
		t.Errorf("undo state left behind: %v", left)
	}
	calls := w.requests()
	if again := w.run(t, doc); again.Status != job.StatusSkipped || w.requests() != calls {
		t.Errorf("the undo sent again: %s (%s), %d calls", again.Status, again.Message, w.requests()-calls)
	}
	t.Logf("undo: %d invocations, %d records, %d calls", rep.Invocations, rep.Total, rep.Calls)
}

// TestJournal runs a journaled file of 30,000 rows, a third of whose listed
// tags are absent, through a chain of invocations under each runtime (the
// real RIE, SCF's net/rpc): the report and the journal are exact, and an
// {"Undo":…} document for the journal restores the store as it was.
func TestJournal(t *testing.T) {
	binaries(t)
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		t.Run(p.name, func(t *testing.T) {
			w := newWorld(t, p, nil)
			data, before := journalWorld(w, "jr", journalSize)
			key := "incoming/journal.csv"
			w.put(t, key, data)
			w.run(t, w.p.upload(key))
			w.waitIdle(t)
			jr := checkJournal(t, w, key, before)
			undoJournal(t, w, outPrefix+"journal/"+key+".jsonl", jr, before)
		})
	}
}
