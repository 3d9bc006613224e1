package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/internal/redact"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// testKey stands for a secret: it must never show in a log or an answer.
const testKey = "k3y-0f-the-app-that-must-never-show"

// fakeService records its calls and answers from its fields.
type fakeService struct {
	mu       sync.Mutex
	calls    []string
	result   func(call string) (*job.Result, error)
	deadline time.Duration // of the last HTTP call's context
	panics   bool
}

func (f *fakeService) record(call string) (*job.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	if f.panics {
		panic("boom " + testKey)
	}
	if f.result != nil {
		return f.result(call)
	}
	return &job.Result{Status: job.StatusDone}, nil
}

// Handle records "submit VIA DOCUMENT" (and the context's deadline),
// "direct PAYLOAD", "timer MESSAGE", "status VIA LOCATION", "cancel VIA
// LOCATION" or "object LOCATION REGION".
func (f *fakeService) Handle(ctx context.Context, req job.Request) (*job.Result, error) {
	switch req.Kind {
	case job.RequestSubmit:
		if dl, ok := ctx.Deadline(); ok {
			f.deadline = time.Until(dl)
		}
		return f.record("submit " + req.Via + " " + string(req.Document))
	case job.RequestDirect:
		return f.record("direct " + string(req.Document))
	case job.RequestTimer:
		return f.record("timer " + string(req.Document))
	case job.RequestStatus, job.RequestCancel:
		where := ""
		if req.Object.Bucket != "" {
			where = req.Object.String()
		}
		return f.record(string(req.Kind) + " " + req.Via + " " + where)
	}
	return f.record("object " + req.Object.String() + " " + req.Region)
}

func newTestDispatcher(svc trigger.Service) (*trigger.Dispatcher, *bytes.Buffer) {
	var buf bytes.Buffer
	secrets := func() []string { return []string{testKey} }
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), secrets))
	return trigger.NewDispatcher(trigger.NewApp(svc, trigger.HTTPConfig{Token: testToken}), logger, secrets), &buf
}

func loc(s string) storage.Location {
	l, err := storage.ParseLocation(s)
	if err != nil {
		panic(err)
	}
	return l
}

func TestDispatcherRun(t *testing.T) {
	tests := []struct {
		name       string
		ev         trigger.Event
		result     func(string) (*job.Result, error)
		wantCalls  []string
		wantStatus job.Status
		wantErr    string
		wantLog    []string
	}{
		{
			name:       "timer",
			ev:         trigger.Timer("t", `{"To_Account":["a"],"Tags":["x"]}`),
			wantCalls:  []string{`timer {"To_Account":["a"],"Tags":["x"]}`},
			wantStatus: job.StatusDone,
			wantLog:    []string{`"trigger":"timer"`, `"event":"t"`, `"status":"done"`},
		},
		{
			name:       "direct",
			ev:         trigger.Direct([]byte(`{"a":1}`)),
			wantCalls:  []string{`direct {"a":1}`},
			wantStatus: job.StatusDone,
		},
		{
			name:       "one object",
			ev:         trigger.Objects("cos", trigger.Object{Location: loc("cos://in-1250000000/a.csv"), Region: "gz"}),
			wantCalls:  []string{"object cos://in-1250000000/a.csv gz"},
			wantStatus: job.StatusDone,
			wantLog:    []string{`"objects":1`},
		},
		{
			name: "objects summed, skipped ones not run",
			ev: trigger.Objects("s3",
				trigger.Object{Location: loc("s3://inbox/a.csv")},
				trigger.Object{Location: loc("s3://inbox/b.csv"), Skip: "not an upload: ObjectRemoved:Delete"},
				trigger.Object{Location: loc("s3://inbox/c.csv")},
			),
			result: func(call string) (*job.Result, error) {
				if strings.Contains(call, "c.csv") {
					return &job.Result{Status: job.StatusPending, Continued: true}, nil
				}
				return &job.Result{Status: job.StatusDone}, nil
			},
			wantCalls:  []string{"object s3://inbox/a.csv ", "object s3://inbox/c.csv "},
			wantStatus: job.StatusPending,
		},
		{
			name: "an object's error: the others still run, the error names the object, secrets redacted",
			ev:   trigger.Objects("s3", trigger.Object{Location: loc("s3://inbox/a.csv")}, trigger.Object{Location: loc("s3://inbox/b.csv")}),
			result: func(call string) (*job.Result, error) {
				if strings.Contains(call, "a.csv") {
					return nil, errors.New("storage unreachable with key " + testKey)
				}
				return &job.Result{Status: job.StatusDone}, nil
			},
			wantCalls: []string{"object s3://inbox/a.csv ", "object s3://inbox/b.csv "},
			wantErr:   "s3://inbox/a.csv: storage unreachable with key [redacted]",
			wantLog:   []string{`"level":"ERROR"`, `[redacted]`},
		},
		{
			name:       "no objects",
			ev:         trigger.Event{Kind: trigger.KindUpload, Name: "s3"},
			wantStatus: job.StatusInvalid,
		},
		{
			name:       "unknown: invalid, no call, secrets redacted",
			ev:         trigger.Event{Kind: trigger.KindUnknown, Name: "unknown", Problem: "the event is not JSON: " + testKey},
			wantStatus: job.StatusInvalid,
			wantLog:    []string{`"level":"WARN"`, `"trigger":"unknown"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{result: tt.result}
			d, logs := newTestDispatcher(svc)
			res, err := d.Run(context.Background(), tt.ev).Result()
			if fmt.Sprint(svc.calls) != fmt.Sprint(tt.wantCalls) {
				t.Errorf("calls %q, want %q", svc.calls, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if res.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", res.Status, tt.wantStatus)
			}
			out := logs.String()
			if strings.Count(out, `"msg":"invocation"`) != 1 {
				t.Errorf("want one invocation line: %s", out)
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(out, w) {
					t.Errorf("log lacks %s: %s", w, out)
				}
			}
			answer, _ := json.Marshal(res)
			if strings.Contains(out, testKey) || strings.Contains(string(answer), testKey) {
				t.Errorf("a secret leaked: log %s answer %s", out, answer)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	one := &job.Result{Status: job.StatusSkipped}
	if trigger.Aggregate([]*job.Result{one}) != one {
		t.Error("one result is not returned as it is")
	}
	agg := trigger.Aggregate([]*job.Result{
		{Status: job.StatusDone, Source: "a"},
		{Status: job.StatusSkipped},
		{Status: job.StatusIgnored},
	})
	r := trigger.Aggregate([]*job.Result{
		func() *job.Result {
			r := &job.Result{Status: job.StatusDone}
			r.Total, r.Succeeded, r.Calls = 10, 9, 1
			r.Failed = 1
			return r
		}(),
		func() *job.Result { r := &job.Result{Status: job.StatusSkipped}; return r }(),
		func() *job.Result {
			r := &job.Result{Status: job.StatusPending, Continued: true}
			r.Total, r.Pending, r.Calls, r.Retries = 5, 5, 2, 1
			return r
		}(),
	})
	if r.Status != job.StatusPending || r.Total != 15 || r.Succeeded != 9 || r.Failed != 1 || r.Pending != 5 ||
		r.Calls != 3 || r.Retries != 1 || !r.Continued || len(r.Jobs) != 3 {
		t.Errorf("aggregate %+v", r)
	}
	if agg.Status != job.StatusDone {
		t.Errorf("done+skipped+ignored = %s, want done", agg.Status)
	}
}

func TestDispatcherHTTP(t *testing.T) {
	svc := &fakeService{}
	d, logs := newTestDispatcher(svc)
	resp := d.Run(context.Background(), trigger.Event{Kind: trigger.KindHTTP, Name: "apigw",
		HTTP: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken), Body: []byte("{}"), Timeout: 3 * time.Second}}).HTTPAnswer()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	if svc.deadline <= 0 || svc.deadline > 3*time.Second {
		t.Errorf("HTTP job deadline in %v, want within the event's 3 s", svc.deadline)
	}
	if !strings.Contains(logs.String(), `"httpStatus":200`) || !strings.Contains(logs.String(), `"status":"done"`) {
		t.Errorf("log: %s", logs)
	}

	// An HTTP event that could not be read: 400, the service not called.
	svc = &fakeService{}
	d, _ = newTestDispatcher(svc)
	resp = d.Run(context.Background(), trigger.Unknown("apigw", "an API gateway request that cannot be read", []byte(`{"httpMethod":1}`))).HTTPAnswer()
	if resp.StatusCode != http.StatusBadRequest || len(svc.calls) != 0 || !strings.Contains(resp.Result.Message, "cannot be read") {
		t.Errorf("unreadable HTTP event: %d %+v, calls %q", resp.StatusCode, resp.Result, svc.calls)
	}
}

func TestDispatcherPanics(t *testing.T) {
	svc := &fakeService{panics: true}
	d, logs := newTestDispatcher(svc)
	_, err := d.Run(context.Background(), trigger.Direct([]byte("{}"))).Result()
	if err == nil || !strings.Contains(err.Error(), "internal error: boom [redacted]") {
		t.Errorf("error %v", err)
	}
	resp := d.Run(context.Background(), trigger.Event{Kind: trigger.KindHTTP,
		HTTP: trigger.HTTPRequest{Method: "POST", Headers: bearer(testToken)}}).HTTPAnswer()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("HTTP status %d after a panic", resp.StatusCode)
	}
	if strings.Contains(logs.String(), testKey) || !strings.Contains(logs.String(), `"stack"`) {
		t.Errorf("log: %s", logs)
	}
}

func TestProbeAndDescribe(t *testing.T) {
	tests := []struct {
		payload     string
		wantProblem string // "" for an object
		wantKeys    string
	}{
		{`{"b":1,"a":null}`, "", "[a b]"},
		{`  {"x":"y"}  `, "", "[x]"},
		{``, "the event is not JSON: 0 bytes, nothing but white space", ""},
		{`nope`, `the event is not JSON: 4 bytes starting "nope"`, ""},
		{`[1,2]`, `the event is not a JSON object: 5 bytes starting "[1,2]"`, ""},
		{`"str"`, `the event is not a JSON object`, ""},
		{`{"a":`, `the event is not JSON`, ""},
	}
	for _, tt := range tests {
		p, problem := trigger.NewProbe([]byte(tt.payload))
		if tt.wantProblem == "" {
			if p == nil {
				t.Errorf("%q: problem %q", tt.payload, problem)
				continue
			}
			if fmt.Sprint(p.Keys()) != tt.wantKeys {
				t.Errorf("%q: keys %v, want %s", tt.payload, p.Keys(), tt.wantKeys)
			}
			continue
		}
		if p != nil || !strings.HasPrefix(problem, tt.wantProblem) {
			t.Errorf("%q: problem %q, want %q…", tt.payload, problem, tt.wantProblem)
		}
	}

	p, _ := trigger.NewProbe([]byte(`{"s":"v","b":true,"n":null,"o":{}}`))
	if p.String("s") != "v" || p.String("b") != "" || p.Has("n") || !p.Has("o") || p.Has("zz") {
		t.Error("Probe accessors")
	}

	long := `{"k":"` + strings.Repeat("x", 200) + `"}`
	d := trigger.Describe([]byte(long))
	if !strings.HasPrefix(d, "208 bytes starting ") || !strings.Contains(d, "…") || !strings.HasSuffix(d, "keys [k]") {
		t.Errorf("Describe(long) = %s", d)
	}
	if d := trigger.Describe([]byte("\xff\xfe")); !strings.Contains(d, `"\xff\xfe"`) {
		t.Errorf("Describe(binary) = %s", d)
	}
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		body    string
		b64     bool
		want    string
		wantErr bool
	}{
		{"plain", false, "plain", false},
		{"eyJhIjoxfQ==", true, `{"a":1}`, false},
		{"eyJhIjoxfQ", true, `{"a":1}`, false},
		{"_-8", true, "\xff\xef", false},
		{"not base64!", true, "", true},
	}
	for _, tt := range tests {
		got, err := trigger.DecodeBody(tt.body, tt.b64)
		if (err != nil) != tt.wantErr || string(got) != tt.want {
			t.Errorf("DecodeBody(%q, %v) = %q, %v", tt.body, tt.b64, got, err)
		}
	}
}
