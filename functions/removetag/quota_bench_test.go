package main_test

// The shared quota (issue 10) through the built function under both runtimes:
// 1, 2 and 4 instances, each given its own file, uploaded 0.5 s apart, all
// sharing one IM app whose emulator refuses (60007) any call past 100 in a
// sliding second, at 20 ms per call; 4 instances of which one is killed
// mid-run; and (issue 18) a short second job: files of 30,000 and 10,000 rows
// uploaded 1 s apart, so that a job joins and leaves while the other runs. The
// instances share IM_RATE_LIMIT=100 through leases in the bucket
// (REMOVETAG_BUCKETS). Heavy (about 4 minutes per runtime), so it runs only
// when REMOVETAG_QUOTA=1:
//
//	REMOVETAG_QUOTA=1 go test -run '^$' -bench Quota -benchtime 1x -timeout 30m ./functions/removetag/
//
// REMOVETAG_QUOTA_RECORDS sets each file's size (default 100,000: 1,000 calls)
// but the short-second-job case's.
// The killed instance is killed at 40% of the time the four jobs need together.
// docs/performance.md has the results and what they mean.

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/removetag/removetag/internal/logtest"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/records"
)

const (
	// quotaTimeout is the function's time limit per invocation: longer than the
	// longest job here (4 files of 1,000 calls at 100 calls/s together), so that
	// the jobs need no continuation.
	quotaTimeout = 60 * time.Second
	// quotaStagger is the time between two uploads.
	quotaStagger = 500 * time.Millisecond
	// instanceVar marks each function process with its instance number, so that
	// the benchmark can find and kill one.
	instanceVar = "QUOTA_BENCH_INSTANCE"
)

// quotaRecords is each file's size: REMOVETAG_QUOTA_RECORDS, default 100,000.
func quotaRecords(b *testing.B) int {
	b.Helper()
	if os.Getenv("REMOVETAG_QUOTA") != "1" {
		b.Skip("shared-quota benchmark: set REMOVETAG_QUOTA=1 to run it")
	}
	binaries(b)
	s := os.Getenv("REMOVETAG_QUOTA_RECORDS")
	if s == "" {
		return 100_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < imapi.MaxAccountsPerCall {
		b.Fatalf("REMOVETAG_QUOTA_RECORDS=%q: want at least %d records", s, imapi.MaxAccountsPerCall)
	}
	return n
}

// BenchmarkQuota measures how well instances share the quota. Metrics:
// ceiling-ratio (calls accepted by the emulator per second, all instances
// together, from the first upload to the last report, over 100), refused-pct
// (calls the emulator refused for the rate, of all calls), max-calls/s (calls
// that arrived in the busiest sliding second) and, with a killed instance,
// takeover-s (from the kill until the survivors together are back at 95
// accepted calls per second or more), lease-req/job-h (the requests the
// object store received under the leases' prefix, per hour of the jobs'
// time from upload to answer or kill, all jobs together).
func BenchmarkQuota(b *testing.B) {
	records := quotaRecords(b)
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		for _, tc := range []quotaCase{
			{instances: 1, kill: -1},
			{instances: 2, kill: -1},
			{instances: 4, kill: -1},
			{instances: 4, kill: 1},
			{instances: 4, kill: -1, uncoordinated: true},
			{instances: 2, kill: -1, sizes: []int{30_000, 10_000}, stagger: time.Second},
		} {
			name := fmt.Sprintf("%s/instances=%d", p.name, tc.instances)
			switch {
			case tc.kill >= 0:
				name += "/one-killed"
			case tc.uncoordinated:
				name += "/uncoordinated"
			case tc.sizes != nil:
				name += "/short-second"
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					runQuota(b, p, tc, records)
				}
			})
		}
	}
}

// quotaCase is one setting of BenchmarkQuota.
type quotaCase struct {
	instances int
	kill      int // the instance killed mid-run, or -1
	// uncoordinated runs the instances without REMOVETAG_BUCKETS: each uses the
	// whole IM_RATE_LIMIT, as before the quota was shared, for comparison.
	uncoordinated bool
	// sizes are the instances' file sizes (nil: each REMOVETAG_QUOTA_RECORDS).
	sizes []int
	// stagger is the time between two uploads (0: quotaStagger).
	stagger time.Duration
}

// size is the number of records of instance i's file.
func (tc quotaCase) size(i, perFile int) int {
	if tc.sizes != nil {
		return tc.sizes[i]
	}
	return perFile
}

// leaseCounter is the object store as the function processes see it: every
// request is passed to the stand-in, and those under the leases' prefix
// (a lease's key, or a listing of the prefix) are counted.
type leaseCounter struct {
	next     http.Handler
	prefix   string // of the lease keys, in the bucket
	requests atomic.Int64
}

func (c *leaseCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Path-style addressing under both stand-ins: /{bucket}/{key}.
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	if strings.HasPrefix(key, c.prefix) || strings.HasPrefix(r.URL.Query().Get("prefix"), c.prefix) {
		c.requests.Add(1)
	}
	c.next.ServeHTTP(w, r)
}

// quotaInstance is one instance of the function and the file it is given.
type quotaInstance struct {
	rt   runtimeProc
	out  *logtest.Buffer
	key  string
	accs []string
	data []byte

	start, end time.Time
	answer     answer
	err        error
}

// sample is the emulator's count of accepted calls at a moment.
type sample struct {
	at       time.Duration // since the first upload
	accepted int64
}

// runQuota is one run of BenchmarkQuota on platform p.
func runQuota(b *testing.B, p *platform, tc quotaCase, perFile int) {
	b.StopTimer()
	n, kill := tc.instances, tc.kill
	stagger := cmp.Or(tc.stagger, quotaStagger)
	im := emulator.NewServer(emulator.Config{Key: imKey, Latency: 20 * time.Millisecond})
	b.Cleanup(im.Close)
	w := &world{p: p, im: im, fs: newStore(b, s3Bucket, cosBucket), d: &deliverer{}, out: &logtest.Buffer{}}
	w.api = p.newAPI(w.d.deliver)
	b.Cleanup(w.api.Close)
	counter := &leaseCounter{next: w.fs, prefix: outPrefix + "quota/"}
	counted := httptest.NewServer(counter)
	b.Cleanup(counted.Close)

	insts := make([]*quotaInstance, n)
	dir := b.TempDir()
	total := 0
	for i := range insts {
		nrec := tc.size(i, perFile)
		total += nrec
		in := &quotaInstance{out: &logtest.Buffer{}, key: fmt.Sprintf("incoming/accounts-%d.csv.gz", i)}
		in.accs = make([]string, nrec)
		for j := range in.accs {
			in.accs[j] = fmt.Sprintf("i%d-user-%07d", i, j)
		}
		path := filepath.Join(dir, fmt.Sprintf("accounts-%d.csv.gz", i))
		if err := writeScaleFile(path, in.accs); err != nil {
			b.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		in.data = data
		recs := make([]records.Record, nrec)
		for j, a := range in.accs {
			recs[j] = records.Record{Account: a, Tags: []string{"keep", "vip"}}
		}
		im.Seed(recs)

		env := append(baseEnv(), imEnv(im, imapi.MaxCallsPerSecond)...)
		env = append(env, "GOMEMLIMIT="+scaleMemLimit, instanceVar+"="+strconv.Itoa(i))
		for _, kv := range p.env(w) {
			if !tc.uncoordinated || !strings.HasPrefix(kv, "REMOVETAG_BUCKETS=") {
				env = append(env, strings.Replace(kv, w.fs.URL(), counted.URL, 1))
			}
		}
		if p == lambdaPlatform {
			in.rt = startLambda(b, in.out, env, quotaTimeout) // one emulator per instance: RIE takes one invocation at a time
		} else {
			in.rt = startSCF(b, in.out, env, quotaTimeout)
		}
		if a, err := in.rt.invoke([]byte(`{"warm":"up"}`)); err != nil || parseResult(b, a).Status != job.StatusInvalid {
			b.Fatalf("instance %d did not answer a first event: %v\n%s", i, err, in.out)
		}
		insts[i] = in
	}
	w.d.mu.Lock()
	w.d.rt = insts[0].rt // no continuation is expected; any goes to the first instance
	w.d.mu.Unlock()
	b.Cleanup(func() {
		if b.Failed() {
			for i, in := range insts {
				b.Logf("instance %d output (last 3 kB):\n%s", i, tail(in.out.String(), 3072))
			}
		}
	})

	loadBefore := loadAvg()
	b.StartTimer()
	start := time.Now()
	stopSampling := sampleAccepted(im, start)
	var wg sync.WaitGroup
	for i, in := range insts {
		time.Sleep(time.Until(start.Add(time.Duration(i) * stagger)))
		w.putObject(b, in.key, in.data)
		in.start = time.Now()
		wg.Go(func() {
			in.answer, in.err = in.rt.invoke(p.upload(in.key))
			in.end = time.Now()
		})
	}
	var killed time.Duration
	if kill >= 0 {
		// At 40% of the time all the jobs need together at the full quota.
		killAt := time.Duration(0.4 * float64(total) / imapi.MaxAccountsPerCall / imapi.MaxCallsPerSecond * float64(time.Second))
		time.Sleep(time.Until(start.Add(max(killAt, 2*time.Second))))
		if err := killInstance(kill); err != nil {
			b.Fatal(err)
		}
		killed = time.Since(start)
	}
	wg.Wait()
	// A job continued in another invocation ends when its report is written.
	for i, in := range insts {
		if i == kill || in.err != nil || parseResult(b, in.answer).Status != job.StatusPending {
			continue
		}
		if _, err := w.waitReport(in.key, 3*time.Minute); err != nil {
			b.Fatal(err)
		}
		in.end = time.Now() // polled every 50 ms
	}
	b.StopTimer()
	series := stopSampling()

	// Every survivor's job is done within its time, its report exact, its tags gone.
	var (
		end     time.Time
		jobTime time.Duration // of every job, from its upload to its end
	)
	for i, in := range insts {
		if i == kill {
			jobTime += start.Add(killed).Sub(in.start) // its requests until then are counted
			continue
		}
		nrec := len(in.accs)
		jobTime += in.end.Sub(in.start)
		if in.err != nil {
			b.Fatalf("instance %d: %v", i, in.err)
		}
		keepsDeadline(b, in.answer, quotaTimeout)
		// A job slowed down by refusals may need a continuation.
		if r := parseResult(b, in.answer); r.Status != job.StatusDone && !(r.Status == job.StatusPending && r.Continued) {
			b.Fatalf("instance %d answered %s: %.300s", i, r.Status, in.answer.payload)
		}
		rep, err := w.waitReport(in.key, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Invocations > 1 {
			b.Logf("instance %d: the job needed %d invocations", i, rep.Invocations)
		}
		if rep.Status != job.StatusDone || rep.Total != int64(nrec) || rep.Succeeded != int64(nrec) || rep.Failed != 0 || rep.Pending != 0 {
			b.Errorf("instance %d report: status %s, total %d, succeeded %d, failed %d, pending %d; want %d succeeded",
				i, rep.Status, rep.Total, rep.Succeeded, rep.Failed, rep.Pending, nrec)
		}
		left := 0
		for _, a := range in.accs {
			if slices.Contains(im.Tags(a), "vip") {
				left++
			}
		}
		if left != 0 {
			b.Errorf("instance %d: %d accounts keep the tag vip", i, left)
		}
		if in.end.After(end) {
			end = in.end
		}
	}
	if leases := w.fs.List(p.bucket, outPrefix+"quota/"); kill < 0 && len(leases) != 0 {
		b.Errorf("leases left after every job ended: %v", leases)
	}

	st := im.Stats()
	wall := end.Sub(start)
	accepted := series[len(series)-1].accepted
	ratio := float64(accepted) / wall.Seconds() / imapi.MaxCallsPerSecond
	refusedPct := 100 * float64(st.Refused) / float64(max(st.Requests, 1))
	b.ReportMetric(ratio, "ceiling-ratio")
	b.ReportMetric(refusedPct, "refused-pct")
	b.ReportMetric(float64(st.MaxPerSecond), "max-calls/s")
	b.ReportMetric(wall.Seconds(), "wall-s")
	leaseRequests := counter.requests.Load()
	perJobHour := float64(leaseRequests) / max(jobTime.Hours(), 1e-9)
	if !tc.uncoordinated {
		b.ReportMetric(perJobHour, "lease-req/job-h")
	}
	b.ReportMetric(0, "ns/op")
	var extra string
	if kill >= 0 {
		takeover := takeoverAfter(series, killed, 0.95*imapi.MaxCallsPerSecond)
		b.ReportMetric(takeover.Seconds(), "takeover-s")
		extra = fmt.Sprintf("; instance %d killed at %v, the others at 95+ calls/s %v later", kill, killed.Round(time.Millisecond), takeover.Round(time.Millisecond))
		if takeover > 5*time.Second {
			b.Errorf("the survivors took %v to use the killed instance's share; want within 5 s", takeover)
		}
	}
	b.Logf("%s, %d instances: %d calls accepted in %v (%.3f of the ceiling), %d refused of %d (%.2f%%), max %d calls and %d accepted in a sliding second, "+
		"accepted per second %v%s; %d lease requests in %v of jobs (%.0f per job-hour); load average before %s, after %s",
		p.name, n, accepted, wall.Round(time.Millisecond), ratio, st.Refused, st.Requests, refusedPct, st.MaxPerSecond, st.MaxAcceptedPerSecond,
		perSecond(series), extra, leaseRequests, jobTime.Round(time.Millisecond), perJobHour, loadBefore, loadAvg())
}

// sampleAccepted samples the emulator's accepted calls every 50 ms from start
// until the returned function is called, which returns the samples.
func sampleAccepted(im *emulator.Server, start time.Time) (stop func() []sample) {
	var (
		mu   sync.Mutex
		out  []sample
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	take := func() {
		s := sample{at: time.Since(start), accepted: im.Stats().Applied}
		mu.Lock()
		out = append(out, s)
		mu.Unlock()
	}
	take()
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				take()
				return
			case <-t.C:
				take()
			}
		}
	})
	return func() []sample {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// takeoverAfter is the time from kill until the calls accepted over the
// preceding second first reach rate.
func takeoverAfter(series []sample, kill time.Duration, rate float64) time.Duration {
	for i, s := range series {
		if s.at < kill+time.Second {
			continue
		}
		j := i
		for j > 0 && s.at-series[j-1].at <= time.Second {
			j--
		}
		if float64(s.accepted-series[j].accepted)/(s.at-series[j].at).Seconds() >= rate {
			return s.at - kill
		}
	}
	return time.Duration(1<<63 - 1)
}

// perSecond lists the calls accepted in each whole second from the first upload.
func perSecond(series []sample) string {
	var b strings.Builder
	last, next := int64(0), time.Second
	for _, s := range series {
		if s.at >= next {
			fmt.Fprintf(&b, "%d ", s.accepted-last)
			last, next = s.accepted, next+time.Second
		}
	}
	return "[" + strings.TrimSpace(b.String()) + "]"
}

// killInstance sends SIGKILL to the function process of instance i (under
// Lambda, the Runtime Interface Emulator's child; under SCF, the process the
// benchmark started): it ends at once, without deleting its lease.
func killInstance(i int) error {
	marker := []byte(instanceVar + "=" + strconv.Itoa(i) + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		exe, err := os.Readlink(filepath.Join(d, "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != bin.function {
			continue
		}
		environ, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(environ, marker) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		return syscall.Kill(pid, syscall.SIGKILL)
	}
	return fmt.Errorf("no function process of instance %d found", i)
}
