package scf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/functioncontext"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/adapters/trigger/triggertest"
)

// Events as SCF sends them (from scf-go-lib's tests and Tencent's documentation).
const (
	gatewayEvent = `{"headerParameters": {}, "headers": {"authorization": "Bearer tok", "endpoint-timeout": "15", "host": "service-x.apigateway.myqcloud.com"}, "httpMethod": "POST", "path": "/removetag", "pathParameters": {}, "queryString": {"a": ["b", "c"], "x": "y", "i": true}, "queryStringParameters": {}, "requestContext": {"httpMethod": "POST", "identity": {}, "path": "/removetag", "serviceId": "service-x", "sourceIp": "8.8.8.8", "stage": "release"}, "body": "{\"To_Account\":[\"a\"],\"Tags\":[\"x\"]}"}`
	timerEvent   = `{"Message": "", "Time": "2019-08-17T05:26:00Z", "TriggerName": "oneminute", "Type": "Timer"}`
	cosEvent     = `{"Records": [{"cos": {"cosBucket": {"appid": "1250000000", "name": "files", "region": "gz"}, "cosNotificationId": "x", "cosObject": {"key": "/1250000000/files/incoming/a b%2B.csv", "meta": {}, "size": 9, "url": "http://files-1250000000.cos.ap-guangzhou.myqcloud.com/incoming/a%20b%2B.csv", "vid": ""}, "cosSchemaVersion": "1.0"}, "event": {"eventName": "cos:ObjectCreated:Put", "eventSource": "qcs::cos", "eventTime": 1566028555, "eventVersion": "1.0", "reqid": 1, "requestParameters": {"requestHeaders": {"Authorization": ""}, "requestSourceIP": "8.8.8.8"}, "reservedInfo": ""}}]}`
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		trigger string
		event   string
		check   func(t *testing.T, ev trigger.Event)
	}{
		{"api gateway", gatewayEvent, trigger.TriggerHTTP, EventAPIGateway, func(t *testing.T, ev trigger.Event) {
			if ev.HTTP.Method != "POST" || ev.HTTP.Headers["authorization"] != "Bearer tok" || string(ev.HTTP.Body) != `{"To_Account":["a"],"Tags":["x"]}` {
				t.Errorf("request %+v", ev.HTTP)
			}
			if ev.Timeout != 13*time.Second {
				t.Errorf("timeout %v, want endpoint-timeout 15 s less the margin", ev.Timeout)
			}
		}},
		{"api gateway, base64 body, odd query string",
			`{"httpMethod":"POST","requestContext":{},"headers":{},"queryString":{"n":1},"isBase64Encoded":true,"body":"eyJhIjoxfQ=="}`,
			trigger.TriggerHTTP, EventAPIGateway, func(t *testing.T, ev trigger.Event) {
				if string(ev.HTTP.Body) != `{"a":1}` {
					t.Errorf("body %q", ev.HTTP.Body)
				}
			}},
		{"api gateway, bad base64",
			`{"httpMethod":"POST","requestContext":{},"isBase64Encoded":true,"body":"!!"}`,
			trigger.TriggerUnknown, EventAPIGateway, nil},
		{"api gateway, unreadable", `{"httpMethod":5,"requestContext":{}}`, trigger.TriggerUnknown, EventAPIGateway, nil},
		{"timer, empty message: the sweep", timerEvent, trigger.TriggerTimer, EventTimer, func(t *testing.T, ev trigger.Event) {
			if ev.Message != "" {
				t.Errorf("message %q", ev.Message)
			}
		}},
		{"timer with a job", `{"Type":"Timer","TriggerName":"t","Time":"","Message":"{\"Source\":\"cos://files-1250000000/a.csv\"}"}`,
			trigger.TriggerTimer, EventTimer, func(t *testing.T, ev trigger.Event) {
				if ev.Message != `{"Source":"cos://files-1250000000/a.csv"}` {
					t.Errorf("message %q", ev.Message)
				}
			}},
		{"cos upload", cosEvent, trigger.TriggerUpload, EventCOS, func(t *testing.T, ev trigger.Event) {
			want := []trigger.Object{{Location: objstore.Location{Scheme: "cos", Bucket: "files-1250000000", Key: "incoming/a b+.csv"}, Region: "gz"}}
			if fmt.Sprint(ev.Objects) != fmt.Sprint(want) {
				t.Errorf("objects %+v, want %+v", ev.Objects, want)
			}
		}},
		{"cos removal: skipped", strings.Replace(cosEvent, "cos:ObjectCreated:Put", "cos:ObjectRemove:Delete", 1),
			trigger.TriggerUpload, EventCOS, func(t *testing.T, ev trigger.Event) {
				if !strings.Contains(ev.Objects[0].Skip, "cos:ObjectRemove:Delete") {
					t.Errorf("skip %q", ev.Objects[0].Skip)
				}
			}},
		{"records of another kind", `{"Records":[{"eventSource":"aws:sqs","body":"x"}]}`, trigger.TriggerUnknown, EventCOS, func(t *testing.T, ev trigger.Event) {
			if !strings.Contains(ev.Problem, "Records[0] is not a COS record") {
				t.Errorf("problem %q", ev.Problem)
			}
		}},
		{"no records", `{"Records":[]}`, trigger.TriggerUnknown, EventCOS, nil},
		{"direct job", `{"UserTags":[{"To_Account":"a","Tags":["x"]}]}`, trigger.TriggerDirect, EventDirect, nil},
		{"file job", `{"Source":"cos://files-1250000000/a.csv"}`, trigger.TriggerDirect, EventDirect, nil},
		{"continuation", `{"removetag":"continue","Source":"cos://files-1250000000/a.csv","Checkpoint":"c","ETag":"e","Chain":1}`,
			trigger.TriggerDirect, EventContinuation, nil},
		{"other object: direct, the service says what is wrong", `{"hello":"world"}`, trigger.TriggerDirect, EventDirect, nil},
		{"not JSON", `hello`, trigger.TriggerUnknown, "unknown", func(t *testing.T, ev trigger.Event) {
			if !strings.Contains(ev.Problem, `not JSON: 5 bytes starting "hello"`) {
				t.Errorf("problem %q", ev.Problem)
			}
		}},
		{"an array", `[{"Type":"Timer"}]`, trigger.TriggerUnknown, "unknown", nil},
		{"empty", ``, trigger.TriggerUnknown, "unknown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Decode([]byte(tt.payload))
			if ev.Trigger != tt.trigger || ev.Name != tt.event {
				t.Fatalf("trigger %q event %q, want %q %q (problem %q)", ev.Trigger, ev.Name, tt.trigger, tt.event, ev.Problem)
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}

func TestObjectKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"/1250000000/files/a.csv", "a.csv"},
		{"/1250000000/files-1250000000/dir/a.csv", "dir/a.csv"},
		{"/1250000000/files/dir/%E4%B8%AD.csv", "dir/中.csv"},
		{"/1250000000/files/100%.csv", "100%.csv"}, // not an escape: kept
		{"/1250000000/files/a+b.csv", "a+b.csv"},
		{"/dir/a.csv", "dir/a.csv"},
	}
	for _, tt := range tests {
		if got := ObjectKey(tt.key, "1250000000", "files", "files-1250000000"); got != tt.want {
			t.Errorf("ObjectKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// invokeCase is a triggertest.InvokeCase written without field names.
type invokeCase struct {
	Name, Payload, WantCall string
	WantKeys                []string
	WantInAnswer            string
}

func TestInvoke(t *testing.T) {
	tests := []invokeCase{
		{"api gateway: the integrated response", gatewayEvent, "http POST",
			[]string{"body", "headers", "isBase64Encoded", "statusCode"}, `"statusCode":202`},
		{"unreadable gateway request: 400 in the gateway's shape", `{"httpMethod":5,"requestContext":{}}`, "",
			[]string{"body", "headers", "isBase64Encoded", "statusCode"}, `"statusCode":400`},
		{"timer", timerEvent, "timer ", nil, `"Status":"swept"`},
		{"cos", cosEvent, "object cos://files-1250000000/incoming/a b+.csv gz", nil, `"Status":"done"`},
		{"direct", `{"UserTags":[]}`, `direct {"UserTags":[]}`, nil, `"Status":"done"`},
		{"not JSON", "\x00\x01binary", "", nil, `"Status":"invalid"`},
	}
	for _, tt := range tests {
		triggertest.RunInvoke(t, triggertest.InvokeCase(tt), http.StatusAccepted, func(d *trigger.Dispatcher) triggertest.Invoker { return NewHandler(d) })
	}
}

func TestLogHandlerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(&buf, slog.LevelInfo)).With("a", 1).WithGroup("g")
	ctx := functioncontext.NewContext(context.Background(), &functioncontext.FunctionContext{RequestID: "req-42"})
	log.InfoContext(ctx, "hello", "b", 2)
	log.Info("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"requestId":"req-42"`) || strings.Contains(lines[1], "requestId") {
		t.Errorf("logs:\n%s", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Errorf("not JSON: %v", err)
	}
}
