package imapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// families are the two API families, for tests that hold in both.
var families = []imapi.API{imapi.AllMemberPush, imapi.TimPush}

// TestOperationsAsData names every operation of both families by the paths of
// Tencent's pages (1047/37174, 37175; 60567, 60568, 60569, 60570) and runs
// each against the emulator, which serves them at its own copy of the paths:
// add, get, remove, add with Replace (timpush), clear.
func TestOperationsAsData(t *testing.T) {
	tests := []struct {
		op         imapi.Operation
		str, name  string
		emulatorAt string
	}{
		{imapi.AllMemberPush.RemoveTag(), "v4/all_member_push/im_remove_tag", "im_remove_tag", emulator.RemoveTagPath},
		{imapi.AllMemberPush.AddTag(false), "v4/all_member_push/im_add_tag", "im_add_tag", emulator.AddTagPath},
		{imapi.AllMemberPush.GetTag(), "v4/all_member_push/im_get_tag", "im_get_tag", emulator.GetTagPath},
		{imapi.AllMemberPush.ClearAllTags(), "v4/all_member_push/im_remove_all_tags", "im_remove_all_tags", emulator.RemoveAllTagsPath},
		{imapi.TimPush.RemoveTag(), "v4/timpush/remove_tag", "remove_tag", emulator.PushRemoveTagPath},
		{imapi.TimPush.AddTag(false), "v4/timpush/add_tag", "add_tag", emulator.PushAddTagPath},
		{imapi.TimPush.AddTag(true), "v4/timpush/add_tag (Replace 1)", "add_tag", emulator.PushAddTagPath},
		{imapi.TimPush.GetTag(), "v4/timpush/get_tag", "get_tag", emulator.PushGetTagPath},
		{imapi.TimPush.ClearAllTags(), "v4/timpush/clear_all_tags", "clear_all_tags", emulator.PushClearAllTagsPath},
	}
	for _, tt := range tests {
		if tt.op.String() != tt.str || tt.op.Name() != tt.name || "/"+strings.TrimSuffix(tt.str, " (Replace 1)") != tt.emulatorAt {
			t.Errorf("%v: String %q, Name %q; want %q, %q at %s", tt.op, tt.op.String(), tt.op.Name(), tt.str, tt.name, tt.emulatorAt)
		}
	}
	if (imapi.Operation{}) != imapi.AllMemberPush.RemoveTag() || imapi.API("").RemoveTag() != imapi.AllMemberPush.RemoveTag() {
		t.Error("the zero Operation (or API) is not all_member_push's remove, the default")
	}

	for _, api := range families {
		t.Run(string(api), func(t *testing.T) {
			srv, client := newEmulator(t, emulator.Config{})
			srv.Seed([]records.Record{{Account: "u1"}, {Account: "u2"}}) // known, no tags yet
			ctx := context.Background()
			call := func(op imapi.Operation, recs ...records.Record) {
				t.Helper()
				if err := client.Call(ctx, op, recs); err != nil {
					t.Fatalf("%s: %v", op, err)
				}
			}
			call(api.AddTag(false), records.Record{Account: "u1", Tags: []string{"a", "b", "c"}}, records.Record{Account: "u2", Tags: []string{"a"}})
			got, failed, err := client.GetTags(ctx, api, []string{"u1", "u2"})
			if err != nil || len(failed) != 0 || fmt.Sprint(got) != "[{u1 [a b c]} {u2 [a]}]" {
				t.Fatalf("GetTags = %v, %v, %v", got, failed, err)
			}
			call(api.RemoveTag(), records.Record{Account: "u1", Tags: []string{"b"}})
			if api == imapi.TimPush {
				call(api.AddTag(true), records.Record{Account: "u2", Tags: []string{"x", "y"}})
				if got := srv.Tags("u2"); !slices.Equal(got, []string{"x", "y"}) {
					t.Errorf("u2 after add with Replace: %v, want [x y]", got)
				}
			} else if err := client.Call(ctx, api.AddTag(true), []records.Record{{Account: "u2", Tags: []string{"x"}}}); err == nil || imapi.Classify(err) != imapi.Permanent {
				t.Errorf("all_member_push add with Replace: %v, want a permanent refusal", err)
			}
			if got := srv.Tags("u1"); !slices.Equal(got, []string{"a", "c"}) {
				t.Errorf("u1 after remove: %v, want [a c]", got)
			}
			call(api.ClearAllTags(), records.Record{Account: "u1"}, records.Record{Account: "u2"})
			if n := srv.TagCount(); n != 0 {
				t.Errorf("%d tags left after clear", n)
			}
			if st := srv.Stats(); st.Cleared != 1 || st.AccountsCleared != 2 || st.AccountErrors != 0 {
				t.Errorf("stats %+v, want one clear of 2 accounts, no ErrorList", st)
			}
		})
	}
}

// TestParseAPI accepts the two families' names and refuses others, naming them.
func TestParseAPI(t *testing.T) {
	for in, want := range map[string]imapi.API{"": imapi.AllMemberPush, "all_member_push": imapi.AllMemberPush, " TimPush ": imapi.TimPush} {
		if got, err := imapi.ParseAPI(in); got != want || err != nil {
			t.Errorf("ParseAPI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := imapi.ParseAPI("v4/timpush"); err == nil || !strings.Contains(err.Error(), "all_member_push, timpush") {
		t.Errorf("ParseAPI of an unknown name: %v", err)
	}
}

// TestClientAccountErrors: an answer OK with an ErrorList (the Push service's
// "partially successful", 1047/67822) is an error wrapping one *APIError per
// listed account, and the call was applied to the others; GetTags answers
// the others' tags and the listed accounts apart.
func TestClientAccountErrors(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	srv.SetTags("known", "a", "b")
	ctx := context.Background()
	err := client.Call(ctx, imapi.TimPush.RemoveTag(), []records.Record{{Account: "known", Tags: []string{"a"}}, {Account: "ghost", Tags: []string{"a"}}})
	var ae *imapi.APIError
	if !errors.As(err, &ae) || ae.Account != "ghost" || ae.ErrorCode != emulator.CodeNoAccount || imapi.Classify(err) != imapi.Permanent {
		t.Fatalf("Call = %v, want the ghost's 70107 in an error", err)
	}
	if !strings.Contains(err.Error(), `remove_tag: account "ghost": ErrorCode 70107: listed in the answer's ErrorList`) {
		t.Errorf("error text %q", err)
	}
	if got := srv.Tags("known"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("known holds %v: the call was not applied to it", got)
	}
	tags, failed, err := client.GetTags(ctx, imapi.TimPush, []string{"ghost", "known", "empty"})
	if err != nil || fmt.Sprint(tags) != "[{known [b]}]" || len(failed) != 2 || failed[0].Account != "ghost" || failed[1].Account != "empty" {
		t.Fatalf("GetTags = %v, %v, %v; want known's tags, ghost and empty (unknown) failed", tags, failed, err)
	}
	if client.Stats().Requests != 2 {
		t.Errorf("%d requests: an ErrorList answer was sent again", client.Stats().Requests)
	}

	// An ErrorList naming an account the call did not carry says nothing
	// trustworthy: the outcome is unknown (retryable), not a success.
	stray := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorList":[{"To_Account":"other","ErrorCode":70107}]}`)
	}))
	defer stray.Close()
	c, err := imapi.NewClient(imapi.Config{SDKAppID: 1, SecretKey: "k", BaseURL: stray.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Call(ctx, imapi.TimPush.RemoveTag(), []records.Record{{Account: "u1", Tags: []string{"a"}}})
	if !outcomeUnknown(err) || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("stray ErrorList: %v, want an unknown outcome naming the account", err)
	}
}

// TestEngineAccountErrors runs, in each family, records of known accounts,
// of accounts failing once with a retryable code of their own (91000, retried
// alone), of accounts failing for good (70107) and, for timpush, of accounts
// the app does not know (70107 from the Push service): the counts are exact
// and balanced, OnFailed sees exactly the failed records, the failure group
// lists exactly their accounts, and every other account lost its tags.
func TestEngineAccountErrors(t *testing.T) {
	for _, api := range families {
		t.Run(string(api), func(t *testing.T) {
			srv, client := newEmulator(t, emulator.Config{Jitter: 2 * time.Millisecond})
			var recs []records.Record
			wantFailed := map[string]bool{}
			for i := range 600 {
				a := fmt.Sprintf("u%03d", i)
				recs = append(recs, records.Record{Account: a, Tags: []string{"t"}})
				switch {
				case i%50 == 7:
					srv.SetTags(a, "t", "keep")
					srv.FailAccount(a, emulator.CodeInternal, 1) // retried alone, then removed
				case i%50 == 11:
					srv.SetTags(a, "t", "keep")
					srv.FailAccount(a, emulator.CodeNoAccount, -1) // fails for good
					wantFailed[a] = true
				case i%50 == 23 && api == imapi.TimPush:
					wantFailed[a] = true // never seeded: unknown to the Push service
				default:
					srv.SetTags(a, "t", "keep")
				}
			}
			recs = append(recs, records.Record{Account: "u001", Tags: []string{"t"}}) // a second record of an account, in another call
			var mu sync.Mutex
			var failed []string
			obs := &recorder{}
			engine := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 4, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
			rep, err := engine.Run(context.Background(), records.NewSliceSource(recs), imapi.WithOperation(api.RemoveTag()), imapi.WithObserver(obs),
				imapi.OnFailed(func(r records.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if imapi.ErrorCode(err) != emulator.CodeNoAccount {
						t.Errorf("%s failed with %v", r.Account, err)
					}
					failed = append(failed, r.Account)
				}))
			if err != nil {
				t.Fatal(err)
			}
			assertBalanced(t, rep)
			n := int64(len(wantFailed))
			if !rep.Done() || rep.Failed != n || rep.Succeeded != int64(len(recs))-n || rep.Pending != 0 {
				t.Fatalf("report = %s, want %d failed, the rest succeeded", rep.Summary(), n)
			}
			if len(failed) != len(wantFailed) || !slices.IsSorted(failed) {
				t.Errorf("OnFailed saw %v, want the %d failed records in input order", failed, n)
			}
			for _, a := range failed {
				if !wantFailed[a] {
					t.Errorf("%s failed, but it should not have", a)
				}
			}
			if len(rep.Failures) != 1 || rep.Failures[0].ErrorCode != 70107 || rep.Failures[0].Records != n || len(rep.Failures[0].Accounts) != len(wantFailed) {
				t.Errorf("failures = %+v, want one 70107 group of %d accounts", rep.Failures, n)
			}
			// u007 and u057 of each call of 100 failed once: each such call
			// is retried once, with those two accounts alone.
			const retries, retried = 6, 12
			if rep.Calls != 7+retries || rep.Retries != retries {
				t.Errorf("calls %d, retries %d; want 7 calls of 100 accounts or fewer, then %d retries", rep.Calls, rep.Retries, retries)
			}
			var listed int
			for _, c := range obs.outcomes() {
				listed += c.FailedAccounts
				if c.Attempt > 1 && (c.Accounts != 2 || c.Records != 2 || c.FailedAccounts != 0) {
					t.Errorf("a retry carried %d accounts, %d records (%d failed), want the two retried accounts alone, applied", c.Accounts, c.Records, c.FailedAccounts)
				}
			}
			if st := srv.Stats(); int64(listed) != st.AccountErrors || st.AccountErrors != retried+n {
				t.Errorf("observed %d listed accounts, the emulator answered %d; want %d", listed, st.AccountErrors, retried+n)
			}
			for i := range 600 {
				a := fmt.Sprintf("u%03d", i)
				want := []string{"keep"}
				switch {
				case wantFailed[a] && i%50 == 11:
					want = []string{"keep", "t"}
				case wantFailed[a]:
					want = nil
				}
				if got := srv.Tags(a); !slices.Equal(got, want) {
					t.Errorf("%s holds %v, want %v", a, got, want)
				}
			}
		})
	}
}

// TestEngineAccountErrorsRunOut: an account that fails with a retryable code
// on every attempt stays pending with its code after MaxAttempts, alone: its
// call's other accounts succeeded, and the resume position is before it.
func TestEngineAccountErrorsRunOut(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 150, 150)
	srv.FailAccount("u42", emulator.CodeInternal, -1)
	engine := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1, MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	rep, err := engine.Run(context.Background(), records.NewSliceSource(recs), imapi.WithOperation(imapi.TimPush.RemoveTag()))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Succeeded != 149 || rep.Pending != 1 || rep.Failed != 0 || len(rep.PendingRecords) != 1 || rep.PendingRecords[0].Account != "u42" {
		t.Fatalf("report = %s, pending %v; want u42 alone pending", rep.Summary(), rep.PendingRecords)
	}
	if len(rep.PendingErrors) != 1 || rep.PendingErrors[0].ErrorCode != emulator.CodeInternal || rep.PendingErrors[0].Records != 1 {
		t.Errorf("pending errors = %+v, want u42's 91000", rep.PendingErrors)
	}
	if rep.Resume == nil || rep.Resume.Record != 0 || rep.Calls != 4 {
		t.Errorf("resume %+v, %d calls; want record 0 (the first batch is unresolved), 3 attempts + 1", rep.Resume, rep.Calls)
	}
}

// TestEngineAddAndClear: an add takes at most 10 tags per account and call
// (a record of 11 fails as invalid, unsent), with Replace 100; a clear takes
// accounts alone (a record naming tags fails as invalid) and removes every tag.
func TestEngineAddAndClear(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("t%02d", i)
	}
	srv.Seed([]records.Record{{Account: "a"}, {Account: "b"}, {Account: "c"}})
	engine := imapi.NewEngine(client, imapi.EngineConfig{})
	ctx := context.Background()
	add := []records.Record{
		{Account: "a", Tags: eleven[:10]},
		{Account: "a", Tags: eleven[10:]}, // an 11th tag for a: the next call
		{Account: "b", Tags: eleven},      // 11 in one record: invalid for an add
	}
	rep, err := engine.Run(ctx, records.NewSliceSource(add), imapi.WithOperation(imapi.TimPush.AddTag(false)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Succeeded != 2 || rep.Failed != 1 || rep.Calls != 2 || rep.Failures[0].Class != imapi.Invalid || len(srv.Tags("a")) != 11 || srv.Tags("b") != nil {
		t.Fatalf("add: %s, failures %+v, a %v, b %v", rep.Summary(), rep.Failures, srv.Tags("a"), srv.Tags("b"))
	}
	rep, err = engine.Run(ctx, records.NewSliceSource([]records.Record{{Account: "b", Tags: eleven}}), imapi.WithOperation(imapi.TimPush.AddTag(true)))
	if err != nil || rep.Succeeded != 1 || len(srv.Tags("b")) != 11 {
		t.Fatalf("add with Replace: %v, %s, b %v", err, rep.Summary(), srv.Tags("b"))
	}
	srv.SetTags("c", "keep")
	for _, api := range families {
		srv.SetTags("a", "x")
		clearRecs := []records.Record{{Account: "a"}, {Account: "b"}, {Account: "c", Tags: []string{"keep"}}}
		rep, err = engine.Run(ctx, records.NewSliceSource(clearRecs), imapi.WithOperation(api.ClearAllTags()))
		if err != nil || rep.Succeeded != 2 || rep.Failed != 1 || rep.Failures[0].Class != imapi.Invalid {
			t.Fatalf("%s clear: %v, %s, %+v", api, err, rep.Summary(), rep.Failures)
		}
		if srv.Tags("a") != nil || srv.Tags("b") != nil || !slices.Equal(srv.Tags("c"), []string{"keep"}) {
			t.Errorf("%s clear left a %v, b %v, c %v; want c's keep only", api, srv.Tags("a"), srv.Tags("b"), srv.Tags("c"))
		}
	}
}

// TestEngineAccountFatal: an ErrorList element with a configuration code stops
// the run; its account's records stay pending (with the records read after
// its call, and the resume position before it), the call's others succeeded.
func TestEngineAccountFatal(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 300, 300)
	srv.FailAccount("u3", 70016, 1)
	rep, err := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1}).Run(context.Background(), records.NewSliceSource(recs), imapi.WithOperation(imapi.TimPush.RemoveTag()))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.StopReason != imapi.StopFatal || rep.Succeeded != 99 || rep.Failed != 0 || rep.Calls != 1 || rep.PendingRecords[0].Account != "u3" || rep.Resume.Record != 0 {
		t.Fatalf("report = %s, pending %v", rep.Summary(), rep.PendingRecords)
	}
	if len(rep.PendingErrors) != 1 || rep.PendingErrors[0].ErrorCode != 70016 || rep.PendingErrors[0].Records != 1 {
		t.Errorf("pending errors %+v", rep.PendingErrors)
	}
}

// TestBeforeSendPerAccount: a batch's done is told, per account, what an
// answer's ErrorList said: a listed account not applied (known), an account
// retried alone applied once its retry succeeded, the call's others applied.
func TestBeforeSendPerAccount(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 100, 100)
	recs = append(recs, records.Record{Account: "ghost", Tags: []string{"t"}}) // unknown to the Push service
	srv.FailAccount("u5", emulator.CodeInternal, 1)
	l := &outcomeLog{told: map[string][2]bool{}, sentTags: map[string]int{}}
	engine := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	rep, err := engine.Run(context.Background(), records.NewSliceSource(recs), imapi.WithOperation(imapi.TimPush.RemoveTag()), imapi.BeforeSend(l.hook(srv, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Succeeded != 100 || rep.Failed != 1 || l.done != 2 {
		t.Fatalf("report = %s, done told %d times; want ghost alone failed, two batches told", rep.Summary(), l.done)
	}
	for account, want := range map[string][2]bool{"u0": {true, true}, "u5": {true, true}, "ghost": {false, true}} {
		if got := l.told[account]; got != want {
			t.Errorf("%s: told applied, known = %v, want %v", account, got, want)
		}
	}
}

// TestEngineAheadLeavesOutAccountErrors: after a batch left pending, a call
// whose ErrorList failed an account is not in the cursor's Ahead (a resumed
// run sends it again, and its failed record is told to OnFailed then), while
// a call that succeeded whole is.
func TestEngineAheadLeavesOutAccountErrors(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 300, 300)
	srv.FailAccount("u10", emulator.CodeInternal, -1)   // retried until the attempts run out: pending
	srv.FailAccount("u110", emulator.CodeNoAccount, -1) // failed on its own
	var failed []string
	engine := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 1, MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	rep, err := engine.Run(context.Background(), records.NewSliceSource(recs), imapi.WithOperation(imapi.TimPush.RemoveTag()),
		imapi.OnFailed(func(r records.Record, _ error) { failed = append(failed, r.Account) }))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Succeeded != 298 || rep.Failed != 1 || rep.Pending != 1 {
		t.Fatalf("report = %s", rep.Summary())
	}
	cur := rep.Resume
	if cur == nil || cur.Record != 0 || !slices.Equal(cur.Ahead, records.Spans{{From: 200, To: 300}}) || len(failed) != 0 {
		t.Errorf("resume %+v, OnFailed %v; want record 0, only the third call ahead, nothing told", cur, failed)
	}
}
