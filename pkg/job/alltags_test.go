package job_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
)

// allTagsDoc is the job form of accounts alone: {"AllTags":true,"To_Account":[…]}.
func allTagsDoc(t *testing.T, accounts ...string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"AllTags": true, "To_Account": accounts})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAllTagsJob: under IM_TAG_API=timpush a job document of accounts alone
// clears every tag of its accounts and nothing else, inline and as a file; the
// result names the operation; an account the Push service does not know fails
// with its 70107; a document of accounts alone that does not say AllTags is
// invalid and sends nothing.
func TestAllTagsJob(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *job.Config) { c.API = imapi.TimPush }})
	e.records("u", 300)            // u000000… hold a, b and keep
	e.im.SetTags("bystander", "a") // not listed: keeps its tag
	listed := []string{"u000000", "u000001", "ghost"}
	res, err := e.service().Handle(e.roomyCtx(), job.Direct(allTagsDoc(t, listed...)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != job.StatusDone || res.API != "v4/timpush/clear_all_tags" || !res.AllTags || res.Succeeded != 2 || res.Failed != 1 {
		t.Fatalf("result %+v", res)
	}
	if len(res.Failures) != 1 || res.Failures[0].ErrorCode != 70107 || !slices.Equal(res.Failures[0].Accounts, []string{"ghost"}) {
		t.Errorf("failures %+v, want ghost's 70107", res.Failures)
	}
	if e.im.Tags("u000000") != nil || e.im.Tags("u000001") != nil || !slices.Equal(e.im.Tags("u000002"), []string{"a", "b", "keep"}) || e.im.Tags("bystander") == nil {
		t.Errorf("after: u000000 %v, u000001 %v, u000002 %v, bystander %v", e.im.Tags("u000000"), e.im.Tags("u000001"), e.im.Tags("u000002"), e.im.Tags("bystander"))
	}

	// The same form as a file: every account of it loses every tag.
	accounts := make([]string, 250)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("u%06d", i+2)
	}
	loc, _, _ := e.putS3("incoming/clear.json", allTagsDoc(t, accounts...))
	if _, err := e.service().Handle(e.roomyCtx(), job.Upload(loc, "")); err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	rep := e.report(s3Bucket, "incoming/clear.json")
	if rep.Status != job.StatusDone || rep.API != "v4/timpush/clear_all_tags" || rep.Succeeded != 250 || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("file report %+v", rep)
	}
	for i := 2; i < 300; i++ {
		a := fmt.Sprintf("u%06d", i)
		if got := e.im.Tags(a); (i < 252) != (got == nil) {
			t.Errorf("%s holds %v after the file job", a, got)
		}
	}

	// Accounts alone without "AllTags": true: invalid, nothing sent.
	before := e.calls()
	for _, doc := range []string{`{"To_Account":["u000299"]}`, `{"UserTags":[{"To_Account":"u000299","Tags":[]}]}`} {
		res, err = e.service().Handle(e.roomyCtx(), job.Direct([]byte(doc)))
		if err != nil || res.Status != job.StatusInvalid {
			t.Errorf("%s: %+v, %v; want invalid", doc, res, err)
		}
	}
	if e.calls() != before || e.im.Tags("u000299") == nil {
		t.Errorf("an invalid document was sent: %d calls", e.calls()-before)
	}
}

// TestAllTagsJournal: a journaled file job of accounts alone journals every
// tag each account lost: Changed and TagsRemoved count them all.
func TestAllTagsJournal(t *testing.T) {
	e := newEnv(t, envOptions{journal: true, config: func(c *job.Config) { c.API = imapi.TimPush }})
	e.records("u", 120) // a, b, keep each
	accounts := make([]string, 120)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("u%06d", i)
	}
	loc, _, _ := e.putS3("incoming/clear.json", allTagsDoc(t, accounts...))
	if _, err := e.service().Handle(e.roomyCtx(), job.Upload(loc, "")); err != nil {
		t.Fatal(err)
	}
	e.waitChain()
	rep := e.report(s3Bucket, "incoming/clear.json")
	if rep.Succeeded != 120 || rep.Changed != 120 || rep.TagsRemoved != 360 || rep.JournalKey == "" || e.im.TagCount() != 0 {
		t.Fatalf("report %+v; %d tags left", rep, e.im.TagCount())
	}
}
