// Package loopback holds local stand-ins of the asynchronous invoke APIs of
// AWS Lambda ([NewLambdaAPI]) and Tencent SCF ([NewSCFAPI]) that loop each
// invocation back into the process: the CLI's local runs ship them, and tests
// use them.
//
// A stand-in answers at once and hands each accepted payload to a deliver
// function later, one at a time and in order, from a single goroutine: the
// consumer (for example a Lambda Runtime Interface Emulator) may not take two
// invocations at once. It records every invocation it receives, can lose
// invocations (answer success, never deliver) and can answer API errors.
package loopback

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Invocation is one invocation request a stand-in received.
type Invocation struct {
	FunctionName string
	Namespace    string // SCF only
	Qualifier    string
	Region       string // SCF only: X-TC-Region
	Payload      []byte
	// Lost is set when the invocation was accepted but, per LoseNext, is
	// never delivered.
	Lost bool
	// Error is the error code answered per FailNext; empty when accepted.
	Error string
}

// API is a local stand-in of an invoke API. Its methods are safe for
// concurrent use.
type API struct {
	server  *httptest.Server
	deliver func(payload []byte)

	mu         sync.Mutex
	calls      []Invocation
	pending    [][]byte
	delivering bool
	delivered  int
	loseLeft   int
	failLeft   int
	failCode   string
	seq        int

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// NewLambdaAPI starts a stand-in of Lambda's Invoke API: it answers
// POST /2015-03-31/functions/{name}/invocations with X-Amz-Invocation-Type:
// Event by 202 and delivers the body. Point a Lambda client at URL (for
// instance through AWS_ENDPOINT_URL_LAMBDA). deliver may be nil.
func NewLambdaAPI(deliver func(payload []byte)) *API {
	a := newAPI(deliver)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", a.serveLambda)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		lambdaError(w, http.StatusNotFound, "UnknownOperationException", "the stand-in serves only Invoke")
	})
	a.server = httptest.NewServer(mux)
	return a
}

// NewSCFAPI starts a stand-in of SCF's Invoke action (API version
// 2018-04-16): it answers a signed Invoke with InvocationType Event and
// delivers ClientContext. Pass URL as the SCF invoker's endpoint. deliver may
// be nil.
func NewSCFAPI(deliver func(payload []byte)) *API {
	a := newAPI(deliver)
	a.server = httptest.NewServer(http.HandlerFunc(a.serveSCF))
	return a
}

func newAPI(deliver func([]byte)) *API {
	a := &API{deliver: deliver, wake: make(chan struct{}, 1), done: make(chan struct{})}
	a.wg.Add(1)
	go a.deliverLoop()
	return a
}

// URL is the stand-in's base URL, "http://127.0.0.1:PORT".
func (a *API) URL() string { return a.server.URL }

// Close stops the server, then the delivery goroutine once the delivery in
// progress, if any, returns. Payloads not yet delivered are dropped.
func (a *API) Close() {
	a.server.Close()
	close(a.done)
	a.wg.Wait()
}

// Invocations returns a copy of every invocation received, in order.
func (a *API) Invocations() []Invocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Invocation, len(a.calls))
	copy(out, a.calls)
	return out
}

// Count is the number of invocations received (accepted, lost or failed).
func (a *API) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// Delivered is the number of payloads that deliver has returned from.
func (a *API) Delivered() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.delivered
}

// LoseNext makes the next n accepted invocations get lost: they are answered
// as a success but never delivered.
func (a *API) LoseNext(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loseLeft = n
}

// FailNext makes the next n invocations fail with an API error code: for
// Lambda an error type such as "ResourceNotFoundException" (with its HTTP
// status) or "TooManyRequestsException", for SCF a code such as
// "ResourceNotFound.Function". Clients retry some errors (throttling, 5xx) on
// their own, each retry being an invocation. FailNext(0, "") cancels.
func (a *API) FailNext(n int, code string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failLeft, a.failCode = n, code
}

// WaitIdle waits until no payload is queued or being delivered. As a
// delivered invocation that invokes again queues its payload before its
// delivery returns, an idle stand-in means a chain of invocations has ended.
func (a *API) WaitIdle(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		a.mu.Lock()
		idle := len(a.pending) == 0 && !a.delivering
		a.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the invocations to be delivered: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// accept records an invocation and decides its fate: the error code to
// answer, or "" after queueing it for delivery (unless lost). It returns a
// new request id.
func (a *API) accept(inv Invocation) (code, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	id = fmt.Sprintf("loopback-%06d", a.seq)
	switch {
	case a.failLeft > 0:
		a.failLeft--
		inv.Error = a.failCode
	case a.loseLeft > 0:
		a.loseLeft--
		inv.Lost = true
	default:
		a.pending = append(a.pending, inv.Payload)
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
	a.calls = append(a.calls, inv)
	return inv.Error, id
}

// deliverLoop hands queued payloads to deliver, one at a time, in order.
func (a *API) deliverLoop() {
	defer a.wg.Done()
	for {
		select {
		case <-a.done:
			return
		default:
		}
		a.mu.Lock()
		if len(a.pending) == 0 {
			a.mu.Unlock()
			select {
			case <-a.wake:
				continue
			case <-a.done:
				return
			}
		}
		p := a.pending[0]
		a.pending = a.pending[1:]
		a.delivering = true
		a.mu.Unlock()

		if a.deliver != nil {
			a.deliver(p)
		}

		a.mu.Lock()
		a.delivering = false
		a.delivered++
		a.mu.Unlock()
	}
}

// lambdaStatus is the HTTP status Lambda answers an error type with.
func lambdaStatus(code string) int {
	switch code {
	case "ResourceNotFoundException":
		return http.StatusNotFound
	case "AccessDeniedException":
		return http.StatusForbidden
	case "RequestTooLargeException":
		return http.StatusRequestEntityTooLarge
	case "TooManyRequestsException":
		return http.StatusTooManyRequests
	case "ServiceException":
		return http.StatusInternalServerError
	case "ResourceNotReadyException", "EC2ThrottledException":
		return http.StatusBadGateway
	}
	return http.StatusBadRequest
}

func lambdaError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

func (a *API) serveLambda(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		lambdaError(w, http.StatusForbidden, "MissingAuthenticationTokenException", "request not signed with AWS4-HMAC-SHA256")
		return
	}
	if t := r.Header.Get("X-Amz-Invocation-Type"); t != "Event" {
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("the stand-in serves only X-Amz-Invocation-Type Event, not %q", t))
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	inv := Invocation{FunctionName: r.PathValue("name"), Qualifier: r.URL.Query().Get("Qualifier"), Payload: payload}
	code, id := a.accept(inv)
	w.Header().Set("X-Amzn-RequestId", id)
	if code != "" {
		lambdaError(w, lambdaStatus(code), code, "error injected by loopback")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// scfAnswer writes an SCF API answer: a result, or an error when code is set.
func scfAnswer(w http.ResponseWriter, id, code, msg string, result any) {
	resp := map[string]any{"RequestId": id}
	if code != "" {
		resp["Error"] = map[string]string{"Code": code, "Message": msg}
	} else {
		resp["Result"] = result
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Response": resp})
}

func (a *API) serveSCF(w http.ResponseWriter, r *http.Request) {
	const badID = "loopback-refused"
	switch {
	case r.Method != http.MethodPost:
		scfAnswer(w, badID, "InvalidParameter", "the stand-in serves only POST", nil)
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "TC3-HMAC-SHA256 "):
		scfAnswer(w, badID, "AuthFailure.SignatureFailure", "request not signed with TC3-HMAC-SHA256", nil)
		return
	case r.Header.Get("X-TC-Action") != "Invoke":
		scfAnswer(w, badID, "InvalidAction", fmt.Sprintf("the stand-in serves only Invoke, not %q", r.Header.Get("X-TC-Action")), nil)
		return
	case r.Header.Get("X-TC-Version") != "2018-04-16":
		scfAnswer(w, badID, "NoSuchVersion", fmt.Sprintf("the stand-in serves only version 2018-04-16, not %q", r.Header.Get("X-TC-Version")), nil)
		return
	}
	var params struct {
		FunctionName   string
		InvocationType string
		ClientContext  *string
		Namespace      string
		Qualifier      string
	}
	if err := json.NewDecoder(r.Body).Decode(&params); err != nil {
		scfAnswer(w, badID, "InvalidParameter", "request body: "+err.Error(), nil)
		return
	}
	switch {
	case params.FunctionName == "":
		scfAnswer(w, badID, "MissingParameter", "FunctionName is missing", nil)
		return
	case params.InvocationType != "Event":
		scfAnswer(w, badID, "InvalidParameterValue.InvocationType",
			fmt.Sprintf("the stand-in serves only InvocationType Event, not %q", params.InvocationType), nil)
		return
	case params.ClientContext == nil || !json.Valid([]byte(*params.ClientContext)):
		scfAnswer(w, badID, "InvalidParameterValue.ClientContext", "ClientContext must be a JSON string", nil)
		return
	}
	if params.Namespace == "" {
		params.Namespace = "default"
	}
	if params.Qualifier == "" {
		params.Qualifier = "$LATEST"
	}
	inv := Invocation{
		FunctionName: params.FunctionName,
		Namespace:    params.Namespace,
		Qualifier:    params.Qualifier,
		Region:       r.Header.Get("X-TC-Region"),
		Payload:      []byte(*params.ClientContext),
	}
	code, id := a.accept(inv)
	scfAnswer(w, id, code, "error injected by loopback", map[string]any{
		"FunctionRequestId": "fn-" + id,
		"InvokeResult":      0,
	})
}
