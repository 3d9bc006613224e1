package awslambda

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/adapters/trigger/triggertest"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Events as Lambda delivers them (shapes from aws-lambda-go's testdata).
const (
	httpAPIEvent       = `{"version":"2.0","routeKey":"POST /removetag","rawPath":"/removetag","rawQueryString":"","headers":{"authorization":"Bearer tok","content-type":"application/json"},"requestContext":{"accountId":"123","apiId":"api","domainName":"api.execute-api.us-east-1.amazonaws.com","http":{"method":"POST","path":"/removetag","protocol":"HTTP/1.1","sourceIp":"1.2.3.4","userAgent":"curl"},"requestId":"r","routeKey":"POST /removetag","stage":"$default","time":"12/Mar/2020:19:03:58 +0000","timeEpoch":1583348638390},"body":"eyJUb19BY2NvdW50IjpbImEiXSwiVGFncyI6WyJ4Il19","isBase64Encoded":true}`
	urlEvent           = `{"version":"2.0","rawPath":"/","headers":{"authorization":"Bearer tok"},"requestContext":{"domainName":"abc.lambda-url.us-east-1.on.aws","http":{"method":"PUT","path":"/"}},"body":"{}","isBase64Encoded":false}`
	restEvent          = `{"resource":"/removetag","path":"/removetag","httpMethod":"POST","headers":{"Content-Type":"application/json"},"multiValueHeaders":{"Authorization":["Bearer tok"],"Content-Type":["application/json"]},"queryStringParameters":null,"requestContext":{"resourcePath":"/removetag","httpMethod":"POST","stage":"prod"},"body":"{\"UserTags\":[]}","isBase64Encoded":false}`
	s3Event            = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"inbox","arn":"arn:aws:s3:::inbox"},"object":{"key":"incoming/a+b%2B%E4%B8%AD.csv","size":9,"eTag":"e"}}}]}`
	s3EventBridgeEvent = `{"version":"0","id":"17793124","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2021-11-12T00:00:00Z","region":"eu-west-1","resources":["arn:aws:s3:::inbox"],"detail":{"version":"0","bucket":{"name":"inbox"},"object":{"key":"incoming/a+b%2B%E4%B8%AD.csv","size":5,"etag":"b1946ac92492d2347c6235b4d2611184","sequencer":"617f08299329d189"},"request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","source-ip-address":"1.2.3.4","reason":"PutObject"}}`
	scheduleEvent      = `{"version":"0","id":"89d1a02d","detail-type":"Scheduled Event","source":"aws.events","account":"123","time":"2024-01-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123:rule/sweep"],"detail":{}}`
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		trigger trigger.Kind
		event   string
		check   func(t *testing.T, ev trigger.Event)
	}{
		{"http api, base64 body", httpAPIEvent, trigger.KindHTTP, eventHTTPAPI, func(t *testing.T, ev trigger.Event) {
			if ev.HTTP.Method != "POST" || ev.HTTP.Headers["authorization"] != "Bearer tok" || string(ev.HTTP.Body) != `{"To_Account":["a"],"Tags":["x"]}` {
				t.Errorf("request %+v", ev.HTTP)
			}
		}},
		{"function url", urlEvent, trigger.KindHTTP, eventFunctionURL, func(t *testing.T, ev trigger.Event) {
			if ev.HTTP.Method != "PUT" || string(ev.HTTP.Body) != "{}" {
				t.Errorf("request %+v", ev.HTTP)
			}
		}},
		{"v2 without version field", `{"requestContext":{"http":{"method":"POST"}},"body":"x"}`, trigger.KindHTTP, eventHTTPAPI, nil},
		{"v2 bad base64", `{"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"!!","isBase64Encoded":true}`, trigger.KindUnknown, eventHTTPAPI, nil},
		{"rest api", restEvent, trigger.KindHTTP, eventRESTAPI, func(t *testing.T, ev trigger.Event) {
			if ev.HTTP.Method != "POST" || ev.HTTP.Headers["authorization"] != "Bearer tok" || string(ev.HTTP.Body) != `{"UserTags":[]}` {
				t.Errorf("request %+v", ev.HTTP)
			}
		}},
		{"rest api unreadable", `{"httpMethod":1,"requestContext":{}}`, trigger.KindUnknown, eventRESTAPI, nil},
		{"s3 upload, key URL-decoded", s3Event, trigger.KindUpload, eventS3, func(t *testing.T, ev trigger.Event) {
			want := []trigger.Object{{Location: storage.Location{Scheme: "s3", Bucket: "inbox", Key: "incoming/a b+中.csv"}, Region: "us-east-1"}}
			if fmt.Sprint(ev.Objects()) != fmt.Sprint(want) {
				t.Errorf("objects %+v, want %+v", ev.Objects(), want)
			}
		}},
		{"s3 removal: skipped", strings.Replace(s3Event, "ObjectCreated:Put", "ObjectRemoved:Delete", 1), trigger.KindUpload, eventS3,
			func(t *testing.T, ev trigger.Event) {
				if ev.Objects()[0].Skip == "" {
					t.Error("not skipped")
				}
			}},
		{"s3 test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"inbox","RequestId":"r","HostId":"h"}`,
			trigger.KindUpload, eventS3Test, func(t *testing.T, ev trigger.Event) {
				if len(ev.Objects()) != 1 || ev.Objects()[0].Skip == "" {
					t.Errorf("objects %+v", ev.Objects())
				}
			}},
		{"sqs records", `{"Records":[{"messageId":"m","eventSource":"aws:sqs","body":"x"}]}`, trigger.KindUnknown, eventS3,
			func(t *testing.T, ev trigger.Event) {
				if !strings.Contains(ev.Problem, "eventSource aws:sqs") || !strings.Contains(ev.Problem, "keys [Records]") {
					t.Errorf("problem %q", ev.Problem)
				}
			}},
		{"s3 bad key escape", strings.Replace(s3Event, "incoming/a+b", "incoming/%zz", 1), trigger.KindUnknown, eventS3, nil},
		{"s3 upload, size and time of other types", strings.NewReplacer(`"size":9`, `"size":"9"`, `"eventTime":"2024-01-01T00:00:00.000Z"`, `"eventTime":1704067200`).Replace(s3Event),
			trigger.KindUpload, eventS3, func(t *testing.T, ev trigger.Event) {
				if len(ev.Objects()) != 1 || ev.Objects()[0].Location.Key != "incoming/a b+中.csv" {
					t.Errorf("objects %+v", ev.Objects())
				}
			}},
		{"rest api, header only in multiValueHeaders, and a single header winning over it",
			`{"httpMethod":"POST","requestContext":{},"headers":{"X-A":"single"},"multiValueHeaders":{"Authorization":["Bearer tok"],"X-A":["multi"]},"body":""}`,
			trigger.KindHTTP, eventRESTAPI, func(t *testing.T, ev trigger.Event) {
				if ev.HTTP.Headers["authorization"] != "Bearer tok" || ev.HTTP.Headers["x-a"] != "single" {
					t.Errorf("headers %v", ev.HTTP.Headers)
				}
			}},
		{"s3 through eventbridge, key URL-decoded", s3EventBridgeEvent, trigger.KindUpload, eventS3EventBridge, func(t *testing.T, ev trigger.Event) {
			want := []trigger.Object{{Location: storage.Location{Scheme: "s3", Bucket: "inbox", Key: "incoming/a b+中.csv"}, Region: "eu-west-1"}}
			if fmt.Sprint(ev.Objects()) != fmt.Sprint(want) {
				t.Errorf("objects %+v, want %+v", ev.Objects(), want)
			}
		}},
		{"s3 deletion through eventbridge: skipped", strings.Replace(s3EventBridgeEvent, "Object Created", "Object Deleted", 1),
			trigger.KindUpload, eventS3EventBridge, func(t *testing.T, ev trigger.Event) {
				if len(ev.Objects()) != 1 || ev.Objects()[0].Skip != "not an upload: Object Deleted" {
					t.Errorf("objects %+v", ev.Objects())
				}
			}},
		{"s3 through eventbridge without a bucket", `{"source":"aws.s3","detail-type":"Object Created","detail":{}}`,
			trigger.KindUnknown, eventS3EventBridge, func(t *testing.T, ev trigger.Event) {
				if !strings.Contains(ev.Problem, "no detail.bucket.name") {
					t.Errorf("problem %q", ev.Problem)
				}
			}},
		{"schedule envelope: the sweep", scheduleEvent, trigger.KindTimer, eventSchedule, func(t *testing.T, ev trigger.Event) {
			if triggertest.Message(ev) != "" {
				t.Errorf("message %q", triggertest.Message(ev))
			}
		}},
		{"other eventbridge event", strings.Replace(scheduleEvent, "Scheduled Event", "EC2 Instance State-change Notification", 1),
			trigger.KindUnknown, "eventbridge", func(t *testing.T, ev trigger.Event) {
				if !strings.Contains(ev.Problem, "EC2 Instance State-change Notification") {
					t.Errorf("problem %q", ev.Problem)
				}
			}},
		{"schedule input: a job document", `{"Source":"s3://inbox/nightly.csv"}`, trigger.KindDirect, "direct", nil},
		{"continuation", `{"removetag":"continue","Source":"s3://inbox/a.csv","Checkpoint":"c","ETag":"e","Chain":2}`,
			trigger.KindDirect, "continuation", nil},
		{"not JSON", "{oops", trigger.KindUnknown, "unknown", nil},
		{"a number", "42", trigger.KindUnknown, "unknown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := decode([]byte(tt.payload))
			if ev.Kind != tt.trigger || ev.Name != tt.event {
				t.Fatalf("trigger %q event %q, want %q %q (problem %q)", ev.Kind, ev.Name, tt.trigger, tt.event, ev.Problem)
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}

// sample is a triggertest.Sample written without field names.
type sample struct {
	File, Source string
	Kind         trigger.Kind
	Event, Want  string
}

// invokeCase is a triggertest.InvokeCase written without field names.
type invokeCase struct {
	Name, Payload, WantCall string
	WantKeys                []string
	WantInAnswer            string
}

func TestInvoke(t *testing.T) {
	v2Keys := []string{"body", "cookies", "headers", "multiValueHeaders", "statusCode"}
	v1Keys := []string{"body", "headers", "multiValueHeaders", "statusCode"}
	tests := []invokeCase{
		{"http api", httpAPIEvent, "http POST", v2Keys, `"statusCode":200`},
		{"function url", urlEvent, "http PUT", v2Keys, `"statusCode":200`},
		{"rest api", restEvent, "http POST", v1Keys, `"statusCode":200`},
		{"unreadable http api request: 400", `{"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"!!","isBase64Encoded":true}`,
			"", v2Keys, `"statusCode":400`},
		{"s3", s3Event, "object s3://inbox/incoming/a b+中.csv us-east-1", nil, `"Status":"done"`},
		{"schedule", scheduleEvent, "timer ", nil, `"Status":"swept"`},
		{"s3 through eventbridge", s3EventBridgeEvent, "object s3://inbox/incoming/a b+中.csv eu-west-1", nil, `"Status":"done"`},
		{"direct", `{"To_Account":["a"],"Tags":["x"]}`, `direct {"To_Account":["a"],"Tags":["x"]}`, nil, `"Status":"done"`},
		{"unknown", `[]`, "", nil, `"Status":"invalid"`},
	}
	for _, tt := range tests {
		triggertest.RunInvoke(t, triggertest.InvokeCase(tt), http.StatusOK, func(d *trigger.Dispatcher) triggertest.Invoker { return NewHandler(d) })
	}
}

// TestDecodePublicSamples decodes events as published by AWS's libraries and
// documentation, kept in testdata as they were published (the S3 user guide's
// template with its eventName placeholder filled in).
func TestDecodePublicSamples(t *testing.T) {
	triggertest.RunSamples(t, decode, []sample{
		{"aws-lambda-go-s3-event.json", "aws/aws-lambda-go, events/testdata/s3-event.json", trigger.KindUpload, eventS3,
			"[{s3://sourcebucket/Happy Face.jpg us-east-1 }]"},
		{"s3-userguide-structure.json", "the S3 user guide's \"Event message structure\" template (size \"object-size in bytes\")", trigger.KindUpload, eventS3,
			"[{s3://bucket-name/object-key us-west-2 }]"},
		{"powertools-s3EventBridgeNotificationObjectCreatedEvent.json", "aws-powertools/powertools-lambda-python, tests/events/s3EventBridgeNotificationObjectCreatedEvent.json",
			trigger.KindUpload, eventS3EventBridge, "[{s3://example-bucket/IMG_m7fzo3.jpg eu-west-1 }]"},
		{"powertools-s3EventBridgeNotificationObjectDeletedEvent.json", "aws-powertools/powertools-lambda-python, tests/events/s3EventBridgeNotificationObjectDeletedEvent.json",
			trigger.KindUpload, eventS3EventBridge, "[{s3://example-bucket/IMG_m7fzo3.jpg ca-central-1 not an upload: Object Deleted}]"},
		{"aws-lambda-go-lambda-urls-request.json", "aws/aws-lambda-go, events/testdata/lambda-urls-request.json", trigger.KindHTTP, eventFunctionURL,
			"POST Hello from client! ?parameter1=value1,value2&parameter2=value"},
		{"aws-lambda-go-apigw-v2-request-no-authorizer.json", "aws/aws-lambda-go, events/testdata/apigw-v2-request-no-authorizer.json", trigger.KindHTTP, eventHTTPAPI,
			"GET "},
		{"aws-lambda-go-apigw-request.json", "aws/aws-lambda-go, events/testdata/apigw-request.json", trigger.KindHTTP, eventRESTAPI,
			"POST {\r\n\t\"a\": 1\r\n} ?name=me"},
	})
}
