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
	"github.com/removetag/removetag/pkg/job/storage"
)

// recorder is a job service that records each call, one line per call, and
// answers it as done; HTTP requests get HTTPStatus (default 200).
type recorder struct {
	HTTPStatus int
	Calls      []string
}

// HTTP records "http METHOD".
func (s *recorder) HTTP(_ context.Context, req trigger.HTTPRequest) trigger.HTTPResponse {
	s.Calls = append(s.Calls, "http "+req.Method)
	return trigger.HTTPResponse{StatusCode: cmpOr(s.HTTPStatus, http.StatusOK), Result: &job.Result{Status: job.StatusDone}}
}

// Direct records "direct PAYLOAD".
func (s *recorder) Direct(_ context.Context, p []byte) (*job.Result, error) {
	s.Calls = append(s.Calls, "direct "+string(p))
	return &job.Result{Status: job.StatusDone}, nil
}

// Timer records "timer MESSAGE".
func (s *recorder) Timer(_ context.Context, m string) (*job.Result, error) {
	s.Calls = append(s.Calls, "timer "+m)
	return &job.Result{Status: job.StatusSwept}, nil
}

// ObjectCreated records "object LOCATION REGION" (no trailing space without a region).
func (s *recorder) ObjectCreated(_ context.Context, loc storage.Location, region string) (*job.Result, error) {
	s.Calls = append(s.Calls, strings.TrimSpace("object "+loc.String()+" "+region))
	return &job.Result{Status: job.StatusDone, Source: loc.String()}, nil
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
// over a dispatcher of a fresh recorder answering HTTP with httpStatus.
func RunInvoke(t *testing.T, tt InvokeCase, httpStatus int, newHandler func(*trigger.Dispatcher) Invoker) {
	t.Helper()
	t.Run(tt.Name, func(t *testing.T) {
		svc := &recorder{HTTPStatus: httpStatus}
		out, err := newHandler(trigger.NewDispatcher(svc, nil, nil)).Invoke(context.Background(), []byte(tt.Payload))
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
