// Package lambdaadapter adapts AWS Lambda (github.com/aws/aws-lambda-go) to
// the function's service: it tells an event's kind by its shape, makes a
// [trigger.Event] of it, runs it through a [trigger.Dispatcher] and answers in
// the form the trigger expects.
//
//	HTTP API (payload 2.0), function URL  {"version":"2.0","requestContext":{"http":…}}     → events.APIGatewayV2HTTPResponse
//	REST API, HTTP API payload 1.0        {"httpMethod","requestContext",…}                 → events.APIGatewayProxyResponse
//	S3 notification                       {"Records":[{"eventSource":"aws:s3","s3":…}]}     → the report (keys URL-decoded)
//	S3 through EventBridge                {"source":"aws.s3","detail-type":"Object Created","detail":{"bucket","object"}} → the report
//	EventBridge schedule, no Input        {"detail-type":"Scheduled Event","source",…}      → the sweep's report
//	anything else that is a JSON object: a direct invocation, a schedule's Input or a continuation → the report
//
// Only the fields the function uses are read (see trigger.Text and
// trigger.Headers): a field it does not use, such as an object's size or an
// event's time, can never fail an event, whatever its type.
//
// Pass a [Handler] to lambda.Start: it implements lambda.Handler and gets the
// raw payload, so that even a payload that is not JSON gets an answer saying
// what arrived.
package lambdaadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Names of the events, in logs.
const (
	EventHTTPAPI       = "apigw-v2"
	EventFunctionURL   = "function-url"
	EventRESTAPI       = "apigw-v1"
	EventS3            = "s3"
	EventS3Test        = "s3-test"
	EventS3EventBridge = "eventbridge-s3"
	EventEventBridge   = "eventbridge"
	EventSchedule      = "eventbridge-schedule"
	EventDirect        = "direct"
	EventContinuation  = "continuation"
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
		loc := storage.Location{Scheme: storage.SchemeS3, Bucket: p.String("Bucket")}
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

// v2Request is what the function reads of an HTTP API (payload format 2.0)
// or function URL request (the shape of events.APIGatewayV2HTTPRequest).
type v2Request struct {
	RequestContext struct {
		DomainName string `json:"domainName"`
		HTTP       struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
	Headers  trigger.Headers `json:"headers"`
	Body     trigger.Text    `json:"body"`
	IsBase64 bool            `json:"isBase64Encoded"`
}

// decodeV2 reads an HTTP API (payload format 2.0) or function URL request.
func decodeV2(payload []byte) trigger.Event {
	var req v2Request
	if err := json.Unmarshal(payload, &req); err != nil {
		return trigger.Unknown(EventHTTPAPI, "an HTTP API request that cannot be read ("+err.Error()+")", payload)
	}
	name := EventHTTPAPI
	if strings.Contains(req.RequestContext.DomainName, ".lambda-url.") {
		name = EventFunctionURL
	}
	body, err := trigger.DecodeBody(string(req.Body), req.IsBase64)
	if err != nil {
		return trigger.Unknown(name, "an HTTP API request that cannot be read ("+err.Error()+")", payload)
	}
	return trigger.Event{Trigger: trigger.TriggerHTTP, Name: name,
		HTTP: job.HTTPRequest{Method: req.RequestContext.HTTP.Method, Headers: req.Headers, Body: body}}
}

// v1Request is what the function reads of a REST API (or HTTP API payload
// format 1.0) request (the shape of events.APIGatewayProxyRequest).
type v1Request struct {
	Method            string          `json:"httpMethod"`
	Headers           trigger.Headers `json:"headers"`
	MultiValueHeaders trigger.Headers `json:"multiValueHeaders"`
	Body              trigger.Text    `json:"body"`
	IsBase64          bool            `json:"isBase64Encoded"`
}

// decodeV1 reads a REST API (or HTTP API payload format 1.0) request.
func decodeV1(payload []byte) trigger.Event {
	var req v1Request
	if err := json.Unmarshal(payload, &req); err != nil {
		return trigger.Unknown(EventRESTAPI, "a REST API request that cannot be read ("+err.Error()+")", payload)
	}
	body, err := trigger.DecodeBody(string(req.Body), req.IsBase64)
	if err != nil {
		return trigger.Unknown(EventRESTAPI, "a REST API request that cannot be read ("+err.Error()+")", payload)
	}
	return trigger.Event{Trigger: trigger.TriggerHTTP, Name: EventRESTAPI,
		HTTP: job.HTTPRequest{Method: req.Method, Headers: req.Headers.With(req.MultiValueHeaders), Body: body}}
}

// s3Record is what the function reads of an S3 notification's record; the
// rest (size, eventTime, …) is not read, so its type cannot fail an event.
type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	AWSRegion   string `json:"awsRegion"`
	S3          struct {
		Bucket s3Bucket `json:"bucket"`
		Object s3Object `json:"object"`
	} `json:"s3"`
}

type (
	s3Bucket struct {
		Name string `json:"name"`
	}
	s3Object struct {
		Key string `json:"key"`
	}
)

// decodeS3 reads an S3 notification.
func decodeS3(payload []byte, p *trigger.Probe) trigger.Event {
	if n := p.Len("Records"); n > trigger.MaxRecords {
		return trigger.Unknown(EventS3, fmt.Sprintf("a Records event with %d records, at most %d are read", n, trigger.MaxRecords), payload)
	}
	var se struct{ Records []s3Record }
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
		o, err := s3Upload(r.S3.Bucket.Name, r.S3.Object.Key, r.AWSRegion)
		if err != nil {
			return trigger.Unknown(EventS3, fmt.Sprintf("Records[%d]: %v", i, err), payload)
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			o.Skip = trigger.Clip("not an upload: "+r.EventName, trigger.MaxReason)
		}
		objs = append(objs, o)
	}
	return trigger.Event{Trigger: trigger.TriggerUpload, Name: EventS3, Objects: objs}
}

// s3Upload makes the object of an S3 event from its bucket and its key, which
// S3 URL-encodes (a space as "+"; the "Event message structure" page of the
// S3 user guide).
func s3Upload(bucket, eventKey, region string) (trigger.Object, error) {
	key, err := url.QueryUnescape(eventKey)
	if err != nil {
		return trigger.Object{}, fmt.Errorf("object key %q is not URL-encoded: %w", trigger.Clip(eventKey, 200), err)
	}
	if key == "" {
		return trigger.Object{}, errors.New("no object key")
	}
	loc, err := storage.ParseLocation(storage.SchemeS3 + "://" + bucket + "/" + key)
	if err != nil {
		return trigger.Object{}, err
	}
	return trigger.Object{Location: loc, Region: region}, nil
}

// eventBridgeEvent is what the function reads of an EventBridge event.
type eventBridgeEvent struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

// decodeEventBridge reads an EventBridge event: a schedule's envelope runs
// the sweep (a schedule with an Input delivers the Input instead: a direct
// invocation); S3's events (source aws.s3) are handled as S3 notifications:
// "Object Created" is an upload, any other S3 event is skipped.
func decodeEventBridge(payload []byte) trigger.Event {
	var ev eventBridgeEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return trigger.Unknown(EventEventBridge, "an EventBridge event that cannot be read ("+err.Error()+")", payload)
	}
	switch {
	case ev.DetailType == "Scheduled Event":
		return trigger.Event{Trigger: trigger.TriggerTimer, Name: EventSchedule}
	case ev.Source == "aws.s3":
		return decodeS3EventBridge(ev, payload)
	}
	return trigger.Unknown(EventEventBridge,
		fmt.Sprintf("an EventBridge event %q from %s: this function handles schedules (a rule's envelope or its Input) and S3 uploads (aws.s3) only", ev.DetailType, ev.Source), payload)
}

// decodeS3EventBridge reads an S3 event delivered by EventBridge (the
// "EventBridge event message structure" page of the S3 user guide): the
// object is detail.bucket.name and detail.object.key, the key URL-decoded as
// in S3's own notifications (as aws-powertools does in
// S3EventBridgeNotificationObject.key).
func decodeS3EventBridge(ev eventBridgeEvent, payload []byte) trigger.Event {
	var d struct {
		Bucket s3Bucket `json:"bucket"`
		Object s3Object `json:"object"`
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Bucket.Name == "" {
		why := "no detail.bucket.name"
		if err != nil {
			why = err.Error()
		}
		return trigger.Unknown(EventS3EventBridge, "an S3 event from EventBridge that cannot be read ("+why+")", payload)
	}
	o, err := s3Upload(d.Bucket.Name, d.Object.Key, ev.Region)
	if err != nil {
		return trigger.Unknown(EventS3EventBridge, "an S3 event from EventBridge: "+err.Error(), payload)
	}
	if ev.DetailType != "Object Created" {
		o.Skip = trigger.Clip("not an upload: "+ev.DetailType, trigger.MaxReason)
	}
	return trigger.Event{Trigger: trigger.TriggerUpload, Name: EventS3EventBridge, Objects: []trigger.Object{o}}
}

// NewLogHandler returns Lambda's slog handler (lambdacontext): JSON when the
// function's log format is JSON (AWS_LAMBDA_LOG_FORMAT), with the request id
// of the invocation in each record logged with its context.
func NewLogHandler() slog.Handler { return lambdacontext.NewLogHandler() }
