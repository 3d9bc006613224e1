package invoke_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentyun/scf-go-lib/functioncontext"

	"github.com/removetag/removetag/pkg/adapters/invoke"
	"github.com/removetag/removetag/pkg/adapters/invoke/loopback"
	"github.com/removetag/removetag/pkg/job"
)

// Both invokers implement the job service's port.
var (
	_ job.Invoker = (*invoke.Lambda)(nil)
	_ job.Invoker = (*invoke.SCF)(nil)
)

// collector gathers delivered payloads.
type collector chan string

func (c collector) deliver(p []byte) { c <- string(p) }

// next waits for the next delivered payload.
func (c collector) next(t *testing.T) string {
	t.Helper()
	select {
	case p := <-c:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no payload delivered")
		return ""
	}
}

// jsonOfSize is a JSON string literal of exactly n bytes.
func jsonOfSize(n int) []byte {
	return []byte(`"` + strings.Repeat("a", n-2) + `"`)
}

var payloads = []string{
	`{"job":"s3://b/accounts.csv","offset":12345,"etag":"abc"}`,
	`{"note":"unicode 账号 ü \"quoted\" \\ back","list":[1,2,3],"nested":{"a":null}}`,
	`[]`,
}

func newLambdaClient(url string) *lambda.Client {
	return lambda.New(lambda.Options{
		BaseEndpoint: aws.String(url),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	})
}

func TestLambdaDelivers(t *testing.T) {
	got := make(collector, 10)
	api := loopback.NewLambdaAPI(got.deliver)
	defer api.Close()
	tests := []struct {
		function      string
		wantName      string
		wantQualifier string
	}{
		{"removetag", "removetag", ""},
		{"removetag:live", "removetag:live", ""},
		{"arn:aws:lambda:us-east-1:123456789012:function:removetag", "arn:aws:lambda:us-east-1:123456789012:function:removetag", ""},
	}
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			inv := invoke.NewLambda(newLambdaClient(api.URL()), tt.function)
			before := api.Count()
			for _, p := range payloads {
				if err := inv.InvokeAsync(t.Context(), []byte(p)); err != nil {
					t.Fatalf("InvokeAsync: %v", err)
				}
			}
			for _, p := range payloads {
				if d := got.next(t); d != p {
					t.Errorf("delivered %s, want %s", d, p)
				}
			}
			calls := api.Invocations()[before:]
			if len(calls) != len(payloads) {
				t.Fatalf("%d invocations recorded, want %d", len(calls), len(payloads))
			}
			for i, c := range calls {
				if c.FunctionName != tt.wantName || c.Qualifier != tt.wantQualifier || string(c.Payload) != payloads[i] || c.Lost || c.Error != "" {
					t.Errorf("invocation %d = %+v, want function %q", i, c, tt.wantName)
				}
			}
		})
	}
}

func TestLambdaErrors(t *testing.T) {
	api := loopback.NewLambdaAPI(nil)
	defer api.Close()
	inv := invoke.NewLambda(newLambdaClient(api.URL()), "removetag")
	ctx := t.Context()

	tests := []struct {
		name      string
		fail      int
		code      string
		payload   []byte
		wantCode  string
		wantSent  int
		wantError error
	}{
		{"not found", 1, "ResourceNotFoundException", []byte(`{}`), "ResourceNotFoundException", 1, nil},
		{"denied", 1, "AccessDeniedException", []byte(`{}`), "AccessDeniedException", 1, nil},
		{"throttled past retries", 10, "TooManyRequestsException", []byte(`{}`), "TooManyRequestsException", 3, nil},
		{"too large", 0, "", jsonOfSize(invoke.MaxLambdaPayload + 1), "", 0, invoke.ErrPayloadTooLarge},
		{"not JSON", 0, "", []byte(`{"a":`), "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api.FailNext(tt.fail, tt.code)
			defer api.FailNext(0, "")
			before := api.Count()
			err := inv.InvokeAsync(ctx, tt.payload)
			if err == nil {
				t.Fatal("InvokeAsync succeeded, want an error")
			}
			if !strings.Contains(err.Error(), "removetag") {
				t.Errorf("error %q does not name the function", err)
			}
			if tt.wantCode != "" {
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode {
					t.Errorf("error = %v, want API error %s", err, tt.wantCode)
				}
			}
			if tt.wantError != nil && !errors.Is(err, tt.wantError) {
				t.Errorf("error = %v, want %v", err, tt.wantError)
			}
			if sent := api.Count() - before; sent != tt.wantSent {
				t.Errorf("%d requests reached the API, want %d", sent, tt.wantSent)
			}
		})
	}

	t.Run("at the limit", func(t *testing.T) {
		if err := inv.InvokeAsync(ctx, jsonOfSize(invoke.MaxLambdaPayload)); err != nil {
			t.Errorf("InvokeAsync(%d bytes): %v", invoke.MaxLambdaPayload, err)
		}
	})
	t.Run("no function name", func(t *testing.T) {
		if err := invoke.NewLambda(newLambdaClient(api.URL()), "").InvokeAsync(ctx, []byte(`{}`)); err == nil {
			t.Error("InvokeAsync with no function name succeeded")
		}
	})
	t.Run("API down", func(t *testing.T) {
		down := loopback.NewLambdaAPI(nil)
		down.Close()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := invoke.NewLambda(newLambdaClient(down.URL()), "removetag").InvokeAsync(ctx, []byte(`{}`)); err == nil {
			t.Error("InvokeAsync to a closed API succeeded")
		}
	})
}

func TestNewLambdaClientEndpoint(t *testing.T) {
	got := make(collector, 1)
	api := loopback.NewLambdaAPI(got.deliver)
	defer api.Close()
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", api.URL())
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
	t.Setenv("AWS_SESSION_TOKEN", "TOKEN")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	client, err := invoke.NewLambdaClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := invoke.NewLambda(client, "fn").InvokeAsync(t.Context(), []byte(`{"x":1}`)); err != nil {
		t.Fatalf("InvokeAsync: %v", err)
	}
	if p := got.next(t); p != `{"x":1}` {
		t.Errorf("delivered %s", p)
	}
}

func newSCF(t *testing.T, api *loopback.API, cfg invoke.SCFConfig) *invoke.SCF {
	t.Helper()
	cfg.SecretID, cfg.SecretKey, cfg.SessionToken = "AKIDtest", "secret", "token"
	if cfg.Region == "" {
		cfg.Region = "ap-guangzhou"
	}
	cfg.Endpoint = api.URL()
	inv, err := invoke.NewSCF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestSCFDelivers(t *testing.T) {
	got := make(collector, 10)
	api := loopback.NewSCFAPI(got.deliver)
	defer api.Close()
	tests := []struct {
		name      string
		cfg       invoke.SCFConfig
		namespace string // the invocation's own, from SCF's runtime
		want      loopback.Invocation
	}{
		{"defaults", invoke.SCFConfig{FunctionName: "removetag"}, "",
			loopback.Invocation{FunctionName: "removetag", Namespace: "default", Qualifier: "$LATEST", Region: "ap-guangzhou"}},
		{"explicit", invoke.SCFConfig{FunctionName: "removetag", Namespace: "jobs", Qualifier: "3", Region: "ap-chengdu"}, "",
			loopback.Invocation{FunctionName: "removetag", Namespace: "jobs", Qualifier: "3", Region: "ap-chengdu"}},
		{"the invocation's namespace", invoke.SCFConfig{FunctionName: "removetag"}, "batch",
			loopback.Invocation{FunctionName: "removetag", Namespace: "batch", Qualifier: "$LATEST", Region: "ap-guangzhou"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newSCF(t, api, tt.cfg)
			before := api.Count()
			ctx := t.Context()
			if tt.namespace != "" { // as scf-go-lib hands an invocation's context over
				ctx = functioncontext.NewContext(ctx, &functioncontext.FunctionContext{Namespace: tt.namespace})
			}
			for _, p := range payloads {
				if err := inv.InvokeAsync(ctx, []byte(p)); err != nil {
					t.Fatalf("InvokeAsync: %v", err)
				}
			}
			for _, p := range payloads {
				if d := got.next(t); d != p {
					t.Errorf("delivered %s, want %s", d, p)
				}
			}
			calls := api.Invocations()[before:]
			if len(calls) != len(payloads) {
				t.Fatalf("%d invocations recorded, want %d", len(calls), len(payloads))
			}
			for i, c := range calls {
				want := tt.want
				want.Payload = []byte(payloads[i])
				if fmt.Sprint(c) != fmt.Sprint(want) {
					t.Errorf("invocation %d = %+v, want %+v", i, c, want)
				}
			}
		})
	}
}

func TestSCFErrors(t *testing.T) {
	api := loopback.NewSCFAPI(nil)
	defer api.Close()
	inv := newSCF(t, api, invoke.SCFConfig{FunctionName: "removetag"})
	ctx := t.Context()
	tests := []struct {
		name      string
		code      string
		payload   []byte
		wantSent  int
		wantError error
	}{
		{"not found", "ResourceNotFound.Function", []byte(`{}`), 1, nil},
		{"auth", "AuthFailure.SecretIdNotFound", []byte(`{}`), 1, nil},
		{"too large", "", jsonOfSize(invoke.MaxSCFPayload + 1), 0, invoke.ErrPayloadTooLarge},
		{"not JSON", "", []byte(`not json`), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.code != "" {
				api.FailNext(1, tt.code)
			}
			before := api.Count()
			err := inv.InvokeAsync(ctx, tt.payload)
			if err == nil {
				t.Fatal("InvokeAsync succeeded, want an error")
			}
			if !strings.Contains(err.Error(), "removetag") {
				t.Errorf("error %q does not name the function", err)
			}
			if tt.code != "" {
				var sdkErr *tcerr.TencentCloudSDKError
				if !errors.As(err, &sdkErr) || sdkErr.Code != tt.code || sdkErr.Message == "" {
					t.Errorf("error = %v, want SDK error %s with its message", err, tt.code)
				}
			}
			if tt.wantError != nil && !errors.Is(err, tt.wantError) {
				t.Errorf("error = %v, want %v", err, tt.wantError)
			}
			if sent := api.Count() - before; sent != tt.wantSent {
				t.Errorf("%d requests reached the API, want %d", sent, tt.wantSent)
			}
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		if err := inv.InvokeAsync(ctx, jsonOfSize(invoke.MaxSCFPayload)); err != nil {
			t.Errorf("InvokeAsync(%d bytes): %v", invoke.MaxSCFPayload, err)
		}
	})
	t.Run("API down", func(t *testing.T) {
		down := loopback.NewSCFAPI(nil)
		down.Close()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := newSCF(t, down, invoke.SCFConfig{FunctionName: "f"}).InvokeAsync(ctx, []byte(`{}`)); err == nil {
			t.Error("InvokeAsync to a closed API succeeded")
		}
	})
}

func TestNewSCFValidates(t *testing.T) {
	full := invoke.SCFConfig{SecretID: "id", SecretKey: "key", Region: "ap-guangzhou", FunctionName: "f"}
	tests := []struct {
		name    string
		edit    func(c *invoke.SCFConfig)
		wantErr string
	}{
		{"complete", func(*invoke.SCFConfig) {}, ""},
		{"no token needed", func(c *invoke.SCFConfig) { c.SessionToken = "" }, ""},
		{"endpoint with path", func(c *invoke.SCFConfig) { c.Endpoint = "http://127.0.0.1:1/scf/" }, ""},
		{"nothing", func(c *invoke.SCFConfig) { *c = invoke.SCFConfig{} }, "missing SecretID, SecretKey, Region, FunctionName"},
		{"credentials of the moment", func(c *invoke.SCFConfig) {
			c.SecretID, c.SecretKey, c.Credentials = "", "", func() (string, string, string) { return "", "", "" }
		}, ""},
		{"credentials of the moment, no region", func(c *invoke.SCFConfig) {
			c.SecretID, c.SecretKey, c.Region, c.Credentials = "", "", "", func() (string, string, string) { return "", "", "" }
		}, "missing Region"},
		{"no key", func(c *invoke.SCFConfig) { c.SecretKey = "" }, "missing SecretKey"},
		{"no function", func(c *invoke.SCFConfig) { c.FunctionName = "" }, "missing FunctionName"},
		{"bad scheme", func(c *invoke.SCFConfig) { c.Endpoint = "ftp://x" }, "endpoint"},
		{"no host", func(c *invoke.SCFConfig) { c.Endpoint = "http://" }, "endpoint"},
		{"host only", func(c *invoke.SCFConfig) { c.Endpoint = "127.0.0.1:80" }, "endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := full
			tt.edit(&cfg)
			_, err := invoke.NewSCF(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("NewSCF: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("NewSCF error = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestSCFCredentialsOfTheMoment: with SCFConfig.Credentials, each call is
// signed with the credentials they give at that call (SCF renews the role's
// while the process lives); a call when they give none is refused before
// anything is sent, with an error naming the variables SCF sets them in and
// no value.
func TestSCFCredentialsOfTheMoment(t *testing.T) {
	api := loopback.NewSCFAPI(nil)
	defer api.Close()
	id, key, reads := "AKIDfirst", "first-secret-key", 0
	inv, err := invoke.NewSCF(invoke.SCFConfig{
		Credentials: func() (string, string, string) {
			reads++
			return id, key, "session-token"
		},
		Region: "ap-guangzhou", FunctionName: "removetag", Endpoint: api.URL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := inv.InvokeAsync(ctx, []byte(`{}`)); err != nil {
		t.Fatalf("InvokeAsync: %v", err)
	}
	id, key = "AKIDrenewed", ""
	err = inv.InvokeAsync(ctx, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "TENCENTCLOUD_SECRETKEY") || strings.Contains(err.Error(), "AKIDrenewed") {
		t.Errorf("without a key: %v; want an error naming TENCENTCLOUD_SECRETKEY, showing no value", err)
	}
	if n := api.Count(); n != 1 {
		t.Errorf("%d calls reached the API, want 1: a call without credentials is not sent", n)
	}
	key = "renewed-secret-key"
	if err := inv.InvokeAsync(ctx, []byte(`{}`)); err != nil {
		t.Fatalf("InvokeAsync with renewed credentials: %v", err)
	}
	if reads != 3 {
		t.Errorf("the credentials were read %d times for 3 calls, want once per call", reads)
	}
}

// TestLambdaMakesItsClient: without a client, the Lambda invoker makes one
// from the SDK's default chain at its first invocation, not before: the
// endpoint set after NewLambda is the one invoked.
func TestLambdaMakesItsClient(t *testing.T) {
	got := make(collector, 1)
	api := loopback.NewLambdaAPI(got.deliver)
	defer api.Close()
	inv := invoke.NewLambda(nil, "fn")
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", api.URL())
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	if err := inv.InvokeAsync(t.Context(), []byte(`{"x":2}`)); err != nil {
		t.Fatalf("InvokeAsync: %v", err)
	}
	if p := got.next(t); p != `{"x":2}` {
		t.Errorf("delivered %s", p)
	}
}
