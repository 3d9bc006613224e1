package main_test

// Scale benchmarks (issue 5, "Scale and speed"): a file of a million records
// through the built function under both runtimes, its cold start, and the
// sizes of the deployment packages. They are heavy (minutes, a few hundred MB
// of memory in the test process), so they run only when REMOVETAG_SCALE=1:
//
//	REMOVETAG_SCALE=1 go test -run '^$' -bench Scale -benchtime 1x ./functions/removetag/
//
// REMOVETAG_SCALE_RECORDS sets the file's size (default 1,000,000);
// REMOVETAG_SCALE_LOGS names a directory to keep the function's output in;
// REMOVETAG_JOURNAL=off, given to BenchmarkScale's function, runs it without
// the journal (on by default).
// docs/performance.md has the results and what they mean.

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/internal/logtest"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/records"
)

const (
	// scaleTimeout is the function's time limit per invocation.
	scaleTimeout = 60 * time.Second
	// scaleMemLimit is the soft memory limit of the function process, the
	// Go side of a 128 MB function.
	scaleMemLimit = "100MiB"
	// ceilingRate is the API's ceiling: 100 calls/s of 100 accounts each.
	ceilingRate = imapi.MaxCallsPerSecond * imapi.MaxAccountsPerCall
)

// scaleEnabled skips b unless REMOVETAG_SCALE=1.
func scaleEnabled(b *testing.B) {
	b.Helper()
	if os.Getenv("REMOVETAG_SCALE") != "1" {
		b.Skip("scale benchmark: set REMOVETAG_SCALE=1 to run it")
	}
	binaries(b)
}

// scaleRecords is the file's size: REMOVETAG_SCALE_RECORDS, default 1,000,000.
func scaleRecords(b *testing.B) int {
	b.Helper()
	s := os.Getenv("REMOVETAG_SCALE_RECORDS")
	if s == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("REMOVETAG_SCALE_RECORDS=%q: want a positive number of records", s)
	}
	return n
}

// scaleAccounts names n distinct accounts.
func scaleAccounts(n int) []string {
	accs := make([]string, n)
	for i := range accs {
		accs[i] = fmt.Sprintf("user-%07d", i)
	}
	return accs
}

// writeScaleFile writes a gzip-compressed CSV removing the tag vip from
// every account of accs to path. The same accounts give the same bytes.
func writeScaleFile(path string, accs []string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create the scale file: %w", err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := gzip.NewWriter(bw)
	w := bufio.NewWriterSize(zw, 1<<16)
	w.WriteString("To_Account,Tags\n")
	for _, a := range accs {
		w.WriteString(a)
		w.WriteString(",vip\n")
	}
	for _, err := range []error{w.Flush(), zw.Close(), bw.Flush(), f.Close()} {
		if err != nil {
			return fmt.Errorf("write the scale file %s: %w", path, err)
		}
	}
	return nil
}

// scaleFile writes the file of n distinct accounts (writeScaleFile) in a
// temporary directory of b and returns the accounts and the file's bytes.
func scaleFile(b *testing.B, n int) ([]string, []byte) {
	b.Helper()
	accs := scaleAccounts(n)
	path := filepath.Join(b.TempDir(), fmt.Sprintf("accounts-%d.csv.gz", n))
	if err := writeScaleFile(path, accs); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return accs, data
}

// BenchmarkScale uploads a file of REMOVETAG_SCALE_RECORDS distinct accounts
// (CSV, gzip) and lets the built function remove their tag vip from an upload
// event, under each runtime: a 60 s time limit, GOMEMLIMIT=100MiB, the IM
// emulator at 20 ms per call enforcing 100 calls/s, and the continuation chain
// through the Invoke API stand-in until the report is written.
func BenchmarkScale(b *testing.B) {
	scaleEnabled(b)
	n := scaleRecords(b)
	accs, data := scaleFile(b, n)
	b.Logf("%d records, %.1f MB gzip-compressed", n, float64(len(data))/1e6)
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		b.Run(p.name, func(b *testing.B) {
			for range b.N {
				runScale(b, p, accs, data)
			}
		})
	}
}

// runScale is one run of BenchmarkScale on platform p.
func runScale(b *testing.B, p *platform, accs []string, data []byte) {
	r := runFile(b, p, accs, data, fileRun{env: []string{"GOMEMLIMIT=" + scaleMemLimit, "REMOVETAG_JOURNAL=" + os.Getenv("REMOVETAG_JOURNAL")}})
	r.report(b)
	b.ReportMetric(float64(r.coldStart.Microseconds())/1000, "cold-start-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s: %s", p.name, r.summary())
}

// fileRun is how runFile starts the function: what it adds to the function's
// environment, the program the runtime starts, and what runs just before the
// upload and just after the report (the timer stopped).
type fileRun struct {
	env     []string
	command string        // default bin.function
	timeout time.Duration // the function's time limit per invocation; default scaleTimeout
	before  func()
	after   func()
}

// fileResult is what one file through the function gave.
type fileResult struct {
	n           int
	wall        time.Duration
	coldStart   time.Duration
	rt          *measuredRuntime
	invocations int
	times       []string // each invocation's duration
	stats       emulator.Stats
	minCalls    int
	refused     int64 // calls answered with a nonzero ErrorCode
	out         string
	loadBefore  string
	loadAfter   string
}

// runFile uploads data (the CSV of accs, gzip) and lets the built function
// remove every account's tag vip from the upload event, under platform p's
// runtime: a 60 s time limit, the IM emulator at 20 ms per call enforcing 100
// calls/s, and the continuation chain through the Invoke API stand-in until
// the report is written. It checks the outcome exactly (the report, every tag
// vip gone, every keep kept, every invocation within its time, no checkpoint
// left) and fails b otherwise.
func runFile(b *testing.B, p *platform, accs []string, data []byte, run fileRun) fileResult {
	b.StopTimer()
	n := len(accs)
	w := &world{p: p, im: newIM(b), fs: newStore(b, s3Bucket, cosBucket), d: &deliverer{}, out: &logtest.Buffer{}}
	w.api = p.newAPI(w.d.deliver)
	b.Cleanup(w.api.Close)
	tags := []string{"keep", "vip"}
	recs := make([]records.Record, n)
	for i, a := range accs {
		recs[i] = records.Record{Account: a, Tags: tags}
	}
	w.im.Seed(recs)
	key := "incoming/accounts.csv.gz"
	w.putObject(b, key, data)

	env := append(baseEnv(), imEnv(w.im, imapi.MaxCallsPerSecond)...)
	env = append(env, p.env(w)...)
	env = append(env, run.env...)
	limit := cmp.Or(run.timeout, scaleTimeout)
	rt, coldStart := startMeasured(b, p, w.out, env, cmp.Or(run.command, bin.function), limit)
	w.d.mu.Lock()
	w.d.rt = rt
	w.d.mu.Unlock()
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("function output (last 4 kB):\n%s", tail(w.out.String(), 4096))
		}
	})

	r := fileResult{n: n, coldStart: coldStart, rt: rt, loadBefore: loadAvg()}
	if run.before != nil {
		run.before()
	}
	b.StartTimer()
	start := time.Now()
	first, err := rt.invoke(p.upload(key))
	if err != nil {
		b.Fatalf("the upload invocation: %v", err)
	}
	keepsDeadline(b, first, limit)
	if r := parseResult(b, first); r.Status != job.StatusDone && !(r.Status == job.StatusPending && r.Continued) {
		b.Fatalf("the upload invocation answered %s: %.500s", r.Status, first.payload)
	}
	rep, err := w.waitReport(key, time.Duration(n/ceilingRate)*3*time.Second+5*time.Minute)
	r.wall = time.Since(start)
	b.StopTimer()
	if run.after != nil {
		run.after()
	}
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.api.WaitIdle(ctx); err != nil {
		b.Fatal(err)
	}

	// The chain: every continuation answered within its time.
	ds := w.d.list()
	for i, d := range ds {
		if d.err != nil {
			b.Fatalf("continuation %d: %v", i+1, d.err)
		}
		keepsDeadline(b, d.answer, limit)
	}
	// The report is exact, every tag vip is gone and every other tag kept.
	if rep.Status != job.StatusDone || rep.Total != int64(n) || rep.Succeeded != int64(n) || rep.Failed != 0 || rep.Pending != 0 {
		b.Errorf("report: status %s, total %d, succeeded %d, failed %d, pending %d; want done and %d succeeded",
			rep.Status, rep.Total, rep.Succeeded, rep.Failed, rep.Pending, n)
	}
	if rep.Invocations != len(ds)+1 {
		b.Errorf("report: %d invocations; %d were made", rep.Invocations, len(ds)+1)
	}
	left := 0
	for _, a := range accs {
		if slices.Contains(w.im.Tags(a), "vip") {
			left++
		}
	}
	if left != 0 {
		b.Errorf("%d accounts keep the tag vip", left)
	}
	if got := w.im.TagCount(); got != n {
		b.Errorf("the emulator holds %d tags; want %d (every account's keep)", got, n)
	}
	if cps := w.fs.List(p.bucket, outPrefix+"state/"); len(cps) != 0 {
		b.Errorf("checkpoints left behind: %v", cps)
	}

	if dir := os.Getenv("REMOVETAG_SCALE_LOGS"); dir != "" {
		logFile := filepath.Join(dir, "scale-"+p.name+".log")
		if err := os.WriteFile(logFile, []byte(w.out.String()), 0o644); err != nil {
			b.Errorf("keep the function's output: %v", err)
		}
	}
	r.stats = w.im.Stats()
	r.minCalls = (n + imapi.MaxAccountsPerCall - 1) / imapi.MaxAccountsPerCall
	for code, c := range r.stats.Codes {
		if code != 0 {
			r.refused += c
		}
	}
	r.invocations = len(ds) + 1
	r.times = []string{first.elapsed.Round(time.Millisecond).String()}
	for _, d := range ds {
		r.times = append(r.times, d.answer.elapsed.Round(time.Millisecond).String())
	}
	r.out = w.out.String()
	r.loadAfter = loadAvg()
	return r
}

// ceilingRatio is the accounts done per second over the API's ceiling.
func (r fileResult) ceilingRatio() float64 {
	return float64(r.n) / ceilingRate / r.wall.Seconds()
}

// report reports the run's metrics shared by every file benchmark.
func (r fileResult) report(b *testing.B) {
	b.ReportMetric(r.wall.Seconds(), "wall-s")
	b.ReportMetric(r.ceilingRatio(), "ceiling-ratio")
	b.ReportMetric(float64(r.n)/r.wall.Seconds(), "users/s")
	b.ReportMetric(float64(r.rt.peakKB())/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(r.invocations), "invocations")
	b.ReportMetric(float64(r.stats.Requests), "calls")
	b.ReportMetric(float64(r.minCalls), "min-calls")
	b.ReportMetric(float64(r.refused), "refused-calls")
}

// summary tells the run in one line.
func (r fileResult) summary() string {
	return fmt.Sprintf("%d records in %v; %d invocations of %v, RSS peaks %v MiB; %d calls (minimum %d), %d refused, "+
		"%d slow-downs logged, max %d calls in a second; load average before %s, after %s",
		r.n, r.wall.Round(time.Millisecond), r.invocations, r.times, r.rt.peaksMiB(), r.stats.Requests, r.minCalls, r.refused,
		strings.Count(r.out, "slowing down"), r.stats.MaxPerSecond, r.loadBefore, r.loadAfter)
}

// putObject stores data under key in the platform's bucket.
func (w *world) putObject(b testing.TB, key string, data []byte) {
	b.Helper()
	if err := w.fs.PutObject(w.p.bucket, key, data); err != nil {
		b.Fatalf("upload %s: %v", key, err)
	}
}

// waitReport waits until the file's report object appears and returns it.
func (w *world) waitReport(key string, limit time.Duration) (job.FileReport, error) {
	return w.waitReportAt(outPrefix+"reports/"+key+".report.json", limit)
}

// waitReportAt waits until the report object name appears and returns it.
func (w *world) waitReportAt(name string, limit time.Duration) (job.FileReport, error) {
	var rep job.FileReport
	deadline := time.Now().Add(limit)
	for {
		data, err := w.fs.GetObject(w.p.bucket, name)
		if err == nil {
			if err := json.Unmarshal(data, &rep); err != nil {
				return rep, fmt.Errorf("the report %s: %w", name, err)
			}
			return rep, nil
		}
		if time.Now().After(deadline) {
			return rep, fmt.Errorf("no report %s after %v: %w", name, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkScaleColdStart starts the built function afresh for every
// iteration and times it to its first answer (an event of no known shape,
// answered without a call): under Lambda from the emulator's start, under SCF
// from the process's start.
func BenchmarkScaleColdStart(b *testing.B) {
	scaleEnabled(b)
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		b.Run(p.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				w := &world{p: p, im: newIM(b), fs: newStore(b, s3Bucket, cosBucket), d: &deliverer{}, out: &logtest.Buffer{}}
				w.api = p.newAPI(w.d.deliver)
				b.Cleanup(w.api.Close)
				env := append(baseEnv(), imEnv(w.im, imapi.MaxCallsPerSecond)...)
				env = append(env, "GOMEMLIMIT="+scaleMemLimit)
				_, d := startMeasured(b, p, w.out, append(env, p.env(w)...), bin.function, scaleTimeout)
				total += d
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "cold-start-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// startMeasured starts the program command (the built function, or a wrapper
// that execs it) under p's runtime with the time limit per invocation and answers its first invocation (an event of no known shape); it returns the
// runtime, which measures the peak RSS of every invocation, and the time from
// the start to that first answer.
func startMeasured(b *testing.B, p *platform, out *logtest.Buffer, env []string, command string, limit time.Duration) (*measuredRuntime, time.Duration) {
	b.Helper()
	start := time.Now()
	var inner runtimeProc
	if p == lambdaPlatform {
		inner = startLambdaCmd(b, out, env, limit, command)
	} else {
		inner = startSCFCmd(b, out, env, limit, command)
	}
	a, err := inner.invoke([]byte(`{"cold":"start"}`))
	cold := time.Since(start)
	if err != nil {
		b.Fatalf("first invocation: %v\n%s", err, out)
	}
	if r := parseResult(b, a); r.Status != job.StatusInvalid {
		b.Fatalf("first invocation answered %s, want %s", r.Status, job.StatusInvalid)
	}
	return &measuredRuntime{inner: inner}, cold
}

// measuredRuntime is a runtime whose every invocation's peak RSS is read
// from the function process: its high-water mark (VmHWM) is reset before the
// invocation (writing 5 to /proc/PID/clear_refs) and read after it. The
// process is found by its executable, the built function: under Lambda it is
// the emulator's child, under SCF the process startSCF started.
type measuredRuntime struct {
	inner runtimeProc
	mu    sync.Mutex
	peaks []int64 // kB, one per invocation
}

func (m *measuredRuntime) invoke(payload []byte) (answer, error) {
	if pid := functionPID(); pid > 0 {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // best effort: then VmHWM is the process's lifetime peak
	}
	a, err := m.inner.invoke(payload)
	if pid := functionPID(); pid > 0 {
		if kb, herr := vmHWM(pid); herr == nil {
			m.mu.Lock()
			m.peaks = append(m.peaks, kb)
			m.mu.Unlock()
		}
	}
	return a, err
}

// peakKB is the largest peak RSS of the invocations, in kB.
func (m *measuredRuntime) peakKB() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Max(append([]int64{0}, m.peaks...))
}

// peaksMiB lists every invocation's peak RSS in MiB.
func (m *measuredRuntime) peaksMiB() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := make([]string, len(m.peaks))
	for i, kb := range m.peaks {
		s[i] = fmt.Sprintf("%.1f", float64(kb)/1024)
	}
	return s
}

// functionPID finds the running process of the built function, or 0.
func functionPID() int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		exe, err := os.Readlink(filepath.Join(d, "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != bin.function {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			return pid
		}
	}
	return 0
}

// vmHWM reads a process's peak resident set size, in kB.
func vmHWM(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
}

// loadAvg is the machine's load average over the last minute: other work
// on the machine slows the run down.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(data))[0]
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// BenchmarkScalePackages builds the deployment packages as `make package`
// does (same flags, same zip tool) and reports their sizes.
func BenchmarkScalePackages(b *testing.B) {
	scaleEnabled(b)
	dir := b.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		b.Fatal(err)
	}
	pkgs := []struct{ name, goarch, tags, file string }{
		{"scf", "amd64", "", "main"},
		{"lambda", "arm64", "lambda.norpc", "bootstrap"},
	}
	for range b.N {
		for _, pk := range pkgs {
			out := filepath.Join(dir, pk.name, pk.file)
			args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid="}
			if pk.tags != "" {
				args = append(args, "-tags", pk.tags)
			}
			args = append(args, "-o", out, "./functions/removetag")
			if err := goIn(root, []string{"GOOS=linux", "GOARCH=" + pk.goarch}, args...); err != nil {
				b.Fatal(err)
			}
			zip := out + ".zip"
			if err := goIn(root, nil, "run", "./internal/mkzip", zip, out); err != nil {
				b.Fatal(err)
			}
			for _, f := range []struct{ path, unit string }{{zip, "-zip-MB"}, {out, "-MB"}} {
				fi, err := os.Stat(f.path)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(fi.Size())/1e6, pk.name+f.unit)
			}
		}
	}
	b.ReportMetric(0, "ns/op")
}

// goIn runs the go command in dir, without cgo, with env added.
func goIn(dir string, env []string, args ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
