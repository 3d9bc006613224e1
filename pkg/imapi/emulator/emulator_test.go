package emulator_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// env is an emulator with a client that signs as its admin.
type env struct {
	t   testing.TB
	srv *emulator.Server
	cfg emulator.Config
	sig string
	hc  *http.Client
}

// newEnv starts an emulator. Unless cfg sets a Rate, calls are not rate-limited,
// since tests fire them fast.
func newEnv(t testing.TB, cfg emulator.Config) *env {
	t.Helper()
	if cfg.Rate == 0 {
		cfg.Rate = -1
	}
	srv := emulator.NewServer(cfg)
	t.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	e := &env{t: t, srv: srv, cfg: srv.Config(), hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	e.sig = e.genSig(e.cfg.Key, e.cfg.Admin, 3600)
	return e
}

func (e *env) genSig(key, identifier string, expire int) string {
	e.t.Helper()
	sig, err := tencentyun.GenUserSig(e.cfg.SDKAppID, key, identifier, expire)
	if err != nil {
		e.t.Fatal(err)
	}
	return sig
}

// query returns valid URL parameters.
func (e *env) query() url.Values {
	return url.Values{
		"sdkappid":    {fmt.Sprint(e.cfg.SDKAppID)},
		"identifier":  {e.cfg.Admin},
		"usersig":     {e.sig},
		"random":      {"4294967295"},
		"contenttype": {"json"},
	}
}

// result is what a client got for one call.
type result struct {
	status int // 0 after a transport error
	body   string
	resp   response
	err    error
}

// response is the JSON answer of the API.
type response struct {
	ActionStatus string
	ErrorCode    int
	ErrorInfo    string
	UserTags     []records.Record
	ErrorList    []struct {
		Account   string `json:"To_Account"`
		ErrorCode int
		ErrorInfo string
	}
}

// outcome names the result for comparisons.
func (r result) outcome() string {
	switch {
	case r.err != nil:
		return "error"
	case r.status != http.StatusOK:
		return fmt.Sprint("http", r.status)
	}
	return fmt.Sprint("code", r.resp.ErrorCode)
}

func (e *env) do(ctx context.Context, method, path string, q url.Values, body string) result {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL()+path+"?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{err: err}
	}
	r := result{status: resp.StatusCode, body: string(b)}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &r.resp); err != nil {
			e.t.Fatalf("answer %q: %v", b, err)
		}
		if want := map[bool]string{true: "OK", false: "FAIL"}[r.resp.ErrorCode == 0]; r.resp.ActionStatus != want {
			e.t.Errorf("answer %q: ActionStatus is not %s", b, want)
		}
	}
	return r
}

// remove calls im_remove_tag with valid parameters.
func (e *env) remove(body string) result {
	e.t.Helper()
	return e.do(context.Background(), http.MethodPost, emulator.RemoveTagPath, e.query(), body)
}

// userTags returns an im_remove_tag body.
func userTags(recs ...records.Record) string {
	b, err := json.Marshal(map[string]any{"UserTags": recs})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// accounts returns n records of one tag "t" for accounts prefix0, prefix1, ...
func accounts(prefix string, n int) []records.Record {
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{Account: fmt.Sprint(prefix, i), Tags: []string{"t"}}
	}
	return recs
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.err != nil || r.status != http.StatusOK || r.resp.ErrorCode != code {
		t.Fatalf("got %s (err %v, body %q), want code %d", r.outcome(), r.err, r.body, code)
	}
}

func TestConfigDefaults(t *testing.T) {
	s := emulator.NewServer(emulator.Config{})
	defer s.Close()
	c := s.Config()
	if c.SDKAppID != 1400000000 || c.Key != "emulator-secret-key" || c.Admin != "administrator" ||
		c.Rate != imapi.MaxCallsPerSecond || c.RateLimitCode != emulator.CodeRateLimited || c.Seed == 0 || c.Now == nil {
		t.Errorf("defaults: %+v", c)
	}
	s.SetLatency(time.Millisecond, 2*time.Millisecond)
	s.SetFaults(emulator.Faults{Drop: 0.5})
	if c := s.Config(); c.Latency != time.Millisecond || c.Jitter != 2*time.Millisecond || c.Faults.Drop != 0.5 {
		t.Errorf("Config after SetLatency, SetFaults: %+v", c)
	}
}

func TestStore(t *testing.T) {
	s := emulator.NewServer(emulator.Config{})
	defer s.Close()
	s.Seed([]records.Record{{Account: "u1", Tags: []string{"b", "a"}}, {Account: "u2", Tags: []string{"x"}}})
	s.Seed([]records.Record{{Account: "u1", Tags: []string{"c", "a"}}, {Account: "u3"}})
	if got := s.Tags("u1"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Tags(u1) = %q", got)
	}
	if got := s.TagCount(); got != 4 {
		t.Errorf("TagCount = %d, want 4", got)
	}
	s.Tags("u1")[0] = "changed"
	if got := s.Tags("u1"); got[0] != "a" {
		t.Errorf("Tags returned the store's slice")
	}
	s.SetTags("u1", "z")
	s.SetTags("u2")
	if got := s.Tags("u1"); !slices.Equal(got, []string{"z"}) {
		t.Errorf("Tags(u1) after SetTags = %q", got)
	}
	if got := s.Tags("u2"); len(got) != 0 {
		t.Errorf("Tags(u2) after SetTags() = %q", got)
	}
	if got := s.TagCount(); got != 1 {
		t.Errorf("TagCount = %d, want 1", got)
	}
}

func TestRemoveOK(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	e.srv.Seed([]records.Record{
		{Account: "u1", Tags: []string{"a", "b", "c"}},
		{Account: "u2", Tags: []string{"a", "x"}},
		{Account: "u3", Tags: []string{"a"}},
	})
	r := e.remove(userTags(
		records.Record{Account: "u1", Tags: []string{"a", "b"}},
		records.Record{Account: "u2", Tags: []string{"a", "absent"}},
		records.Record{Account: "nobody", Tags: []string{"a"}},
	))
	wantCode(t, r, 0)
	if r.resp.ErrorInfo != "" {
		t.Errorf("ErrorInfo = %q", r.resp.ErrorInfo)
	}
	for acc, want := range map[string][]string{"u1": {"c"}, "u2": {"x"}, "u3": {"a"}, "nobody": nil} {
		if got := e.srv.Tags(acc); !slices.Equal(got, want) {
			t.Errorf("Tags(%s) = %q, want %q", acc, got, want)
		}
	}
	if got := e.srv.TagCount(); got != 3 {
		t.Errorf("TagCount = %d, want 3", got)
	}
	st := e.srv.Stats()
	if st.Requests != 1 || st.Applied != 1 || st.AccountsApplied != 3 || st.Codes[0] != 1 || st.MaxAccountsPerCall != 3 {
		t.Errorf("stats: %+v", st)
	}
}

func TestURLValidation(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	other := emulator.Config{SDKAppID: 1400000001}
	tests := []struct {
		name   string
		method string
		path   string
		change func(url.Values)
		status int // HTTP status if not 200
		code   int
	}{
		{name: "valid", change: func(url.Values) {}, code: 0},
		{name: "GET", method: http.MethodGet, status: http.StatusMethodNotAllowed},
		{name: "unknown path", path: "/v4/all_member_push/im_remove_tags", status: http.StatusNotFound},
		{name: "trailing slash", path: emulator.RemoveTagPath + "/", status: http.StatusNotFound},
		{name: "no sdkappid", change: func(q url.Values) { q.Del("sdkappid") }, code: 60012},
		{name: "sdkappid not a number", change: func(q url.Values) { q.Set("sdkappid", "abc") }, code: 60006},
		{name: "other sdkappid", change: func(q url.Values) { q.Set("sdkappid", "1400000001") }, code: 70020},
		{name: "no identifier", change: func(q url.Values) { q.Del("identifier") }, code: 60002},
		{name: "no random", change: func(q url.Values) { q.Del("random") }, code: 60002},
		{name: "random over 32 bits", change: func(q url.Values) { q.Set("random", "4294967296") }, code: 60002},
		{name: "random negative", change: func(q url.Values) { q.Set("random", "-1") }, code: 60002},
		{name: "no contenttype", change: func(q url.Values) { q.Del("contenttype") }, code: 60002},
		{name: "contenttype xml", change: func(q url.Values) { q.Set("contenttype", "xml") }, code: 60002},
		{name: "no usersig", change: func(q url.Values) { q.Del("usersig") }, code: 70002},
		{name: "garbage usersig", change: func(q url.Values) { q.Set("usersig", "garbage") }, code: 70003},
		{name: "usersig not zlib", change: func(q url.Values) { q.Set("usersig", "aGVsbG8_") }, code: 70003},
		{name: "usersig of another key", change: func(q url.Values) { q.Set("usersig", e.genSig("wrong-key", e.cfg.Admin, 3600)) }, code: 70009},
		{name: "usersig of another identifier", change: func(q url.Values) { q.Set("usersig", e.genSig(e.cfg.Key, "bob", 3600)) }, code: 70013},
		{name: "usersig of another sdkappid", change: func(q url.Values) {
			sig, _ := tencentyun.GenUserSig(other.SDKAppID, e.cfg.Key, e.cfg.Admin, 3600)
			q.Set("usersig", sig)
		}, code: 70014},
		{name: "identifier not admin", change: func(q url.Values) {
			q.Set("identifier", "bob")
			q.Set("usersig", e.genSig(e.cfg.Key, "bob", 3600))
		}, code: 60010},
		{name: "not admin and usersig of another key", change: func(q url.Values) {
			q.Set("identifier", "bob")
			q.Set("usersig", e.genSig("wrong-key", "bob", 3600))
		}, code: 70009},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.srv.SetTags("u1", "a")
			q := e.query()
			if tt.change != nil {
				tt.change(q)
			}
			method, path := cmp.Or(tt.method, http.MethodPost), cmp.Or(tt.path, emulator.RemoveTagPath)
			r := e.do(context.Background(), method, path, q, userTags(records.Record{Account: "u1", Tags: []string{"a"}}))
			if tt.status != 0 {
				if r.status != tt.status {
					t.Fatalf("got %s, want HTTP %d", r.outcome(), tt.status)
				}
			} else {
				wantCode(t, r, tt.code)
			}
			if removed := len(e.srv.Tags("u1")) == 0; removed != (tt.code == 0 && tt.status == 0) {
				t.Errorf("tags removed: %v", removed)
			}
		})
	}
	st := e.srv.Stats()
	if st.HTTPStatus[404] != 2 || st.HTTPStatus[405] != 1 || st.Codes[60002] != 6 || st.Requests != int64(len(tests)) {
		t.Errorf("stats: %+v", st)
	}
}

func TestBodyValidation(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	long := func(n int) string { return strings.Repeat("x", n) }
	tagsN := func(n int) string {
		tags := make([]string, n)
		for i := range tags {
			tags[i] = fmt.Sprint("t", i)
		}
		tags[0] = "a"
		b, _ := json.Marshal(tags)
		return string(b)
	}
	tests := []struct {
		name, body string
		code       int
	}{
		{"valid", `{"UserTags":[{"To_Account":"u1","Tags":["a"]}]}`, 0},
		{"valid with spaces and unknown field", ` { "UserTags" : [ { "To_Account" : "u1" , "Tags" : [ "a" ] , "X" : 1 } ] , "Y" : null } `, 0},
		{"32-byte account, 50-byte tag", `{"UserTags":[{"To_Account":"u1","Tags":["a"]},{"To_Account":"` + long(32) + `","Tags":["` + long(50) + `"]}]}`, 0},
		{"UTF-8 tag of 48 bytes", `{"UserTags":[{"To_Account":"u1","Tags":["a","` + strings.Repeat("标签", 8) + `"]}]}`, 0},
		{"100 tags", `{"UserTags":[{"To_Account":"u1","Tags":` + tagsN(100) + `}]}`, 0},
		{"empty body", ``, 90001},
		{"not JSON", `UserTags=u1`, 90001},
		{"truncated", `{"UserTags":[{"To_Account":"u1","Tags":["a"]}]`, 90001},
		{"trailing data", `{"UserTags":[{"To_Account":"u1","Tags":["a"]}]} {}`, 90001},
		{"array", `[{"To_Account":"u1","Tags":["a"]}]`, 90001},
		{"null", `null`, 90001},
		{"no UserTags", `{"Tags":["a"]}`, 90001},
		{"lowercase key", `{"usertags":[{"To_Account":"u1","Tags":["a"]}]}`, 90001},
		{"UserTags null", `{"UserTags":null}`, 90001},
		{"UserTags object", `{"UserTags":{"To_Account":"u1","Tags":["a"]}}`, 90001},
		{"UserTags empty", `{"UserTags":[]}`, 90001},
		{"element not object", `{"UserTags":["u1"]}`, 90001},
		{"no To_Account", `{"UserTags":[{"Tags":["a"]}]}`, 90001},
		{"to_account lowercase", `{"UserTags":[{"to_account":"u1","Tags":["a"]}]}`, 90001},
		{"To_Account number", `{"UserTags":[{"To_Account":12,"Tags":["a"]}]}`, 90001},
		{"To_Account null", `{"UserTags":[{"To_Account":null,"Tags":["a"]}]}`, 90001},
		{"To_Account empty", `{"UserTags":[{"To_Account":"","Tags":["a"]}]}`, 90001},
		{"To_Account 33 bytes", `{"UserTags":[{"To_Account":"` + long(33) + `","Tags":["a"]}]}`, 90001},
		{"no Tags", `{"UserTags":[{"To_Account":"u1"}]}`, 90001},
		{"Tags string", `{"UserTags":[{"To_Account":"u1","Tags":"a"}]}`, 90001},
		{"Tags null", `{"UserTags":[{"To_Account":"u1","Tags":null}]}`, 90001},
		{"Tags empty", `{"UserTags":[{"To_Account":"u1","Tags":[]}]}`, 90001},
		{"tag empty", `{"UserTags":[{"To_Account":"u1","Tags":["a",""]}]}`, 90001},
		{"tag null", `{"UserTags":[{"To_Account":"u1","Tags":[null]}]}`, 90001},
		{"tag number", `{"UserTags":[{"To_Account":"u1","Tags":[1]}]}`, 90001},
		{"tag 51 bytes", `{"UserTags":[{"To_Account":"u1","Tags":["` + long(51) + `"]}]}`, 90001},
		{"101 tags", `{"UserTags":[{"To_Account":"u1","Tags":` + tagsN(101) + `}]}`, 90001},
		{"second element bad", `{"UserTags":[{"To_Account":"u1","Tags":["a"]},{"To_Account":"u2"}]}`, 90001},
		{"101 accounts", userTags(accounts("v", 101)...), 90018},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.srv.SetTags("u1", "a")
			wantCode(t, e.remove(tt.body), tt.code)
			if removed := len(e.srv.Tags("u1")) == 0; removed != (tt.code == 0) {
				t.Errorf("tags removed: %v", removed)
			}
		})
	}
	if st := e.srv.Stats(); st.Applied != 5 || st.MaxAccountsPerCall != 101 || st.DuplicateAccountCalls != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestAccountLimit(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	e.srv.Seed(accounts("u", 101))
	wantCode(t, e.remove(userTags(accounts("u", 101)...)), emulator.CodeTooManyAccounts)
	if got := e.srv.TagCount(); got != 101 {
		t.Fatalf("TagCount = %d after 90018, want 101", got)
	}
	wantCode(t, e.remove(userTags(accounts("u", 100)...)), 0)
	if got := e.srv.TagCount(); got != 1 {
		t.Fatalf("TagCount = %d, want 1", got)
	}
	if st := e.srv.Stats(); st.MaxAccountsPerCall != 101 || st.AccountsApplied != 100 {
		t.Errorf("stats: %+v", st)
	}
}

func TestDuplicateAccount(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	e.srv.SetTags("u1", "a", "b")
	body := userTags(
		records.Record{Account: "u1", Tags: []string{"a"}},
		records.Record{Account: "u2", Tags: []string{"a"}},
		records.Record{Account: "u1", Tags: []string{"b"}},
	)
	wantCode(t, e.remove(body), emulator.CodeBadJSON)
	wantCode(t, e.remove(body), emulator.CodeBadJSON)
	if got := e.srv.Tags("u1"); len(got) != 2 {
		t.Errorf("Tags(u1) = %q, want both", got)
	}
	if st := e.srv.Stats(); st.DuplicateAccountCalls != 2 || st.Applied != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestExpiredSig(t *testing.T) {
	var skew atomic.Int64
	e := newEnv(t, emulator.Config{Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	cached := e.genSig(e.cfg.Key, e.cfg.Admin, 60)
	fresh := e.genSig(e.cfg.Key, e.cfg.Admin, 60)
	call := func(sig string) result {
		q := e.query()
		q.Set("usersig", sig)
		return e.do(context.Background(), http.MethodPost, emulator.RemoveTagPath, q, userTags(accounts("u", 1)...))
	}
	wantCode(t, call(cached), 0) // verified and cached
	wantCode(t, call(cached), 0)
	skew.Store(int64(2 * time.Minute))
	wantCode(t, call(cached), emulator.CodeSigExpired)
	wantCode(t, call(fresh), emulator.CodeSigExpired)
	wrongKey := e.genSig("wrong-key", e.cfg.Admin, 60)
	wantCode(t, call(wrongKey), emulator.CodeSigExpired) // expiry is judged before the HMAC
	skew.Store(0)
	wantCode(t, call(cached), 0)
	wantCode(t, call(wrongKey), 70009)
}

func TestScript(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	e.srv.Script(
		emulator.Fault{Drop: true},
		emulator.Fault{Drop: true, Apply: true},
		emulator.Fault{HTTPStatus: http.StatusBadGateway},
		emulator.Fault{Code: emulator.CodeInternal},
		emulator.Fault{Code: emulator.CodeRateLimited},
		emulator.Fault{Code: emulator.CodeSigExpired, Delay: 50 * time.Millisecond},
		emulator.Fault{Delay: 50 * time.Millisecond},
		emulator.Fault{},
		emulator.Fault{Code: emulator.CodeInternal}, // for an invalid request
	)
	tests := []struct {
		name    string
		outcome string
		applied bool
		slow    bool
	}{
		{"drop", "error", false, false},
		{"drop after apply", "error", true, false},
		{"bad gateway", "http502", false, false},
		{"internal", "code91000", false, false},
		{"rate limited", "code60007", false, false},
		{"expired with delay", "code70001", false, true},
		{"delay", "code0", true, true},
		{"zero fault", "code0", true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := fmt.Sprint("u", i)
			e.srv.SetTags(acc, "a", "b")
			start := time.Now()
			r := e.remove(userTags(records.Record{Account: acc, Tags: []string{"a"}}))
			if r.outcome() != tt.outcome {
				t.Fatalf("got %s (%v %q), want %s", r.outcome(), r.err, r.body, tt.outcome)
			}
			if tt.outcome == "http502" && (!strings.Contains(r.body, "502 Bad Gateway") || !strings.HasPrefix(r.body, "<html>")) {
				t.Errorf("502 body: %q", r.body)
			}
			if applied := len(e.srv.Tags(acc)) == 1; applied != tt.applied {
				t.Errorf("applied = %v, want %v", applied, tt.applied)
			}
			if slow := time.Since(start) >= 50*time.Millisecond; tt.slow && !slow {
				t.Errorf("answered in %v, want at least 50ms", time.Since(start))
			}
		})
	}
	q := e.query()
	q.Set("usersig", "garbage")
	r := e.do(context.Background(), http.MethodPost, emulator.RemoveTagPath, q, "not JSON")
	wantCode(t, r, emulator.CodeInternal)
	wantCode(t, e.remove(userTags(accounts("w", 1)...)), 0) // script used up
	st := e.srv.Stats()
	want := emulator.Stats{
		Requests: 10, Applied: 4, AccountsApplied: 4, Dropped: 2, MaxAccountsPerCall: 1,
		Paths:      map[string]int64{emulator.RemoveTagPath: 10},
		Codes:      map[int]int64{0: 3, 91000: 2, 60007: 1, 70001: 1},
		HTTPStatus: map[int]int64{502: 1},
	}
	st.MaxPerSecond, st.MaxAcceptedPerSecond = 0, 0 // timing; a scripted 60007 is not a refusal: Refused stays 0
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("stats:\n got %+v\nwant %+v", st, want)
	}
}

func TestRandomFaults(t *testing.T) {
	const n = 2000
	faults := emulator.Faults{Drop: .05, DropAfterApply: .05, BadGateway: .05, Internal: .05, RateLimit: .05, Expired: .05}
	run := func(seed int64, calls int) ([]string, emulator.Stats) {
		e := newEnv(t, emulator.Config{Seed: seed, Faults: faults})
		outcomes := make([]string, calls)
		body := userTags(records.Record{Account: "u", Tags: []string{"a"}})
		for i := range outcomes {
			outcomes[i] = e.remove(body).outcome()
		}
		return outcomes, e.srv.Stats()
	}
	first, st := run(42, n)
	again, _ := run(42, 500)
	if !slices.Equal(first[:500], again) {
		t.Error("two runs with the same seed differ")
	}
	other, _ := run(43, 200)
	if slices.Equal(first[:200], other) {
		t.Error("runs with different seeds are the same")
	}
	// The k-th fault hits when the ones before it miss: p(1-p)^(k-1).
	got := []int64{
		st.Dropped - (st.Applied - st.Codes[0]),
		st.Applied - st.Codes[0],
		st.HTTPStatus[502],
		st.Codes[emulator.CodeInternal],
		st.Codes[emulator.CodeRateLimited],
		st.Codes[emulator.CodeSigExpired],
	}
	for k, g := range got {
		want := n * .05 * math.Pow(.95, float64(k))
		if math.Abs(float64(g)-want) > 4*math.Sqrt(want) {
			t.Errorf("fault %d: %d hits, want about %.0f", k, g, want)
		}
	}
	if st.Requests != n || st.Dropped+st.HTTPStatus[502]+sumCodes(st) != n {
		t.Errorf("stats do not add up: %+v", st)
	}
}

func sumCodes(st emulator.Stats) int64 {
	var n int64
	for _, c := range st.Codes {
		n += c
	}
	return n
}

func TestSpike(t *testing.T) {
	e := newEnv(t, emulator.Config{Faults: emulator.Faults{Spike: 1, SpikeLatency: 50 * time.Millisecond}})
	start := time.Now()
	wantCode(t, e.remove(userTags(accounts("u", 1)...)), 0)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered in %v, want at least 50ms", d)
	}
	e.srv.SetFaults(emulator.Faults{})
	start = time.Now()
	wantCode(t, e.remove(userTags(accounts("u", 1)...)), 0)
	if d := time.Since(start); d >= 50*time.Millisecond {
		t.Errorf("answered in %v without a spike", d)
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		name string
		cfg  emulator.Config
		rate int
		code int
		info string
	}{
		// The text of 60007 in the Chat error code table (server-side public error codes).
		{"default code", emulator.Config{Rate: 5}, 5, emulator.CodeRateLimited, "REST API call frequency exceeds the limit."},
		{"SDKAppID code", emulator.Config{Rate: 3, RateLimitCode: emulator.CodeAppRateLimited}, 3, emulator.CodeAppRateLimited, "request frequency over limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg)
			e.srv.Seed(accounts("u", 20))
			fire := func(from, to int) (ok, limited int) {
				var wg sync.WaitGroup
				var okN, limN atomic.Int64
				for i := from; i < to; i++ {
					wg.Go(func() {
						r := e.remove(userTags(accounts("u", 20)[i]))
						switch r.outcome() {
						case "code0":
							okN.Add(1)
						case fmt.Sprint("code", tt.code):
							limN.Add(1)
							if r.resp.ErrorInfo != tt.info || r.resp.ActionStatus != "FAIL" {
								t.Errorf("refusal answered %q %q, want FAIL %q", r.resp.ActionStatus, r.resp.ErrorInfo, tt.info)
							}
						default:
							t.Errorf("got %s", r.outcome())
						}
					})
				}
				wg.Wait()
				return int(okN.Load()), int(limN.Load())
			}
			start := time.Now()
			ok, limited := fire(0, 10)
			if time.Since(start) > 500*time.Millisecond {
				t.Skip("too slow to test a one-second window")
			}
			if ok != tt.rate || limited != 10-tt.rate {
				t.Errorf("%d accepted, %d limited; want %d, %d", ok, limited, tt.rate, 10-tt.rate)
			}
			if got := e.srv.TagCount(); got != 20-tt.rate {
				t.Errorf("TagCount = %d, want %d", got, 20-tt.rate)
			}
			st := e.srv.Stats()
			if st.MaxPerSecond < 10 || st.Codes[tt.code] != int64(10-tt.rate) || st.Refused != int64(10-tt.rate) || st.MaxAcceptedPerSecond != tt.rate {
				t.Errorf("stats: %+v; want %d refused, at most %d accepted in a second", st, 10-tt.rate, tt.rate)
			}
			time.Sleep(time.Second + 50*time.Millisecond - time.Since(start))
			if ok, _ := fire(10, 10+tt.rate); ok != tt.rate {
				t.Errorf("after a second: %d accepted, want %d", ok, tt.rate)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	e := newEnv(t, emulator.Config{Latency: 40 * time.Millisecond})
	start := time.Now()
	wantCode(t, e.remove(userTags(accounts("u", 1)...)), 0)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("answered in %v, want at least 40ms", d)
	}

	// A client that gives up waiting: the call was applied, nothing is answered.
	e.srv.SetLatency(time.Second, 10*time.Millisecond)
	e.srv.SetTags("slow", "a")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	r := e.do(ctx, http.MethodPost, emulator.RemoveTagPath, e.query(), userTags(records.Record{Account: "slow", Tags: []string{"a"}}))
	if r.err == nil {
		t.Fatalf("got %s, want a timeout", r.outcome())
	}
	if got := e.srv.Tags("slow"); len(got) != 0 {
		t.Errorf("Tags(slow) = %q: the call was not applied before the wait", got)
	}
	for deadline := time.Now().Add(2 * time.Second); e.srv.Stats().Canceled != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Canceled = %d, want 1", e.srv.Stats().Canceled)
		}
	}
}

func TestCloseDuringWait(t *testing.T) {
	e := newEnv(t, emulator.Config{Latency: 10 * time.Second})
	done := make(chan result)
	go func() { done <- e.remove(userTags(accounts("u", 1)...)) }()
	for e.srv.Stats().Requests == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	e.srv.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if r := <-done; r.err == nil {
		t.Errorf("got %s, want an error", r.outcome())
	}
}

func TestAddAndGetTag(t *testing.T) {
	e := newEnv(t, emulator.Config{Faults: emulator.Faults{Drop: 1}}) // faults touch im_remove_tag only
	post := func(path, body string) result {
		return e.do(context.Background(), http.MethodPost, path, e.query(), body)
	}
	wantCode(t, post(emulator.AddTagPath, userTags(records.Record{Account: "u1", Tags: []string{"b", "a"}})), 0)
	wantCode(t, post(emulator.AddTagPath, `{"UserTags":[]}`), 90001)
	r := post(emulator.GetTagPath, `{"To_Account":["u1","u2"]}`)
	wantCode(t, r, 0)
	want := []records.Record{{Account: "u1", Tags: []string{"a", "b"}}, {Account: "u2", Tags: []string{}}}
	if fmt.Sprint(r.resp.UserTags) != fmt.Sprint(want) || !strings.Contains(r.body, `{"To_Account":"u2","Tags":[]}`) {
		t.Errorf("im_get_tag answered %s", r.body)
	}
	many, _ := json.Marshal(map[string][]string{"To_Account": slices.Repeat([]string{"u"}, 101)})
	for body, code := range map[string]int{
		`{"To_Account":"u1"}`:         90001,
		`{"To_Account":[]}`:           90001,
		`{"To_Account":[""]}`:         90001,
		`{"To_Account":[1]}`:          90001,
		`{"UserTags":["u1"]}`:         90001,
		userTags(accounts("u", 1)...): 90001,
		string(many):                  90018,
	} {
		wantCode(t, post(emulator.GetTagPath, body), code)
	}
	q := e.query()
	q.Set("identifier", "bob")
	wantCode(t, e.do(context.Background(), http.MethodPost, emulator.GetTagPath, q, `{"To_Account":["u1"]}`), 70013)
	if st := e.srv.Stats(); st.Applied != 0 || st.Dropped != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestAddTagCap: adding a tag an account holds changes nothing; an add that
// would take an account past 100 tags is refused for it with CodeTagCap:
// all_member_push's im_add_tag refuses the whole call and changes nothing,
// timpush's add_tag names the account in its ErrorList and adds the others'
// tags. An add within the cap, or of tags held only, goes through.
func TestAddTagCap(t *testing.T) {
	for _, family := range []struct {
		path  string
		whole bool
	}{{emulator.AddTagPath, true}, {emulator.PushAddTagPath, false}} {
		t.Run(family.path, func(t *testing.T) {
			e := newEnv(t, emulator.Config{})
			var full []string
			for i := range emulator.MaxTagsPerAccount - 1 {
				full = append(full, fmt.Sprintf("t%03d", i))
			}
			e.srv.SetTags("near", full...)
			e.srv.SetTags("other", "a")
			before := e.srv.TagCount()
			capped := []string{"near:90032"}
			for _, tt := range []struct {
				name   string
				recs   []records.Record
				capped bool
				adds   int // tags added, where the call is not refused whole
			}{
				{"tags held already: a no-op", []records.Record{{Account: "near", Tags: full[:10]}, {Account: "other", Tags: []string{"a"}}}, false, 0},
				{"past the cap", []records.Record{{Account: "other", Tags: []string{"b"}}, {Account: "near", Tags: []string{"x", "y"}}}, true, 1},
				{"up to the cap", []records.Record{{Account: "near", Tags: []string{"x", full[0]}}, {Account: "other", Tags: []string{"c"}}}, false, 2},
				{"at the cap, a held tag: a no-op", []records.Record{{Account: "near", Tags: []string{"x"}}}, false, 0},
				{"at the cap, one more", []records.Record{{Account: "near", Tags: []string{"z"}}}, true, 0},
			} {
				r := e.post(family.path, userTags(tt.recs...))
				adds := tt.adds
				switch {
				case tt.capped && family.whole:
					wantCode(t, r, emulator.CodeTagCap)
					adds = 0
				case tt.capped:
					if wantCode(t, r, 0); !slices.Equal(errorList(r), capped) {
						t.Errorf("%s: answered %s", tt.name, r.body)
					}
				default:
					if wantCode(t, r, 0); len(r.resp.ErrorList) != 0 {
						t.Errorf("%s: answered %s", tt.name, r.body)
					}
				}
				if got := e.srv.TagCount(); got != before+adds {
					t.Errorf("%s: %d tags, want %d", tt.name, got, before+adds)
				}
				before = e.srv.TagCount()
			}
			if n := len(e.srv.Tags("near")); n != emulator.MaxTagsPerAccount {
				t.Errorf("near holds %d tags, want %d", n, emulator.MaxTagsPerAccount)
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	const workers, calls, per = 8, 50, 10
	e := newEnv(t, emulator.Config{Jitter: time.Millisecond})
	e.srv.Seed(accounts("u", workers*calls*per))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				from := (w*calls + c) * per
				recs := make([]records.Record, per)
				for i := range recs {
					recs[i] = records.Record{Account: fmt.Sprint("u", from+i), Tags: []string{"t"}}
				}
				if r := e.remove(userTags(recs...)); r.outcome() != "code0" {
					t.Errorf("got %s", r.outcome())
				}
			}
		})
	}
	wg.Wait()
	st := e.srv.Stats()
	if n := e.srv.TagCount(); n != 0 {
		t.Errorf("TagCount = %d, want 0", n)
	}
	if st.Applied != workers*calls || st.AccountsApplied != workers*calls*per || st.MaxPerSecond < 2 {
		t.Errorf("stats: %+v", st)
	}
}

// BenchmarkRemove measures the emulator's throughput with parallel clients.
func BenchmarkRemove(b *testing.B) {
	e := newEnv(b, emulator.Config{})
	body := userTags(accounts("u", imapi.MaxAccountsPerCall)...)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := e.remove(body); r.outcome() != "code0" {
				b.Errorf("got %s", r.outcome())
			}
		}
	})
}

// TestSetKey: after a rotation, a UserSig of the old key is refused with 70009
// on every API even though it verified (and was cached) before; one of the new
// key verifies.
func TestSetKey(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	call := func(path, sig, body string) result {
		q := e.query()
		q.Set("usersig", sig)
		return e.do(context.Background(), http.MethodPost, path, q, body)
	}
	old := e.sig
	wantCode(t, call(emulator.RemoveTagPath, old, userTags(accounts("u", 1)...)), 0)
	e.srv.SetKey("rotated-key-2")
	if got := e.srv.Config().Key; got != "rotated-key-2" {
		t.Errorf("Config().Key = %q after SetKey", got)
	}
	wantCode(t, call(emulator.RemoveTagPath, old, userTags(accounts("u", 1)...)), 70009)
	wantCode(t, call(emulator.GetTagPath, old, `{"To_Account":["u1"]}`), 70009)
	fresh := e.genSig("rotated-key-2", e.cfg.Admin, 60)
	wantCode(t, call(emulator.RemoveTagPath, fresh, userTags(accounts("u", 1)...)), 0)
	wantCode(t, call(emulator.GetTagPath, fresh, `{"To_Account":["u1"]}`), 0)
}

// TestPushToAllOff: with the feature off every API answers 90045, but only to a
// request whose URL and UserSig are valid (a bad one still gets its own code).
func TestPushToAllOff(t *testing.T) {
	e := newEnv(t, emulator.Config{})
	e.srv.SetPushToAll(false)
	post := func(path, body string) result {
		return e.do(context.Background(), http.MethodPost, path, e.query(), body)
	}
	wantCode(t, post(emulator.RemoveTagPath, userTags(accounts("u", 1)...)), 90045)
	wantCode(t, post(emulator.AddTagPath, userTags(accounts("u", 1)...)), 90045)
	wantCode(t, post(emulator.GetTagPath, `{"To_Account":["u1"]}`), 90045)
	q := e.query()
	q.Set("usersig", e.genSig("wrong-key", e.cfg.Admin, 60))
	wantCode(t, e.do(context.Background(), http.MethodPost, emulator.GetTagPath, q, `{"To_Account":["u1"]}`), 70009)
	e.srv.SetPushToAll(true)
	wantCode(t, post(emulator.GetTagPath, `{"To_Account":["u1"]}`), 0)
}
