package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
)

const testToken = "test-token-0123456789abcdef"

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// tokenSource is a TokenSource with a fixed answer.
type tokenSource struct {
	token string
	err   error
}

func (s tokenSource) HTTPToken(context.Context) (string, error) { return s.token, s.err }

// TestHTTPRefusals holds the order of the checks (token, then method, then
// the service's refusals) and the answer of each: status, headers, a Result
// body saying why, and nothing run.
func TestHTTPRefusals(t *testing.T) {
	tooMany := &job.RefusedError{Reason: job.ErrTooManyRecords, Result: &job.Result{Status: trigger.StatusRefused, Message: "too many records for one request: …"}}
	tests := []struct {
		name    string
		cfg     trigger.HTTPConfig
		req     trigger.HTTPRequest
		submit  error // returned by the service
		status  int
		result  job.Status
		header  [2]string
		message string
		log     string
		called  bool
	}{
		{name: "no token configured beats method and size", req: trigger.HTTPRequest{Method: "GET", Body: bytes.Repeat([]byte("x"), 100)},
			status: 503, result: trigger.StatusRefused, message: "no token is configured (REMOVETAG_HTTP_TOKEN)", log: "no token configured"},
		{name: "token unreadable", cfg: trigger.HTTPConfig{Token: testToken, Tokens: tokenSource{err: errors.New("secret x: store down")}},
			req: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken)}, status: 503, result: trigger.StatusRefused,
			message: "the HTTP token cannot be read now (secret x: store down)", log: `"level":"ERROR"`},
		{name: "token source says none", cfg: trigger.HTTPConfig{Token: testToken, Tokens: tokenSource{}},
			req: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken)}, status: 503, result: trigger.StatusRefused},
		{name: "missing token", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "POST"},
			status: 401, result: trigger.StatusRefused, header: [2]string{"WWW-Authenticate", `Bearer realm="removetag"`}, log: "missing or wrong bearer token"},
		{name: "wrong token", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken + "x")},
			status: 401, result: trigger.StatusRefused},
		{name: "token prefix", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken[:10])},
			status: 401, result: trigger.StatusRefused},
		{name: "other scheme", cfg: trigger.HTTPConfig{Token: testToken},
			req: trigger.HTTPRequest{Method: "POST", Headers: map[string]string{"Authorization": "Basic " + testToken}}, status: 401, result: trigger.StatusRefused},
		{name: "token checked before method", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "GET", Headers: bearer("nope")},
			status: 401, result: trigger.StatusRefused},
		{name: "method", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "PUT", Headers: bearer(testToken)},
			status: 405, result: trigger.StatusRefused, header: [2]string{"Allow", "GET, POST, DELETE"}, message: "method PUT not allowed", log: `"method":"PUT"`},
		{name: "status needs the token", cfg: trigger.HTTPConfig{Token: testToken},
			req: trigger.HTTPRequest{Method: "GET", Query: trigger.Query{"source": "s3://b/k.csv"}}, status: 401, result: trigger.StatusRefused},
		{name: "cancel needs the token", cfg: trigger.HTTPConfig{Token: testToken},
			req: trigger.HTTPRequest{Method: "DELETE", Headers: bearer("nope"), Query: trigger.Query{"source": "s3://b/k.csv"}}, status: 401, result: trigger.StatusRefused},
		{name: "rotated token from the source", cfg: trigger.HTTPConfig{Token: "old-token-0123456789abcdef", Tokens: tokenSource{token: testToken}},
			req: trigger.HTTPRequest{Method: "post", Headers: map[string]string{"authorization": "bearer " + testToken}}, status: 200, result: job.StatusDone, called: true},
		{name: "too large", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken), Body: []byte("{}")},
			submit: &job.RefusedError{Reason: job.ErrTooLarge, Result: &job.Result{Status: trigger.StatusRefused, Message: "the body is 2 bytes, the limit is 1"}},
			status: 413, result: trigger.StatusRefused, message: "the limit is 1", log: `"bytes":2`, called: true},
		{name: "too many records", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken)},
			submit: tooMany, status: 413, result: trigger.StatusRefused, message: "too many records", called: true},
		{name: "continuation", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken)},
			submit: &job.RefusedError{Reason: job.ErrContinuationRefused, Result: &job.Result{Status: job.StatusInvalid, Message: job.ErrContinuationRefused.Error()}},
			status: 400, result: job.StatusInvalid, message: "direct invocation only", called: true},
		{name: "file job failed", cfg: trigger.HTTPConfig{Token: testToken}, req: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken)},
			submit: &job.SourceError{Source: "s3://b/k.csv", Err: errors.New("storage unreachable")},
			status: 502, result: trigger.StatusError, message: "the job could not go on, try again: storage unreachable", called: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeService{}
			if tt.submit != nil {
				fake.result = func(string) (*job.Result, error) { return nil, tt.submit }
			}
			var logs bytes.Buffer
			tt.cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			resp := trigger.NewHTTP(fake, tt.cfg)(context.Background(), tt.req)
			if resp.StatusCode != tt.status || resp.Result.Status != tt.result || !strings.Contains(resp.Result.Message, tt.message) {
				t.Errorf("answer %d %s %q, want %d %s with %q", resp.StatusCode, resp.Result.Status, resp.Result.Message, tt.status, tt.result, tt.message)
			}
			if tt.header[0] != "" && resp.Headers[tt.header[0]] != tt.header[1] {
				t.Errorf("%s = %q, want %q", tt.header[0], resp.Headers[tt.header[0]], tt.header[1])
			}
			if called := len(fake.calls) > 0; called != tt.called {
				t.Errorf("service called: %v, want %v", called, tt.called)
			}
			if tt.log != "" && !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log lacks %s: %s", tt.log, logs.String())
			}
			if tt.status >= 401 && tt.status != 413 && tt.status != 400 && tt.status != 502 &&
				(!strings.Contains(logs.String(), `"trigger":"http"`) || !strings.Contains(logs.String(), fmt.Sprintf(`"status":%d`, tt.status))) {
				t.Errorf("the refusal is not logged with its trigger and status: %s", logs.String())
			}
			if strings.Contains(logs.String(), testToken) {
				t.Errorf("a token in the log: %s", logs.String())
			}
		})
	}
}

// TestHTTPStatusOfResults maps each kind of result to its status.
func TestHTTPStatusOfResults(t *testing.T) {
	fatal := []imapi.Failure{{ErrorCode: 70009, Class: imapi.Fatal}}
	tests := []struct {
		name   string
		result job.Result
		status int
	}{
		{"done", job.Result{Status: job.StatusDone}, 200},
		{"done, records refused for good", job.Result{Status: job.StatusDone, Report: imapi.Report{Counts: imapi.Counts{Failed: 1}}}, 502},
		{"pending", job.Result{Status: job.StatusPending}, 202},
		{"pending after a fatal refusal", job.Result{Status: job.StatusPending, Report: imapi.Report{Failures: fatal}}, 502},
		{"pending after a fatal stop", job.Result{Status: job.StatusPending, Report: imapi.Report{StopReason: imapi.StopFatal}}, 502},
		{"invalid", job.Result{Status: job.StatusInvalid}, 400},
		{"own output", job.Result{Status: job.StatusIgnored}, 400},
		{"file already done", job.Result{Status: job.StatusSkipped}, 200},
		{"file in progress elsewhere", job.Result{Status: job.StatusSkipped, Report: imapi.Report{Counts: imapi.Counts{Pending: 3}}}, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeService{result: func(string) (*job.Result, error) { return &tt.result, nil }}
			resp := trigger.NewHTTP(fake, trigger.HTTPConfig{Token: testToken})(context.Background(),
				trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken), Body: []byte(`{"UserTags":[]}`)})
			if resp.StatusCode != tt.status || resp.Result != &tt.result {
				t.Errorf("status %d, want %d (result %+v)", resp.StatusCode, tt.status, resp.Result)
			}
			if want := `submit http {"UserTags":[]}`; len(fake.calls) != 1 || fake.calls[0] != want {
				t.Errorf("calls %q, want %q", fake.calls, want)
			}
		})
	}
}

// TestHTTPOperations: GET asks the status of jobs and DELETE cancels one,
// each named by the query's source; the answer's status follows the result.
func TestHTTPOperations(t *testing.T) {
	one := []job.Summary{{Key: "k.csv", State: job.JobRunning}}
	tests := []struct {
		name   string
		method string
		query  trigger.Query
		result *job.Result
		call   string // "": the service is not called
		status int
	}{
		{"status of a file", "GET", trigger.Query{"source": "s3://inbox/k.csv"}, &job.Result{Status: job.StatusListed, Summaries: one}, "status http s3://inbox/k.csv", 200},
		{"status of a file with no job", "get", trigger.Query{"source": "s3://inbox/k.csv"}, &job.Result{Status: job.StatusListed}, "status http s3://inbox/k.csv", 404},
		{"status of a folder", "GET", trigger.Query{"source": "cos://b-1250000000/in/"}, &job.Result{Status: job.StatusListed}, "status http cos://b-1250000000/in/", 200},
		{"status of a bucket", "GET", trigger.Query{"source": "s3://inbox"}, &job.Result{Status: job.StatusListed, Summaries: one}, "status http s3://inbox", 200},
		{"status of every bucket", "GET", nil, &job.Result{Status: job.StatusListed, Summaries: one}, "status http ", 200},
		{"source URL-encoded", "GET", trigger.Query{"source": "s3%3A%2F%2Finbox%2Fk.csv"}, &job.Result{Status: job.StatusListed, Summaries: one}, "status http s3://inbox/k.csv", 200},
		{"bad source", "GET", trigger.Query{"source": "b/k.csv"}, nil, "", 400},
		{"status refused by the service", "GET", trigger.Query{"source": "s3://inbox/removetag/x"}, &job.Result{Status: job.StatusInvalid}, "status http s3://inbox/removetag/x", 400},
		{"cancel ended", "DELETE", trigger.Query{"source": "s3://inbox/k.csv"}, &job.Result{Status: job.StatusCanceled}, "cancel http s3://inbox/k.csv", 200},
		{"cancel to be seen", "DELETE", trigger.Query{"source": "s3://inbox/k.csv"}, &job.Result{Status: job.StatusPending}, "cancel http s3://inbox/k.csv", 202},
		{"nothing to cancel", "DELETE", trigger.Query{"source": "s3://inbox/k.csv"}, &job.Result{Status: job.StatusSkipped}, "cancel http s3://inbox/k.csv", 409},
		{"cancel of no such file", "DELETE", trigger.Query{"source": "s3://inbox/k.csv"}, &job.Result{Status: job.StatusInvalid}, "cancel http s3://inbox/k.csv", 400},
		{"cancel of a bucket", "DELETE", trigger.Query{"source": "s3://inbox"}, nil, "", 400},
		{"cancel of nothing named", "DELETE", nil, nil, "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeService{result: func(string) (*job.Result, error) { return tt.result, nil }}
			resp := trigger.NewHTTP(fake, trigger.HTTPConfig{Token: testToken})(context.Background(),
				trigger.HTTPRequest{Method: tt.method, Headers: bearer(testToken), Query: tt.query})
			if resp.StatusCode != tt.status || resp.Result == nil {
				t.Errorf("status %d (%+v), want %d", resp.StatusCode, resp.Result, tt.status)
			}
			if tt.call == "" && len(fake.calls) != 0 || tt.call != "" && (len(fake.calls) != 1 || fake.calls[0] != tt.call) {
				t.Errorf("calls %q, want %q", fake.calls, tt.call)
			}
		})
	}
	t.Run("service error", func(t *testing.T) {
		fake := &fakeService{result: func(string) (*job.Result, error) { return nil, errors.New("storage down") }}
		resp := trigger.NewHTTP(fake, trigger.HTTPConfig{Token: testToken})(context.Background(),
			trigger.HTTPRequest{Method: "GET", Headers: bearer(testToken), Query: trigger.Query{"source": "s3://inbox"}})
		if resp.StatusCode != 502 || resp.Result.Status != trigger.StatusError || !strings.Contains(resp.Result.Message, "storage down") {
			t.Errorf("answer %d %+v", resp.StatusCode, resp.Result)
		}
	})
}

// TestHTTPTimeout bounds the job by one timeout: the sooner of
// HTTPConfig.Timeout and the request's (the gateway's wait).
func TestHTTPTimeout(t *testing.T) {
	tests := []struct {
		name            string
		config, request time.Duration
		want            time.Duration // 0: no deadline
	}{
		{"configured", time.Second, 0, time.Second},
		{"the request's, sooner", time.Hour, time.Second, time.Second},
		{"the configured, sooner", time.Second, time.Hour, time.Second},
		{"the request's alone", 0, time.Second, time.Second},
		{"none", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeService{}
			trigger.NewHTTP(fake, trigger.HTTPConfig{Token: testToken, Timeout: tt.config})(context.Background(),
				trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken), Timeout: tt.request})
			if tt.want == 0 && fake.deadline != 0 || tt.want > 0 && (fake.deadline <= 0 || fake.deadline > tt.want) {
				t.Errorf("deadline in %v, want within %v (0: none)", fake.deadline, tt.want)
			}
		})
	}
}

// TestHandlerReplies runs a Handler over a small platform: each event's
// Reply shapes its answer: the Result by default; an HTTP shape with the
// Result as a JSON body and a JSON Content-Type; answers per request.
func TestHandlerReplies(t *testing.T) {
	shape := func(tag string) trigger.Reply {
		return trigger.HTTPShape(func(r trigger.HTTPReply) any {
			return map[string]any{"shape": tag, "status": r.StatusCode, "headers": r.Headers, "body": r.Body}
		})
	}
	perItem := func(o trigger.Outcome) (any, error) {
		var ids []string
		for _, d := range o.Done {
			ids = append(ids, d.ID+":"+string(d.Result.Status))
		}
		return map[string]any{"items": ids}, nil
	}
	for _, reply := range []string{"result", "gateway", "url", "per item"} {
		t.Run(reply, func(t *testing.T) {
			app := trigger.NewApp(&fakeService{}, trigger.HTTPConfig{Token: testToken})
			h := &trigger.Handler{Dispatcher: trigger.NewDispatcher(app, nil, nil), Platform: trigger.Platform{
				Decode: func(p []byte) trigger.Event {
					switch reply {
					case "result":
						return trigger.Direct(p)
					case "per item":
						ev := trigger.Objects("s3", trigger.Object{Location: loc("s3://inbox/x")}, trigger.Object{Location: loc("s3://inbox/y"), Skip: "no"})
						ev.Reply = perItem
						return ev
					}
					return trigger.Event{Kind: trigger.KindHTTP, Reply: shape(reply), Name: "web",
						HTTP: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken), Body: p}}
				},
			}}
			out, err := h.Invoke(context.Background(), []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			switch reply {
			case "result":
				if !strings.HasPrefix(string(out), `{"Status":"done",`) {
					t.Errorf("answer %s, want the Result", out)
				}
				return
			case "per item":
				if want := `{"items":["s3://inbox/x:done","s3://inbox/y:ignored"]}`; string(out) != want {
					t.Errorf("answer %s, want %s", out, want)
				}
				return
			}
			var got struct {
				Shape, Body string
				Headers     map[string]string
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal(m["shape"], &got.Shape)
			_ = json.Unmarshal(m["body"], &got.Body)
			_ = json.Unmarshal(m["headers"], &got.Headers)
			if got.Shape != reply || !strings.HasPrefix(got.Body, `{"Status":"done",`) ||
				got.Headers["Content-Type"] != "application/json" || string(m["status"]) != "200" {
				t.Errorf("answer %s", out)
			}
		})
	}
}
