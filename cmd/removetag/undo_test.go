package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/imapi/emulator"
)

// undoWorld is an app on an emulator of the test process and an S3 and a COS
// bucket of the in-memory store, reached by the environment it returns.
type undoWorld struct {
	emu *emulator.Server
	fs  *memstore.Server
	env map[string]string
}

func newUndoWorld(t *testing.T) *undoWorld {
	t.Helper()
	w := &undoWorld{emu: emulator.NewServer(emulator.Config{}), fs: memstore.New()}
	t.Cleanup(w.emu.Close)
	t.Cleanup(w.fs.Close)
	for _, b := range []string{"jobs", "jobs-1250000000"} {
		if err := w.fs.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	c := w.emu.Config()
	w.env = map[string]string{
		"IM_SDKAPPID": fmt.Sprint(c.SDKAppID), "IM_SECRET_KEY": c.Key, "IM_ENDPOINT": w.emu.URL(),
		"AWS_ENDPOINT_URL_S3": w.fs.S3Endpoint(), "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "aws-test-secret",
		"AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"REMOVETAG_COS_BUCKET_URL": w.fs.COSBucketURLTemplate(), "TENCENTCLOUD_REGION": "ap-guangzhou",
		"TENCENTCLOUD_SECRETID": "AKIDtencent", "TENCENTCLOUD_SECRETKEY": "tencent-secret",
	}
	return w
}

// journal seeds n accounts {name}-i as a removal left them (keep) and
// returns their journal (the tags removed: two, or twelve for every
// seventh account, a line of two parts) and the tag sets to restore.
func (w *undoWorld) journal(name string, n int) (data []byte, before map[string][]string, parts int64) {
	return w.journalOf(name, n, 7)
}

// journalOf is journal with a line of twelve tags every long-th account
// (0: none).
func (w *undoWorld) journalOf(name string, n, long int) (data []byte, before map[string][]string, parts int64) {
	before = map[string][]string{}
	var b strings.Builder
	for i := range n {
		acct := fmt.Sprintf("%s-%04d", name, i)
		removed := []string{"vip", "gold"}
		if long > 0 && i%long == 0 {
			for k := range 10 {
				removed = append(removed, fmt.Sprintf("m%d", k))
			}
		}
		w.emu.SetTags(acct, "keep")
		line, _ := json.Marshal(wireRecord{Account: acct, Tags: removed})
		b.Write(append(line, '\n'))
		before[acct] = slices.Sorted(slices.Values(append(removed, "keep")))
		parts += int64((len(removed) + 9) / 10)
	}
	return []byte(b.String()), before, parts
}

// restored checks that every account holds the tags of before, tag for tag.
func (w *undoWorld) restored(t *testing.T, before map[string][]string) {
	t.Helper()
	for a, tags := range before {
		if got := w.emu.Tags(a); !slices.Equal(got, tags) {
			t.Fatalf("%s holds %v, want %v", a, got, tags)
		}
	}
}

// TestUndo: removetag undo adds a journal's tags back, from a local file, an
// S3 object or a COS object, in parts of at most ten tags (a line of twelve
// is two records), on the app the environment names: every account holds its
// tags as before the removal; the same journal again changes nothing.
func TestUndo(t *testing.T) {
	w := newUndoWorld(t)
	for _, tt := range []struct{ name, where string }{{"local", ""}, {"s3", "s3://jobs/"}, {"cos", "cos://jobs-1250000000/"}} {
		t.Run(tt.name, func(t *testing.T) {
			data, before, parts := w.journal("u"+tt.name, 700)
			u := newUser(t, w.env)
			file := filepath.Join(u.dir, "removetag-journal.jsonl")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.where != "" {
				key := "removetag/journal/in/" + tt.name + ".csv.jsonl"
				bucket, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(tt.where, "s3://"), "cos://"), "/")
				if err := w.fs.PutObject(bucket, key, data); err != nil {
					t.Fatal(err)
				}
				file = tt.where + key
			}
			for round := range 2 {
				tags := w.emu.TagCount()
				code, out, errOut := u.run(nil, "undo", "--json", file)
				rep := report(t, out)
				if code != exitOK || rep.Status != statusDone || rep.Total != parts || rep.Succeeded != parts || rep.App == nil || rep.App.API != "v4/all_member_push/im_add_tag" {
					t.Fatalf("round %d: exit %d, %s, %d of %d succeeded via %+v\n%s", round+1, code, rep.Status, rep.Succeeded, rep.Total, rep.App, errOut)
				}
				if !strings.Contains(errOut, "target: app 1400000000") || !strings.Contains(errOut, "API v4/all_member_push/im_add_tag") {
					t.Errorf("the target is not named:\n%s", errOut)
				}
				w.restored(t, before)
				if round == 1 && w.emu.TagCount() != tags {
					t.Errorf("the second undo changed the store: %d tags, %d before it", w.emu.TagCount(), tags)
				}
			}
		})
	}
}

// TestUndoOnTheEmulator: --emulator gives the journal's accounts one tag
// ("untouched") and adds the journal's back: the store's tags before and
// after say so, and the summary counts the parts.
func TestUndoOnTheEmulator(t *testing.T) {
	u := newUser(t, nil)
	lines := `{"To_Account":"u1","Tags":["a","b"]}` + "\n" +
		`{"To_Account":"u2","Tags":["t00","t01","t02","t03","t04","t05","t06","t07","t08","t09","t10","t11"]}` + "\n"
	file := filepath.Join(u.dir, "journal.jsonl")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := u.run(nil, "undo", "--emulator", file)
	if code != exitOK || !strings.Contains(out, file+" → emulator: 3 records: 3 succeeded, 0 failed, 0 pending; 2 calls") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"API v4/all_member_push/im_add_tag", "before: 2 tags", "after: 16 tags"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestUndoCapAndLeftovers: an account at its 100 tags makes its call fail
// with the code the service answers (the emulator's 90032; all_member_push
// refuses the call whole): the records of that call are in the failed file,
// as parts of the journal, exit 1. An undo cut short by --timeout writes its
// pending records, and the command it names finishes the undo.
func TestUndoCapAndLeftovers(t *testing.T) {
	w := newUndoWorld(t)
	t.Run("cap", func(t *testing.T) {
		data, before, parts := w.journalOf("cap", 250, 0)
		var held []string
		for i := range emulator.MaxTagsPerAccount {
			held = append(held, fmt.Sprintf("h%02d", i))
		}
		w.emu.SetTags("cap-0120", held...)
		u := newUser(t, w.env)
		file := filepath.Join(u.dir, "journal.jsonl")
		os.WriteFile(file, data, 0o600)
		code, out, errOut := u.run(nil, "undo", "--json", file)
		rep := report(t, out)
		if code != exitFailed || rep.Failed == 0 || rep.Failed > 100 || rep.Succeeded+rep.Failed != parts || rep.FailedFile == "" ||
			len(rep.Files) != 1 || len(rep.Files[0].Failures) != 1 || rep.Files[0].Failures[0].ErrorCode != emulator.CodeTagCap {
			t.Fatalf("exit %d, report %+v\n%s", code, rep, errOut)
		}
		failed := map[string]bool{}
		for _, r := range readJSONL(t, filepath.Join(u.dir, rep.FailedFile)) {
			failed[r.Account] = true
		}
		if int64(len(failed)) != rep.Failed || !failed["cap-0120"] {
			t.Errorf("%d failed records (the capped account among them: %v), %d counted", len(failed), failed["cap-0120"], rep.Failed)
		}
		for a, tags := range before {
			switch got := w.emu.Tags(a); {
			case a == "cap-0120":
				if !slices.Equal(got, held) {
					t.Errorf("the capped account holds %d tags", len(got))
				}
			case failed[a] != slices.Equal(got, []string{"keep"}) || !failed[a] && !slices.Equal(got, tags):
				t.Errorf("%s (failed: %v) holds %v", a, failed[a], got)
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		data, before, parts := w.journal("late", 1000)
		u := newUser(t, w.env)
		file := filepath.Join(u.dir, "journal.jsonl")
		os.WriteFile(file, data, 0o600)
		code, out, errOut := u.run(nil, "undo", "--rate", "2", "--timeout", "2s", "--json", file)
		if out == "" {
			t.Fatalf("exit %d, no answer\n%s", code, errOut)
		}
		rep := report(t, out)
		if code != exitFailed || rep.Pending == 0 || rep.PendingFile == "" || !regexp.MustCompile(`^removetag undo --rate 2 \S+-pending\.jsonl$`).MatchString(rep.Continue) {
			t.Fatalf("exit %d: %d pending, file %q, continue %q\n%s", code, rep.Pending, rep.PendingFile, rep.Continue, errOut)
		}
		args := strings.Fields(strings.TrimPrefix(rep.Continue, "removetag "))
		args[1], args[2] = "--rate", "100"
		code, out, errOut = u.run(nil, append(args, "--json")...)
		next := report(t, out)
		if code != exitOK || rep.Succeeded+next.Total != parts || next.Succeeded != next.Total {
			t.Fatalf("the continue: exit %d, %d of %d (first run %d of %d)\n%s", code, next.Succeeded, next.Total, rep.Succeeded, parts, errOut)
		}
		w.restored(t, before)
	})
}

// TestUndoConfirmation: on a terminal, an undo on a real app names the app
// and the journal's accounts and tags, and asks; a no sends nothing.
func TestUndoConfirmation(t *testing.T) {
	w := newUndoWorld(t)
	data, _, _ := w.journal("ask", 20)
	env := map[string]string{"TERM": "xterm"}
	for k, v := range w.env {
		env[k] = v
	}
	u := newUser(t, env)
	file := filepath.Join(u.dir, "journal.jsonl")
	os.WriteFile(file, data, 0o600)
	calls := w.emu.Stats().Requests
	p := u.startPTY(100, "undo", file)
	p.waitOutput(`Go on\? Type yes`, 60*time.Second)
	for _, want := range []string{"About to ADD TAGS BACK in app 1400000000", "API v4/all_member_push/im_add_tag", `23 records (accounts "ask-0000", "ask-0000", "ask-0001"`, `distinct tags: "vip", "gold"`} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("the question lacks %q:\n%s", want, p.output())
		}
	}
	io.WriteString(p.tty, "no\n")
	if code := p.wait(60 * time.Second); code != exitFailed {
		t.Fatalf("exit %d\n%s", code, p.output())
	}
	if n := w.emu.Stats().Requests - calls; n != 0 {
		t.Errorf("%d calls after a no", n)
	}
}
