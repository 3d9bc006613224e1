package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/invoke/loopback"
	"github.com/removetag/removetag/pkg/adapters/metrics/metricstest"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// discard is a logger that writes nothing.
var discard = slog.New(slog.DiscardHandler)

const (
	s3Bucket  = "inbox"
	cosBucket = "files-1250000000"
)

// world is an IM emulator and a fake object store, with the environment
// that points the function at them.
type world struct {
	im  *emulator.Server
	fs  *memstore.Server
	env env
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{im: emulator.NewServer(emulator.Config{}), fs: memstore.New()}
	t.Cleanup(w.im.Close)
	t.Cleanup(w.fs.Close)
	for _, b := range []string{s3Bucket, cosBucket} {
		if err := w.fs.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	setAWSEnv(t, w.fs.S3Endpoint())
	w.env = env{
		EnvSDKAppID:         fmt.Sprint(emulator.DefaultSDKAppID),
		EnvSecretKey:        emulator.DefaultKey,
		EnvEndpoint:         w.im.URL(),
		EnvHTTPToken:        testToken,
		EnvCOSBucketURL:     w.fs.COSBucketURLTemplate(),
		EnvBuckets:          "s3://" + s3Bucket + ",cos://" + cosBucket,
		EnvTencentSecretID:  "AKIDtencent",
		EnvTencentSecretKey: "tencent-secret",
		EnvTencentRegion:    "ap-guangzhou",
	}
	return w
}

// setAWSEnv points the AWS SDK, which reads the process environment, at the
// fake store's S3 endpoint, with test credentials and no files or metadata.
func setAWSEnv(t testing.TB, s3Endpoint string) {
	t.Setenv("AWS_ENDPOINT_URL_S3", s3Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-test-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func (w *world) service(t *testing.T, e env) trigger.App {
	t.Helper()
	cfg, err := Load(e.get)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := Build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// seed gives n accounts a tag and returns them as CSV rows.
func (w *world) seed(n int) string {
	var b strings.Builder
	for i := range n {
		acc := fmt.Sprintf("u%04d", i)
		w.im.SetTags(acc, "vip", "keep")
		fmt.Fprintf(&b, "%s,vip\n", acc)
	}
	return b.String()
}

func TestBuildRunsJobs(t *testing.T) {
	w := newWorld(t)
	svc := w.service(t, w.env)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	csv := w.seed(300)
	for _, b := range []string{s3Bucket, cosBucket} {
		if err := w.fs.PutObject(b, "incoming/a.csv", []byte(csv)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		run  func() (*job.Result, error)
	}{
		{"direct", func() (*job.Result, error) {
			return svc.Service.Handle(ctx, job.Direct([]byte(`{"UserTags":[{"To_Account":"u0000","Tags":["vip"]}]}`)))
		}},
		{"s3 upload", func() (*job.Result, error) {
			return svc.Service.Handle(ctx, job.Upload(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: "incoming/a.csv"}, ""))
		}},
		{"cos upload", func() (*job.Result, error) {
			return svc.Service.Handle(ctx, job.Upload(storage.Location{Scheme: "cos", Bucket: cosBucket, Key: "incoming/a.csv"}, "gz"))
		}},
		{"sweep", func() (*job.Result, error) { return svc.Service.Handle(ctx, job.Timer("")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.run()
			if err != nil {
				t.Fatal(err)
			}
			if want := job.StatusDone; tt.name == "sweep" {
				want = job.StatusSwept
				if res.Status != want {
					t.Fatalf("status %s, want %s: %+v", res.Status, want, res)
				}
			} else if res.Status != want || res.Failed != 0 || res.Pending != 0 {
				t.Fatalf("status %s, want %s: %+v", res.Status, want, res)
			}
		})
	}
	for _, b := range []string{s3Bucket, cosBucket} {
		if _, err := w.fs.GetObject(b, "removetag/reports/incoming/a.csv.report.json"); err != nil {
			t.Errorf("no report in %s: %v", b, err)
		}
	}
	if got := w.im.Tags("u0299"); fmt.Sprint(got) != "[keep]" {
		t.Errorf("u0299 has tags %v, want [keep]", got)
	}
}

func TestBuildHTTPTimeout(t *testing.T) {
	w := newWorld(t)
	w.im.SetLatency(300*time.Millisecond, 0)
	svc := w.service(t, w.env.with(EnvHTTPTimeout, "1", EnvRateLimit, "2"))
	csv := w.seed(400)
	var body strings.Builder
	body.WriteString(`{"UserTags":[`)
	for i, line := range strings.Split(strings.TrimSpace(csv), "\n") {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"To_Account":%q,"Tags":["vip"]}`, strings.TrimSuffix(line, ",vip"))
	}
	body.WriteString("]}")
	start := time.Now()
	resp := svc.HTTP(context.Background(), trigger.HTTPRequest{Method: "POST",
		Headers: map[string]string{"authorization": "Bearer " + testToken}, Body: []byte(body.String())})
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("HTTP took %v with a 1 s timeout", el)
	}
	if resp.StatusCode != 202 {
		t.Errorf("status %d, want 202: %+v", resp.StatusCode, resp.Result)
	}
}

func TestStoreOpener(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		env     env
		loc     storage.Location
		region  string
		wantErr string
	}{
		{"s3", w.env, storage.Location{Scheme: "s3", Bucket: s3Bucket}, "", ""},
		{"cos", w.env, storage.Location{Scheme: "cos", Bucket: cosBucket}, "gz", ""},
		{"cos default template without a region", w.env.with(EnvCOSBucketURL, "", EnvTencentRegion, ""),
			storage.Location{Scheme: "cos", Bucket: cosBucket}, "", EnvTencentRegion},
		{"unknown scheme", w.env, storage.Location{Scheme: "gs", Bucket: "x"}, "", "unknown scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.env.get)
			if err != nil {
				t.Fatal(err)
			}
			o, err := NewStoreOpener(cfg)
			if err != nil {
				t.Fatal(err)
			}
			st, err := o.Open(ctx, tt.loc, tt.region)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, "probe.txt", strings.NewReader("hello"), "text/plain"); err != nil {
				t.Fatal(err)
			}
			if got, err := w.fs.GetObject(tt.loc.Bucket, "probe.txt"); err != nil || string(got) != "hello" {
				t.Errorf("stored %q, %v", got, err)
			}
		})
	}
	// The default COS template resolves the event's short region code.
	cfg, _ := Load(w.env.with(EnvCOSBucketURL, "").get)
	o, err := NewStoreOpener(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := o.Open(ctx, storage.Location{Scheme: "cos", Bucket: cosBucket}, "gz")
	if err != nil || st.Name() != "cos://"+cosBucket {
		t.Errorf("default template: %v, %v", st, err)
	}
}

func TestNewInvoker(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()

	scfAPI := loopback.NewSCFAPI(nil)
	defer scfAPI.Close()
	lambdaAPI := loopback.NewLambdaAPI(nil)
	defer lambdaAPI.Close()
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", lambdaAPI.URL())

	tests := []struct {
		name    string
		env     env
		api     *loopback.API
		want    loopback.Invocation
		wantNil bool
	}{
		{"scf", w.env.with(EnvSCFFunctionName, "removetag", EnvSCFEndpoint, scfAPI.URL(), EnvSCFNamespace, "ns", EnvSCFFunctionVersion, "3"),
			scfAPI, loopback.Invocation{FunctionName: "removetag", Namespace: "ns", Qualifier: "3", Region: "ap-guangzhou"}, false},
		{"scf without a name", w.env, nil, loopback.Invocation{}, true},
		{"lambda", w.env.with(EnvLambdaRuntimeAPI, "127.0.0.1:1", EnvLambdaFunctionName, "removetag", EnvLambdaFunctionVersion, "$LATEST"),
			lambdaAPI, loopback.Invocation{FunctionName: "removetag"}, false},
		{"lambda version", w.env.with(EnvLambdaRuntimeAPI, "127.0.0.1:1", EnvLambdaFunctionName, "removetag", EnvLambdaFunctionVersion, "7"),
			lambdaAPI, loopback.Invocation{FunctionName: "removetag:7"}, false},
		{"lambda without a name", w.env.with(EnvLambdaRuntimeAPI, "127.0.0.1:1"), nil, loopback.Invocation{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.env.get)
			if err != nil {
				t.Fatal(err)
			}
			inv := newInvoker(cfg, discard)
			if tt.wantNil {
				if inv != nil {
					t.Fatalf("invoker %T, want none", inv)
				}
				return
			}
			before := tt.api.Count()
			if err := inv.InvokeAsync(ctx, []byte(`{"removetag":"continue"}`)); err != nil {
				t.Fatal(err)
			}
			calls := tt.api.Invocations()
			if len(calls) != before+1 {
				t.Fatalf("%d invocations, want %d", len(calls), before+1)
			}
			got := calls[len(calls)-1]
			got.Payload, got.Lost, got.Error = nil, false, ""
			if tt.want.Qualifier == "" {
				got.Qualifier = ""
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("invocation %+v, want %+v", got, tt.want)
			}
		})
	}

	// SCF credentials are read at each invocation: the platform renews them.
	e := w.env.with(EnvSCFFunctionName, "removetag", EnvSCFEndpoint, scfAPI.URL())
	cfg, _ := Load(e.get)
	inv := newInvoker(cfg, discard)
	delete(e, EnvTencentSecretKey)
	if err := inv.InvokeAsync(ctx, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), EnvTencentSecretKey) {
		t.Errorf("without credentials: %v, want an error naming %s", err, EnvTencentSecretKey)
	}
}

func TestBuildErrors(t *testing.T) {
	cfg, err := Load(minimal.get)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SDKAppID = 0 // not from Load: the IM client refuses it
	if _, err := Build(cfg, nil); err == nil || !strings.Contains(err.Error(), EnvSDKAppID) {
		t.Errorf("Build: %v", err)
	}
	jc, _, err := serviceConfig(Config{SDKAppID: 1, SecretKey: "k", Region: imapi.RegionChina, Platform: PlatformSCF}, nil, nil)
	if err != nil || jc.Engine == nil || jc.OpenStore == nil || jc.Invoker != nil {
		t.Errorf("serviceConfig: %+v, %v", jc, err)
	}
}

// TestBuildSharesTheQuota builds two instances of the function on the same
// buckets, with IM_RATE_LIMIT at the emulator's limit, and runs a job on each,
// the second starting while the first runs: they share the quota through
// leases in the first of REMOVETAG_BUCKETS, under the output prefix, and
// remove them when done.
func TestBuildSharesTheQuota(t *testing.T) {
	tests := []struct {
		name, buckets, leaseBucket string
	}{
		{"s3 first", "s3://" + s3Bucket + ",cos://" + cosBucket, s3Bucket},
		{"cos first", "cos://" + cosBucket + ",s3://" + s3Bucket, cosBucket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.im.Close()
			w.im = emulator.NewServer(emulator.Config{Rate: 40, Latency: 5 * time.Millisecond})
			t.Cleanup(w.im.Close)
			e := w.env.with(EnvEndpoint, w.im.URL(), EnvRateLimit, "40", EnvBuckets, tt.buckets, EnvOutputPrefix, "out/")
			csv := w.seed(6000) // 60 calls for two jobs: 1.5 s at 40 calls/s
			var bodies [2]strings.Builder
			for i, line := range strings.Split(strings.TrimSpace(csv), "\n") {
				b := &bodies[i%2]
				if b.Len() > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(b, `{"To_Account":%q,"Tags":["vip"]}`, strings.TrimSuffix(line, ",vip"))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			results := make(chan *job.Result, 2)
			instances := []trigger.App{w.service(t, e), w.service(t, e)}
			for i, svc := range instances {
				go func() {
					res, err := svc.Service.Handle(ctx, job.Direct([]byte(`{"UserTags":[`+bodies[i].String()+`]}`)))
					if err != nil {
						t.Error(err)
					}
					results <- res
				}()
				if i == 0 {
					time.Sleep(200 * time.Millisecond)
				}
			}
			seen := map[int]bool{}
			for done := 0; done < 2; {
				select {
				case res := <-results:
					done++
					if res == nil || res.Status != job.StatusDone || res.Succeeded != 3000 {
						t.Errorf("job: %+v", res)
					}
				case <-time.After(5 * time.Millisecond):
					seen[len(w.fs.List(tt.leaseBucket, "out/quota/"))] = true
				}
			}
			if !seen[2] {
				t.Errorf("never two leases in %s/out/quota/ while both jobs ran (counts seen: %v)", tt.leaseBucket, seen)
			}
			if left := w.fs.List(tt.leaseBucket, "out/quota/"); len(left) != 0 {
				t.Errorf("leases left: %v", left)
			}
			st := w.im.Stats()
			// At most two refusals per API window as the second job joins:
			// the removals', and the journal's reads, which follow each
			// run's share of the quota too.
			if st.Refused > 4 {
				t.Errorf("%d calls refused for the rate; the jobs share the quota", st.Refused)
			}
			t.Logf("%d calls, %d refused, at most %d accepted in a second", st.Requests, st.Refused, st.MaxAcceptedPerSecond)
		})
	}
}

func TestJobConfigQuota(t *testing.T) {
	w := newWorld(t)
	for _, tt := range []struct {
		name    string
		buckets string
		want    bool
	}{{"with buckets", w.env[EnvBuckets], true}, {"without", "", false}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(w.env.with(EnvBuckets, tt.buckets).get)
			if err != nil {
				t.Fatal(err)
			}
			jc, _, err := serviceConfig(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := jc.Quota != nil; got != tt.want {
				t.Errorf("shared quota: %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBuildMetered: the function's build measures its invocations in the
// platform's format (EMF on Lambda, CLS lines on SCF), named after the
// function; REMOVETAG_METRICS=off, or no output, measures nothing.
func TestBuildMetered(t *testing.T) {
	w := newWorld(t)
	w.seed(3)
	doc := []byte(`{"UserTags":[{"To_Account":"u0000","Tags":["vip"]},{"To_Account":"u0001","Tags":["vip"]}]}`)
	run := func(t *testing.T, e env, out MetricsOutput) (*job.Result, string) {
		t.Helper()
		cfg, err := Load(e.get)
		if err != nil {
			t.Fatal(err)
		}
		app, err := BuildMetered(cfg, nil, out)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		o := trigger.NewDispatcher(app, nil, nil).Run(ctx, trigger.Event{Kind: trigger.KindDirect, Requests: []trigger.Request{{Job: job.Direct(doc)}}})
		res, err := o.Result()
		if err != nil || res.Status != job.StatusDone {
			t.Fatalf("%v %+v", err, res)
		}
		if buf, ok := out.Out.(*strings.Builder); ok {
			return res, buf.String()
		}
		return res, ""
	}
	for _, tt := range []struct {
		name string
		env  env
		read func(string) ([]metricstest.Record, error)
		fn   string
	}{
		{"lambda", w.env.with(EnvLambdaRuntimeAPI, "127.0.0.1:9001", EnvLambdaFunctionName, "rt-lambda", EnvMetricsNS, "Acme"),
			func(s string) ([]metricstest.Record, error) { return metricstest.EMF(s, time.Now()) }, "rt-lambda"},
		{"scf", w.env.with(EnvSCFFunctionName, "rt-scf", EnvMetricsNS, "Acme"), metricstest.CLS, "rt-scf"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			res, text := run(t, tt.env, MetricsOutput{Out: &out})
			recs, err := tt.read(text)
			if err != nil || len(recs) != 2 {
				t.Fatalf("%v: %d records in %q", err, len(recs), text)
			}
			inv := recs[0]
			if inv.Namespace != "Acme" || inv.Texts["FunctionName"] != tt.fn || inv.Texts["Trigger"] != "direct" ||
				inv.Values["RecordsSucceeded"] != 2 || inv.Values["Calls"] != float64(res.Calls) || inv.Values["CallLatencyMax"] <= 0 {
				t.Errorf("invocation record %v %v; result %+v", inv.Texts, inv.Values, res.Counts)
			}
			if recs[1].Scope() != "job" || recs[1].Values["JobRecordsSucceeded"] != 2 {
				t.Errorf("job record %v", recs[1].Values)
			}
		})
	}
	var out strings.Builder
	if _, text := run(t, w.env.with(EnvMetrics, "off"), MetricsOutput{Out: &out}); text != "" {
		t.Errorf("REMOVETAG_METRICS=off wrote %q", text)
	}
	app, err := Build(mustLoad(t, w.env), nil)
	if err != nil || app.Meter != nil {
		t.Errorf("Build (no output): %v, meter %v", err, app.Meter)
	}
}

func mustLoad(t *testing.T, e env) Config {
	t.Helper()
	cfg, err := Load(e.get)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
