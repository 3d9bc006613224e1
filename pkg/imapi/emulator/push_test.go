package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// post calls path with valid URL parameters.
func (e *env) post(path, body string) result {
	e.t.Helper()
	return e.do(context.Background(), http.MethodPost, path, e.query(), body)
}

// accountsBody returns a {"To_Account":[…]} body (get, clear).
func accountsBody(accounts ...string) string {
	b, err := json.Marshal(map[string][]string{"To_Account": accounts})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// errorList names the answer's ErrorList: "account:code", in order.
func errorList(r result) []string {
	var out []string
	for _, e := range r.resp.ErrorList {
		out = append(out, fmt.Sprintf("%s:%d", e.Account, e.ErrorCode))
	}
	return out
}

// TestPushServesErrorList: timpush's remove_tag, clear_all_tags, get_tag and
// add_tag leave an account the app does not know out of the call and answer
// it OK with an ErrorList of 70107 and no ErrorInfo, the form of the Push
// service's pages (1047/60567: {"ErrorCode":70107,"To_Account":"Mary"});
// all_member_push's pages show no ErrorList, and its APIs apply the call.
func TestPushServesErrorList(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	e.srv.SetTags("known", "a", "b")
	r := e.post(emulator.PushRemoveTagPath, userTags(records.Record{Account: "known", Tags: []string{"a"}}, records.Record{Account: "Mary", Tags: []string{"a"}}))
	wantCode(t, r, 0)
	if got := errorList(r); !slices.Equal(got, []string{"Mary:70107"}) || r.resp.ActionStatus != "OK" || strings.Contains(r.body, `"ErrorInfo":"the`) {
		t.Errorf("remove_tag answered %s", r.body)
	}
	if got := e.srv.Tags("known"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("known holds %v", got)
	}
	r = e.post(emulator.PushGetTagPath, accountsBody("known", "Mary", e.cfg.Admin))
	if wantCode(t, r, 0); fmt.Sprint(r.resp.UserTags) != "[{known [b]} {administrator []}]" || !slices.Equal(errorList(r), []string{"Mary:70107"}) {
		t.Errorf("get_tag answered %s", r.body)
	}
	r = e.post(emulator.PushAddTagPath, userTags(records.Record{Account: "Mary", Tags: []string{"x"}}))
	if wantCode(t, r, 0); !slices.Equal(errorList(r), []string{"Mary:70107"}) || e.srv.Tags("Mary") != nil {
		t.Errorf("add_tag answered %s; Mary holds %v", r.body, e.srv.Tags("Mary"))
	}
	r = e.post(emulator.PushClearAllTagsPath, accountsBody("known", "Mary"))
	if wantCode(t, r, 0); !slices.Equal(errorList(r), []string{"Mary:70107"}) || e.srv.Tags("known") != nil {
		t.Errorf("clear_all_tags answered %s; known holds %v", r.body, e.srv.Tags("known"))
	}
	// A cleared account stays known: removing from it again is no ErrorList.
	if r = e.post(emulator.PushRemoveTagPath, userTags(records.Record{Account: "known", Tags: []string{"a"}})); len(r.resp.ErrorList) != 0 {
		t.Errorf("remove_tag after clear answered %s", r.body)
	}
	for _, path := range []string{emulator.RemoveTagPath, emulator.RemoveAllTagsPath} {
		body := userTags(records.Record{Account: "Mary", Tags: []string{"a"}})
		if path == emulator.RemoveAllTagsPath {
			body = accountsBody("Mary")
		}
		if r := e.post(path, body); r.resp.ErrorCode != 0 || len(r.resp.ErrorList) != 0 {
			t.Errorf("%s answered %s, want OK without an ErrorList", path, r.body)
		}
	}
	if st := e.srv.Stats(); st.AccountErrors != 4 || st.Applied != 3 || st.AccountsApplied != 3 || st.Cleared != 2 || st.AccountsCleared != 2 ||
		st.Paths[emulator.PushRemoveTagPath] != 2 || st.Paths[emulator.RemoveTagPath] != 1 || st.Paths[emulator.PushGetTagPath] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestFailAccount: an account's own fault leaves it out of the next removal
// calls of either family, named in the ErrorList with its code, for as many
// calls as asked; the calls are applied to their other accounts; the other
// APIs (get, add) are not touched.
func TestFailAccount(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	e.srv.Seed(accounts("u", 3))
	e.srv.FailAccount("u1", emulator.CodeInternal, 2)
	for _, path := range []string{emulator.RemoveTagPath, emulator.PushRemoveTagPath} {
		r := e.post(path, userTags(accounts("u", 3)...))
		if wantCode(t, r, 0); !slices.Equal(errorList(r), []string{"u1:91000"}) || r.resp.ErrorList[0].ErrorInfo == "" {
			t.Errorf("%s answered %s", path, r.body)
		}
	}
	if e.srv.TagCount() != 1 || e.srv.Tags("u1") == nil {
		t.Fatalf("tags left %d, u1 %v: want u1's alone", e.srv.TagCount(), e.srv.Tags("u1"))
	}
	wantCode(t, e.post(emulator.PushRemoveTagPath, userTags(accounts("u", 3)[1])), 0) // the fault is spent
	if e.srv.TagCount() != 0 {
		t.Errorf("u1 holds %v after its faults", e.srv.Tags("u1"))
	}
	e.srv.FailAccount("u2", emulator.CodeNoAccount, -1)
	for range 3 {
		if r := e.post(emulator.PushClearAllTagsPath, accountsBody("u0", "u2")); !slices.Equal(errorList(r), []string{"u2:70107"}) {
			t.Errorf("clear answered %s", r.body)
		}
	}
	if r := e.post(emulator.PushGetTagPath, accountsBody("u2")); len(r.resp.ErrorList) != 0 || len(r.resp.UserTags) != 1 {
		t.Errorf("get, which the account's faults do not touch: %s", r.body)
	}
	e.srv.FailAccount("u2", 0, 0)
	if r := e.post(emulator.RemoveAllTagsPath, accountsBody("u2")); len(r.resp.ErrorList) != 0 {
		t.Errorf("after the fault is cleared: %s", r.body)
	}
}

// TestAddLimits: an add takes at most 10 tags per account (90032, the Push
// service's code for it, 1047/74196), timpush's with "Replace":1 up to 100
// that replace all of the account's; Replace must be 0 or 1, spelt so.
func TestAddLimits(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	tags := make([]string, 100)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%03d", i)
	}
	e.srv.SetTags("u", "old")
	for _, path := range []string{emulator.AddTagPath, emulator.PushAddTagPath} {
		wantCode(t, e.post(path, userTags(records.Record{Account: "u", Tags: tags[:11]})), 90032)
		wantCode(t, e.post(path, userTags(records.Record{Account: "u", Tags: tags[:10]})), 0)
	}
	replace := func(n int, extra string) string {
		b, _ := json.Marshal(records.Record{Account: "u", Tags: tags[:n]})
		return `{` + extra + `"UserTags":[` + string(b) + `]}`
	}
	wantCode(t, e.post(emulator.PushAddTagPath, replace(100, `"Replace":1,`)), 0)
	if got := e.srv.Tags("u"); len(got) != 100 || slices.Contains(got, "old") {
		t.Errorf("after Replace u holds %d tags (old kept: %v)", len(got), slices.Contains(got, "old"))
	}
	for extra, code := range map[string]int{
		`"Replace":0,`:   90032, // 11 tags without Replace
		`"Replace":2,`:   90001,
		`"Replace":"1",`: 90001,
		`"replace":1,`:   90001,
	} {
		wantCode(t, e.post(emulator.PushAddTagPath, replace(11, extra)), code)
	}
	wantCode(t, e.post(emulator.AddTagPath, replace(11, `"Replace":1,`)), 90032) // all_member_push has no Replace: an unknown key
}

// TestAccountsBodies: get and clear of both families take 1 to 100 distinct
// valid accounts, strictly; a clear's body is counted as a removal's.
func TestAccountsBodies(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("u", i)
	}
	for _, path := range []string{emulator.GetTagPath, emulator.RemoveAllTagsPath, emulator.PushGetTagPath, emulator.PushClearAllTagsPath} {
		for body, code := range map[string]int{
			accountsBody("u1", "u1"):          90001,
			accountsBody(""):                  90001,
			accountsBody():                    90001,
			`{"to_account":["u1"]}`:           90001,
			accountsBody(many...):             90018,
			accountsBody(many[:100]...):       0,
			userTags(accounts("u", 1)...):     90001,
			`{"To_Account":["u1"],"Tags":[]}`: 0, // unknown keys are ignored
		} {
			if r := e.post(path, body); r.resp.ErrorCode != code {
				t.Errorf("%s %.40s: got %s, want %d", path, body, r.outcome(), code)
			}
		}
	}
	if st := e.srv.Stats(); st.DuplicateAccountCalls != 2 || st.MaxAccountsPerCall != 101 {
		t.Errorf("stats %+v: want the two clears' duplicates, 101 accounts seen", st)
	}
}

// TestRatePerAPI: each API has its own window, the families' too: Rate calls
// of all_member_push's remove leave timpush's remove all of its own.
func TestRatePerAPI(t *testing.T) {
	e := newEnv(t, emulator.Config{Rate: 3})
	e.srv.Seed(accounts("u", 1))
	start := time.Now()
	var got []string
	for _, path := range []string{emulator.RemoveTagPath, emulator.PushRemoveTagPath, emulator.PushClearAllTagsPath} {
		body := userTags(accounts("u", 1)...)
		if path == emulator.PushClearAllTagsPath {
			body = accountsBody("u0")
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		codes := map[int]int{}
		for range 4 {
			wg.Go(func() {
				r := e.post(path, body)
				mu.Lock()
				codes[r.resp.ErrorCode]++
				mu.Unlock()
			})
		}
		wg.Wait()
		got = append(got, fmt.Sprintf("%d ok, %d refused", codes[0], codes[emulator.CodeRateLimited]))
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Skip("too slow to test a one-second window")
	}
	if !slices.Equal(got, []string{"3 ok, 1 refused", "3 ok, 1 refused", "3 ok, 1 refused"}) {
		t.Errorf("per API: %v, want 3 accepted and 1 refused in each", got)
	}
	if st := e.srv.Stats(); st.MaxAcceptedPerSecond != 3 || st.Refused != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestSetAPI: a family switched off answers 90045 on its every API (the
// Push service's error page, 1047/74196: "Push notification feature for all
// users/Tag/single push is not enabled"), the other family still works:
// what `removetag check` tells apart.
func TestSetAPI(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	get := map[imapi.API]string{imapi.AllMemberPush: emulator.GetTagPath, imapi.TimPush: emulator.PushGetTagPath}
	for _, off := range []imapi.API{imapi.AllMemberPush, imapi.TimPush} {
		e.srv.SetAPI(off, false)
		for api, path := range get {
			want := 0
			if api == off {
				want = 90045
			}
			wantCode(t, e.post(path, accountsBody(e.cfg.Admin)), want)
		}
		e.srv.SetAPI(off, true)
	}
	e.srv.SetAPI(imapi.TimPush, false)
	for _, path := range []string{emulator.PushRemoveTagPath, emulator.PushAddTagPath} {
		wantCode(t, e.post(path, userTags(accounts("u", 1)...)), 90045)
	}
	wantCode(t, e.post(emulator.PushClearAllTagsPath, accountsBody("u0")), 90045)
}
