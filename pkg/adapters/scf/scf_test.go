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

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/adapters/trigger/triggertest"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Events as SCF sends them (from scf-go-lib's tests and Tencent's documentation).
const (
	urlEvent     = `{"body":"{\"To_Account\":[\"a\"],\"Tags\":[\"x\"]}","headers":{"accept":"*/*","authorization":"Bearer tok","content-type":"application/json","x-scf-remote-addr":"111.206.96.145"},"httpMethod":"POST","path":"/","queryString":{"a":"1"}}`
	gatewayEvent = `{"headerParameters": {}, "headers": {"authorization": "Bearer tok", "endpoint-timeout": "15", "host": "service-x.apigateway.myqcloud.com"}, "httpMethod": "POST", "path": "/removetag", "pathParameters": {}, "queryString": {"a": ["b", "c"], "x": "y", "i": true}, "queryStringParameters": {}, "requestContext": {"httpMethod": "POST", "identity": {}, "path": "/removetag", "serviceId": "service-x", "sourceIp": "8.8.8.8", "stage": "release"}, "body": "{\"To_Account\":[\"a\"],\"Tags\":[\"x\"]}"}`
	timerEvent   = `{"Message": "", "Time": "2019-08-17T05:26:00Z", "TriggerName": "oneminute", "Type": "Timer"}`
	cosEvent     = `{"Records": [{"cos": {"cosBucket": {"appid": "1250000000", "name": "files", "region": "gz"}, "cosNotificationId": "x", "cosObject": {"key": "/1250000000/files/incoming/a b%2B.csv", "meta": {}, "size": 9, "url": "http://files-1250000000.cos.ap-guangzhou.myqcloud.com/incoming/a%20b%2B.csv", "vid": ""}, "cosSchemaVersion": "1.0"}, "event": {"eventName": "cos:ObjectCreated:Put", "eventSource": "qcs::cos", "eventTime": 1566028555, "eventVersion": "1.0", "reqid": 1, "requestParameters": {"requestHeaders": {"Authorization": ""}, "requestSourceIP": "8.8.8.8"}, "reservedInfo": ""}}]}`
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		trigger trigger.Kind
		event   string
		check   func(t *testing.T, ev trigger.Event)
	}{
		{"api gateway", gatewayEvent, trigger.KindHTTP, eventAPIGateway, func(t *testing.T, ev trigger.Event) {
			if ev.HTTP.Method != "POST" || ev.HTTP.Headers["authorization"] != "Bearer tok" || string(ev.HTTP.Body) != `{"To_Account":["a"],"Tags":["x"]}` {
				t.Errorf("request %+v", ev.HTTP)
			}
			if ev.HTTP.Timeout != 13*time.Second {
				t.Errorf("timeout %v, want endpoint-timeout 15 s less the margin", ev.HTTP.Timeout)
			}
		}},
		{"api gateway, base64 body, odd query string",
			`{"httpMethod":"POST","requestContext":{},"headers":{},"queryString":{"n":1},"isBase64Encoded":true,"body":"eyJhIjoxfQ=="}`,
			trigger.KindHTTP, eventAPIGateway, func(t *testing.T, ev trigger.Event) {
				if string(ev.HTTP.Body) != `{"a":1}` {
					t.Errorf("body %q", ev.HTTP.Body)
				}
			}},
		{"api gateway, bad base64",
			`{"httpMethod":"POST","requestContext":{},"isBase64Encoded":true,"body":"!!"}`,
			trigger.KindUnknown, eventAPIGateway, nil},
		{"api gateway, unreadable", `{"httpMethod":5,"requestContext":{}}`, trigger.KindUnknown, eventAPIGateway, nil},
		{"function url", urlEvent, trigger.KindHTTP, eventFunctionURL, func(t *testing.T, ev trigger.Event) {
			if ev.HTTP.Method != "POST" || ev.HTTP.Headers["authorization"] != "Bearer tok" || string(ev.HTTP.Body) != `{"To_Account":["a"],"Tags":["x"]}` {
				t.Errorf("request %+v", ev.HTTP)
			}
			if ev.HTTP.Timeout != 0 {
				t.Errorf("timeout %v without an endpoint-timeout header", ev.HTTP.Timeout)
			}
		}},
		{"function url, header names in any case", strings.Replace(urlEvent, `"authorization"`, `"Authorization"`, 1),
			trigger.KindHTTP, eventFunctionURL, func(t *testing.T, ev trigger.Event) {
				if ev.HTTP.Headers["authorization"] != "Bearer tok" {
					t.Errorf("headers %v", ev.HTTP.Headers)
				}
			}},
		{"function url, base64 body where the flag is sent", `{"httpMethod":"POST","headers":{},"isBase64Encoded":true,"body":"eyJhIjoxfQ=="}`,
			trigger.KindHTTP, eventFunctionURL, func(t *testing.T, ev trigger.Event) {
				if string(ev.HTTP.Body) != `{"a":1}` {
					t.Errorf("body %q", ev.HTTP.Body)
				}
			}},
		{"function url, no body", `{"httpMethod":"GET","headers":{},"path":"/"}`, trigger.KindHTTP, eventFunctionURL, func(t *testing.T, ev trigger.Event) {
			if ev.HTTP.Method != "GET" || len(ev.HTTP.Body) != 0 {
				t.Errorf("request %+v", ev.HTTP)
			}
		}},
		{"function url, headers not an object", `{"httpMethod":"POST","headers":"x"}`, trigger.KindUnknown, eventFunctionURL, func(t *testing.T, ev trigger.Event) {
			if !strings.Contains(ev.Problem, "a function URL request that cannot be read") {
				t.Errorf("problem %q", ev.Problem)
			}
		}},
		{"timer, empty message: the sweep", timerEvent, trigger.KindTimer, eventTimer, func(t *testing.T, ev trigger.Event) {
			if triggertest.Message(ev) != "" {
				t.Errorf("message %q", triggertest.Message(ev))
			}
		}},
		{"timer with a job", `{"Type":"Timer","TriggerName":"t","Time":"","Message":"{\"Source\":\"cos://files-1250000000/a.csv\"}"}`,
			trigger.KindTimer, eventTimer, func(t *testing.T, ev trigger.Event) {
				if triggertest.Message(ev) != `{"Source":"cos://files-1250000000/a.csv"}` {
					t.Errorf("message %q", triggertest.Message(ev))
				}
			}},
		{"timer, type in lower case", strings.Replace(timerEvent, `"Timer"`, `"timer"`, 1), trigger.KindTimer, eventTimer, nil},
		{"timer, message as a JSON object", `{"Type":"Timer","Message":{"Source":"cos://files-1250000000/a.csv"}}`,
			trigger.KindTimer, eventTimer, func(t *testing.T, ev trigger.Event) {
				if triggertest.Message(ev) != `{"Source":"cos://files-1250000000/a.csv"}` {
					t.Errorf("message %q", triggertest.Message(ev))
				}
			}},
		{"cos upload, size, time and appid of other types", strings.NewReplacer(`"size": 9`, `"size": "9"`, `"eventTime": 1566028555`, `"eventTime": "1970-01-01T00:00:00.000Z"`, `"appid": "1250000000"`, `"appid": 1250000000`).Replace(cosEvent),
			trigger.KindUpload, eventCOS, func(t *testing.T, ev trigger.Event) {
				if len(ev.Objects()) != 1 || ev.Objects()[0].Location.Bucket != "files-1250000000" || ev.Objects()[0].Location.Key != "incoming/a b+.csv" {
					t.Errorf("objects %+v", ev.Objects())
				}
			}},
		{"cos upload", cosEvent, trigger.KindUpload, eventCOS, func(t *testing.T, ev trigger.Event) {
			want := []trigger.Object{{Location: storage.Location{Scheme: "cos", Bucket: "files-1250000000", Key: "incoming/a b+.csv"}, Region: "gz"}}
			if fmt.Sprint(ev.Objects()) != fmt.Sprint(want) {
				t.Errorf("objects %+v, want %+v", ev.Objects(), want)
			}
		}},
		{"cos removal: skipped", strings.Replace(cosEvent, "cos:ObjectCreated:Put", "cos:ObjectRemove:Delete", 1),
			trigger.KindUpload, eventCOS, func(t *testing.T, ev trigger.Event) {
				if !strings.Contains(ev.Objects()[0].Skip, "cos:ObjectRemove:Delete") {
					t.Errorf("skip %q", ev.Objects()[0].Skip)
				}
			}},
		{"records of another kind", `{"Records":[{"eventSource":"aws:sqs","body":"x"}]}`, trigger.KindUnknown, eventCOS, func(t *testing.T, ev trigger.Event) {
			if !strings.Contains(ev.Problem, "Records[0]: not a COS record") {
				t.Errorf("problem %q", ev.Problem)
			}
		}},
		{"no records", `{"Records":[]}`, trigger.KindUnknown, eventCOS, nil},
		{"direct job", `{"UserTags":[{"To_Account":"a","Tags":["x"]}]}`, trigger.KindDirect, "direct", nil},
		{"file job", `{"Source":"cos://files-1250000000/a.csv"}`, trigger.KindDirect, "direct", nil},
		{"continuation", `{"removetag":"continue","Source":"cos://files-1250000000/a.csv","Checkpoint":"c","ETag":"e","Chain":1}`,
			trigger.KindDirect, "continuation", nil},
		{"other object: direct, the service says what is wrong", `{"hello":"world"}`, trigger.KindDirect, "direct", nil},
		{"not JSON", `hello`, trigger.KindUnknown, "unknown", func(t *testing.T, ev trigger.Event) {
			if !strings.Contains(ev.Problem, `not JSON: 5 bytes starting "hello"`) {
				t.Errorf("problem %q", ev.Problem)
			}
		}},
		{"an array", `[{"Type":"Timer"}]`, trigger.KindUnknown, "unknown", nil},
		{"empty", ``, trigger.KindUnknown, "unknown", nil},
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
		if got := objectKey(tt.key, "1250000000", "files", "files-1250000000"); got != tt.want {
			t.Errorf("objectKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
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
	tests := []invokeCase{
		{"api gateway: the integrated response", gatewayEvent, "http POST",
			[]string{"body", "headers", "isBase64Encoded", "statusCode"}, `"statusCode":202`},
		{"function url: statusCode, headers, body", urlEvent, "http POST",
			[]string{"body", "headers", "statusCode"}, `"statusCode":202`},
		{"unreadable function url request: 400 in the function URL's shape", `{"httpMethod":"POST","headers":7}`, "",
			[]string{"body", "headers", "statusCode"}, `"statusCode":400`},
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

// TestDecodePublicSamples decodes events as published by Tencent and
// scf-go-lib, kept in testdata as they were published (the console template's
// comments removed, its eventName placeholder filled in).
func TestDecodePublicSamples(t *testing.T) {
	const docs = "tencentyun/qcloud-documents, product/计算与网络/无服务器云函数/"
	triggertest.RunSamples(t, decode, []sample{
		{"url-doc.json", "Tencent's 函数 URL 概述 (cloud.tencent.com/document/product/583/96099), the event function's request", trigger.KindHTTP, eventFunctionURL,
			`POST {"test":"hello world"} ?a=1&b=2`},
		{"apigw-doc.json", docs + "操作指南/触发器管理/触发器事件消息结构汇总.md", trigger.KindHTTP, eventAPIGateway,
			`POST {"test":"body"} ?bob=alice&foo=bar`},
		{"timer-lowercase-doc.json", docs + "操作指南/触发器管理/定时触发器.md (\"Type\":\"timer\")", trigger.KindTimer, eventTimer,
			"user define msg body"},
		{"timer-scf-go-lib.json", "tencentyun/scf-go-lib, events/timer_test.go", trigger.KindTimer, eventTimer, ""},
		{"cos-doc.json", docs + "操作指南/触发器管理/COS 触发器.md", trigger.KindUpload, eventCOS,
			"[{cos://testpic-1253970026/testfile cd }]"},
		{"cos-console-template.json", docs + "2.国际站文档/最佳实践/MapReduce 方法/步骤 3. 创建 Mapper 和 Reducer 函数并测试_intl.md, the console's COS test template (size and eventTime strings)",
			trigger.KindUpload, eventCOS, "[{cos://srcmr-1251111111/serverless.txt gz }]"},
		{"cos-scf-go-lib.json", "tencentyun/scf-go-lib, events/cos_test.go", trigger.KindUpload, eventCOS,
			"[{cos://ritchiechen-cos-test-123456/foobar.zip bj }]"},
	})
}
