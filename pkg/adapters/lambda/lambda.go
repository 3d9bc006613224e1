// Package lambdaadapter adapts AWS Lambda (github.com/aws/aws-lambda-go) to
// the function's service: it tells an event's kind by its shape, makes a
// [trigger.Event] of it, runs it through a [trigger.Dispatcher] and answers in
// the form the trigger expects.
//
//	HTTP API (payload 2.0), function URL  {"version":"2.0","requestContext":{"http":…}}     → events.APIGatewayV2HTTPResponse
//	REST API, HTTP API payload 1.0        {"httpMethod","requestContext",…}                 → events.APIGatewayProxyResponse
//	S3 notification                       {"Records":[{"eventSource":"aws:s3","s3":…}]}     → the report (keys URL-decoded)
//	EventBridge schedule, no Input        {"detail-type":"Scheduled Event","source",…}      → the sweep's report
//	anything else that is a JSON object: a direct invocation, a schedule's Input or a continuation → the report
//
// Pass a [Handler] to lambda.Start: it implements lambda.Handler and gets the
// raw payload, so that even a payload that is not JSON gets an answer saying
// what arrived.
package lambdaadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
)

// Names of the events, in logs.
const (
	EventHTTPAPI      = "apigw-v2"
	EventFunctionURL  = "function-url"
	EventRESTAPI      = "apigw-v1"
	EventS3           = "s3"
	EventS3Test       = "s3-test"
	EventSchedule     = "eventbridge-schedule"
	EventDirect       = "direct"
	EventContinuation = "continuation"
)

// Handler is the function's Lambda handler; it implements lambda.Handler.
type Handler struct {
	d *trigger.Dispatcher
}

// NewHandler returns the handler of the function's events.
func NewHandler(d *trigger.Dispatcher) *Handler { return &Handler{d: d} }

// Invoke handles one invocation. Its error is non-nil only where a platform
// retry can help; events it cannot handle get a report saying what arrived.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ev := Decode(payload)
	switch ev.Name {
	case EventHTTPAPI, EventFunctionURL:
		r := h.d.HTTP(ctx, ev)
		return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: r.StatusCode, Headers: headers(r), Body: string(r.Body)})
	case EventRESTAPI:
		r := h.d.HTTP(ctx, ev)
		return json.Marshal(events.APIGatewayProxyResponse{StatusCode: r.StatusCode, Headers: headers(r), Body: string(r.Body)})
	}
	res, err := h.d.Run(ctx, ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// headers are an answer's headers, with a Content-Type.
func headers(r job.HTTPResponse) map[string]string {
	h := make(map[string]string, len(r.Headers)+1)
	hasType := false
	for k, v := range r.Headers {
		h[k] = v
		hasType = hasType || strings.EqualFold(k, "Content-Type")
	}
	if !hasType {
		h["Content-Type"] = "application/json"
	}
	return h
}

// Decode tells a Lambda payload's kind by its shape and makes its event.
func Decode(payload []byte) trigger.Event {
	p, problem := trigger.NewProbe(payload)
	switch {
	case p == nil:
		return trigger.Event{Trigger: trigger.TriggerUnknown, Name: "unknown", Problem: problem}
	case p.Has("requestContext") && (p.String("version") == "2.0" || hasHTTPContext(p)):
		return decodeV2(payload)
	case p.Has("requestContext") && p.Has("httpMethod"):
		return decodeV1(payload)
	case p.Has("Records"):
		return decodeS3(payload, p)
	case p.String("Event") == "s3:TestEvent":
		loc := objstore.Location{Scheme: objstore.SchemeS3, Bucket: p.String("Bucket")}
		return trigger.Event{Trigger: trigger.TriggerUpload, Name: EventS3Test,
			Objects: []trigger.Object{{Location: loc, Skip: "S3's test event: the notification is set up"}}}
	case p.Has("detail-type") && p.Has("source"):
		return decodeEventBridge(payload)
	case job.IsContinuation(payload):
		return trigger.Event{Trigger: trigger.TriggerDirect, Name: EventContinuation, Payload: payload}
	}
	return trigger.Event{Trigger: trigger.TriggerDirect, Name: EventDirect, Payload: payload}
}

// hasHTTPContext reports whether requestContext has the "http" object of
// payload format 2.0.
func hasHTTPContext(p *trigger.Probe) bool {
	var rc struct {
		HTTP json.RawMessage `json:"http"`
	}
	return json.Unmarshal(p.Fields["requestContext"], &rc) == nil && len(rc.HTTP) > 0 && string(rc.HTTP) != "null"
}

// decodeV2 reads an HTTP API (payload format 2.0) or function URL request:
// both have the shape of events.APIGatewayV2HTTPRequest.
func decodeV2(payload []byte) trigger.Event {
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return trigger.Unknown(EventHTTPAPI, "an HTTP API request that cannot be read ("+err.Error()+")", payload)
	}
	name := EventHTTPAPI
	if strings.Contains(req.RequestContext.DomainName, ".lambda-url.") {
		name = EventFunctionURL
	}
	body, err := trigger.DecodeBody(req.Body, req.IsBase64Encoded)
	if err != nil {
		return trigger.Unknown(name, "an HTTP API request that cannot be read ("+err.Error()+")", payload)
	}
	return trigger.Event{Trigger: trigger.TriggerHTTP, Name: name,
		HTTP: job.HTTPRequest{Method: req.RequestContext.HTTP.Method, Headers: req.Headers, Body: body}}
}

// decodeV1 reads a REST API (or HTTP API payload format 1.0) request.
func decodeV1(payload []byte) trigger.Event {
	var req events.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return trigger.Unknown(EventRESTAPI, "a REST API request that cannot be read ("+err.Error()+")", payload)
	}
	body, err := trigger.DecodeBody(req.Body, req.IsBase64Encoded)
	if err != nil {
		return trigger.Unknown(EventRESTAPI, "a REST API request that cannot be read ("+err.Error()+")", payload)
	}
	h := make(map[string]string, len(req.Headers)+len(req.MultiValueHeaders))
	for k, v := range req.MultiValueHeaders {
		if len(v) > 0 {
			h[k] = v[0]
		}
	}
	for k, v := range req.Headers {
		h[k] = v
	}
	return trigger.Event{Trigger: trigger.TriggerHTTP, Name: EventRESTAPI,
		HTTP: job.HTTPRequest{Method: req.HTTPMethod, Headers: h, Body: body}}
}

// decodeS3 reads an S3 notification.
func decodeS3(payload []byte, p *trigger.Probe) trigger.Event {
	if n := p.Len("Records"); n > trigger.MaxRecords {
		return trigger.Unknown(EventS3, fmt.Sprintf("a Records event with %d records, at most %d are read", n, trigger.MaxRecords), payload)
	}
	var se events.S3Event
	if err := json.Unmarshal(payload, &se); err != nil {
		return trigger.Unknown(EventS3, "a Records event that is not an S3 notification ("+err.Error()+")", payload)
	}
	if len(se.Records) == 0 {
		return trigger.Unknown(EventS3, "a Records event without records", payload)
	}
	objs := make([]trigger.Object, 0, len(se.Records))
	for i, r := range se.Records {
		if r.EventSource != "aws:s3" || r.S3.Bucket.Name == "" {
			src := r.EventSource
			if src == "" {
				src = "none"
			}
			return trigger.Unknown(EventS3, fmt.Sprintf("Records[%d] has eventSource %s: this function handles S3 notifications (aws:s3) only", i, src), payload)
		}
		loc, err := objstore.ParseLocation(objstore.SchemeS3 + "://" + r.S3.Bucket.Name + "/" + r.S3.Object.URLDecodedKey)
		if err != nil || r.S3.Object.URLDecodedKey == "" {
			why := "no object key"
			if err != nil {
				why = err.Error()
			}
			return trigger.Unknown(EventS3, fmt.Sprintf("Records[%d]: %s", i, why), payload)
		}
		o := trigger.Object{Location: loc, Region: r.AWSRegion}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			o.Skip = trigger.Clip("not an upload: "+r.EventName, trigger.MaxReason)
		}
		objs = append(objs, o)
	}
	return trigger.Event{Trigger: trigger.TriggerUpload, Name: EventS3, Objects: objs}
}

// decodeEventBridge reads an EventBridge event: a schedule's envelope runs
// the sweep (a schedule with an Input delivers the Input instead: a direct
// invocation).
func decodeEventBridge(payload []byte) trigger.Event {
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return trigger.Unknown(EventSchedule, "an EventBridge event that cannot be read ("+err.Error()+")", payload)
	}
	if ev.DetailType == "Scheduled Event" {
		return trigger.Event{Trigger: trigger.TriggerTimer, Name: EventSchedule}
	}
	return trigger.Unknown("eventbridge",
		fmt.Sprintf("an EventBridge event %q from %s: this function handles schedules (a rule's envelope or its Input) only", ev.DetailType, ev.Source), payload)
}

// NewLogHandler returns Lambda's slog handler (lambdacontext): JSON when the
// function's log format is JSON (AWS_LAMBDA_LOG_FORMAT), with the request id
// of the invocation in each record logged with its context.
func NewLogHandler() slog.Handler { return lambdacontext.NewLogHandler() }
