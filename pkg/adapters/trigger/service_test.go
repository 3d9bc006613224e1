package trigger_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/removetag/removetag/internal/wiring"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
)

func TestUnavailableAndLazy(t *testing.T) {
	cfgErr := &wiring.ConfigurationError{Problems: []string{"IM_SDKAPPID: required"}}
	u := trigger.Lazy(func() (trigger.App, error) { return trigger.App{}, cfgErr }, nil)
	for _, req := range []job.Request{job.Direct(nil), job.Timer(""), job.Upload(loc("s3://b-b/k"), ""), job.Submit(nil, "http")} {
		if _, err := u.Service.Handle(context.Background(), req); !errors.Is(err, cfgErr) {
			t.Errorf("%s: %v", req.Kind, err)
		}
	}
	resp := u.HTTP(context.Background(), trigger.HTTPRequest{})
	if resp.StatusCode != 500 || resp.Result.Status != trigger.StatusError || !strings.Contains(resp.Result.Message, "IM_SDKAPPID: required") {
		t.Errorf("HTTP: %d %+v", resp.StatusCode, resp.Result)
	}

	// Lazy: fails, then the environment is fixed, then it builds once.
	builds, fail := 0, true
	real := &fakeService{}
	var logs bytes.Buffer
	l := trigger.Lazy(func() (trigger.App, error) {
		builds++
		if fail {
			return trigger.App{}, cfgErr
		}
		return trigger.App{Service: real}, nil
	}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err := trigger.Prepare(l); !errors.Is(err, cfgErr) {
		t.Errorf("Prepare: %v", err)
	}
	if _, err := l.Service.Handle(context.Background(), job.Direct([]byte("{}"))); !errors.Is(err, cfgErr) {
		t.Errorf("Direct while failing: %v", err)
	}
	fail = false
	for range 3 {
		if _, err := l.Service.Handle(context.Background(), job.Timer("")); err != nil {
			t.Fatal(err)
		}
	}
	if builds != 3 || len(real.calls) != 3 {
		t.Errorf("%d builds, %d calls; want 3 and 3", builds, len(real.calls))
	}
	if !strings.Contains(logs.String(), "IM_SDKAPPID: required") {
		t.Errorf("the configuration error is not logged: %s", logs.String())
	}
	if trigger.Prepare(trigger.App{Service: real}) != nil {
		t.Error("Prepare of a plain service")
	}
}
