package wiring

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// cpuWorldVar, set to a number of records, makes TestCPUWorld the child
// process of BenchmarkCPU.
const cpuWorldVar = "REMOVETAG_CPU_WORLD"

// cpuWorldPrefix starts each line of the child's protocol on its stdout.
const cpuWorldPrefix = "cpuworld "

// cpuWorldInfo is the child's first line: where its servers listen.
type cpuWorldInfo struct {
	IM, S3, COS string
}

// cpuWorldStats is the child's answer to "stats": the emulator's counters
// and the accounts that still hold the tag vip.
type cpuWorldStats struct {
	Requests, Refused, Left int64
}

// cpuAccount names account i of the benchmark's file.
func cpuAccount(i int) string { return fmt.Sprintf("user-%07d", i) }

// TestCPUWorld is BenchmarkCPU's child process, and skips otherwise: the IM
// emulator (20 ms per call, 100 calls/s) and the object store, driven by
// lines on stdin: "put BUCKET KEY" gives every account the tags keep and vip
// and stores the file of n records removing vip at KEY; "stats" answers the
// counters. It ends when stdin does.
func TestCPUWorld(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(cpuWorldVar))
	if err != nil {
		t.Skip("BenchmarkCPU's child process only")
	}
	im := emulator.NewServer(emulator.Config{Latency: 20 * time.Millisecond})
	defer im.Close()
	fs := memstore.New()
	defer fs.Close()
	for _, b := range []string{s3Bucket, cosBucket} {
		if err := fs.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	data, err := cpuFile(n)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]records.Record, n)
	for i := range seed {
		seed[i] = records.Record{Account: cpuAccount(i), Tags: []string{"keep", "vip"}}
	}
	say := func(v any) {
		line, _ := json.Marshal(v)
		fmt.Printf("%s%s\n", cpuWorldPrefix, line)
	}
	say(cpuWorldInfo{IM: im.URL(), S3: fs.S3Endpoint(), COS: fs.COSBucketURLTemplate()})
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch f := strings.Fields(sc.Text()); {
		case len(f) == 3 && f[0] == "put":
			im.Seed(seed)
			if err := fs.PutObject(f[1], f[2], data); err != nil {
				t.Fatal(err)
			}
			say("ok")
		case len(f) == 1 && f[0] == "stats":
			st := im.Stats()
			var left int64
			for i := range n {
				if slices.Contains(im.Tags(cpuAccount(i)), "vip") {
					left++
				}
			}
			say(cpuWorldStats{Requests: st.Requests, Refused: st.Refused, Left: left})
		default:
			t.Fatalf("unknown command %q", sc.Text())
		}
	}
}

// cpuFile is the gzip CSV removing the tag vip from n accounts.
func cpuFile(n int) ([]byte, error) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	w := bufio.NewWriterSize(zw, 1<<16)
	w.WriteString("To_Account,Tags\n")
	for i := range n {
		w.WriteString(cpuAccount(i))
		w.WriteString(",vip\n")
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return z.Bytes(), nil
}

// cpuWorld is the running child process of BenchmarkCPU.
type cpuWorld struct {
	info cpuWorldInfo
	in   io.WriteCloser
	out  *bufio.Scanner
}

// startCPUWorld starts TestCPUWorld in a child process of this test binary.
func startCPUWorld(b *testing.B, n int) *cpuWorld {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCPUWorld$", "-test.v")
	cmd.Env = append(os.Environ(), cpuWorldVar+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	w := &cpuWorld{in: in, out: bufio.NewScanner(out)}
	w.read(b, &w.info)
	return w
}

// read decodes the child's next line of the protocol into v.
func (w *cpuWorld) read(b *testing.B, v any) {
	b.Helper()
	for w.out.Scan() {
		if line, ok := strings.CutPrefix(w.out.Text(), cpuWorldPrefix); ok {
			if err := json.Unmarshal([]byte(line), v); err != nil {
				b.Fatalf("the child's line %q: %v", line, err)
			}
			return
		}
	}
	b.Fatalf("the child process ended: %v", w.out.Err())
}

// ask sends the child a command and reads its answer into v.
func (w *cpuWorld) ask(b *testing.B, v any, command string) {
	b.Helper()
	if _, err := fmt.Fprintln(w.in, command); err != nil {
		b.Fatal(err)
	}
	w.read(b, v)
}

// cpuUsage is this process's CPU time so far, user and system.
func cpuUsage(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkCPU measures the CPU the function's service spends per IM call
// (issue 18): the service as Build makes it from the environment (the IM
// client and engine, the S3 or COS store, the shared quota's leases, the
// journal unless it is off), run on an upload of a gzip CSV file, with the IM
// emulator (20 ms per call, 100 calls/s) and the object store in a child
// process, so that the rusage of this process is the function side's alone.
// As the function at 128 MB runs one P (package sizing), give -cpu 1:
//
//	go test -run '^$' -bench CPU -benchtime 1x -cpu 1 ./internal/wiring/
//	go test -run '^$' -bench CPU/lambda/journal=off -benchtime 1x -cpu 1 -cpuprofile cpu.out ./internal/wiring/
//
// REMOVETAG_CPU_RECORDS sets the file's size (default 50,000 records, 500
// removals: 5 s at the API's rate). Metrics: cpu-ms/100-accounts (user and
// system time of this process over the job, over the fewest removal calls
// the file needs), cpu-ms/call (over every IM call made: with the journal,
// a read before each removal), user-ms/call, sys-ms/call, allocs/call and
// alloc-kB/call (the heap's, from runtime.MemStats), gc/job (collections
// during the job) and gc-cpu-ms/call (the collector's CPU, runtime/metrics).
func BenchmarkCPU(b *testing.B) {
	n := 50_000
	if s := os.Getenv("REMOVETAG_CPU_RECORDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("REMOVETAG_CPU_RECORDS=%q: want a positive number of records", s)
		}
	}
	w := startCPUWorld(b, n)
	setAWSEnv(b, w.info.S3)
	b.Setenv("AWS_CA_BUNDLE", "") // as on Lambda: the system's roots, not a bundle parsed per client
	base := env{
		EnvSDKAppID:         fmt.Sprint(emulator.DefaultSDKAppID),
		EnvSecretKey:        emulator.DefaultKey,
		EnvEndpoint:         w.info.IM,
		EnvRateLimit:        strconv.Itoa(imapi.MaxCallsPerSecond),
		EnvCOSBucketURL:     w.info.COS,
		EnvTencentSecretID:  "AKIDtencent",
		EnvTencentSecretKey: "tencent-secret",
		EnvTencentRegion:    "ap-guangzhou",
	}
	runtimes := []struct {
		name string
		env  env
		loc  storage.Location
	}{
		{"lambda", base.with(EnvLambdaRuntimeAPI, "127.0.0.1:9", EnvBuckets, "s3://"+s3Bucket), storage.Location{Scheme: storage.SchemeS3, Bucket: s3Bucket}},
		{"scf", base.with(EnvBuckets, "cos://"+cosBucket), storage.Location{Scheme: storage.SchemeCOS, Bucket: cosBucket}},
	}
	runs := 0
	for _, rt := range runtimes {
		for _, journal := range []string{"on", "off"} {
			e := rt.env
			if journal == "off" {
				e = e.with(EnvJournal, "off")
			}
			b.Run(rt.name+"/journal="+journal, func(b *testing.B) {
				cfg, err := Load(e.get)
				if err != nil {
					b.Fatal(err)
				}
				app, err := Build(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				var total cpuSample
				for range b.N {
					runs++
					loc := rt.loc
					loc.Key = fmt.Sprintf("incoming/cpu-%d.csv.gz", runs)
					total.add(cpuJob(b, w, app, loc, n))
				}
				total.report(b, n)
			})
		}
	}
}

// cpuSample is what jobs cost this process.
type cpuSample struct {
	jobs                      int
	user, sys                 time.Duration
	calls, allocs, bytes, gcs uint64
	gcCPU                     float64 // seconds, runtime/metrics' estimate
}

func (s *cpuSample) add(o cpuSample) {
	s.jobs += o.jobs
	s.user += o.user
	s.sys += o.sys
	s.calls += o.calls
	s.allocs += o.allocs
	s.bytes += o.bytes
	s.gcs += o.gcs
	s.gcCPU += o.gcCPU
}

// report reports the sample's metrics, for jobs of n records each.
func (s cpuSample) report(b *testing.B, n int) {
	ms := func(d time.Duration, per uint64) float64 { return float64(d.Microseconds()) / 1000 / float64(per) }
	removals := uint64(s.jobs * ((n + imapi.MaxAccountsPerCall - 1) / imapi.MaxAccountsPerCall))
	b.ReportMetric(ms(s.user+s.sys, removals), "cpu-ms/100-accounts")
	b.ReportMetric(ms(s.user+s.sys, s.calls), "cpu-ms/call")
	b.ReportMetric(ms(s.user, s.calls), "user-ms/call")
	b.ReportMetric(ms(s.sys, s.calls), "sys-ms/call")
	b.ReportMetric(float64(s.allocs)/float64(s.calls), "allocs/call")
	b.ReportMetric(float64(s.bytes)/1024/float64(s.calls), "alloc-kB/call")
	b.ReportMetric(float64(s.gcs)/float64(s.jobs), "gc/job")
	b.ReportMetric(s.gcCPU*1000/float64(s.calls), "gc-cpu-ms/call")
	b.ReportMetric(float64(s.calls)/float64(s.jobs), "calls/job")
	b.ReportMetric(0, "ns/op")
}

// cpuJob stores the file of n records at loc, runs its upload on app to the
// end, checks the outcome, and returns what the job cost.
func cpuJob(b *testing.B, w *cpuWorld, app trigger.App, loc storage.Location, n int) cpuSample {
	var ok string
	w.ask(b, &ok, "put "+loc.Bucket+" "+loc.Key)
	var st0, st1 cpuWorldStats
	w.ask(b, &st0, "stats")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n/1000)*time.Second+time.Minute)
	defer cancel()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	gc0 := gcCPUSeconds()
	u0, s0 := cpuUsage(b)
	b.StartTimer()
	res, err := app.Service.Handle(ctx, job.Upload(loc, ""))
	b.StopTimer()
	u1, s1 := cpuUsage(b)
	gc1 := gcCPUSeconds()
	runtime.ReadMemStats(&m1)
	if err != nil {
		b.Fatal(err)
	}
	if res.Status != job.StatusDone || res.Succeeded != int64(n) {
		b.Fatalf("the job: status %s, %d succeeded of %d", res.Status, res.Succeeded, n)
	}
	w.ask(b, &st1, "stats")
	if st1.Left != 0 {
		b.Fatalf("%d accounts keep the tag vip", st1.Left)
	}
	return cpuSample{
		jobs: 1, user: u1 - u0, sys: s1 - s0, calls: uint64(st1.Requests - st0.Requests),
		allocs: m1.Mallocs - m0.Mallocs, bytes: m1.TotalAlloc - m0.TotalAlloc, gcs: uint64(m1.NumGC - m0.NumGC),
		gcCPU: gc1 - gc0,
	}
}

// gcCPUSeconds is the runtime's estimate of the CPU its collector has used
// (runtime/metrics, /cpu/classes/gc/total:cpu-seconds: the mark workers,
// assists and pauses; an overestimate by the runtime's own account, as it
// counts a pause as GOMAXPROCS CPUs busy, exact enough at one P).
func gcCPUSeconds() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64()
}
