package loopback_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/invoke/loopback"
)

// post sends a raw request to a stand-in. It may run in a delivery
// goroutine, so it reports failures with t.Errorf and an empty 599 answer.
func post(t *testing.T, url, body string, header map[string]string) *http.Response {
	t.Helper()
	failed := &http.Response{StatusCode: 599, Header: http.Header{}, Body: http.NoBody}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Errorf("new request: %v", err)
		return failed
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("post: %v", err)
		return failed
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func lambdaInvoke(t *testing.T, api *loopback.API, payload string) *http.Response {
	t.Helper()
	return post(t, api.URL()+"/2015-03-31/functions/fn/invocations", payload, map[string]string{
		"Authorization":         "AWS4-HMAC-SHA256 Credential=x",
		"X-Amz-Invocation-Type": "Event",
	})
}

var scfHeaders = map[string]string{
	"Authorization": "TC3-HMAC-SHA256 Credential=x",
	"X-TC-Action":   "Invoke",
	"X-TC-Version":  "2018-04-16",
	"X-TC-Region":   "ap-guangzhou",
}

// scfBody is an Invoke request body carrying payload.
func scfBody(payload string) string {
	b, _ := json.Marshal(map[string]string{"FunctionName": "fn", "InvocationType": "Event", "ClientContext": payload})
	return string(b)
}

func scfInvoke(t *testing.T, api *loopback.API, payload string) *http.Response {
	t.Helper()
	return post(t, api.URL(), scfBody(payload), scfHeaders)
}

// scfError decodes the error code of an SCF answer ("" for a success). It
// may run in a delivery goroutine: it does not stop the test.
func scfError(t *testing.T, resp *http.Response) string {
	t.Helper()
	var out struct {
		Response struct {
			Error  struct{ Code string }
			Result struct {
				FunctionRequestID string `json:"FunctionRequestId"`
				InvokeResult      *int
			}
			RequestID string `json:"RequestId"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("answer: status %d, %v", resp.StatusCode, err)
		return "undecodable answer"
	}
	r := out.Response
	if r.RequestID == "" || (r.Error.Code == "" && (r.Result.FunctionRequestID == "" || r.Result.InvokeResult == nil || *r.Result.InvokeResult != 0)) {
		t.Errorf("answer %+v lacks its ids or InvokeResult 0", r)
	}
	return r.Error.Code
}

// standIns runs a test against both stand-ins through raw requests; invoke
// reports whether the invocation was accepted.
var standIns = []struct {
	name   string
	newAPI func(deliver func([]byte)) *loopback.API
	invoke func(t *testing.T, api *loopback.API, payload string) bool
}{
	{"Lambda", loopback.NewLambdaAPI, func(t *testing.T, api *loopback.API, p string) bool {
		return lambdaInvoke(t, api, p).StatusCode == http.StatusAccepted
	}},
	{"SCF", loopback.NewSCFAPI, func(t *testing.T, api *loopback.API, p string) bool {
		return scfError(t, scfInvoke(t, api, p)) == ""
	}},
}

// TestOneAtATimeInOrder checks that deliveries never overlap, keep the order
// of arrival and do not hold up the answers.
func TestOneAtATimeInOrder(t *testing.T) {
	for _, si := range standIns {
		t.Run(si.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				got     []string
				running atomic.Int32
				overlap atomic.Bool
			)
			release := make(chan struct{})
			api := si.newAPI(func(p []byte) {
				if running.Add(1) > 1 {
					overlap.Store(true)
				}
				<-release
				time.Sleep(time.Millisecond)
				mu.Lock()
				got = append(got, string(p))
				mu.Unlock()
				running.Add(-1)
			})
			defer api.Close()
			const n = 20
			var want []string
			for i := range n {
				p := fmt.Sprintf(`{"i":%d}`, i)
				want = append(want, p)
				if !si.invoke(t, api, p) { // answered while the first delivery is blocked
					t.Fatalf("invocation %d refused", i)
				}
			}
			close(release)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := api.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("delivered %v, want %v", got, want)
			}
			if overlap.Load() {
				t.Error("deliveries overlapped")
			}
			if api.Count() != n || api.Delivered() != n {
				t.Errorf("Count() = %d, Delivered() = %d, want %d", api.Count(), api.Delivered(), n)
			}
		})
	}
}

func TestLoseNext(t *testing.T) {
	for _, si := range standIns {
		t.Run(si.name, func(t *testing.T) {
			delivered := make(chan string, 10)
			api := si.newAPI(func(p []byte) { delivered <- string(p) })
			defer api.Close()
			api.LoseNext(2)
			for i := range 3 {
				if !si.invoke(t, api, fmt.Sprintf(`{"i":%d}`, i)) {
					t.Fatalf("invocation %d refused; a lost invocation must look accepted", i)
				}
			}
			if err := api.WaitIdle(t.Context()); err != nil {
				t.Fatal(err)
			}
			if len(delivered) != 1 || <-delivered != `{"i":2}` {
				t.Errorf("delivered %d payloads, want only the third", len(delivered)+1)
			}
			calls := api.Invocations()
			if len(calls) != 3 || !calls[0].Lost || !calls[1].Lost || calls[2].Lost {
				t.Errorf("invocations %+v, want the first two lost", calls)
			}
		})
	}
}

// TestChain checks that WaitIdle waits for a chain of invocations, each made
// from within the delivery of the one before, to end.
func TestChain(t *testing.T) {
	for _, si := range standIns {
		t.Run(si.name, func(t *testing.T) {
			var api *loopback.API
			var depth atomic.Int32
			api = si.newAPI(func(p []byte) {
				if d := depth.Add(1); d < 5 {
					time.Sleep(2 * time.Millisecond)
					si.invoke(t, api, fmt.Sprintf(`{"depth":%d}`, d))
				}
			})
			defer api.Close()
			si.invoke(t, api, `{"depth":0}`)
			if err := api.WaitIdle(t.Context()); err != nil {
				t.Fatal(err)
			}
			if api.Delivered() != 5 || depth.Load() != 5 {
				t.Errorf("Delivered() = %d, depth %d, want 5", api.Delivered(), depth.Load())
			}
		})
	}
}

func TestWaitIdleTimeout(t *testing.T) {
	block := make(chan struct{})
	api := loopback.NewLambdaAPI(func([]byte) { <-block })
	defer api.Close()
	defer close(block)
	lambdaInvoke(t, api, `{}`)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := api.WaitIdle(ctx); err == nil {
		t.Error("WaitIdle returned nil while a delivery is blocked")
	}
}

func TestLambdaRefuses(t *testing.T) {
	api := loopback.NewLambdaAPI(nil)
	defer api.Close()
	invocations := api.URL() + "/2015-03-31/functions/fn/invocations"
	tests := []struct {
		name, url string
		header    map[string]string
		status    int
		errorType string
	}{
		{"unsigned", invocations, map[string]string{"X-Amz-Invocation-Type": "Event"}, http.StatusForbidden, "MissingAuthenticationTokenException"},
		{"synchronous", invocations, map[string]string{"Authorization": "AWS4-HMAC-SHA256 x", "X-Amz-Invocation-Type": "RequestResponse"}, http.StatusBadRequest, "InvalidParameterValueException"},
		{"no type", invocations, map[string]string{"Authorization": "AWS4-HMAC-SHA256 x"}, http.StatusBadRequest, "InvalidParameterValueException"},
		{"other path", api.URL() + "/2015-03-31/functions/fn", map[string]string{"Authorization": "AWS4-HMAC-SHA256 x"}, http.StatusNotFound, "UnknownOperationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, tt.url, `{}`, tt.header)
			if resp.StatusCode != tt.status || resp.Header.Get("X-Amzn-ErrorType") != tt.errorType {
				t.Errorf("status %d, error type %q; want %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tt.status, tt.errorType)
			}
		})
	}
	if api.Count() != 0 {
		t.Errorf("Count() = %d after refusals, want 0", api.Count())
	}

	api.FailNext(1, "TooManyRequestsException")
	if resp := lambdaInvoke(t, api, `{}`); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-Amzn-ErrorType") != "TooManyRequestsException" {
		t.Errorf("injected failure: status %d", resp.StatusCode)
	}
	if calls := api.Invocations(); len(calls) != 1 || calls[0].Error != "TooManyRequestsException" {
		t.Errorf("invocations %+v, want one failed", calls)
	}
}

func TestSCFRefuses(t *testing.T) {
	api := loopback.NewSCFAPI(nil)
	defer api.Close()
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for hk, hv := range scfHeaders {
			h[hk] = hv
		}
		h[k] = v
		return h
	}
	tests := []struct {
		name   string
		body   string
		header map[string]string
		code   string
	}{
		{"unsigned", scfBody(`{}`), with("Authorization", ""), "AuthFailure.SignatureFailure"},
		{"other action", scfBody(`{}`), with("X-TC-Action", "ListFunctions"), "InvalidAction"},
		{"other version", scfBody(`{}`), with("X-TC-Version", "2023-01-01"), "NoSuchVersion"},
		{"synchronous", `{"FunctionName":"fn","InvocationType":"RequestResponse","ClientContext":"{}"}`, scfHeaders, "InvalidParameterValue.InvocationType"},
		{"no function", `{"InvocationType":"Event","ClientContext":"{}"}`, scfHeaders, "MissingParameter"},
		{"no context", `{"FunctionName":"fn","InvocationType":"Event"}`, scfHeaders, "InvalidParameterValue.ClientContext"},
		{"context not JSON", scfBody(`{nope`), scfHeaders, "InvalidParameterValue.ClientContext"},
		{"body not JSON", `nope`, scfHeaders, "InvalidParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := scfError(t, post(t, api.URL(), tt.body, tt.header)); code != tt.code {
				t.Errorf("error code %q, want %s", code, tt.code)
			}
		})
	}
	if api.Count() != 0 {
		t.Errorf("Count() = %d after refusals, want 0", api.Count())
	}
}
