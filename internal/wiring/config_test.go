package wiring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

const (
	testKey   = "k3y-0f-the-app-that-must-never-show"
	testToken = "t0ken-that-must-never-show-0123456789"
)

// env is a fake environment.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// with returns a copy of e with the changes; an empty value removes the variable.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

var minimal = env{EnvSDKAppID: "1400000001", EnvSecretKey: testKey}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(minimal.get)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Platform:         PlatformSCF,
		SDKAppID:         1400000001,
		SecretKey:        testKey,
		Admin:            imapi.DefaultAdmin,
		Region:           imapi.RegionChina,
		RateLimit:        imapi.MaxCallsPerSecond,
		TagAPI:           imapi.AllMemberPush,
		HTTPTimeout:      DefaultHTTPTimeout,
		OutputPrefix:     "removetag/",
		SCFNamespace:     DefaultSCFNamespace,
		SweepAfter:       20 * time.Minute,
		MaxBodyBytes:     job.DefaultMaxBodyBytes,
		Metrics:          true,
		MetricsNamespace: "RemoveTag",
	}
	c.getenv = nil
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", c, want)
	}
}

func TestLoadValues(t *testing.T) {
	e := minimal.with(
		EnvLambdaRuntimeAPI, "127.0.0.1:9001",
		EnvAdmin, "boss",
		EnvRegion, "sgp",
		EnvEndpoint, "http://127.0.0.1:8080/",
		EnvRateLimit, "12.5",
		EnvHTTPToken, testToken,
		EnvHTTPTimeout, "10",
		EnvOutputPrefix, "out",
		EnvCOSBucketURL, "http://127.0.0.1:9000/{bucket}",
		EnvBuckets, " s3://in-bucket , cos://files-1250000000/,",
		EnvSCFEndpoint, "http://127.0.0.1:9100",
		EnvSCFFunctionName, "fn",
		EnvSCFNamespace, "ns",
		EnvTencentRegion, "ap-guangzhou",
		EnvLambdaFunctionName, "removetag",
		EnvLambdaFunctionVersion, "7",
		EnvSweepAfter, "90s",
		EnvMaxBodyBytes, "1048576",
		EnvMetrics, "Off",
		EnvMetricsNS, "Acme/Chat jobs",
		EnvTagAPI, "TimPush",
	)
	c, err := Load(e.get)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Platform", c.Platform, PlatformLambda},
		{"Admin", c.Admin, "boss"},
		{"Region", c.Region, imapi.Region("singapore")},
		{"Endpoint", c.Endpoint, "http://127.0.0.1:8080"},
		{"RateLimit", c.RateLimit, 12.5},
		{"HTTPToken", c.HTTPToken, testToken},
		{"HTTPTimeout", c.HTTPTimeout, 10 * time.Second},
		{"OutputPrefix", c.OutputPrefix, "out/"},
		{"COSBucketURL", c.COSBucketURL, "http://127.0.0.1:9000/{bucket}"},
		{"Buckets", fmt.Sprint(c.Buckets), fmt.Sprint([]storage.Location{{Scheme: "s3", Bucket: "in-bucket"}, {Scheme: "cos", Bucket: "files-1250000000"}})},
		{"SCFEndpoint", c.SCFEndpoint, "http://127.0.0.1:9100"},
		{"SCFFunctionName", c.SCFFunctionName, "fn"},
		{"SCFNamespace", c.SCFNamespace, "ns"},
		{"TencentRegion", c.TencentRegion, "ap-guangzhou"},
		{"LambdaFunctionName", c.LambdaFunctionName, "removetag"},
		{"LambdaFunctionVersion", c.LambdaFunctionVersion, "7"},
		{"SweepAfter", c.SweepAfter, 90 * time.Second},
		{"MaxBodyBytes", c.MaxBodyBytes, int64(1 << 20)},
		{"Metrics", c.Metrics, false},
		{"MetricsNamespace", c.MetricsNamespace, "Acme/Chat jobs"},
		{"TagAPI", c.TagAPI, imapi.TimPush},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  env
		want []string // substrings, each naming the variable
	}{
		{"nothing", env{}, []string{"IM_SDKAPPID: required", "IM_SECRET_KEY: required"}},
		{"appid not a number", minimal.with(EnvSDKAppID, "abc"), []string{`IM_SDKAPPID: "abc" is not an SDKAppID`}},
		{"tag API unknown", minimal.with(EnvTagAPI, "v4/timpush"), []string{`IM_TAG_API: "v4/timpush" is not a tag API: want all_member_push (the default) or timpush`}},
		{"appid zero", minimal.with(EnvSDKAppID, "0"), []string{"IM_SDKAPPID: "}},
		{"appid negative", minimal.with(EnvSDKAppID, "-5"), []string{"IM_SDKAPPID: "}},
		{"appid too big", minimal.with(EnvSDKAppID, "99999999999"), []string{"IM_SDKAPPID: "}},
		{"key blank", minimal.with(EnvSecretKey, "   "), []string{"IM_SECRET_KEY: required"}},
		{"key with newline", minimal.with(EnvSecretKey, testKey+"\n"), []string{"IM_SECRET_KEY: has white space"}},
		{"admin too long", minimal.with(EnvAdmin, strings.Repeat("a", 33)), []string{"IM_ADMIN: "}},
		{"region", minimal.with(EnvRegion, "mars"), []string{`IM_REGION: "mars" is not a region; known: china`}},
		{"endpoint", minimal.with(EnvEndpoint, "ftp://x"), []string{"IM_ENDPOINT: "}},
		{"endpoint no host", minimal.with(EnvEndpoint, "http://"), []string{"IM_ENDPOINT: "}},
		{"rate text", minimal.with(EnvRateLimit, "fast"), []string{`IM_RATE_LIMIT: "fast"`}},
		{"rate zero", minimal.with(EnvRateLimit, "0"), []string{"IM_RATE_LIMIT: "}},
		{"rate too high", minimal.with(EnvRateLimit, "101"), []string{"IM_RATE_LIMIT: "}},
		{"token short", minimal.with(EnvHTTPToken, "short"), []string{"REMOVETAG_HTTP_TOKEN: too short (5 bytes)"}},
		{"token space", minimal.with(EnvHTTPToken, testToken+" x"), []string{"REMOVETAG_HTTP_TOKEN: contains white space"}},
		{"timeout", minimal.with(EnvHTTPTimeout, "soon"), []string{"REMOVETAG_HTTP_TIMEOUT: "}},
		{"timeout negative", minimal.with(EnvHTTPTimeout, "-1s"), []string{"REMOVETAG_HTTP_TIMEOUT: "}},
		{"prefix slash", minimal.with(EnvOutputPrefix, "/out/"), []string{"REMOVETAG_OUTPUT_PREFIX: "}},
		{"prefix empty folder", minimal.with(EnvOutputPrefix, "//"), []string{"REMOVETAG_OUTPUT_PREFIX: "}},
		{"cos template", minimal.with(EnvCOSBucketURL, "https://cos.example.com"), []string{"REMOVETAG_COS_BUCKET_URL: "}},
		{"buckets scheme", minimal.with(EnvBuckets, "gs://x"), []string{"REMOVETAG_BUCKETS: "}},
		{"buckets cos name", minimal.with(EnvBuckets, "cos://noappid"), []string{"REMOVETAG_BUCKETS: "}},
		{"buckets key", minimal.with(EnvBuckets, "s3://bucket/key.csv"), []string{`REMOVETAG_BUCKETS: "s3://bucket/key.csv" names an object`}},
		{"scf endpoint", minimal.with(EnvSCFEndpoint, "scf.local"), []string{"REMOVETAG_SCF_ENDPOINT: "}},
		{"sweep after zero", minimal.with(EnvSweepAfter, "0"), []string{"REMOVETAG_SWEEP_AFTER: must be above 0"}},
		{"sweep after text", minimal.with(EnvSweepAfter, "later"), []string{"REMOVETAG_SWEEP_AFTER: "}},
		{"max body zero", minimal.with(EnvMaxBodyBytes, "0"), []string{"REMOVETAG_MAX_BODY_BYTES: "}},
		{"max body huge", minimal.with(EnvMaxBodyBytes, "1000000000"), []string{"REMOVETAG_MAX_BODY_BYTES: "}},
		{"max body over what a platform delivers", minimal.with(EnvMaxBodyBytes, "6291457"), []string{"REMOVETAG_MAX_BODY_BYTES: \"6291457\": want a number of bytes from 1 to 6291456"}},
		{"max body text", minimal.with(EnvMaxBodyBytes, "6MB"), []string{"REMOVETAG_MAX_BODY_BYTES: "}},
		{"metrics", minimal.with(EnvMetrics, "yes"), []string{`REMOVETAG_METRICS: "yes": want on (the default) or off`}},
		{"metrics namespace reserved", minimal.with(EnvMetricsNS, "AWS/Lambda"), []string{"REMOVETAG_METRICS_NAMESPACE: namespace \"AWS/Lambda\": the prefix AWS/ is reserved"}},
		{"metrics namespace character", minimal.with(EnvMetricsNS, "jobs{1}"), []string{"REMOVETAG_METRICS_NAMESPACE: "}},
		{"all at once", env{EnvRegion: "mars", EnvRateLimit: "x"}, []string{"IM_SDKAPPID", "IM_SECRET_KEY", "IM_REGION", "IM_RATE_LIMIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.env.get)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *ConfigurationError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T, want *ConfigurationError", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if len(ce.Problems) < len(tt.want) {
				t.Errorf("%d problems, want at least %d: %q", len(ce.Problems), len(tt.want), ce.Problems)
			}
			if strings.Contains(msg, testKey) || strings.Contains(msg, testToken) {
				t.Errorf("error shows a secret: %q", msg)
			}
		})
	}
}

func TestConfigStringRedacts(t *testing.T) {
	c, err := Load(minimal.with(EnvHTTPToken, testToken).get)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), c.LogValue().String(), fmt.Sprint(c.LogValue())} {
		if strings.Contains(s, testKey) || strings.Contains(s, testToken) {
			t.Errorf("shows a secret: %s", s)
		}
		if !strings.Contains(s, "[redacted]") || !strings.Contains(s, "1400000001") {
			t.Errorf("want the app id and [redacted]: %s", s)
		}
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		env  env
		want []string
	}{
		{"scf bare", minimal, []string{EnvHTTPToken, EnvBuckets, EnvSCFFunctionName}},
		{"scf no region", minimal.with(EnvHTTPToken, testToken, EnvBuckets, "s3://b-b", EnvSCFFunctionName, "f"), []string{EnvTencentRegion}},
		{"scf complete", minimal.with(EnvHTTPToken, testToken, EnvBuckets, "s3://b-b", EnvSCFFunctionName, "f", EnvTencentRegion, "ap-guangzhou"), nil},
		{"lambda bare", minimal.with(EnvLambdaRuntimeAPI, "x", EnvHTTPToken, testToken, EnvBuckets, "s3://b-b"), []string{EnvLambdaFunctionName}},
		{"lambda complete", minimal.with(EnvLambdaRuntimeAPI, "x", EnvHTTPToken, testToken, EnvBuckets, "s3://b-b", EnvLambdaFunctionName, "f"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.env.get)
			if err != nil {
				t.Fatal(err)
			}
			w := c.Warnings()
			if len(w) != len(tt.want) {
				t.Fatalf("warnings %q, want ones about %q", w, tt.want)
			}
			for i, name := range tt.want {
				if !strings.HasPrefix(w[i], name+":") {
					t.Errorf("warning %q does not name %s", w[i], name)
				}
			}
		})
	}
}

// TestDefaultMaxBodyArrives holds the default body limit to the platforms'
// synchronous event limit, 6 MB including the event's own JSON (SCF's quota
// page: 同步请求事件大小 6MB, read as 6,000,000 bytes; Lambda: 6,291,456): an
// HTTP event whose body is the largest the function accepts, base64-encoded
// as a gateway encodes a binary body, with 10 KiB of headers (more than API
// Gateway or SCF lets through), still fits, and so does one a byte over the
// limit, which the function then answers 413 itself.
func TestDefaultMaxBodyArrives(t *testing.T) {
	const syncEventLimit = 6_000_000
	headers := map[string]string{"authorization": "Bearer " + strings.Repeat("t", 64), "content-type": "application/json",
		"x-padding": strings.Repeat("h", 10<<10)}
	for _, size := range []int{job.DefaultMaxBodyBytes, job.DefaultMaxBodyBytes + 1} {
		body := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", size)))
		events := map[string]any{
			"SCF function URL": map[string]any{"body": body, "headers": headers, "httpMethod": "POST", "path": "/", "queryString": map[string]string{}, "isBase64Encoded": true},
			"Lambda HTTP API": map[string]any{"version": "2.0", "routeKey": "POST /removetag", "rawPath": "/removetag", "headers": headers, "body": body, "isBase64Encoded": true,
				"requestContext": map[string]any{"accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
					"http":      map[string]string{"method": "POST", "path": "/removetag", "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7", "userAgent": "curl/8.5.0"},
					"requestId": "JKJaXmPLvHcESHA=", "routeKey": "POST /removetag", "stage": "$default", "time": "25/Nov/2026:03:00:00 +0000", "timeEpoch": 1764039600000}},
		}
		for name, ev := range events {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > syncEventLimit {
				t.Errorf("%s event with a %d-byte body is %d bytes, over the %d the platforms deliver", name, size, len(b), syncEventLimit)
			}
		}
	}
	if job.DefaultMaxBodyBytes > MaxBodyLimit {
		t.Errorf("default %d over the configurable limit %d", job.DefaultMaxBodyBytes, MaxBodyLimit)
	}
}

// TestLoadStorage reads what the buckets need and nothing of the app: no
// SDKAppID is required, the storage variables are checked as Load checks them.
func TestLoadStorage(t *testing.T) {
	c, err := LoadStorage(env{EnvOutputPrefix: "jobs", EnvBuckets: "s3://inbox", EnvSweepAfter: "5m", EnvCOSBucketURL: "https://{bucket}.cos.{region}.myqcloud.com"}.get)
	if err != nil {
		t.Fatal(err)
	}
	if c.OutputPrefix != "jobs/" || len(c.Buckets) != 1 || c.Buckets[0].Bucket != "inbox" || c.SweepAfter != 5*time.Minute || c.SDKAppID != 0 {
		t.Errorf("LoadStorage = %v", c)
	}
	_, err = LoadStorage(env{EnvOutputPrefix: "/abs", EnvSDKAppID: "not a number"}.get)
	var ce *ConfigurationError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.HasPrefix(ce.Problems[0], EnvOutputPrefix) {
		t.Errorf("LoadStorage of a bad prefix: %v; want one problem, of %s (the app is not read)", err, EnvOutputPrefix)
	}
}
