package job_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/internal/logtest"
	"github.com/removetag/removetag/pkg/adapters/invoke"
	"github.com/removetag/removetag/pkg/adapters/invoke/loopback"
	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// Buckets of the fake object storage, and the token of the HTTP tests.
const (
	s3Bucket  = "data"
	cosBucket = "data-1250000000"
	token     = "test-token-0123456789abcdef"
	prefix    = job.DefaultOutputPrefix
)

// The default time limit of each invocation and the engine's default rate.
const (
	testBudget = 1500 * time.Millisecond
	testRate   = 40
)

// env is one test's world: the IM emulator behind a real client and engine,
// S3 and COS on one fake store, a stand-in of the invoke API that delivers
// continuation events to the service as new invocations.
type env struct {
	t      testing.TB
	im     *emulator.Server
	engine *imapi.Engine
	fs     *memstore.Server
	api    *loopback.API
	cfg    job.Config
	svc    atomic.Pointer[job.Service]
	logs   *logtest.Buffer

	// budget is the time limit of each delivered invocation.
	budget time.Duration
	// hook, if set, runs before each delivered invocation (n counts them from 1);
	// it returns false to drop the delivery.
	hook func(n int, payload []byte) bool

	mu        sync.Mutex
	delivered []delivery
}

// delivery is one continuation the stand-in delivered, and its outcome.
type delivery struct {
	payload []byte
	res     *job.Result
	err     error
}

// envOptions change the defaults of newEnv.
type envOptions struct {
	scf    bool // the SCF invoke API instead of Lambda's
	config func(*job.Config)
	store  func(storage.Store) storage.Store // wraps every store opened
	im     *emulator.Config                  // the emulator's, instead of 5-20 ms latency at 100 calls/s
	engine imapi.EngineConfig
	// journal: the service journals removals, reading the tags through the emulator's client.
	journal bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	// Budgets hold on a loaded 2-core machine under -race, where one storage
	// request may take hundreds of milliseconds: an invocation of 1.5 s always
	// gets some records done. The engine's default rate, 40 calls/s, keeps an
	// invocation to at most 5,400 records, so files of 12,000 records take
	// three invocations or more however fast the machine.
	e := &env{t: t, budget: testBudget, logs: &logtest.Buffer{}}
	if o.engine.Rate == 0 {
		o.engine.Rate = testRate
	}
	imc := emulator.Config{Latency: 5 * time.Millisecond, Jitter: 15 * time.Millisecond}
	if o.im != nil {
		imc = *o.im
	}
	e.im = emulator.NewServer(imc)
	t.Cleanup(e.im.Close)
	client, err := imapi.NewClient(imapi.Config{SDKAppID: emulator.DefaultSDKAppID, SecretKey: emulator.DefaultKey, BaseURL: e.im.URL()})
	if err != nil {
		t.Fatal(err)
	}
	e.engine = imapi.NewEngine(client, o.engine)

	e.fs = memstore.New()
	t.Cleanup(e.fs.Close)
	for _, b := range []string{s3Bucket, cosBucket} {
		if err := e.fs.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", e.fs.S3Endpoint())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s3c, err := objstore.NewS3Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	opener := func(ctx context.Context, loc storage.Location, region string) (storage.Store, error) {
		var s storage.Store
		switch loc.Scheme {
		case storage.SchemeS3:
			s = objstore.NewS3(s3c, loc.Bucket)
		case storage.SchemeCOS:
			u, err := objstore.COSBucketURL(e.fs.COSBucketURLTemplate(), loc.Bucket, region)
			if err != nil {
				return nil, err
			}
			if s, err = objstore.NewCOS(u, objstore.COSCredentials{SecretID: "id", SecretKey: "key"}, nil); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown scheme %q", loc.Scheme)
		}
		if o.store != nil {
			s = o.store(s)
		}
		return s, nil
	}

	var inv job.Invoker
	if o.scf {
		e.api = loopback.NewSCFAPI(e.deliver)
		inv, err = invoke.NewSCF(invoke.SCFConfig{SecretID: "id", SecretKey: "key", Region: "ap-guangzhou", FunctionName: "removetag", Endpoint: e.api.URL()})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		e.api = loopback.NewLambdaAPI(e.deliver)
		t.Setenv("AWS_ENDPOINT_URL_LAMBDA", e.api.URL())
		lc, err := invoke.NewLambdaClient(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		inv = invoke.NewLambda(lc, "removetag")
	}
	t.Cleanup(e.api.Close)

	e.cfg = job.Config{
		Engine: e.engine, OpenStore: openerFunc(opener), Invoker: inv,
		Buckets: []storage.Location{{Scheme: storage.SchemeS3, Bucket: s3Bucket}, {Scheme: storage.SchemeCOS, Bucket: cosBucket}},
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if o.journal {
		e.cfg.Journal = client
	}
	if o.config != nil {
		o.config(&e.cfg)
	}
	svc, err := job.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Store(svc)
	t.Cleanup(func() {
		for _, secret := range []string{emulator.DefaultKey, token, "secret-test", "usersig="} {
			if strings.Contains(e.logs.String(), secret) {
				t.Errorf("the logs hold a secret (%q)", secret)
			}
		}
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs.Tail(60))
		}
	})
	return e
}

// service returns the service under test.
func (e *env) service() *job.Service { return e.svc.Load() }

// another returns a second service sharing everything but its configuration.
func (e *env) another(change func(*job.Config)) *job.Service {
	cfg := e.cfg
	change(&cfg)
	svc, err := job.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// deliver runs a delivered continuation as a new invocation with its own deadline.
func (e *env) deliver(payload []byte) {
	e.mu.Lock()
	n := len(e.delivered) + 1
	hook := e.hook
	e.mu.Unlock()
	if hook != nil && !hook(n, payload) {
		return
	}
	res, err := e.invoke(payload)
	e.mu.Lock()
	e.delivered = append(e.delivered, delivery{payload: payload, res: res, err: err})
	e.mu.Unlock()
}

// invoke runs a payload as a direct invocation with the budget.
func (e *env) invoke(payload []byte) (*job.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.budget)
	defer cancel()
	return e.service().Handle(ctx, job.Direct(payload))
}

// deliveries returns the continuations delivered so far.
func (e *env) deliveries() []delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.delivered)
}

// waitChain waits for the continuation chain to end.
func (e *env) waitChain() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.api.WaitIdle(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// roomyCtx is the context of an invocation whose outcome must not depend on
// its budget: one that any machine finishes in time.
func (e *env) roomyCtx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// budgetCtx is the context of an invocation with the budget.
func (e *env) budgetCtx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), e.budget)
	e.t.Cleanup(cancel)
	return ctx
}

// records makes n records removing tags a and b from accounts {name}000000…,
// and seeds the emulator with a, b and keep for each.
func (e *env) records(name string, n int) []records.Record {
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{Account: fmt.Sprintf("%s%06d", name, i), Tags: []string{"a", "b"}}
	}
	seed := make([]records.Record, n)
	for i, r := range recs {
		seed[i] = records.Record{Account: r.Account, Tags: []string{"a", "b", "keep"}}
	}
	e.im.Seed(seed)
	return recs
}

// calls is the number of requests the emulator received.
func (e *env) calls() int64 { return e.im.Stats().Requests }

// encode writes records in a file format: csv, jsonl, json or csv.gz.
func encode(t testing.TB, format string, recs []records.Record) []byte {
	t.Helper()
	var b bytes.Buffer
	switch strings.TrimSuffix(format, ".gz") {
	case "csv":
		b.WriteString("To_Account,Tag1,Tag2\n")
		for _, r := range recs {
			fmt.Fprintf(&b, "%s,%s\n", r.Account, strings.Join(r.Tags, ","))
		}
	case "jsonl":
		for _, r := range recs {
			line, _ := json.Marshal(r)
			b.Write(append(line, '\n'))
		}
	case "json":
		doc, _ := json.Marshal(map[string][]records.Record{"UserTags": recs})
		b.Write(doc)
	default:
		t.Fatalf("unknown format %q", format)
	}
	if !strings.HasSuffix(format, ".gz") {
		return b.Bytes()
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b.Bytes())
	zw.Close()
	return z.Bytes()
}

// openerFunc is a function as a job.StoreOpener.
type openerFunc func(ctx context.Context, loc storage.Location, region string) (storage.Store, error)

func (f openerFunc) Open(ctx context.Context, loc storage.Location, region string) (storage.Store, error) {
	return f(ctx, loc, region)
}

// putS3 stores a file in the S3 bucket and returns its location, the bucket's
// store as the service opens it, and the file's ETag.
func (e *env) putS3(key string, data []byte) (storage.Location, storage.Store, string) {
	e.t.Helper()
	e.put(s3Bucket, key, data)
	loc := storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket, Key: key}
	store, err := e.cfg.OpenStore.Open(context.Background(), loc, "")
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := store.Stat(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return loc, store, info.ETag
}

// put stores a file in the fake store.
func (e *env) put(bucket, key string, data []byte) {
	e.t.Helper()
	if err := e.fs.PutObject(bucket, key, data); err != nil {
		e.t.Fatal(err)
	}
}

// report reads a file's report.
func (e *env) report(bucket, key string) *job.FileReport {
	e.t.Helper()
	data, err := e.fs.GetObject(bucket, prefix+"reports/"+key+".report.json")
	if err != nil {
		e.t.Fatalf("no report: %v", err)
	}
	var rep job.FileReport
	if err := json.Unmarshal(data, &rep); err != nil {
		e.t.Fatal(err)
	}
	return &rep
}

// failedRecords reads a file's failed records; nil if there is no such file.
func (e *env) failedRecords(bucket, key string) []records.Record {
	e.t.Helper()
	return e.jsonlRecords(bucket, prefix+"failed/"+key+".jsonl")
}

// jsonlRecords reads an object of records, one {"To_Account":…,"Tags":[…]}
// a line; nil if there is no such object.
func (e *env) jsonlRecords(bucket, object string) []records.Record {
	e.t.Helper()
	data, err := e.fs.GetObject(bucket, object)
	if err != nil {
		return nil
	}
	var recs []records.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r records.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			e.t.Fatalf("%s: line %q: %v", object, sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// checkDone checks a finished file: one report with exact counts, the failed
// records exactly those whose tags the emulator still holds, every other
// record's tags gone, and no state left.
func (e *env) checkDone(bucket, key string, recs []records.Record) *job.FileReport {
	e.t.Helper()
	t := e.t
	if got := e.fs.List(bucket, prefix+"reports/"); len(got) != 1 {
		t.Errorf("reports = %v, want one", got)
	}
	rep := e.report(bucket, key)
	n := int64(len(recs))
	if rep.Status != job.StatusDone || rep.Total != n || rep.Succeeded+rep.Failed != n || rep.Pending != 0 {
		t.Errorf("report: status %s, total %d, succeeded %d, failed %d, pending %d; want done with %d records accounted once",
			rep.Status, rep.Total, rep.Succeeded, rep.Failed, rep.Pending, n)
	}
	failed := e.failedRecords(bucket, key)
	if int64(len(failed)) != rep.Failed {
		t.Errorf("%d failed records in the file, the report counts %d", len(failed), rep.Failed)
	}
	if (rep.Failed > 0) != (rep.FailedKey != "") {
		t.Errorf("report FailedKey %q with %d failed", rep.FailedKey, rep.Failed)
	}
	var inGroups int64
	for _, f := range rep.Failures {
		inGroups += f.Records
	}
	if inGroups != rep.Failed {
		t.Errorf("failure groups count %d records, the report %d failed", inGroups, rep.Failed)
	}
	// The failed records are exactly those of the failure groups, each once,
	// as they were in the file. Every other record's tags are gone. (A failed
	// record's tags may be gone too: a call sent ahead of the resume point in
	// one invocation may have removed them before the record was sent again,
	// and refused, in the next.)
	inFailed := map[string]records.Record{}
	for _, r := range failed {
		if _, dup := inFailed[r.Account]; dup {
			t.Errorf("failed record %s listed twice", r.Account)
		}
		inFailed[r.Account] = r
	}
	grouped := map[string]bool{}
	for _, f := range rep.Failures {
		for _, a := range f.Accounts {
			grouped[a] = true
			if _, ok := inFailed[a]; !ok {
				t.Errorf("account %s of the failure groups is not in the failed records", a)
			}
		}
	}
	byAccount := map[string]records.Record{}
	for _, r := range recs {
		byAccount[r.Account] = r
	}
	for a, f := range inFailed {
		if r, ok := byAccount[a]; !ok || !slices.Equal(f.Tags, r.Tags) || !grouped[a] {
			t.Errorf("failed record %v: in the file as %v, in the failure groups: %v", f, r, grouped[a])
		}
	}
	for _, r := range recs {
		if _, ok := inFailed[r.Account]; !ok {
			if got := e.im.Tags(r.Account); !slices.Equal(got, []string{"keep"}) {
				t.Errorf("%s holds %v, want [keep]", r.Account, got)
			}
		}
	}
	for _, dir := range []string{"state/", "parts/"} {
		if left := e.fs.List(bucket, prefix+dir); len(left) != 0 {
			t.Errorf("%s%s holds %v after the job", prefix, dir, left)
		}
	}
	return rep
}

// logtest.Buffer is a bytes.Buffer safe for concurrent writers.
// imapiEngineConfig is an engine configuration at a given call rate.
func imapiEngineConfig(rate float64) imapi.EngineConfig { return imapi.EngineConfig{Rate: rate} }
