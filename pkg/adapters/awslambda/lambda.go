// Package awslambda adapts AWS Lambda (github.com/aws/aws-lambda-go) to the
// function's service: it tells an event's kind by its shape and makes a
// [trigger.Event] of it, with the reply the trigger expects; the
// [trigger.Handler] does the rest.
//
//	HTTP API (payload 2.0), function URL  {"version":"2.0","requestContext":{"http":…}}     → events.APIGatewayV2HTTPResponse
//	REST API, HTTP API payload 1.0        {"httpMethod","requestContext",…}                 → events.APIGatewayProxyResponse
//	S3 notification                       {"Records":[{"eventSource":"aws:s3","s3":…}]}     → the report (keys URL-decoded)
//	other Records (SQS, …): unknown, saying the records' eventSource (records: a source → its decoder)
//	S3 through EventBridge                {"source":"aws.s3","detail-type":"Object Created","detail":{"bucket","object"}} → the report
//	EventBridge schedule, no Input        {"detail-type":"Scheduled Event","source",…}      → the sweep's report
//	anything else that is a JSON object: a direct invocation, a schedule's Input or a continuation → the report
//
// Only the fields the function uses are read (see trigger.Text and
// trigger.Headers): a field it does not use, such as an object's size or an
// event's time, can never fail an event, whatever its type.
//
// Files: this one routes a payload by its shape, and a Records event by its
// records' eventSource (the table of records); http.go reads HTTP requests
// and shapes their replies; s3.go reads S3 notifications, directly or through
// EventBridge.
package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Names of the events, in logs.
const (
	eventHTTPAPI       = "apigw-v2"
	eventFunctionURL   = "function-url"
	eventRESTAPI       = "apigw-v1"
	eventS3            = "s3"
	eventS3Test        = "s3-test"
	eventS3EventBridge = "eventbridge-s3"
	eventEventBridge   = "eventbridge"
	eventSchedule      = "eventbridge-schedule"
)

// NewHandler returns the handler of the function's events on Lambda; pass it
// to lambda.Start, which hands it the raw payload.
func NewHandler(d *trigger.Dispatcher) *trigger.Handler {
	return &trigger.Handler{Dispatcher: d, Platform: trigger.Platform{Decode: decode}}
}

// decode tells a Lambda payload's kind by its shape and makes its event.
func decode(payload []byte) trigger.Event { return decodeWith(records(), payload) }

// decodeWith is decode with the table of record sources rs.
func decodeWith(rs trigger.Records, payload []byte) trigger.Event {
	p, problem := trigger.NewProbe(payload)
	switch {
	case p == nil:
		return trigger.Event{Kind: trigger.KindUnknown, Name: "unknown", Problem: problem}
	case p.Has("requestContext") && (p.String("version") == "2.0" || hasHTTPContext(p)):
		return decodeV2(payload)
	case p.Has("requestContext") && p.Has("httpMethod"):
		return decodeV1(payload)
	case p.Has("Records"):
		return rs.Decode(payload, p)
	case p.String("Event") == "s3:TestEvent":
		loc := storage.Location{Scheme: storage.SchemeS3, Bucket: p.String("Bucket")}
		return trigger.Objects(eventS3Test, trigger.Object{Location: loc, Skip: "S3's test event: the notification is set up"})
	case p.Has("detail-type") && p.Has("source"):
		return decodeEventBridge(payload)
	}
	return trigger.Direct(payload)
}

// sourceS3 is the eventSource of an S3 notification's records.
const sourceS3 = "aws:s3"

// records is the table of the record sources the function handles on Lambda,
// by each record's eventSource: S3 notifications. A new kind of record (an
// SQS message, "aws:sqs") is one entry.
func records() trigger.Records {
	return trigger.Records{
		Name:     eventS3,
		SourceOf: eventSource,
		Decoders: map[string]func([]byte, *trigger.Probe) trigger.Event{
			sourceS3: func(payload []byte, p *trigger.Probe) trigger.Event {
				return trigger.Uploads(eventS3, "an S3 notification", payload, p, recordObject)
			},
		},
		Refusal: func(source string) string {
			if source == "" {
				source = "none"
			}
			return fmt.Sprintf("eventSource %s: this function handles S3 notifications (%s) only", source, sourceS3)
		},
	}
}

// eventSource returns a record's eventSource, "" if it has none.
func eventSource(record json.RawMessage) string {
	var r struct {
		EventSource string `json:"eventSource"`
	}
	_ = json.Unmarshal(record, &r) // a field of another type is left empty
	return r.EventSource
}

// NewLogHandler returns Lambda's slog handler (lambdacontext): JSON when the
// function's log format is JSON (AWS_LAMBDA_LOG_FORMAT), with the request id
// of the invocation in each record logged with its context.
func NewLogHandler() slog.Handler { return lambdacontext.NewLogHandler() }

// RequestID returns the request id of ctx's invocation, or "" outside one.
func RequestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
