package job_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// undoWorld seeds n accounts as journalRecords does, and every fiftieth also
// with 25 tags of its own the file lists (a journal line of more than ten
// tags: three parts); it returns the removal's records and each account's
// tags before the job.
func (e *env) undoWorld(name string, n int) ([]records.Record, map[string][]string) {
	recs, _ := e.journalRecords(name, n)
	before := map[string][]string{}
	for i := range recs {
		if i%50 == 0 {
			var many []string
			for k := range 25 {
				many = append(many, fmt.Sprintf("m%02d", k))
			}
			recs[i].Tags = append(recs[i].Tags, many...)
			e.im.SetTags(recs[i].Account, append(e.im.Tags(recs[i].Account), many...)...)
		}
		before[recs[i].Account] = e.im.Tags(recs[i].Account)
	}
	return recs, before
}

// removeJournaled runs the removal of recs as the file key, to its end, and
// returns its journal's key.
func (e *env) removeJournaled(key string, recs []records.Record) string {
	e.t.Helper()
	loc, _, _ := e.putS3(key, encode(e.t, "csv", recs))
	if _, err := e.service().Handle(e.budgetCtx(), job.Upload(loc, "")); err != nil {
		e.t.Fatal(err)
	}
	e.waitChain()
	rep := e.checkDone(s3Bucket, key, recs)
	if rep.JournalKey == "" || rep.TagsRemoved == 0 {
		e.t.Fatalf("removal report: %+v", rep)
	}
	return rep.JournalKey
}

// undoDoc is the job document that undoes the journal at key.
func undoDoc(key string) []byte {
	return fmt.Appendf(nil, `{"Undo":"s3://%s/%s"}`, s3Bucket, key)
}

// undoReport reads the report of the undo of the S3 bucket's file at key.
func (e *env) undoReport(key string) *job.FileReport {
	e.t.Helper()
	var rep job.FileReport
	data, err := e.fs.GetObject(s3Bucket, prefix+"undo/reports/"+key+".report.json")
	if err == nil {
		err = json.Unmarshal(data, &rep)
	}
	if err != nil {
		e.t.Fatalf("the undo's report of %s: %v", key, err)
	}
	return &rep
}

// parts counts the records an undo of the journal makes: a part per ten
// tags of a line.
func parts(journal map[string][]string) int64 {
	var n int64
	for _, tags := range journal {
		n += int64((len(tags) + 9) / 10)
	}
	return n
}

// checkRestored checks that every account holds the tags it held before the
// removal, tag for tag.
func (e *env) checkRestored(before map[string][]string) {
	e.t.Helper()
	bad := 0
	for a, tags := range before {
		if got := e.im.Tags(a); !slices.Equal(got, tags) && bad < 10 {
			e.t.Errorf("%s holds %v, held %v before the removal", a, got, tags)
			bad++
		}
	}
}

// checkUndone checks an undo's report: done, every part of the journal one
// record that succeeded, and nothing of the job left but its report.
func (e *env) checkUndone(key string, journal map[string][]string) *job.FileReport {
	e.t.Helper()
	rep := e.undoReport(key)
	n := parts(journal)
	if rep.Kind != job.KindUndo || rep.Status != job.StatusDone || rep.Total != n || rep.Succeeded != n || rep.Failed != 0 || rep.Pending != 0 {
		e.t.Errorf("undo report: kind %q, %s, total %d, succeeded %d, failed %d, pending %d; want undo done, %d records succeeded",
			rep.Kind, rep.Status, rep.Total, rep.Succeeded, rep.Failed, rep.Pending, n)
	}
	for _, dir := range []string{"undo/state/", "undo/parts/", "undo/failed/", "undo/journal-parts/", "undo/journal/"} {
		if left := e.fs.List(s3Bucket, prefix+dir); len(left) != 0 {
			e.t.Errorf("%s%s holds %v after the undo", prefix, dir, left)
		}
	}
	return rep
}

// TestUndoChain removes a journaled file of 12,000 records, then undoes its
// journal by an {"Undo":…} document: a chain of invocations whose first
// continuation is lost, taken on by the sweep, handed on again to its end.
// Every account holds again exactly the tags it held before the removal;
// each journal line of more than ten tags is three records, and no call
// carried more than ten tags of one account (the emulator refuses that).
func TestUndoChain(t *testing.T) {
	e := newEnv(t, envOptions{journal: true, config: func(c *job.Config) { c.SweepAfter = sweepAfter }})
	recs, before := e.undoWorld("u", 12000)
	jkey := e.removeJournaled("in/u.csv", recs)
	removal := e.report(s3Bucket, "in/u.csv")
	journal := e.journalOf(s3Bucket, jkey)

	e.api.LoseNext(1)
	res, err := e.service().Handle(e.budgetCtx(), job.Direct(undoDoc(jkey)))
	if err != nil || res.Status != job.StatusPending || !res.Continued || res.Source != "s3://"+s3Bucket+"/"+jkey {
		t.Fatalf("first invocation of the undo: %v, %+v", err, res)
	}
	if want := prefix + "undo/state/" + jkey + ".json"; res.CheckpointKey != want {
		t.Errorf("checkpoint %q, want %q", res.CheckpointKey, want)
	}
	e.waitChain()
	time.Sleep(sweepAfter + 50*time.Millisecond)
	sw, err := e.service().Handle(e.budgetCtx(), job.Timer(""))
	if err != nil || len(sw.Jobs) != 1 || sw.Jobs[0].Chain != 1 {
		t.Fatalf("sweep: %v, %+v", err, sw)
	}
	e.waitChain()

	rep := e.checkUndone(jkey, journal)
	if rep.Invocations < 3 || rep.Source != "s3://"+s3Bucket+"/"+jkey {
		t.Errorf("undo report: %d invocations, source %s; want a chain of 3 or more", rep.Invocations, rep.Source)
	}
	e.checkRestored(before)
	if st := e.im.Stats(); st.Codes[90032] != 0 {
		t.Errorf("%d calls refused with 90032 (more than 10 tags of an account)", st.Codes[90032])
	}
	if again := e.report(s3Bucket, "in/u.csv"); !again.Finished.Equal(removal.Finished) {
		t.Errorf("the removal's report was rewritten")
	}
}

// TestUndoTwice: an undo document sent again for the same journal does
// nothing (its report says it is done); the same journal under another key is
// undone again, and changes nothing: adding a tag an account holds is a
// no-op. Both times the store is as before the removal.
func TestUndoTwice(t *testing.T) {
	e := newEnv(t, envOptions{journal: true})
	recs, before := e.undoWorld("t", 600)
	jkey := e.removeJournaled("in/t.csv", recs)
	journal := e.journalOf(s3Bucket, jkey)
	res, err := e.service().Handle(e.roomyCtx(), job.Submit(undoDoc(jkey), "http"))
	if err != nil || res.Status != job.StatusDone || res.ReportKey != prefix+"undo/reports/"+jkey+".report.json" {
		t.Fatalf("undo: %v, %+v", err, res)
	}
	e.checkUndone(jkey, journal)
	e.checkRestored(before)

	calls, tags := e.calls(), e.im.TagCount()
	res, err = e.service().Handle(e.roomyCtx(), job.Submit(undoDoc(jkey), "http"))
	if err != nil || res.Status != job.StatusSkipped || !strings.Contains(res.Message, "done already") {
		t.Errorf("the same undo again: %v, %+v", err, res)
	}
	if e.calls() != calls {
		t.Errorf("%d calls for an undo done already", e.calls()-calls)
	}

	data, err := e.fs.GetObject(s3Bucket, jkey)
	if err != nil {
		t.Fatal(err)
	}
	e.put(s3Bucket, "copies/t.jsonl", data)
	res, err = e.service().Handle(e.roomyCtx(), job.Direct(undoDoc("copies/t.jsonl")))
	if err != nil || res.Status != job.StatusDone || res.Succeeded != parts(journal) || e.calls() == calls {
		t.Fatalf("undo of the copy: %v, %+v", err, res)
	}
	e.checkUndone("copies/t.jsonl", journal)
	e.checkRestored(before)
	if e.im.TagCount() != tags {
		t.Errorf("the second undo changed the store: %d tags, %d before it", e.im.TagCount(), tags)
	}
}

// TestUndoCap: an account at the cap of 100 tags, whose journal line would
// take it past them, is reported failed with the code the API answers, and
// keeps its own tags; every other line's tags are added. all_member_push's
// im_add_tag refuses the whole call: every record of that call fails with the
// code, and is in the failed records as it was in the journal; timpush's
// add_tag names the account alone.
func TestUndoCap(t *testing.T) {
	for _, api := range []imapi.API{imapi.AllMemberPush, imapi.TimPush} {
		t.Run(string(api), func(t *testing.T) {
			e := newEnv(t, envOptions{config: func(c *job.Config) { c.API = api }})
			var held []string
			for i := range emulator.MaxTagsPerAccount {
				held = append(held, fmt.Sprintf("h%02d", i))
			}
			var lines []records.Record
			for i := range 300 {
				acct := fmt.Sprintf("c%04d", i)
				if i == 150 {
					acct = "capped"
				}
				e.im.SetTags(acct, "keep")
				lines = append(lines, records.Record{Account: acct, Tags: []string{"x", "y"}})
			}
			e.im.SetTags("capped", held...)
			e.put(s3Bucket, "in/cap.jsonl", encode(t, "jsonl", lines))
			res, err := e.service().Handle(e.roomyCtx(), job.Direct(undoDoc("in/cap.jsonl")))
			if err != nil || res.Status != job.StatusDone || res.API != api.AddTag(false).String() {
				t.Fatalf("undo: %v, %+v", err, res)
			}
			rep := e.undoReport("in/cap.jsonl")
			whole := api == imapi.AllMemberPush
			if len(rep.Failures) != 1 || rep.Failures[0].ErrorCode != emulator.CodeTagCap || !slices.Contains(rep.Failures[0].Accounts, "capped") ||
				rep.Failures[0].Records != rep.Failed || rep.Failed < 1 || rep.Failed > 100 || (!whole && rep.Failed != 1) || rep.Succeeded+rep.Failed != 300 {
				t.Fatalf("undo report: %d succeeded, %d failed, failures %+v", rep.Succeeded, rep.Failed, rep.Failures)
			}
			failed := e.undoFailed(rep)
			if int64(len(failed)) != rep.Failed || !failed["capped"] {
				t.Errorf("%d failed records (capped among them: %v), the report counts %d", len(failed), failed["capped"], rep.Failed)
			}
			for _, r := range lines {
				switch got := e.im.Tags(r.Account); {
				case r.Account == "capped":
					if !slices.Equal(got, held) {
						t.Errorf("capped holds %d tags, want its 100", len(got))
					}
				case failed[r.Account] && !slices.Equal(got, []string{"keep"}):
					t.Errorf("%s failed, and holds %v", r.Account, got)
				case !failed[r.Account] && !slices.Equal(got, []string{"keep", "x", "y"}):
					t.Errorf("%s holds %v, want [keep x y]", r.Account, got)
				}
			}
		})
	}
}

// undoFailed reads the failed records of an undo, checking each is a line of
// TestUndoCap's journal: the accounts.
func (e *env) undoFailed(rep *job.FileReport) map[string]bool {
	e.t.Helper()
	data, err := e.fs.GetObject(s3Bucket, rep.FailedKey)
	if err != nil || rep.FailedKey != prefix+"undo/failed/in/cap.jsonl.jsonl" {
		e.t.Fatalf("failed records %q: %v", rep.FailedKey, err)
	}
	failed := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		var r records.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil || !slices.Equal(r.Tags, []string{"x", "y"}) {
			e.t.Fatalf("failed record %q: %v", line, err)
		}
		failed[r.Account] = true
	}
	return failed
}

// TestUndoDocuments: an undo document is refused, saying why, where it names
// more than a journal or something else than a file; a journal under the
// output prefix is undone (an upload of it is never run).
func TestUndoDocuments(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tt := range []struct{ doc, want string }{
		{`{"Undo":"s3://data/j.jsonl","Source":"s3://data/in.csv"}`, "nothing else"},
		{`{"Undo":"s3://data/j.jsonl","UserTags":[]}`, "nothing else"},
		{`{"Undo":"s3://data/j.jsonl","Force":true}`, `unknown field "Force"`},
		{`{"Undo":1}`, "undo document"},
		{`{"Undo":"s3://data/folder/"}`, "not a file"},
		{`{"Undo":"ftp://data/j.jsonl"}`, "ftp"},
		{`{"Undo":"s3://data/missing.jsonl"}`, "no such object"},
	} {
		res, err := e.service().Handle(e.roomyCtx(), job.Direct([]byte(tt.doc)))
		if err != nil || res.Status != job.StatusInvalid || !strings.Contains(res.Message, tt.want) {
			t.Errorf("%s: %v, %+v; want invalid, %q", tt.doc, err, res, tt.want)
		}
	}
	e.im.SetTags("o1", "keep")
	key := prefix + "journal/old.csv.jsonl"
	e.put(s3Bucket, key, []byte(`{"To_Account":"o1","Tags":["a","b"]}`+"\n"))
	up, err := e.service().Handle(e.roomyCtx(), job.Upload(storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket, Key: key}, ""))
	if err != nil || up.Status != job.StatusIgnored {
		t.Errorf("upload of a journal: %v, %+v", err, up)
	}
	res, err := e.service().Handle(e.roomyCtx(), job.Direct(undoDoc(key)))
	if err != nil || res.Status != job.StatusDone || res.Succeeded != 1 || !slices.Equal(e.im.Tags("o1"), []string{"a", "b", "keep"}) {
		t.Errorf("undo of a journal under the prefix: %v, %+v; o1 holds %v", err, res, e.im.Tags("o1"))
	}
}
