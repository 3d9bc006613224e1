package job_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/records"
)

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// httpRequest is an HTTP request as the platform adapters make it.
type httpRequest = trigger.HTTPRequest

// httpAnswer is an HTTP answer as its caller sees it.
type httpAnswer struct {
	StatusCode int
	Headers    map[string]string
	Body       []byte
}

// serveHTTP answers req as the function does: the HTTP semantics of
// pkg/adapters/trigger (bearer token, method, the status of a result or a
// refusal) in front of svc, with the test token.
func serveHTTP(ctx context.Context, svc *job.Service, req httpRequest) httpAnswer {
	return serveHTTPWith(ctx, svc, trigger.HTTPConfig{Token: token}, req)
}

// serveHTTPWith is serveHTTP with cfg.
func serveHTTPWith(ctx context.Context, svc *job.Service, cfg trigger.HTTPConfig, req httpRequest) httpAnswer {
	resp := trigger.NewHTTP(svc, cfg)(ctx, req)
	body, err := json.Marshal(resp.Result)
	if err != nil {
		panic(err)
	}
	return httpAnswer{StatusCode: resp.StatusCode, Headers: resp.Headers, Body: body}
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

func TestHTTP(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *job.Config) { c.MaxBodyBytes = 64 << 10 }})
	recs := e.records("h", 30)
	e.put(s3Bucket, "in/small.csv", encode(t, "csv", recs[20:30]))
	userTags := func(rs []records.Record) []byte { return mustMarshal(map[string][]records.Record{"UserTags": rs}) }

	tests := []struct {
		name    string
		noToken bool // no token configured
		method  string
		headers map[string]string
		body    []byte
		script  []emulator.Fault
		status  int
		result  job.Status // Result.Status
		calls   bool       // whether calls to IM are expected
		header  [2]string
		check   func(t *testing.T, r *job.Result)
	}{
		{name: "no token configured", noToken: true, method: "POST", headers: bearer(token), body: userTags(recs[:1]),
			status: 503, result: trigger.StatusRefused},
		{name: "no token configured beats method and size", noToken: true, method: "GET", body: bytes.Repeat([]byte("x"), 100<<10),
			status: 503, result: trigger.StatusRefused},
		{name: "missing token", method: "POST", body: userTags(recs[:1]), status: 401, result: trigger.StatusRefused,
			header: [2]string{"WWW-Authenticate", `Bearer realm="removetag"`}},
		{name: "wrong token", method: "POST", headers: bearer(token + "x"), body: userTags(recs[:1]), status: 401, result: trigger.StatusRefused},
		{name: "token prefix", method: "POST", headers: bearer(token[:10]), body: userTags(recs[:1]), status: 401, result: trigger.StatusRefused},
		{name: "other scheme", method: "POST", headers: map[string]string{"Authorization": "Basic " + token}, body: userTags(recs[:1]),
			status: 401, result: trigger.StatusRefused},
		{name: "token checked before method", method: "GET", headers: bearer("nope"), status: 401, result: trigger.StatusRefused},
		{name: "method", method: "PATCH", headers: bearer(token), status: 405, result: trigger.StatusRefused, header: [2]string{"Allow", "GET, POST, DELETE"}},
		{name: "too large", method: "POST", headers: bearer(token), body: bytes.Repeat([]byte(" "), 64<<10+1), status: 413, result: trigger.StatusRefused},
		{name: "not JSON", method: "POST", headers: bearer(token), body: []byte("To_Account,a\nu1,b\n"), status: 400, result: job.StatusInvalid},
		{name: "empty", method: "POST", headers: bearer(token), body: nil, status: 400, result: job.StatusInvalid},
		{name: "no records", method: "POST", headers: bearer(token), body: []byte(`{"UserTags":[]}`), status: 400, result: job.StatusInvalid},
		{name: "invalid records", method: "POST", headers: bearer(token),
			body:   []byte(`{"UserTags":[{"To_Account":"h000000","Tags":["a"]},{"To_Account":"","Tags":["a"]},{"To_Account":"x","Tags":[]}]}`),
			status: 400, result: job.StatusInvalid,
			check: func(t *testing.T, r *job.Result) {
				if r.ErrorCount != 2 || len(r.Errors) != 2 || r.Errors[0].Where != "UserTags[1]" || r.Total != 3 {
					t.Errorf("errors = %d %+v, total %d; want UserTags[1] and UserTags[2] of 3", r.ErrorCount, r.Errors, r.Total)
				}
			}},
		{name: "source and records", method: "POST", headers: bearer(token),
			body: []byte(`{"Source":"s3://data/in/small.csv","UserTags":[]}`), status: 400, result: job.StatusInvalid},
		{name: "continuation by HTTP", method: "POST", headers: bearer(token),
			body: []byte(`{"removetag":"continue","Source":"s3://data/in/small.csv","ETag":"x","Chain":1}`), status: 400, result: job.StatusInvalid},
		{name: "UserTags form, lower-case header", method: "post", headers: map[string]string{"authorization": "bearer " + token},
			body: userTags(recs[0:5]), status: 200, result: job.StatusDone, calls: true,
			check: func(t *testing.T, r *job.Result) {
				if r.Total != 5 || r.Succeeded != 5 || r.Pending != 0 {
					t.Errorf("report %+v, want 5 succeeded", r.Report)
				}
				for _, rec := range recs[0:5] {
					if got := e.im.Tags(rec.Account); !slices.Equal(got, []string{"keep"}) {
						t.Errorf("%s holds %v", rec.Account, got)
					}
				}
			}},
		{name: "bulk form", method: "POST", headers: bearer(token),
			body:   []byte(`{"To_Account":["h000005","h000006"],"Tags":["a","b"]}`),
			status: 200, result: job.StatusDone, calls: true,
			check: func(t *testing.T, r *job.Result) {
				if r.Succeeded != 2 || !slices.Equal(e.im.Tags("h000006"), []string{"keep"}) {
					t.Errorf("report %+v; h000006 holds %v", r.Report, e.im.Tags("h000006"))
				}
			}},
		{name: "gzip body", method: "POST", headers: bearer(token), body: gz(userTags(recs[7:9])), status: 200, result: job.StatusDone, calls: true},
		{name: "gzip bomb", method: "POST", headers: bearer(token),
			body:   gz(append(append([]byte(`{"UserTags":[{"To_Account":"h000010","Tags":["a"]}`), bytes.Repeat([]byte(" "), 1<<20)...), "]}"...)),
			status: 400, result: job.StatusInvalid},
		{name: "refused for good", method: "POST", headers: bearer(token), body: userTags(recs[9:10]),
			script: []emulator.Fault{{Code: 70107}}, status: 502, result: job.StatusDone, calls: true,
			check: func(t *testing.T, r *job.Result) {
				if r.Failed != 1 || len(r.Failures) != 1 || r.Failures[0].ErrorCode != 70107 || r.Failures[0].Accounts[0] != "h000009" {
					t.Errorf("report %+v, want h000009 failed with 70107", r.Report)
				}
			}},
		{name: "fatal", method: "POST", headers: bearer(token), body: userTags(recs[10:12]),
			script: []emulator.Fault{{Code: 70009}}, status: 502, result: job.StatusPending, calls: true,
			check: func(t *testing.T, r *job.Result) {
				if r.Failed != 0 || r.Pending != 2 || len(r.PendingUserTags) != 2 || r.StopReason != imapi.StopFatal {
					t.Errorf("report %+v, want the 2 refused records pending (to send again once the key is fixed)", r.Report)
				}
			}},
		{name: "stored file", method: "POST", headers: bearer(token), body: []byte(`{"Source":"s3://data/in/small.csv"}`),
			status: 200, result: job.StatusDone, calls: true,
			check: func(t *testing.T, r *job.Result) {
				if r.Total != 10 || r.Succeeded != 10 || r.ReportKey != prefix+"reports/in/small.csv.report.json" {
					t.Errorf("result %+v", r)
				}
			}},
		{name: "stored file again", method: "POST", headers: bearer(token), body: []byte(`{"Source":"s3://data/in/small.csv"}`),
			status: 200, result: job.StatusSkipped},
		{name: "stored file missing", method: "POST", headers: bearer(token), body: []byte(`{"Source":"s3://data/in/none.csv"}`),
			status: 400, result: job.StatusInvalid},
		{name: "own output", method: "POST", headers: bearer(token), body: []byte(`{"Source":"s3://data/removetag/failed/x.jsonl"}`),
			status: 400, result: job.StatusIgnored},
		{name: "bad source", method: "POST", headers: bearer(token), body: []byte(`{"Source":"ftp://data/x.csv"}`),
			status: 400, result: job.StatusInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := trigger.HTTPConfig{Token: token}
			if tt.noToken {
				cfg.Token = ""
			}
			e.im.Script(tt.script...)
			before := e.calls()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp := serveHTTPWith(ctx, e.service(), cfg, httpRequest{Method: tt.method, Headers: tt.headers, Body: tt.body})
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tt.status, resp.Body)
			}
			if tt.header[0] != "" && resp.Headers[tt.header[0]] != tt.header[1] {
				t.Errorf("%s = %q, want %q", tt.header[0], resp.Headers[tt.header[0]], tt.header[1])
			}
			if bytes.Contains(resp.Body, []byte(token[:12])) {
				t.Errorf("the answer holds the token: %s", resp.Body)
			}
			var r job.Result
			if err := json.Unmarshal(resp.Body, &r); err != nil {
				t.Fatalf("body %s: %v", resp.Body, err)
			}
			if r.Status != tt.result {
				t.Errorf("Status = %q, want %q (%s)", r.Status, tt.result, r.Message)
			}
			if called := e.calls() > before; called != tt.calls {
				t.Errorf("calls made: %v, want %v", called, tt.calls)
			}
			if tt.check != nil {
				tt.check(t, &r)
			}
		})
	}
}

// TestHTTPPending runs an inline job too big for its deadline: 202 with the
// records not done, which sent again finish the job.
func TestHTTPPending(t *testing.T) {
	// 60 calls at 10 calls/s need 6 s; the deadline leaves the job at most 2.7 s
	// (a tenth is kept in reserve), of which decoding 6,000 records takes a few
	// milliseconds, or more than a second on a heavily loaded machine under
	// -race: some records are done, and many are pending, on any machine.
	e := newEnv(t, envOptions{engine: imapi.EngineConfig{Rate: 10}})
	recs := e.records("p", 6000)
	body := mustMarshal(map[string][]records.Record{"UserTags": recs})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp := serveHTTP(ctx, e.service(), httpRequest{Method: "POST", Headers: bearer(token), Body: body})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; %s", resp.StatusCode, clipBody(resp.Body))
	}
	var r job.Result
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != job.StatusPending || r.Total != 6000 || r.Succeeded+r.Failed+r.Pending != r.Total ||
		r.Pending != int64(len(r.PendingUserTags)) || r.Pending == 0 || r.Succeeded == 0 {
		t.Fatalf("result: status %s, total %d, succeeded %d, failed %d, pending %d with %d records listed",
			r.Status, r.Total, r.Succeeded, r.Failed, r.Pending, len(r.PendingUserTags))
	}
	pending := map[string]bool{}
	for _, rec := range r.PendingUserTags {
		pending[rec.Account] = true
	}
	for _, rec := range recs {
		if !pending[rec.Account] && !slices.Equal(e.im.Tags(rec.Account), []string{"keep"}) {
			t.Fatalf("%s is not pending but holds %v", rec.Account, e.im.Tags(rec.Account))
		}
	}
	resp = serveHTTP(context.Background(), e.service(), httpRequest{Method: "POST", Headers: bearer(token),
		Body: mustMarshal(map[string][]records.Record{"UserTags": r.PendingUserTags})})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sending the pending records again: status %d; %s", resp.StatusCode, clipBody(resp.Body))
	}
	if n := e.im.TagCount(); n != len(recs) {
		t.Errorf("%d tags left, want %d (keep)", n, len(recs))
	}
}

// TestDirectAndTimerInline runs inline jobs through the other entry points.
func TestDirectAndTimerInline(t *testing.T) {
	e := newEnv(t, envOptions{})
	recs := e.records("d", 4)
	res, err := e.service().Handle(e.budgetCtx(), job.Direct(mustMarshal(map[string][]records.Record{"UserTags": recs[:2]})))
	if err != nil || res.Status != job.StatusDone || res.Succeeded != 2 {
		t.Fatalf("direct: %v, %+v", err, res)
	}
	res, err = e.service().Handle(e.budgetCtx(), job.Timer(`{"To_Account":["d000002","d000003"],"Tags":["a","b"]}`))
	if err != nil || res.Status != job.StatusDone || res.Succeeded != 2 {
		t.Fatalf("timer: %v, %+v", err, res)
	}
	res, err = e.service().Handle(e.budgetCtx(), job.Direct([]byte(`{"UserTags":[{"To_Account":"d1"}]}`)))
	if err != nil || res.Status != job.StatusInvalid || res.ErrorCount != 1 {
		t.Fatalf("invalid direct: %v, %+v", err, res)
	}
	res, err = e.service().Handle(e.budgetCtx(), job.Direct([]byte(`{"removetag":"explode"}`)))
	if err != nil || res.Status != job.StatusInvalid || !strings.Contains(res.Message, "explode") {
		t.Fatalf("unknown event: %v, %+v", err, res)
	}
	if n := e.im.TagCount(); n != 4 {
		t.Errorf("%d tags left, want 4", n)
	}
}

func mustMarshal(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

func clipBody(b []byte) string {
	if len(b) > 400 {
		return fmt.Sprintf("%s… (%d bytes)", b[:400], len(b))
	}
	return string(b)
}

// tokens is a TokenSource whose token can change, or fail to be read.
type tokens struct {
	mu    sync.Mutex
	token string
	err   error
}

func (s *tokens) HTTPToken(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.err
}

func (s *tokens) set(token string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token, s.err = token, err
}

// TestHTTPTokenSource reads the token at run time: a rotated token is taken
// without a new service, and one that cannot be read is answered 503 with
// nothing done.
func TestHTTPTokenSource(t *testing.T) {
	src := &tokens{token: token}
	e := newEnv(t, envOptions{})
	recs := e.records("k", 3)
	body := mustMarshal(map[string][]records.Record{"UserTags": recs})
	const rotated = "rotated-token-0123456789abcdef"
	steps := []struct {
		name   string
		token  string
		err    error
		sent   string
		status int
	}{
		{"current token", token, nil, token, http.StatusOK},
		{"old token after a rotation", rotated, nil, token, http.StatusUnauthorized},
		{"new token after a rotation", rotated, nil, rotated, http.StatusOK},
		{"store down", "", errors.New("secret secretsmanager:removetag: store unavailable"), rotated, http.StatusServiceUnavailable},
		{"no token", "", nil, rotated, http.StatusServiceUnavailable},
	}
	for _, st := range steps {
		src.set(st.token, st.err)
		before := e.calls()
		resp := serveHTTPWith(e.roomyCtx(), e.service(), trigger.HTTPConfig{Tokens: src}, httpRequest{Method: "POST", Headers: bearer(st.sent), Body: body})
		if resp.StatusCode != st.status {
			t.Errorf("%s: status %d, want %d; %s", st.name, resp.StatusCode, st.status, clipBody(resp.Body))
		}
		if called := e.calls() > before; called != (st.status == http.StatusOK) {
			t.Errorf("%s: calls made: %v", st.name, called)
		}
		if strings.Contains(string(resp.Body), rotated) || strings.Contains(string(resp.Body), token) {
			t.Errorf("%s: the answer holds a token: %s", st.name, clipBody(resp.Body))
		}
	}
}

// TestSubmitRefusals holds the typed refusals of a caller's document (job.Submit), the errors the
// HTTP answers 413 and 400 come from: nothing is sent, and the error carries
// the answer.
func TestSubmitRefusals(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *job.Config) { c.MaxBodyBytes, c.MaxInlineRecords = 1<<10, 2 }})
	recs := e.records("r", 3)
	tests := []struct {
		name   string
		body   []byte
		reason error
		status job.Status
		msg    string
	}{
		{"too large", bytes.Repeat([]byte(" "), 1<<10+1), job.ErrTooLarge, job.StatusInvalid, "the body is 1025 bytes, the limit is 1024"},
		{"too many records", mustMarshal(map[string][]records.Record{"UserTags": recs}), job.ErrTooManyRecords, job.StatusInvalid, "more than 2 records"},
		{"continuation", []byte(`{"removetag":"continue","Source":"s3://data/x.csv","ETag":"x","Chain":1}`), job.ErrContinuationRefused, job.StatusInvalid, "direct invocation only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.calls()
			res, err := e.service().Handle(e.budgetCtx(), job.Submit(tt.body, "http"))
			var refused *job.RefusedError
			if res != nil || !errors.As(err, &refused) || !errors.Is(err, tt.reason) {
				t.Fatalf("Submit: %+v, %v; want a refusal for %v", res, err, tt.reason)
			}
			if refused.Result.Status != tt.status || !strings.Contains(refused.Result.Message, tt.msg) || err.Error() != refused.Result.Message {
				t.Errorf("refusal %s %q (error %q), want %s with %q", refused.Result.Status, refused.Result.Message, err, tt.status, tt.msg)
			}
			if e.calls() != before {
				t.Error("calls were made")
			}
		})
	}
	res, err := e.service().Handle(e.budgetCtx(), job.Submit(mustMarshal(map[string][]records.Record{"UserTags": recs[:2]}), "http"))
	if err != nil || res.Status != job.StatusDone || res.Succeeded != 2 {
		t.Errorf("Submit at the limits: %+v, %v", res, err)
	}
}
