package main_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	scfevents "github.com/tencentyun/scf-go-lib/events"

	"github.com/removetag/removetag/internal/logtest"
	"github.com/removetag/removetag/pkg/adapters/invoke/loopback"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
)

// Test sizes: the rate is low so that a file of a few ten thousand records
// needs several invocations of a 3-second function.
const (
	rate      = 25              // IM_RATE_LIMIT: calls per second, 100 accounts each
	budget    = 3 * time.Second // the function's time limit per invocation: 300 ms of reserve, room for a loaded machine
	chainSize = 20000           // records of the file too big for one invocation
	sweepSize = 10000           // records of the file whose chain gets lost (more than one invocation does)
	outPrefix = job.DefaultOutputPrefix
	s3Bucket  = "inbox"
	cosAppID  = "1250000000"
	cosName   = "files"
	cosBucket = cosName + "-" + cosAppID
	// maxBodySize is REMOVETAG_MAX_BODY_BYTES: a body over it is answered 413.
	// TestBodyLimit runs the default limit.
	maxBodySize = 1 << 20
)

// platform is what differs between Lambda and SCF: how the function runs
// and the shapes of the events.
type platform struct {
	name   string
	scheme string
	bucket string
	// env is the function's environment in world w.
	env   func(w *world) []string
	start func(t *testing.T, out *logtest.Buffer, env []string, budget time.Duration) runtimeProc
	// newAPI starts the platform's invoke API stand-in.
	newAPI func(deliver func([]byte)) *loopback.API
	// http makes an HTTP trigger's event; httpAnswer reads its answer.
	http       func(method string, headers map[string]string, body []byte) []byte
	httpAnswer func(t *testing.T, a answer) (int, []byte)
	// upload makes an upload event of the key in the platform's bucket.
	upload func(key string) []byte
	// sweep is a schedule without a job; timer a schedule with one.
	sweep []byte
	timer func(doc string) []byte
}

var lambdaPlatform = &platform{
	name:   "lambda",
	scheme: "s3",
	bucket: s3Bucket,
	env: func(w *world) []string {
		return []string{
			"AWS_LAMBDA_LOG_FORMAT=JSON",
			"AWS_LAMBDA_FUNCTION_NAME=removetag",
			"AWS_ACCESS_KEY_ID=AKIDE2ETEST",
			"AWS_SECRET_ACCESS_KEY=" + awsSecret,
			"AWS_REGION=us-east-1",
			"AWS_ENDPOINT_URL_S3=" + w.fs.S3Endpoint(),
			"AWS_ENDPOINT_URL_LAMBDA=" + w.api.URL(),
			"REMOVETAG_BUCKETS=s3://" + s3Bucket,
		}
	},
	start: func(t *testing.T, out *logtest.Buffer, env []string, budget time.Duration) runtimeProc {
		return startLambda(t, out, env, budget)
	},
	newAPI: loopback.NewLambdaAPI,
	http: func(method string, headers map[string]string, body []byte) []byte {
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "POST /removetag", RawPath: "/removetag", Headers: headers,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				DomainName: "abc123.execute-api.us-east-1.amazonaws.com", Stage: "$default", RequestID: "e2e",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: "/removetag", Protocol: "HTTP/1.1"},
			},
		}
		if len(body) < 1<<20 { // the gateway encodes binary bodies; exercise the decoding
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		} else {
			ev.Body = string(body)
		}
		return mustJSON(ev)
	},
	httpAnswer: func(t *testing.T, a answer) (int, []byte) {
		t.Helper()
		var r events.APIGatewayV2HTTPResponse
		if a.fnErr != "" || json.Unmarshal(a.payload, &r) != nil || r.StatusCode == 0 {
			t.Fatalf("not an HTTP API answer: %s %.300s", a.fnErr, a.payload)
		}
		return r.StatusCode, []byte(r.Body)
	},
	upload: func(key string) []byte {
		return mustJSON(events.S3Event{Records: []events.S3EventRecord{{
			EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: "us-east-1", EventTime: time.Now().UTC(),
			EventName: "ObjectCreated:Put",
			S3: events.S3Entity{
				SchemaVersion: "1.0",
				Bucket:        events.S3Bucket{Name: s3Bucket, Arn: "arn:aws:s3:::" + s3Bucket},
				Object:        events.S3Object{Key: url.QueryEscape(key), Size: 1},
			},
		}}})
	},
	sweep: mustJSON(events.CloudWatchEvent{
		Version: "0", ID: "e2e", DetailType: "Scheduled Event", Source: "aws.events", AccountID: "123456789012",
		Time: time.Now().UTC(), Region: "us-east-1", Resources: []string{"arn:aws:events:us-east-1:123456789012:rule/sweep"},
		Detail: json.RawMessage(`{}`),
	}),
	// A schedule with an Input delivers the Input itself.
	timer: func(doc string) []byte { return []byte(doc) },
}

var scfPlatform = &platform{
	name:   "scf",
	scheme: "cos",
	bucket: cosBucket,
	env: func(w *world) []string {
		return []string{
			"REMOVETAG_COS_BUCKET_URL=" + w.fs.COSBucketURLTemplate(),
			"REMOVETAG_BUCKETS=cos://" + cosBucket,
			"REMOVETAG_SCF_ENDPOINT=" + w.api.URL(),
			"SCF_FUNCTIONNAME=removetag",
			"SCF_NAMESPACE=default",
			"TENCENTCLOUD_REGION=ap-guangzhou",
			"TENCENTCLOUD_SECRETID=AKIDe2etest",
			"TENCENTCLOUD_SECRETKEY=" + tcKey,
			"TENCENTCLOUD_SESSIONTOKEN=" + tcToken,
		}
	},
	start: func(t *testing.T, out *logtest.Buffer, env []string, budget time.Duration) runtimeProc {
		return startSCF(t, out, env, budget)
	},
	newAPI: loopback.NewSCFAPI,
	http: func(method string, headers map[string]string, body []byte) []byte {
		ev := map[string]any{
			"headerParameters": map[string]any{}, "pathParameters": map[string]any{}, "queryStringParameters": map[string]any{},
			"headers": headers, "httpMethod": method, "path": "/removetag", "queryString": map[string]any{},
			"body": string(body), "isBase64Encoded": false,
			"requestContext": map[string]any{"httpMethod": method, "path": "/removetag", "serviceId": "service-e2e",
				"sourceIp": "127.0.0.1", "stage": "release", "requestId": "e2e", "identity": map[string]any{}},
		}
		return mustJSON(ev)
	},
	httpAnswer: func(t *testing.T, a answer) (int, []byte) {
		t.Helper()
		// The gateway accepts exactly this shape, else "Invalid scf response format".
		var keys map[string]json.RawMessage
		if a.fnErr != "" || json.Unmarshal(a.payload, &keys) != nil {
			t.Fatalf("not an integrated response: %s %.300s", a.fnErr, a.payload)
		}
		got := slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		})
		if fmt.Sprint(got) != "[body headers isBase64Encoded statusCode]" {
			t.Fatalf("integrated response keys %v", got)
		}
		var r scfevents.APIGatewayResponse
		if err := json.Unmarshal(a.payload, &r); err != nil || r.IsBase64Encoded {
			t.Fatalf("integrated response %.300s: %v", a.payload, err)
		}
		return r.StatusCode, []byte(r.Body)
	},
	upload: func(key string) []byte {
		var ev scfevents.COSEvent
		rec := scfevents.COSRecord{}
		rec.Object.SchemaVersion = "1.0"
		rec.Object.Bucket = scfevents.COSBucket{AppID: cosAppID, Region: "gz", Name: cosName}
		rec.Object.Object = scfevents.COSObject{
			Name: "/" + cosAppID + "/" + cosName + "/" + key, Size: 1,
			URL: "http://" + cosBucket + ".cos.ap-guangzhou.myqcloud.com/" + key,
		}
		rec.Event = scfevents.COSEventMetadata{Name: "cos:ObjectCreated:Put", Source: "qcs::cos", Version: "1.0", Timestamp: time.Now().Unix()}
		ev.Records = append(ev.Records, rec)
		return mustJSON(ev)
	},
	sweep: mustJSON(scfevents.TimerEvent{Type: "Timer", TriggerName: "removetag-sweep", Time: "2026-01-01T00:00:00Z"}),
	timer: func(doc string) []byte {
		return mustJSON(scfevents.TimerEvent{Type: "Timer", TriggerName: "nightly", Time: "2026-01-01T00:00:00Z", Message: doc})
	},
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// world is one running function with its emulated surroundings.
type world struct {
	t   *testing.T
	p   *platform
	im  *emulator.Server
	fs  *memstore.Server
	api *loopback.API
	d   *deliverer
	rt  runtimeProc
	out *logtest.Buffer

	budget time.Duration // the function's time limit per invocation
	env    []string      // the function's environment

	mu      sync.Mutex
	answers []answer // every answer, for the secrets check
}

// newWorld starts the function with the time limit budget; change edits its environment.
func newWorld(t *testing.T, p *platform, change func([]string) []string) *world {
	return newWorldBudget(t, p, change, budget)
}

// newWorldBudget starts the function with the time limit b per invocation.
func newWorldBudget(t *testing.T, p *platform, change func([]string) []string, b time.Duration) *world {
	w := &world{t: t, p: p, im: newIM(t), fs: newStore(t, s3Bucket, cosBucket), d: &deliverer{}, out: &logtest.Buffer{}, budget: b}
	w.api = p.newAPI(w.d.deliver)
	t.Cleanup(w.api.Close)
	env := append(baseEnv(), imEnv(w.im, rate)...)
	env = append(env,
		"REMOVETAG_HTTP_TOKEN="+httpToken,
		"REMOVETAG_HTTP_TIMEOUT=1",
		"REMOVETAG_SWEEP_AFTER=1s",
		fmt.Sprintf("REMOVETAG_MAX_BODY_BYTES=%d", maxBodySize),
	)
	env = append(env, p.env(w)...)
	if change != nil {
		env = change(env)
	}
	w.env = env
	w.rt = p.start(t, w.out, env, w.budget)
	w.d.mu.Lock()
	w.d.rt = w.rt
	w.d.mu.Unlock()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("function output:\n%s", w.out)
		}
	})
	return w
}

// invoke runs one invocation; a runtime failure (timeout, crash) fails the test.
func (w *world) invoke(t *testing.T, payload []byte) answer {
	t.Helper()
	a, err := w.rt.invoke(payload)
	w.mu.Lock()
	w.answers = append(w.answers, a)
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	keepsDeadline(t, a, w.budget)
	return a
}

// run runs one invocation that answers a result.
func (w *world) run(t *testing.T, payload []byte) *job.Result {
	t.Helper()
	return parseResult(t, w.invoke(t, payload))
}

// requests counts the calls that reached the IM emulator.
func (w *world) requests() int64 { return w.im.Stats().Requests }

// accounts gives n new accounts (named prefix-i) the tags vip and keep.
func (w *world) accounts(prefix string, n int) []string {
	accs := make([]string, n)
	for i := range accs {
		accs[i] = fmt.Sprintf("%s-%d", prefix, i)
		w.im.SetTags(accs[i], "keep", "vip")
	}
	return accs
}

// csv is a file removing the tag vip from accs.
func csv(accs []string) []byte {
	var b strings.Builder
	b.WriteString("To_Account,Tags\n")
	for _, a := range accs {
		b.WriteString(a + ",vip\n")
	}
	return []byte(b.String())
}

// userTags is an inline job removing vip from accs.
func userTags(accs []string) []byte {
	return mustJSON(map[string]any{"To_Account": accs, "Tags": []string{"vip"}})
}

// vipLeft counts the accounts that still have the tag vip.
func (w *world) vipLeft(accs []string) int {
	n := 0
	for _, a := range accs {
		if slices.Contains(w.im.Tags(a), "vip") {
			n++
		}
	}
	return n
}

func (w *world) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if err := w.fs.PutObject(w.p.bucket, key, data); err != nil {
		t.Fatal(err)
	}
}

func (w *world) source(key string) string { return w.p.scheme + "://" + w.p.bucket + "/" + key }

// report reads a file's report.
func (w *world) report(t *testing.T, key string) job.FileReport {
	t.Helper()
	data, err := w.fs.GetObject(w.p.bucket, outPrefix+"reports/"+key+".report.json")
	if err != nil {
		t.Fatalf("no report for %s: %v", key, err)
	}
	var rep job.FileReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// waitIdle waits until the continuation chain ends.
func (w *world) waitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := w.api.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLambda(t *testing.T) {
	binaries(t)
	t.Parallel()
	w := newWorld(t, lambdaPlatform, nil)
	testTriggers(t, w)

	t.Run("rest api v1", func(t *testing.T) {
		accs := w.accounts("rest", 3)
		ev := events.APIGatewayProxyRequest{
			Resource: "/removetag", Path: "/removetag", HTTPMethod: "POST",
			Headers:           map[string]string{"Content-Type": "application/json"},
			MultiValueHeaders: map[string][]string{"Authorization": {"Bearer " + httpToken}},
			RequestContext:    events.APIGatewayProxyRequestContext{ResourcePath: "/removetag", HTTPMethod: "POST", Stage: "prod"},
			Body:              string(userTags(accs)),
		}
		a := w.invoke(t, mustJSON(ev))
		var r events.APIGatewayProxyResponse
		if err := json.Unmarshal(a.payload, &r); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("answer %s %.300s", a.fnErr, a.payload)
		}
		if n := w.vipLeft(accs); n != 0 {
			t.Errorf("%d accounts keep the tag", n)
		}
	})
	t.Run("function url", func(t *testing.T) {
		accs := w.accounts("url", 3)
		ev := events.LambdaFunctionURLRequest{
			Version: "2.0", RawPath: "/", Headers: map[string]string{"authorization": "Bearer " + httpToken},
			RequestContext: events.LambdaFunctionURLRequestContext{DomainName: "abc.lambda-url.us-east-1.on.aws",
				HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/"}},
			Body: string(userTags(accs)),
		}
		a := w.invoke(t, mustJSON(ev))
		var r events.LambdaFunctionURLResponse
		if err := json.Unmarshal(a.payload, &r); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("answer %s %.300s", a.fnErr, a.payload)
		}
		if n := w.vipLeft(accs); n != 0 {
			t.Errorf("%d accounts keep the tag", n)
		}
	})
	t.Run("eventbridge event of another kind", func(t *testing.T) {
		before := w.requests()
		ev := events.CloudWatchEvent{Version: "0", DetailType: "EC2 Instance State-change Notification", Source: "aws.ec2", Detail: json.RawMessage(`{}`)}
		r := w.run(t, mustJSON(ev))
		if r.Status != job.StatusInvalid || !strings.Contains(r.Message, "EC2 Instance State-change Notification") {
			t.Errorf("result %+v", r)
		}
		if w.requests() != before {
			t.Error("calls were sent")
		}
	})
	checkLogs(t, w)
}

func TestSCF(t *testing.T) {
	binaries(t)
	t.Parallel()
	w := newWorld(t, scfPlatform, nil)
	testTriggers(t, w)
	t.Run("function url", func(t *testing.T) { testFunctionURL(t, w) })
	t.Run("cos removal event: ignored", func(t *testing.T) {
		before := w.requests()
		ev := strings.Replace(string(w.p.upload("incoming/gone.csv")), "cos:ObjectCreated:Put", "cos:ObjectRemove:Delete", 1)
		r := w.run(t, []byte(ev))
		if r.Status != job.StatusIgnored || w.requests() != before {
			t.Errorf("result %+v", r)
		}
	})
	checkLogs(t, w)
}

// scfURLEvent is a request through SCF's function URL: the API gateway's
// protocol without headerParameters, isBase64Encoded, pathParameters,
// queryStringParameters and requestContext (Tencent's "函数 URL 概述").
func scfURLEvent(method string, headers map[string]string, body []byte) []byte {
	return mustJSON(map[string]any{
		"body": string(body), "headers": headers, "httpMethod": method, "path": "/", "queryString": map[string]string{},
	})
}

// testFunctionURL sends requests through SCF's function URL: the token is
// checked before anything is done, whatever the case of the header's name,
// and the answer has exactly the function URL's keys.
func testFunctionURL(t *testing.T, w *world) {
	tests := []struct {
		name    string
		headers map[string]string
		status  int
		calls   bool
	}{
		{"no token: 401, nothing done", map[string]string{"content-type": "application/json"}, http.StatusUnauthorized, false},
		{"wrong token: 401, nothing done", map[string]string{"authorization": "Bearer wrong-token-0123456789"}, http.StatusUnauthorized, false},
		{"token: 200 with the report", map[string]string{"authorization": "Bearer " + httpToken, "content-type": "application/json"}, http.StatusOK, true},
		{"token, header name capitalised: 200", map[string]string{"Authorization": "Bearer " + httpToken}, http.StatusOK, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accs := w.accounts(fmt.Sprintf("url-%d", i), 5)
			before := w.requests()
			a := w.invoke(t, scfURLEvent("POST", tt.headers, userTags(accs)))
			var keys map[string]json.RawMessage
			if a.fnErr != "" || json.Unmarshal(a.payload, &keys) != nil {
				t.Fatalf("answer %s %.300s", a.fnErr, a.payload)
			}
			if got := slices.Sorted(maps.Keys(keys)); fmt.Sprint(got) != "[body headers statusCode]" {
				t.Errorf("answer keys %v, want the function URL's statusCode, headers, body", got)
			}
			var r struct {
				StatusCode int               `json:"statusCode"`
				Headers    map[string]string `json:"headers"`
				Body       string            `json:"body"`
			}
			if err := json.Unmarshal(a.payload, &r); err != nil || r.StatusCode != tt.status || r.Headers["Content-Type"] != "application/json" {
				t.Fatalf("answer %d %v, want %d: %.300s", r.StatusCode, r.Headers, tt.status, a.payload)
			}
			var rep job.Result
			if err := json.Unmarshal([]byte(r.Body), &rep); err != nil {
				t.Fatalf("body is not a report: %.300s", r.Body)
			}
			if tt.calls && (rep.Status != job.StatusDone || rep.Succeeded != 5 || w.vipLeft(accs) != 0) {
				t.Errorf("report %+v, %d accounts keep the tag", rep, w.vipLeft(accs))
			}
			if sent := w.requests() != before; sent != tt.calls {
				t.Errorf("calls sent: %v, want %v", sent, tt.calls)
			}
		})
	}
}

// TestBodyLimit sends HTTP bodies at the default REMOVETAG_MAX_BODY_BYTES and
// one byte over, base64-encoded as gateways encode binary bodies: both events
// reach the function (they fit the platforms' 6 MB), which runs the first and
// answers the second 413, sending nothing.
func TestBodyLimit(t *testing.T) {
	binaries(t)
	t.Parallel()
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		t.Run(p.name, func(t *testing.T) {
			// Decoding a 5.6 MB event takes tens of milliseconds, or seconds on a
			// loaded machine: a roomy time limit, since the budget is not the subject.
			w := newWorldBudget(t, p, func(env []string) []string {
				return slices.DeleteFunc(env, func(s string) bool { return strings.HasPrefix(s, "REMOVETAG_MAX_BODY_BYTES=") })
			}, 20*time.Second)
			auth := map[string]string{"authorization": "Bearer " + httpToken}
			for _, tt := range []struct {
				size   int
				status int
			}{{job.DefaultMaxBodyBytes, http.StatusOK}, {job.DefaultMaxBodyBytes + 1, http.StatusRequestEntityTooLarge}} {
				t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
					accs := w.accounts(fmt.Sprintf("limit-%d", tt.size), 3)
					body := paddedJob(accs, tt.size)
					if len(body) != tt.size {
						t.Fatalf("padded job of %d bytes, want %d", len(body), tt.size)
					}
					ev := base64Event(p, auth, body)
					if len(ev) > 6_000_000 {
						t.Fatalf("the event is %d bytes: no platform would deliver it", len(ev))
					}
					before := w.requests()
					status, answer := p.httpAnswer(t, w.invoke(t, ev))
					if status != tt.status {
						t.Fatalf("status %d, want %d: %.300s", status, tt.status, answer)
					}
					if sent := w.requests() != before; sent != (tt.status == http.StatusOK) {
						t.Errorf("calls sent: %v", sent)
					}
				})
			}
		})
	}
}

// paddedJob is a job document of exactly size bytes removing the tag vip from
// accs: the accounts are listed again and again (records of one account are
// merged into one), with runs of white space between them, each shorter than
// the decoder's 64 KiB limit on a value or a run of white space.
func paddedJob(accs []string, size int) []byte {
	const run = 60 << 10
	ids := make([]string, size/run+2)
	for i := range ids {
		ids[i] = `"` + accs[i%len(accs)] + `"`
	}
	head, tail := `{"Tags":["vip"],"To_Account":[`, `]}`
	pad := size - len(head) - len(tail) - len(strings.Join(ids, ","))
	var b bytes.Buffer
	b.WriteString(head)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
			w := min(pad, run)
			b.Write(bytes.Repeat([]byte(" "), w))
			pad -= w
		}
		b.WriteString(id)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// base64Event is an HTTP event of the platform with its body base64-encoded:
// an HTTP API request on Lambda, an API gateway request on SCF.
func base64Event(p *platform, headers map[string]string, body []byte) []byte {
	var ev map[string]any
	if err := json.Unmarshal(p.http("POST", headers, nil), &ev); err != nil {
		panic(err)
	}
	ev["body"], ev["isBase64Encoded"] = base64.StdEncoding.EncodeToString(body), true
	return mustJSON(ev)
}

// testTriggers runs every trigger both platforms share.
func testTriggers(t *testing.T, w *world) {
	auth := map[string]string{"authorization": "Bearer " + httpToken, "content-type": "application/json"}

	t.Run("http", func(t *testing.T) {
		tests := []struct {
			name    string
			method  string
			headers map[string]string
			body    func(accs []string) []byte
			status  int
			calls   bool
		}{
			{"200 done", "POST", auth, userTags, http.StatusOK, true},
			{"401 wrong token", "POST", map[string]string{"authorization": "Bearer wrong-token-0123456789"}, userTags, http.StatusUnauthorized, false},
			{"401 no token", "POST", map[string]string{}, userTags, http.StatusUnauthorized, false},
			{"405 not GET, POST, DELETE", "PUT", auth, func([]string) []byte { return nil }, http.StatusMethodNotAllowed, false},
			{"400 malformed JSON", "POST", auth, func([]string) []byte { return []byte(`{"UserTags":[`) }, http.StatusBadRequest, false},
			{"400 invalid record", "POST", auth, func([]string) []byte { return []byte(`{"UserTags":[{"To_Account":"","Tags":["vip"]}]}`) }, http.StatusBadRequest, false},
			{"413 too large", "POST", auth, func([]string) []byte { return []byte(strings.Repeat(" ", maxBodySize+1)) }, http.StatusRequestEntityTooLarge, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				accs := w.accounts("http-"+strings.Fields(tt.name)[0], 5)
				before := w.requests()
				status, body := w.p.httpAnswer(t, w.invoke(t, w.p.http(tt.method, tt.headers, tt.body(accs))))
				if status != tt.status {
					t.Fatalf("status %d, want %d: %.300s", status, tt.status, body)
				}
				var r job.Result
				if err := json.Unmarshal(body, &r); err != nil || r.Status == "" {
					t.Fatalf("body is not a result: %.300s", body)
				}
				if sent := w.requests() != before; sent != tt.calls {
					t.Errorf("calls sent: %v, want %v", sent, tt.calls)
				}
				if tt.calls && w.vipLeft(accs) != 0 {
					t.Errorf("tags left: %d", w.vipLeft(accs))
				}
			})
		}
		t.Run("202 pending", func(t *testing.T) {
			accs := w.accounts("http-202", 300)
			w.im.SetLatency(1500*time.Millisecond, 0) // longer than REMOVETAG_HTTP_TIMEOUT
			defer w.im.SetLatency(20*time.Millisecond, 0)
			status, body := w.p.httpAnswer(t, w.invoke(t, w.p.http("POST", auth, userTags(accs))))
			if status != http.StatusAccepted {
				t.Fatalf("status %d, want 202: %.300s", status, body)
			}
			var r job.Result
			if err := json.Unmarshal(body, &r); err != nil || r.Status != job.StatusPending || r.Pending == 0 || len(r.PendingUserTags) == 0 {
				t.Fatalf("result %.500s", body)
			}
		})
	})

	t.Run("upload", func(t *testing.T) {
		accs := w.accounts("upload", 500)
		key := "incoming/upload one.csv"
		w.put(t, key, csv(accs))
		r := w.run(t, w.p.upload(key))
		if r.Status != job.StatusDone || r.Total != 500 || r.Succeeded != 500 || r.Source != w.source(key) {
			t.Fatalf("result %+v", r)
		}
		if n := w.vipLeft(accs); n != 0 {
			t.Errorf("%d accounts keep the tag", n)
		}
		if rep := w.report(t, key); rep.Status != job.StatusDone || rep.Total != 500 || rep.Succeeded != 500 {
			t.Errorf("report %+v", rep)
		}

		before := w.requests()
		if r := w.run(t, w.p.upload(key)); r.Status != job.StatusSkipped || w.requests() != before {
			t.Errorf("the same upload again: %+v, %d calls", r, w.requests()-before)
		}
	})

	t.Run("own output ignored", func(t *testing.T) {
		before := w.requests()
		r := w.run(t, w.p.upload(outPrefix+"reports/incoming/upload one.csv.report.json"))
		if r.Status != job.StatusIgnored || w.requests() != before {
			t.Errorf("result %+v", r)
		}
	})

	t.Run("malformed csv", func(t *testing.T) {
		key := "incoming/bad.csv"
		w.put(t, key, []byte("To_Account,Tags\nok-1,vip\n\"unterminated,vip\n,vip\n"))
		before := w.requests()
		r := w.run(t, w.p.upload(key))
		if r.Status != job.StatusInvalid || r.ErrorCount == 0 || len(r.Errors) == 0 {
			t.Fatalf("result %+v", r)
		}
		if w.requests() != before {
			t.Error("calls were sent for an invalid file")
		}
		if rep := w.report(t, key); rep.Status != job.StatusInvalid {
			t.Errorf("report %+v", rep)
		}
	})

	t.Run("direct job", func(t *testing.T) {
		accs := w.accounts("direct", 150)
		r := w.run(t, userTags(accs))
		if r.Status != job.StatusDone || r.Succeeded != 150 || w.vipLeft(accs) != 0 {
			t.Errorf("result %+v", r)
		}
	})

	t.Run("direct file job", func(t *testing.T) {
		accs := w.accounts("source", 200)
		key := "incoming/source.jsonl"
		var b strings.Builder
		for _, a := range accs {
			b.WriteString(`{"To_Account":"` + a + `","Tags":["vip"]}` + "\n")
		}
		w.put(t, key, []byte(b.String()))
		r := w.run(t, mustJSON(map[string]string{"Source": w.source(key)}))
		if r.Status != job.StatusDone || r.Succeeded != 200 || w.vipLeft(accs) != 0 {
			t.Errorf("result %+v", r)
		}
	})

	t.Run("timer with a job", func(t *testing.T) {
		accs := w.accounts("timer", 120)
		key := "incoming/nightly.csv"
		w.put(t, key, csv(accs))
		r := w.run(t, w.p.timer(string(mustJSON(map[string]string{"Source": w.source(key)}))))
		if r.Status != job.StatusDone || r.Succeeded != 120 || w.vipLeft(accs) != 0 {
			t.Errorf("result %+v", r)
		}
	})

	t.Run("timer without a job: the sweep", func(t *testing.T) {
		r := w.run(t, w.p.sweep)
		if r.Status != job.StatusSwept {
			t.Errorf("result %+v", r)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name    string
			payload string
			want    string // in the result's message
		}{
			{"not JSON", "this is not JSON", `the event is not JSON: 16 bytes starting "this is not JSON"`},
			{"not an object", `[1,2,3]`, "the event is not a JSON object"},
			{"records of another service", `{"Records":[{"eventSource":"aws:sqs","messageId":"m","body":"x"}]}`, "keys [Records]"},
			{"unknown document", `{"hello":"world"}`, ""},
			{"invalid record", `{"UserTags":[{"To_Account":"","Tags":["vip"]}]}`, ""},
			{"truncated job", `{"UserTags":[{"To_Account":"a","Tags":["vip"]}`, "the event is not JSON"},
			{"bad source", `{"Source":"ftp://bucket/key.csv"}`, "ftp"},
			{"missing object", `{"Source":"` + w.source("incoming/none.csv") + `"}`, "no such object"},
			{"unknown format", `{"Source":"` + w.source("incoming/a.xlsx") + `"}`, ""},
			{"payload too large", `{"UserTags":[` + strings.Repeat(" ", maxBodySize) + `]}`, "the limit is"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if strings.HasSuffix(tt.name, "format") {
					w.put(t, "incoming/a.xlsx", []byte("PK"))
				}
				before := w.requests()
				r := w.run(t, []byte(tt.payload))
				if r.Status != job.StatusInvalid || (r.Message == "" && len(r.Errors) == 0) {
					t.Fatalf("result %+v", r)
				}
				text := r.Message + fmt.Sprint(r.Errors)
				if !strings.Contains(text, tt.want) {
					t.Errorf("the answer %q does not say %q", text, tt.want)
				}
				if w.requests() != before {
					t.Error("calls were sent")
				}
			})
		}
	})

	t.Run("continuation chain", func(t *testing.T) { testChain(t, w) })
	t.Run("lost continuation, then the sweep", func(t *testing.T) { testLostChain(t, w) })
}

// testChain uploads a file too big for one invocation: the chain of
// self-invocations ends with every record done once, one report, no
// invocation past its time.
func testChain(t *testing.T, w *world) {
	accs := w.accounts("chain", chainSize)
	key := "incoming/big file.csv"
	w.put(t, key, csv(accs))
	start, applied := time.Now(), w.im.Stats().AccountsApplied
	delivered := len(w.d.list())

	first := w.run(t, w.p.upload(key))
	if first.Status != job.StatusPending || !first.Continued {
		t.Fatalf("first invocation: %+v", first)
	}
	w.waitIdle(t)
	ds := w.d.list()[delivered:]
	if len(ds) == 0 {
		t.Fatal("no continuation was delivered")
	}
	for i, d := range ds {
		if d.err != nil {
			t.Fatalf("continuation %d: %v", i+1, d.err)
		}
		keepsDeadline(t, d.answer, w.budget)
		r := parseResult(t, d.answer)
		last := i == len(ds)-1
		switch {
		case r.Chain != i+1:
			t.Errorf("continuation %d has chain %d", i+1, r.Chain)
		case last && r.Status != job.StatusDone:
			t.Errorf("last continuation: %+v", r)
		case !last && (r.Status != job.StatusPending || !r.Continued):
			t.Errorf("continuation %d: %+v", i+1, r)
		}
	}
	if w.p == scfPlatform {
		for _, inv := range w.api.Invocations() {
			if inv.Namespace != scfNamespace {
				t.Errorf("a continuation went to namespace %q, not the invocation's %q", inv.Namespace, scfNamespace)
			}
		}
	}
	rep := w.report(t, key)
	if rep.Status != job.StatusDone || rep.Total != chainSize || rep.Succeeded != chainSize || rep.Failed != 0 || rep.Pending != 0 {
		t.Errorf("report %+v", rep)
	}
	if rep.Chain != len(ds) || rep.Invocations != len(ds)+1 {
		t.Errorf("report: chain %d, %d invocations; %d continuations were delivered", rep.Chain, rep.Invocations, len(ds))
	}
	if n := w.vipLeft(accs); n != 0 {
		t.Errorf("%d accounts keep the tag", n)
	}
	if left := w.fs.List(w.p.bucket, outPrefix+"state/"); len(left) != 0 {
		t.Errorf("state left behind: %v", left)
	}
	reports := 0
	for _, k := range w.fs.List(w.p.bucket, outPrefix+"reports/") {
		if strings.Contains(k, "big file") {
			reports++
		}
	}
	if reports != 1 {
		t.Errorf("%d reports for the file", reports)
	}
	// Each hand-off sends again the records after the checkpoint's position
	// (removal is idempotent); a second pass over the file would double the count.
	sent := w.im.Stats().AccountsApplied - applied
	if sent < chainSize || sent >= 2*chainSize {
		t.Errorf("%d accounts applied for %d records", sent, chainSize)
	}
	t.Logf("%d records in %d invocations, %v; %d accounts applied", chainSize, len(ds)+1, time.Since(start).Round(time.Millisecond), sent)
}

// testLostChain loses the first continuation: the checkpoint stays, and the
// next timer without a job (the sweep) takes the job on to its end.
func testLostChain(t *testing.T, w *world) {
	accs := w.accounts("lost", sweepSize)
	key := "incoming/lost.csv"
	w.put(t, key, csv(accs))
	w.api.LoseNext(1)
	first := w.run(t, w.p.upload(key))
	if first.Status != job.StatusPending || !first.Continued {
		t.Fatalf("first invocation: %+v", first)
	}
	w.waitIdle(t)
	if cps := w.fs.List(w.p.bucket, outPrefix+"state/"); len(cps) == 0 {
		t.Fatal("no checkpoint left behind")
	}
	time.Sleep(1200 * time.Millisecond) // REMOVETAG_SWEEP_AFTER=1s
	r := w.run(t, w.p.sweep)
	if r.Status != job.StatusSwept || len(r.Jobs) != 1 || r.Jobs[0].Source != w.source(key) {
		t.Fatalf("sweep: %+v", r)
	}
	w.waitIdle(t)
	rep := w.report(t, key)
	if rep.Status != job.StatusDone || rep.Total != sweepSize || rep.Succeeded != sweepSize {
		t.Errorf("report %+v", rep)
	}
	if n := w.vipLeft(accs); n != 0 {
		t.Errorf("%d accounts keep the tag", n)
	}
}

// checkLogs looks through everything the function logged and answered: no
// secret, no UserSig; one line per invocation with its trigger and the
// request id.
func checkLogs(t *testing.T, w *world) {
	t.Run("logs and answers hold no secret", func(t *testing.T) {
		out := w.out.String()
		texts := []string{out}
		w.mu.Lock()
		for _, a := range w.answers {
			texts = append(texts, string(a.payload), a.fnErr)
		}
		w.mu.Unlock()
		for _, d := range w.d.list() {
			texts = append(texts, string(d.answer.payload), d.answer.fnErr)
		}
		for _, text := range texts {
			for _, secret := range []string{imKey, httpToken, tcKey, tcToken} {
				if strings.Contains(text, secret) {
					t.Errorf("secret %q found in %.200s…", secret, text)
				}
			}
			for rest := text; ; {
				i := strings.Index(strings.ToLower(rest), "usersig=")
				if i < 0 {
					break
				}
				rest = rest[i+len("usersig="):]
				if !strings.HasPrefix(rest, "[redacted]") {
					t.Errorf("a UserSig in %.200s", rest)
				}
			}
		}
		lines, withID := 0, 0
		for _, line := range strings.Split(out, "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			msg, _ := rec["message"].(string)
			if msg == "" {
				msg, _ = rec["msg"].(string)
			}
			if msg != "invocation" {
				continue
			}
			lines++
			if id, _ := rec["requestId"].(string); id != "" {
				withID++
			}
			if _, ok := rec["trigger"]; !ok {
				t.Errorf("invocation line without trigger: %s", line)
			}
		}
		if lines == 0 || withID != lines {
			t.Errorf("%d invocation lines, %d with a request id", lines, withID)
		}
	})
}

// TestMissingConfiguration starts the function without IM_SDKAPPID: every
// invocation answers an error naming it, the process stays up, nothing is sent.
func TestMissingConfiguration(t *testing.T) {
	binaries(t)
	t.Parallel()
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		t.Run(p.name, func(t *testing.T) {
			w := newWorld(t, p, func(env []string) []string {
				return slices.DeleteFunc(env, func(s string) bool { return strings.HasPrefix(s, "IM_SDKAPPID=") })
			})
			for _, payload := range [][]byte{
				userTags([]string{"a"}),
				p.upload("incoming/a.csv"),
				p.sweep,
				p.timer(`{"To_Account":["a"],"Tags":["vip"]}`),
			} {
				a := w.invoke(t, payload)
				if !strings.Contains(a.fnErr, "IM_SDKAPPID") {
					t.Errorf("answer %q %.200s, want an error naming IM_SDKAPPID", a.fnErr, a.payload)
				}
			}
			status, body := p.httpAnswer(t, w.invoke(t, p.http("POST", map[string]string{"authorization": "Bearer " + httpToken}, userTags([]string{"a"}))))
			if status != http.StatusInternalServerError || !strings.Contains(string(body), "IM_SDKAPPID") {
				t.Errorf("HTTP %d %s", status, body)
			}
			if n := w.requests(); n != 0 {
				t.Errorf("%d requests reached IM", n)
			}
			if strings.Contains(w.out.String(), "panic") {
				t.Errorf("the function panicked:\n%s", w.out)
			}
		})
	}
}
