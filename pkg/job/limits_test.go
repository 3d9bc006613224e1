package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/records"
)

// TestLimits sends inputs past each limit through every inline entry point:
// each is refused with an error saying which limit, before any call; a gzip
// bomb is refused without being inflated.
func TestLimits(t *testing.T) {
	const maxBody, maxRecords = 64 << 10, 5
	e := newEnv(t, envOptions{config: func(c *job.Config) {
		c.MaxBodyBytes = maxBody
		c.MaxInlineRecords = maxRecords
	}})
	recs := e.records("l", maxRecords+1)
	userTags := func(rs []records.Record) []byte { return mustMarshal(map[string][]records.Record{"UserTags": rs}) }
	// Services with one limit raised, to reach another.
	manyRecords := e.another(func(c *job.Config) { c.MaxInlineRecords = 1 << 30 })
	bigBody := e.another(func(c *job.Config) { c.MaxBodyBytes = 1 << 20 })
	// 500,000 records (16 MiB) in a job document: 39 KiB once compressed.
	bomb := gz(append(append([]byte(`{"UserTags":[`), bytes.Repeat([]byte(`{"To_Account":"x","Tags":["a"]},`), 500_000)...), `{"To_Account":"x","Tags":["a"]}]}`...))
	manyTags := make([]string, records.MaxTagsPerRecord+1)
	for i := range manyTags {
		manyTags[i] = fmt.Sprintf("t%d", i)
	}

	tests := []struct {
		name    string
		svc     *job.Service // nil: the one with every limit
		trigger string       // "http", "direct" or "timer"
		body    []byte
		status  int        // HTTP status
		result  job.Status // Result.Status
		message string     // in Result.Message
		calls   bool
	}{
		{"body size", nil, "http", bytes.Repeat([]byte(" "), maxBody+1), 413, trigger.StatusRefused, "the limit is 65536: upload large jobs as files", false},
		{"payload size", nil, "direct", bytes.Repeat([]byte(" "), maxBody+1), 0, job.StatusInvalid, "the limit is 65536", false},
		{"records per request", nil, "http", userTags(recs), 413, trigger.StatusRefused, "more than 5 records; upload them as a file", false},
		{"records per request, bulk form", nil, "http",
			[]byte(`{"To_Account":["a","b","c","d","e","f"],"Tags":["x"]}`), 413, trigger.StatusRefused, "more than 5 records", false},
		{"records per request, gzip", nil, "http", gz(userTags(recs)), 413, trigger.StatusRefused, "more than 5 records", false},
		{"records per direct payload", nil, "direct", userTags(recs), 0, job.StatusInvalid, "more than 5 records; upload them as a file", false},
		{"records per timer message", nil, "timer", userTags(recs), 0, job.StatusInvalid, "more than 5 records", false},
		{"records at the limit", nil, "http", userTags(recs[:maxRecords]), 200, job.StatusDone, "", true},
		{"decompressed size", manyRecords, "http", bomb, 400, job.StatusInvalid, "too large once decompressed", false},
		{"decompressed size, direct", manyRecords, "direct", bomb, 0, job.StatusInvalid, "too large once decompressed", false},
		{"tags per record", nil, "http", mustMarshal(map[string]any{"UserTags": []map[string]any{{"To_Account": "l1", "Tags": manyTags}}}),
			400, job.StatusInvalid, "", false},
		{"body size before value length", nil, "http", []byte(`{"UserTags":[{"To_Account":"` + strings.Repeat("u", 100<<10) + `","Tags":["a"]}]}`),
			413, trigger.StatusRefused, "the limit is 65536", false},
		{"value length", bigBody, "http", []byte(`{"UserTags":[{"To_Account":"` + strings.Repeat("u", 100<<10) + `","Tags":["a"]}]}`),
			400, job.StatusInvalid, "longer than 65536 bytes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc
			if svc == nil {
				svc = e.service()
			}
			before := e.calls()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var (
				res       *job.Result
				err       error
				status    int
				allocated = allocatedBy(func() {
					switch tt.trigger {
					case "http":
						resp := serveHTTP(ctx, svc, httpRequest{Method: http.MethodPost, Headers: bearer(token), Body: tt.body})
						status = resp.StatusCode
						res = new(job.Result)
						err = json.Unmarshal(resp.Body, res)
					case "direct":
						res, err = svc.Handle(ctx, job.Direct(tt.body))
					case "timer":
						res, err = svc.Handle(ctx, job.Timer(string(tt.body)))
					}
				})
			)
			if err != nil {
				t.Fatalf("%s: %v", tt.trigger, err)
			}
			if status != tt.status {
				t.Errorf("HTTP status = %d, want %d (%s)", status, tt.status, res.Message)
			}
			if res.Status != tt.result || !strings.Contains(res.Message, tt.message) {
				t.Errorf("result %s %q, want %s with %q", res.Status, res.Message, tt.result, tt.message)
			}
			if tt.status != 200 && res.Status != trigger.StatusRefused && len(res.Errors) == 0 {
				t.Errorf("no Errors in the result: %+v", res)
			}
			if called := e.calls() > before; called != tt.calls {
				t.Errorf("calls made: %v, want %v", called, tt.calls)
			}
			// The bomb inflates to 16 MiB, and holds 500,000 records;
			// refusing it must do neither.
			if limit := uint64(16 << 20); allocated > limit {
				t.Errorf("allocated %d bytes, want at most %d", allocated, limit)
			}
		})
	}
}

// allocatedBy returns the bytes allocated (by every goroutine) while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
