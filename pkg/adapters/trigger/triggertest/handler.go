package triggertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
)

// recorder is a job service that records each request, one line per
// request, and answers it as done (a timer as swept).
type recorder struct {
	Calls []string
}

// Handle records "direct PAYLOAD", "timer MESSAGE", "object LOCATION
// REGION" (no trailing space without a region) or "submit VIA DOCUMENT".
func (s *recorder) Handle(_ context.Context, req job.Request) (*job.Result, error) {
	switch req.Kind {
	case job.RequestDirect:
		s.Calls = append(s.Calls, "direct "+string(req.Document))
	case job.RequestTimer:
		s.Calls = append(s.Calls, "timer "+string(req.Document))
		return &job.Result{Status: job.StatusSwept}, nil
	case job.RequestUpload:
		s.Calls = append(s.Calls, strings.TrimSpace("object "+req.Object.String()+" "+req.Region))
		return &job.Result{Status: job.StatusDone, Source: req.Object.String()}, nil
	default:
		s.Calls = append(s.Calls, "submit "+req.Via+" "+string(req.Document))
	}
	return &job.Result{Status: job.StatusDone}, nil
}

// standIn is an HTTP semantics that records "http METHOD" in s and answers
// with status (default 200) and a done Result: the platforms' tests check
// their HTTP shapes, package trigger the semantics.
func standIn(s *recorder, status int) func(context.Context, trigger.HTTPRequest) trigger.HTTPResponse {
	return func(_ context.Context, req trigger.HTTPRequest) trigger.HTTPResponse {
		s.Calls = append(s.Calls, "http "+req.Method)
		return trigger.HTTPResponse{StatusCode: cmpOr(status, http.StatusOK), Result: &job.Result{Status: job.StatusDone}}
	}
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Invoker is a platform handler.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// InvokeCase is one payload handed to a platform handler and what must follow:
// exactly the service call WantCall ("" for none), an answer containing
// WantInAnswer, and, for HTTP answers, exactly the keys WantKeys with a JSON
// Content-Type header.
type InvokeCase struct {
	Name         string
	Payload      string
	WantCall     string
	WantKeys     []string
	WantInAnswer string
}

// RunInvoke runs the case, as a subtest, through a handler made by newHandler
// over a dispatcher of a fresh recorder, HTTP requests answered with
// httpStatus.
func RunInvoke(t *testing.T, tt InvokeCase, httpStatus int, newHandler func(*trigger.Dispatcher) Invoker) {
	t.Helper()
	t.Run(tt.Name, func(t *testing.T) {
		svc := &recorder{}
		app := trigger.App{Service: svc, HTTP: standIn(svc, httpStatus)}
		out, err := newHandler(trigger.NewDispatcher(app, nil, nil)).Invoke(context.Background(), []byte(tt.Payload))
		if err != nil {
			t.Fatal(err)
		}
		if tt.WantCall == "" && len(svc.Calls) != 0 || tt.WantCall != "" && (len(svc.Calls) != 1 || svc.Calls[0] != tt.WantCall) {
			t.Errorf("calls %q, want %q", svc.Calls, tt.WantCall)
		}
		if !strings.Contains(string(out), tt.WantInAnswer) {
			t.Errorf("answer %s lacks %s", out, tt.WantInAnswer)
		}
		if tt.WantKeys == nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if fmt.Sprint(keys) != fmt.Sprint(tt.WantKeys) {
			t.Errorf("answer keys %v, want exactly %v", keys, tt.WantKeys)
		}
		var r struct{ Headers map[string]string }
		_ = json.Unmarshal(out, &r)
		if r.Headers["Content-Type"] != "application/json" {
			t.Errorf("headers %v", r.Headers)
		}
	})
}
