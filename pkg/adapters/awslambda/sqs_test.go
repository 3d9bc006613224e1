package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/adapters/trigger/triggertest"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
)

// The seam of a new kind of record, shown with a queue: a decoder of SQS
// messages, test-only (no queue trigger is deployed), added to the table of
// record sources as one entry. Its event's requests are the messages (job
// documents in their bodies, from callers that do not wait: refused as an
// HTTP caller's would be), named by their messageId, and its Reply the
// partial batch response.
//
// Shapes from AWS's Lambda developer guide, read 2026-12-01: the event from
// "Using Lambda with Amazon SQS" (docs.aws.amazon.com/lambda/latest/dg/with-sqs.html,
// the example standard queue message event: Records of messageId,
// receiptHandle, body, attributes, messageAttributes, md5OfBody,
// eventSource "aws:sqs", eventSourceARN, awsRegion); the answer from
// "Handling errors for an SQS event source in Lambda"
// (docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting:
// {"batchItemFailures":[{"itemIdentifier":"<messageId>"}]}, only the failed
// messages becoming visible again). aws-lambda-go's events.SQSEvent and
// events.SQSEventResponse hold the same shapes.

const (
	eventSQS  = "sqs"
	sourceSQS = "aws:sqs"
)

// withSQS returns rs with the SQS messages' entry.
func withSQS(rs trigger.Records) trigger.Records {
	rs.Decoders[sourceSQS] = sqsMessages
	return rs
}

// decodeSQS is decode with SQS messages routed.
func decodeSQS(payload []byte) trigger.Event { return decodeWith(withSQS(records()), payload) }

// sqsMessages makes the event of SQS messages: a request per message.
func sqsMessages(payload []byte, _ *trigger.Probe) trigger.Event {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return trigger.Unknown(eventSQS, "an SQS event that cannot be read ("+err.Error()+")", payload)
	}
	out := trigger.Event{Kind: "queue", Name: eventSQS, Reply: batchItemFailures}
	for _, m := range ev.Records {
		out.Requests = append(out.Requests, trigger.Request{ID: m.MessageId, Job: job.Submit([]byte(m.Body), eventSQS)})
	}
	return out
}

// batchItemFailures answers the messages that failed, for SQS to deliver
// again (and past the queue's maxReceiveCount to keep in its dead-letter
// queue): an error (a refusal included), or a job not wholly done (records
// left or refused). An invalid document is not: no delivery can help it. A
// run that failed as a whole (a panic) is an error: the whole batch again.
func batchItemFailures(o trigger.Outcome) (any, error) {
	if o.Err != nil {
		return nil, o.Err
	}
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, d := range o.Done {
		if d.Err != nil || d.Result.Status == job.StatusPending || d.Result.Failed > 0 {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: d.ID})
		}
	}
	return resp, nil
}

// sqsEvent is an SQS event of messages (id, body), as the guide's example.
func sqsEvent(messages ...[2]string) string {
	var recs []string
	for _, m := range messages {
		body, _ := json.Marshal(m[1])
		recs = append(recs, fmt.Sprintf(`{"messageId":%q,"receiptHandle":"AQEB…","body":%s,"attributes":{"ApproximateReceiveCount":"1",`+
			`"SentTimestamp":"1545082649183","SenderId":"AIDAIENQZJOLO23YVJ4VO","ApproximateFirstReceiveTimestamp":"1545082649185"},`+
			`"messageAttributes":{},"md5OfBody":"e4e68fb7bd0e697a0ae8f1bb342846b3","eventSource":"aws:sqs",`+
			`"eventSourceARN":"arn:aws:sqs:us-east-2:123456789012:my-queue","awsRegion":"us-east-2"}`, m[0], body))
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

// TestQueueSeam runs SQS messages through the handler, the job service and
// the IM emulator: each message is a job, the answer lists the failed ones.
func TestQueueSeam(t *testing.T) {
	im := emulator.NewServer(emulator.Config{})
	t.Cleanup(im.Close)
	client, err := imapi.NewClient(imapi.Config{SDKAppID: emulator.DefaultSDKAppID, SecretKey: emulator.DefaultKey, BaseURL: im.URL()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := job.New(job.Config{Engine: imapi.NewEngine(client, imapi.EngineConfig{}), MaxBodyBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, acc := range []string{"a1", "a2", "b1"} {
		im.SetTags(acc, "vip", "keep")
	}
	// The first call (m1) is answered, the second (m5) refused: the app is disabled.
	im.Script(emulator.Fault{}, emulator.Fault{Code: 60016})
	h := &trigger.Handler{Dispatcher: trigger.NewDispatcher(trigger.App{Service: svc}, nil, nil),
		Platform: trigger.Platform{Decode: decodeSQS}}

	out, err := h.Invoke(context.Background(), []byte(sqsEvent(
		[2]string{"m1", `{"To_Account":["a1","a2"],"Tags":["vip"]}`},                            // done
		[2]string{"m2", `{"UserTags":[{"To_Account":"","Tags":["vip"]}]}`},                      // invalid: deleted, no retry helps
		[2]string{"m3", `{"To_Account":["` + strings.Repeat("x", 2<<10) + `"],"Tags":["vip"]}`}, // too large: refused
		[2]string{"m4", `{"removetag":"continue","Source":"s3://inbox/a.csv","ETag":"e","Chain":1}`},
		[2]string{"m5", `{"To_Account":["b1"],"Tags":["vip"]}`}, // IM refused the call: failed
	)))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"batchItemFailures":[{"itemIdentifier":"m3"},{"itemIdentifier":"m4"},{"itemIdentifier":"m5"}]}`; string(out) != want {
		t.Errorf("answer %s, want %s", out, want)
	}
	for acc, want := range map[string][]string{"a1": {"keep"}, "a2": {"keep"}, "b1": {"keep", "vip"}} {
		if got := im.Tags(acc); !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", acc, got, want)
		}
	}
	if n := im.Stats().Requests; n != 2 {
		t.Errorf("%d calls to IM, want 2 (m1, m5)", n)
	}
}

// TestQueueRouting holds the routing by each record's eventSource: without
// the entry SQS messages are refused, naming the source; records of two
// sources in one event are refused; with the entry the decoder keeps the
// decoders' promises.
func TestQueueRouting(t *testing.T) {
	sqs := sqsEvent([2]string{"m1", "{}"})
	if ev := decode([]byte(sqs)); ev.Kind != trigger.KindUnknown || !strings.Contains(ev.Problem, "Records[0]: eventSource aws:sqs") {
		t.Errorf("without the entry: %s %q", ev.Kind, ev.Problem)
	}
	if ev := decodeSQS([]byte(sqs)); ev.Kind != "queue" || len(ev.Requests) != 1 || ev.Requests[0].ID != "m1" || ev.Reply == nil {
		t.Errorf("with the entry: %s %+v", ev.Kind, ev.Requests)
	}
	inner := func(ev string) string { return strings.TrimSuffix(strings.TrimPrefix(ev, `{"Records":[`), `]}`) }
	mixed := `{"Records":[` + inner(s3Event) + `,` + inner(sqs) + `]}`
	if ev := decodeSQS([]byte(mixed)); ev.Kind != trigger.KindUnknown || !strings.Contains(ev.Problem, "Records[1] comes from aws:sqs, Records[0] from aws:s3") {
		t.Errorf("mixed sources: %s %q", ev.Kind, ev.Problem)
	}
	triggertest.TestBounds(t, decodeSQS)
}
