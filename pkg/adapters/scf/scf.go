// Package scf adapts Tencent Cloud SCF's Go1 runtime (github.com/tencentyun/scf-go-lib)
// to the function's service: it tells an event's kind by its shape, makes a
// [trigger.Event] of it, runs it through a [trigger.Dispatcher] and answers in
// the form the trigger expects.
//
//	function URL  {"httpMethod","headers","body","path","queryString"}            → {"statusCode","headers","body"}
//	API gateway   {"httpMethod","requestContext","headers","body",…}             → an events.APIGatewayResponse
//	timer         {"Type":"Timer" (any case),"TriggerName","Time","Message"}      → the report (Message: a job, or empty: the sweep)
//	COS upload    {"Records":[{"cos":{"cosBucket","cosObject"},"event"}]}         → the report (several objects: summed, in Jobs)
//	anything else that is a JSON object: a direct invocation                      → the report
//
// Only the fields the function uses are read (see trigger.Text and
// trigger.Headers): a field it does not use, such as a COS object's size or
// an event's time, can never fail an event, whatever its type.
//
// Use it with cloudfunction.StartHandler, which hands it the raw payload, so
// that even a payload that is not JSON gets an answer saying what arrived.
package scf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tencentyun/scf-go-lib/events"
	"github.com/tencentyun/scf-go-lib/functioncontext"

	"github.com/removetag/removetag/pkg/adapters/invoke"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Names of the events, in logs.
const (
	EventFunctionURL  = "scf-url"
	EventAPIGateway   = "scf-apigw"
	EventTimer        = "scf-timer"
	EventCOS          = "cos"
	EventDirect       = "direct"
	EventContinuation = "continuation"
)

// gatewayMargin is kept back from the API gateway's wait (endpoint-timeout),
// for the answer to reach it.
const gatewayMargin = 2 * time.Second

// Handler is the function's SCF handler; it implements scf-go-lib's
// cloudfunction.Handler.
type Handler struct {
	d *trigger.Dispatcher
}

// NewHandler returns the handler of the function's events.
func NewHandler(d *trigger.Dispatcher) *Handler { return &Handler{d: d} }

// Invoke handles one invocation. Its error is non-nil only where a platform
// retry can help; events it cannot handle get a report saying what arrived.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if fc, ok := functioncontext.FromContext(ctx); ok {
		// A continuation goes to the namespace this invocation runs in.
		ctx = invoke.WithSCFNamespace(ctx, fc.Namespace)
	}
	ev := Decode(payload)
	switch ev.Name {
	case EventFunctionURL:
		return json.Marshal(URLResponse(h.d.HTTP(ctx, ev)))
	case EventAPIGateway:
		return json.Marshal(Response(h.d.HTTP(ctx, ev)))
	}
	res, err := h.d.Run(ctx, ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// Decode tells an SCF payload's kind by its shape and makes its event.
func Decode(payload []byte) trigger.Event {
	p, problem := trigger.NewProbe(payload)
	switch {
	case p == nil:
		return trigger.Event{Trigger: trigger.TriggerUnknown, Name: "unknown", Problem: problem}
	case p.Has("httpMethod"):
		return decodeHTTP(payload, p)
	case strings.EqualFold(p.String("Type"), "timer"):
		// "Timer" in scf-go-lib and the trigger summary page, "timer" on the
		// timer trigger's own page (tencentyun/qcloud-documents).
		var t struct{ Message trigger.Text }
		if err := json.Unmarshal(payload, &t); err != nil {
			return trigger.Unknown(EventTimer, "a timer event that cannot be read ("+err.Error()+")", payload)
		}
		return trigger.Event{Trigger: trigger.TriggerTimer, Name: EventTimer, Message: string(t.Message)}
	case p.Has("Records"):
		return decodeCOS(payload, p)
	case job.IsContinuation(payload):
		return trigger.Event{Trigger: trigger.TriggerDirect, Name: EventContinuation, Payload: payload}
	}
	return trigger.Event{Trigger: trigger.TriggerDirect, Name: EventDirect, Payload: payload}
}

// httpRequest is what the function reads of an HTTP event. The function URL
// sends the API gateway's protocol without headerParameters,
// isBase64Encoded, pathParameters, queryStringParameters and requestContext
// (Tencent's "函数 URL 概述", product 583 doc 96099): its body is the text as
// sent. An API gateway sends isBase64Encoded true when it encoded a binary
// body (its Base64 setting); the flag is honoured wherever it appears.
type httpRequest struct {
	Method   string          `json:"httpMethod"`
	Headers  trigger.Headers `json:"headers"`
	Body     trigger.Text    `json:"body"`
	IsBase64 bool            `json:"isBase64Encoded"`
}

// decodeHTTP reads a function URL request, or an API gateway request
// (integrated response) when it has a requestContext.
func decodeHTTP(payload []byte, p *trigger.Probe) trigger.Event {
	name, what := EventFunctionURL, "a function URL request"
	if p.Has("requestContext") {
		name, what = EventAPIGateway, "an API gateway request"
	}
	var req httpRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return trigger.Unknown(name, what+" that cannot be read ("+err.Error()+")", payload)
	}
	body, err := trigger.DecodeBody(string(req.Body), req.IsBase64)
	if err != nil {
		return trigger.Unknown(name, what+" that cannot be read ("+err.Error()+")", payload)
	}
	ev := trigger.Event{
		Trigger: trigger.TriggerHTTP,
		Name:    name,
		HTTP:    job.HTTPRequest{Method: req.Method, Headers: req.Headers, Body: body},
	}
	// The API gateway says how long it waits for the function.
	if s, ok := req.Headers["endpoint-timeout"]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
			ev.Timeout = max(time.Duration(n)*time.Second-gatewayMargin, time.Second)
		}
	}
	return ev
}

// Response makes the API gateway's integrated response of an HTTP answer;
// any other shape makes the gateway answer "Invalid scf response format".
func Response(r job.HTTPResponse) events.APIGatewayResponse {
	return events.APIGatewayResponse{StatusCode: r.StatusCode, Headers: jsonHeaders(r), Body: string(r.Body)}
}

// FunctionURLResponse is the answer a function URL turns into its HTTP
// response ("函数 URL 概述": statusCode, headers, body).
type FunctionURLResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// URLResponse makes the function URL's answer of an HTTP answer.
func URLResponse(r job.HTTPResponse) FunctionURLResponse {
	return FunctionURLResponse{StatusCode: r.StatusCode, Headers: jsonHeaders(r), Body: string(r.Body)}
}

// jsonHeaders are an answer's headers, with a JSON Content-Type unless it
// has one.
func jsonHeaders(r job.HTTPResponse) map[string]string {
	headers := make(map[string]string, len(r.Headers)+1)
	hasType := false
	for k, v := range r.Headers {
		headers[k] = v
		hasType = hasType || strings.EqualFold(k, "Content-Type")
	}
	if !hasType {
		headers["Content-Type"] = "application/json"
	}
	return headers
}

// cosRecord is what the function reads of a COS notification's record; the
// rest (size, eventTime, meta, …) varies between Tencent's pages — a number
// in one, a string in the console's test template — and is not read.
type cosRecord struct {
	COS struct {
		Bucket struct {
			AppID  trigger.Text `json:"appid"`
			Name   string       `json:"name"`
			Region trigger.Text `json:"region"`
		} `json:"cosBucket"`
		Object struct {
			Key string `json:"key"`
		} `json:"cosObject"`
	} `json:"cos"`
	Event struct {
		Name string `json:"eventName"`
	} `json:"event"`
}

// decodeCOS reads a COS notification.
func decodeCOS(payload []byte, p *trigger.Probe) trigger.Event {
	if n := p.Len("Records"); n > trigger.MaxRecords {
		return trigger.Unknown(EventCOS, fmt.Sprintf("a Records event with %d records, at most %d are read", n, trigger.MaxRecords), payload)
	}
	var ce struct{ Records []cosRecord }
	if err := json.Unmarshal(payload, &ce); err != nil {
		return trigger.Unknown(EventCOS, "a Records event that is not a COS notification ("+err.Error()+")", payload)
	}
	if len(ce.Records) == 0 {
		return trigger.Unknown(EventCOS, "a Records event without records", payload)
	}
	objs := make([]trigger.Object, 0, len(ce.Records))
	for i, r := range ce.Records {
		b := r.COS.Bucket
		appID := string(b.AppID)
		if b.Name == "" || appID == "" {
			return trigger.Unknown(EventCOS, fmt.Sprintf("Records[%d] is not a COS record (no cos.cosBucket.name and appid; this function handles COS uploads)", i), payload)
		}
		bucket := b.Name
		if !strings.HasSuffix(bucket, "-"+appID) {
			bucket += "-" + appID
		}
		key := ObjectKey(r.COS.Object.Key, appID, b.Name, bucket)
		loc, err := storage.ParseLocation(storage.SchemeCOS + "://" + bucket + "/" + key)
		if err != nil || key == "" {
			why := "no object key"
			if err != nil {
				why = err.Error()
			}
			return trigger.Unknown(EventCOS, fmt.Sprintf("Records[%d]: %s", i, why), payload)
		}
		o := trigger.Object{Location: loc, Region: string(b.Region)}
		if name := r.Event.Name; name != "" && !strings.HasPrefix(name, "cos:ObjectCreated:") {
			o.Skip = trigger.Clip("not an upload: "+name, trigger.MaxReason)
		}
		objs = append(objs, o)
	}
	return trigger.Event{Trigger: trigger.TriggerUpload, Name: EventCOS, Objects: objs}
}

// ObjectKey returns the object key of a COS event's cosObject.key, which is
// "/{appid}/{bucket name}/{key}": the prefix is removed (with the name as the
// event gives it, or the full bucket name), and the key is URL-decoded if it
// holds escapes.
func ObjectKey(eventKey, appID, name, bucket string) string {
	key := eventKey
	for _, prefix := range []string{"/" + appID + "/" + name + "/", "/" + appID + "/" + bucket + "/"} {
		if rest, ok := strings.CutPrefix(eventKey, prefix); ok {
			key = rest
			break
		}
	}
	key = strings.TrimPrefix(key, "/")
	if strings.Contains(key, "%") {
		if k, err := url.PathUnescape(key); err == nil {
			key = k
		}
	}
	return key
}

// NewLogHandler returns a JSON slog handler writing to w (SCF sends a
// function's standard output to its logs), adding the invocation's request id
// as "requestId" to records logged with its context.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return &requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})}
}

type requestIDHandler struct{ slog.Handler }

func (h *requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if fc, ok := functioncontext.FromContext(ctx); ok && fc.RequestID != "" {
		r.AddAttrs(slog.String("requestId", fc.RequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h *requestIDHandler) WithGroup(name string) slog.Handler {
	return &requestIDHandler{h.Handler.WithGroup(name)}
}
