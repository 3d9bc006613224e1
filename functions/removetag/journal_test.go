package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
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

// addBack adds the journal's tags back through im_add_tag, at most 10 tags
// per account per call, and checks the store is as before the job, tag set
// by tag set; a second time changes nothing.
func addBack(t *testing.T, w *world, jr map[string][]string, before map[string][]string) {
	t.Helper()
	client, err := imapi.NewClient(imapi.Config{SDKAppID: w.im.Config().SDKAppID, SecretKey: w.im.Key(), BaseURL: w.im.URL()})
	if err != nil {
		t.Fatal(err)
	}
	var recs []records.Record
	for _, a := range slices.Sorted(maps.Keys(jr)) {
		for chunk := range slices.Chunk(jr[a], 10) {
			recs = append(recs, records.Record{Account: a, Tags: chunk})
		}
	}
	eng := imapi.NewEngine(client, imapi.EngineConfig{})
	for round := range 2 {
		rep, err := eng.Run(context.Background(), records.NewSliceSource(recs), imapi.WithOperation(imapi.AllMemberPush.AddTag(false)))
		if err != nil || !rep.Done() || rep.Failed != 0 {
			t.Fatalf("add back, round %d: %v %s", round+1, err, rep.Summary())
		}
		for a, tags := range before {
			if got := w.im.Tags(a); !slices.Equal(got, tags) {
				t.Fatalf("round %d: %s holds %v, held %v before the job", round+1, a, got, tags)
			}
		}
	}
}

// TestJournal runs a journaled file of 30,000 rows, a third of whose listed
// tags are absent, through a chain of invocations under each runtime (the
// real RIE, SCF's net/rpc): the report and the journal are exact, and adding
// the journal back restores the store as it was.
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
			addBack(t, w, jr, before)
		})
	}
}
