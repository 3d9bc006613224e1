package main_test

// The speed as shipped (issue 18): the built function under both runtimes in
// a cgroup of a function's memory size, with the CPU share Lambda gives that
// size (1,769 MB is one vCPU: AWS Lambda Developer Guide, "Configuring Lambda
// function memory", looked up December 2026; SCF says only that CPU is given
// in proportion to memory, so the same share is assumed) and that memory as
// the hard limit. Heavy (about 8 minutes), so it runs only when
// REMOVETAG_SHIPPED=1, as root on a machine with cgroup v1 (it skips, saying
// why, elsewhere):
//
//	REMOVETAG_SHIPPED=1 go test -run '^$' -bench Shipped -benchtime 1x -timeout 30m ./functions/removetag/
//
// REMOVETAG_SHIPPED_RECORDS sets the file's size at 128, 256 and 512 MB
// (default 100,000); REMOVETAG_SHIPPED_LARGE the size of the one more file at
// 128 MB (default 1,000,000; 0 leaves it out); REMOVETAG_SHIPPED_FUNCTION_ENV
// adds variables to the function's environment (KEY=VALUE separated by
// spaces, e.g. "GOMAXPROCS=2 GOGC=200"), to compare settings. Each
// invocation has the time limit of template.yaml (300 s, as shipped: a
// million records in one invocation), or REMOVETAG_SHIPPED_TIMEOUT seconds
// (60 for BenchmarkScale's chain of continuations).
// docs/performance.md has the results and what they mean.
//
// Each run makes a group in each of /sys/fs/cgroup/{cpu,cpuacct,memory},
// under the test process's own group: cpu.cfs_period_us = 100,000,
// cpu.cfs_quota_us = memory/1,769 of it (7,236 for 128 MB),
// memory.limit_in_bytes = the memory in MiB. The runtime does not start the
// function itself but this test binary again, as a wrapper (cgroupWrapper,
// called first by TestMain) that writes its own PID into each group's
// cgroup.procs and then execs the function: under Lambda the Runtime Interface
// Emulator starts the wrapper as its bootstrap (the emulator stays outside the
// groups), under SCF the benchmark starts it. The function is told its memory
// as each platform tells it (sizing.EnvLambdaMemory, sizing.EnvSCFMemory). The
// groups are removed after the run.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/removetag/removetag/internal/sizing"
)

const (
	// cgroupRoot is where the cgroup v1 hierarchies are mounted.
	cgroupRoot = "/sys/fs/cgroup"
	// cfsPeriod is the CPU bandwidth period, in µs.
	cfsPeriod = 100_000
	// mbPerCPU is the memory that buys one vCPU on Lambda, in MB.
	mbPerCPU = 1769
	// wrapProcsVar lists the cgroup.procs files the wrapper joins (a path
	// list); wrapExecVar is the program it then execs. Both are removed from
	// the program's environment.
	wrapProcsVar = "REMOVETAG_SHIPPED_CGROUP_PROCS"
	wrapExecVar  = "REMOVETAG_SHIPPED_EXEC"
)

// cgroupControllers are the cgroup v1 controllers a run uses, each with a file
// that only that controller's hierarchy has.
var cgroupControllers = []struct{ name, probe string }{
	{"cpu", "cpu.cfs_quota_us"},
	{"cpuacct", "cpuacct.usage"},
	{"memory", "memory.limit_in_bytes"},
}

// cgroupWrapper is TestMain's first step. In the wrapper's environment
// (wrapExecVar set) it joins the groups and execs the program, and never
// returns; otherwise it returns at once.
func cgroupWrapper() {
	target := os.Getenv(wrapExecVar)
	if target == "" {
		return
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, procs := range filepath.SplitList(os.Getenv(wrapProcsVar)) {
		if err := os.WriteFile(procs, pid, 0); err != nil {
			fmt.Fprintf(os.Stderr, "cgroup wrapper: join %s: %v\n", procs, err)
			os.Exit(126)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, wrapProcsVar+"=") || strings.HasPrefix(kv, wrapExecVar+"=")
	})
	err := syscall.Exec(target, []string{target}, env)
	fmt.Fprintf(os.Stderr, "cgroup wrapper: exec %s: %v\n", target, err)
	os.Exit(127)
}

// cgroupProblem says why this machine cannot run the function in cgroups of
// its own, or "" when it can.
func cgroupProblem() string {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("not root (euid %d): the cgroups cannot be made", uid)
	}
	for _, c := range cgroupControllers {
		probe := filepath.Join(cgroupRoot, c.name, c.probe)
		if _, err := os.Stat(probe); err != nil {
			return fmt.Sprintf("no cgroup v1 %s controller (%v); cgroup v2 alone is not supported", c.name, err)
		}
	}
	return ""
}

// cgroupSeq numbers the groups this process makes.
var cgroupSeq atomic.Int64

// cgroup is one group in each controller's hierarchy (controllers mounted
// together share one directory).
type cgroup struct {
	dirs map[string]string // controller → the group's directory
}

// cfsQuota is the CPU quota of a memMB function per cfsPeriod, in µs: its
// share of a core (at least the kernel's minimum, 1 ms).
func cfsQuota(memMB int) int {
	return max(int(math.Round(float64(memMB)*cfsPeriod/mbPerCPU)), 1000)
}

// newCgroup makes the groups of a memMB function under the test process's own
// groups and removes them when b ends (after the function's processes are
// ended: cleanups run last-in first-out). It skips b, saying why, where they
// cannot be made or set.
func newCgroup(b *testing.B, memMB int) *cgroup {
	b.Helper()
	if why := cgroupProblem(); why != "" {
		b.Skip("shipped benchmark: " + why)
	}
	g := &cgroup{dirs: map[string]string{}}
	name := fmt.Sprintf("removetag-shipped-%d-%d", os.Getpid(), cgroupSeq.Add(1))
	made := map[string]string{} // real parent directory → the group made in it
	b.Cleanup(func() {
		for _, dir := range made {
			if err := removeCgroup(dir); err != nil {
				b.Errorf("remove the cgroup: %v", err)
			}
		}
	})
	for _, c := range cgroupControllers {
		parent, err := filepath.EvalSymlinks(ownCgroupDir(c.name))
		if err != nil {
			b.Skipf("shipped benchmark: the %s cgroup of this process: %v", c.name, err)
		}
		if dir, ok := made[parent]; ok {
			g.dirs[c.name] = dir
			continue
		}
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Skipf("shipped benchmark: cannot make a cgroup: %v", err)
		}
		made[parent] = dir
		g.dirs[c.name] = dir
	}
	settings := []struct{ controller, file, value string }{
		{"cpu", "cpu.cfs_period_us", strconv.Itoa(cfsPeriod)},
		{"cpu", "cpu.cfs_quota_us", strconv.Itoa(cfsQuota(memMB))},
		{"memory", "memory.limit_in_bytes", strconv.Itoa(memMB << 20)},
	}
	for _, s := range settings {
		path := filepath.Join(g.dirs[s.controller], s.file)
		if err := os.WriteFile(path, []byte(s.value), 0); err != nil {
			b.Skipf("shipped benchmark: cannot set %s to %s: %v", path, s.value, err)
		}
	}
	return g
}

// ownCgroupDir is the directory of this process's group in a controller's
// hierarchy (/proc/self/cgroup), or the hierarchy's root where that
// directory is not visible (a container's view of the hierarchy).
func ownCgroupDir(controller string) string {
	root := filepath.Join(cgroupRoot, controller)
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return root
	}
	for line := range strings.Lines(string(data)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), controller) {
			if dir := filepath.Join(root, f[2]); isDir(dir) {
				return dir
			}
		}
	}
	return root
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// removeCgroup removes a group once its processes are gone (a killed process
// leaves its group a moment later).
func removeCgroup(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || err == syscall.ENOENT {
			return nil
		}
		if err != syscall.EBUSY || time.Now().After(deadline) {
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procs is the wrapper's list of cgroup.procs files, one per group.
func (g *cgroup) procs() string {
	var files []string
	for _, c := range cgroupControllers {
		f := filepath.Join(g.dirs[c.name], "cgroup.procs")
		if !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	return strings.Join(files, string(os.PathListSeparator))
}

// cgroupCounters are the groups' counters at one moment.
type cgroupCounters struct {
	cpuNS       int64 // cpuacct.usage: CPU time used
	periods     int64 // cpu.stat nr_periods: periods in which the group was runnable
	throttled   int64 // cpu.stat nr_throttled: periods in which it ran out of quota
	throttledNS int64 // cpu.stat throttled_time
	peakBytes   int64 // memory.max_usage_in_bytes (page cache included)
	failcnt     int64 // memory.failcnt: times the memory limit was hit
}

// read reads the counters; a counter that cannot be read fails b.
func (g *cgroup) read(b *testing.B) cgroupCounters {
	b.Helper()
	var c cgroupCounters
	c.cpuNS = readInt(b, filepath.Join(g.dirs["cpuacct"], "cpuacct.usage"))
	c.peakBytes = readInt(b, filepath.Join(g.dirs["memory"], "memory.max_usage_in_bytes"))
	c.failcnt = readInt(b, filepath.Join(g.dirs["memory"], "memory.failcnt"))
	stat := filepath.Join(g.dirs["cpu"], "cpu.stat")
	data, err := os.ReadFile(stat)
	if err != nil {
		b.Fatal(err)
	}
	fields := map[string]*int64{"nr_periods": &c.periods, "nr_throttled": &c.throttled, "throttled_time": &c.throttledNS}
	for line := range strings.Lines(string(data)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if p, ok := fields[k]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("%s: %s: %v", stat, k, err)
			}
			*p = n
		}
	}
	return c
}

// readInt reads a file holding one integer.
func readInt(b *testing.B, path string) int64 {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return n
}

// envInt reads a non-negative integer from the environment variable name.
func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a number of records", name, s)
	}
	return n
}

// shippedFile is one input file of BenchmarkShipped.
type shippedFile struct {
	accs []string
	data []byte
}

// BenchmarkShipped runs a file through the built function under each runtime
// in the cgroups of a 128, 256 and 512 MB function (and a larger file at 128
// MB), as runFile does BenchmarkScale's. Metrics, besides runFile's:
// cpu-ms/call (the groups' CPU time from the upload to the report over the
// calls made, of every API), cpu-ms/100-accounts (the same over the minimum
// number of im_remove_tag calls, one per 100 accounts), cpu-s, periods and throttled-periods (CFS periods in which the
// function was runnable, and those in which it ran out of quota: cpu.stat),
// throttled-s, cgroup-peak-MiB (memory.max_usage_in_bytes, the groups' peak
// memory, page cache included), mem-limit-hits (memory.failcnt), refused-pct
// (calls the emulator refused for the rate, 60007, of all calls) and, from the
// function's start-up line, gomaxprocs and memlimit-MiB.
func BenchmarkShipped(b *testing.B) {
	if os.Getenv("REMOVETAG_SHIPPED") != "1" {
		b.Skip("shipped benchmark: set REMOVETAG_SHIPPED=1 to run it")
	}
	if why := cgroupProblem(); why != "" {
		b.Skip("shipped benchmark: " + why)
	}
	binaries(b)
	n := envInt(b, "REMOVETAG_SHIPPED_RECORDS", 100_000)
	large := envInt(b, "REMOVETAG_SHIPPED_LARGE", 1_000_000)
	timeout := shippedTimeout(b)
	extra := strings.Fields(os.Getenv("REMOVETAG_SHIPPED_FUNCTION_ENV"))
	for _, kv := range extra {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			b.Fatalf("REMOVETAG_SHIPPED_FUNCTION_ENV: %q is not KEY=VALUE", kv)
		}
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	type size struct{ memMB, records int }
	sizes := []size{{128, n}, {256, n}, {512, n}}
	if large > 0 {
		sizes = append(sizes, size{128, large})
	}
	files := map[int]shippedFile{}
	file := func(b *testing.B, n int) shippedFile {
		if f, ok := files[n]; ok {
			return f
		}
		accs, data := scaleFile(b, n)
		files[n] = shippedFile{accs: accs, data: data}
		return files[n]
	}
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		for _, s := range sizes {
			b.Run(fmt.Sprintf("%s/mem=%dMB/records=%d", p.name, s.memMB, s.records), func(b *testing.B) {
				f := file(b, s.records)
				for range b.N {
					runShipped(b, p, s.memMB, f, self, timeout, extra)
				}
			})
		}
	}
}

// timeoutPattern finds the time limits in template.yaml: the globals' and
// the function's.
var timeoutPattern = regexp.MustCompile(`(?m)^\s+Timeout:\s*(\d+)\s*$`)

// shippedTimeout is the function's time limit per invocation: as shipped,
// template.yaml's Timeout (300 s: a million records take one invocation),
// unless REMOVETAG_SHIPPED_TIMEOUT (seconds) says otherwise (60: BenchmarkScale's,
// a chain of continuations).
func shippedTimeout(b *testing.B) time.Duration {
	if n := envInt(b, "REMOVETAG_SHIPPED_TIMEOUT", 0); n > 0 {
		return time.Duration(n) * time.Second
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	var secs int
	for _, m := range timeoutPattern.FindAllSubmatch(data, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		if secs != 0 && n != secs {
			b.Fatalf("template.yaml has the time limits %d and %d s: say which with REMOVETAG_SHIPPED_TIMEOUT", secs, n)
		}
		secs = n
	}
	if secs == 0 {
		b.Fatal("template.yaml has no Timeout")
	}
	return time.Duration(secs) * time.Second
}

// memoryVar is the variable that tells the function its memory on p.
func memoryVar(p *platform) string {
	if p == lambdaPlatform {
		return sizing.EnvLambdaMemory
	}
	return sizing.EnvSCFMemory
}

// runShipped is one run of BenchmarkShipped: platform p, a memMB function.
func runShipped(b *testing.B, p *platform, memMB int, f shippedFile, self string, timeout time.Duration, extra []string) {
	b.StopTimer()
	g := newCgroup(b, memMB)
	env := []string{
		memoryVar(p) + "=" + strconv.Itoa(memMB),
		wrapProcsVar + "=" + g.procs(),
		wrapExecVar + "=" + bin.function,
	}
	env = append(env, extra...)
	var before, after cgroupCounters
	r := runFile(b, p, f.accs, f.data, fileRun{
		env:     env,
		command: self,
		timeout: timeout,
		before:  func() { before = g.read(b) },
		after:   func() { after = g.read(b) },
	})
	r.report(b)
	cpu := time.Duration(after.cpuNS - before.cpuNS)
	calls := max(r.stats.Requests, 1)
	periods, throttled := after.periods-before.periods, after.throttled-before.throttled
	refusedPct := 100 * float64(r.stats.Refused) / float64(calls)
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(calls), "cpu-ms/call")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(r.minCalls), "cpu-ms/100-accounts")
	b.ReportMetric(cpu.Seconds(), "cpu-s")
	b.ReportMetric(float64(periods), "periods")
	b.ReportMetric(float64(throttled), "throttled-periods")
	b.ReportMetric(time.Duration(after.throttledNS-before.throttledNS).Seconds(), "throttled-s")
	b.ReportMetric(float64(after.peakBytes)/(1<<20), "cgroup-peak-MiB")
	b.ReportMetric(float64(after.failcnt), "mem-limit-hits")
	b.ReportMetric(refusedPct, "refused-pct")
	procs, limit := startupSettings(r.out)
	if procs > 0 {
		b.ReportMetric(float64(procs), "gomaxprocs")
	}
	if limit > 0 {
		b.ReportMetric(float64(limit)/(1<<20), "memlimit-MiB")
	}
	b.ReportMetric(0, "ns/op")
	b.Logf("%s at %d MB (quota %d of %d µs; %v invocations; extra environment %q): %s; CPU %v (%.3f ms per call, %.3f per 100 accounts), throttled in %d of %d periods "+
		"(%v), cgroup peak %.1f MiB, memory limit hit %d times, %.2f%% refused; GOMAXPROCS %d, soft memory limit %d bytes",
		p.name, memMB, cfsQuota(memMB), cfsPeriod, timeout, extra, r.summary(), cpu.Round(time.Millisecond),
		float64(cpu.Microseconds())/1000/float64(calls), float64(cpu.Microseconds())/1000/float64(r.minCalls), throttled, periods,
		time.Duration(after.throttledNS-before.throttledNS).Round(time.Millisecond),
		float64(after.peakBytes)/(1<<20), after.failcnt, refusedPct, procs, limit)
}

// startupPattern finds the function's start-up line's settings in its output
// (JSON under both runtimes: Lambda's handler names the message "message").
var startupPattern = regexp.MustCompile(`"(?:msg|message)":"runtime settings"[^\n]*?"gomaxprocs":(\d+)[^\n]*?"memory_limit":(-?\d+)`)

// startupSettings reads GOMAXPROCS and the soft memory limit the function
// logged at its last start (0, 0 if it logged none).
func startupSettings(out string) (procs int, limit int64) {
	m := startupPattern.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, 0
	}
	last := m[len(m)-1]
	procs, _ = strconv.Atoi(last[1])
	limit, _ = strconv.ParseInt(last[2], 10, 64)
	return procs, limit
}

func TestCFSQuota(t *testing.T) {
	for _, tt := range []struct{ memMB, want int }{
		{128, 7236}, // 7.2 % of a core
		{256, 14471},
		{512, 28943},
		{1769, 100_000}, // one vCPU
		{10240, 578_858},
		{8, 1000}, // the kernel's minimum
	} {
		if got := cfsQuota(tt.memMB); got != tt.want {
			t.Errorf("cfsQuota(%d) = %d, want %d", tt.memMB, got, tt.want)
		}
	}
}

func TestStartupSettings(t *testing.T) {
	lambda := `{"timestamp":"2026-12-02T01:02:11Z","level":"INFO","message":"runtime settings","runtime":{"memory_mb":128,` +
		`"memory_var":"AWS_LAMBDA_FUNCTION_MEMORY_SIZE","gomaxprocs":2,"gomaxprocs_from":"","memory_limit":107374182,"memory_limit_from":"AWS_LAMBDA_FUNCTION_MEMORY_SIZE"}}`
	scf := `{"time":"2026-12-02T01:03:02Z","level":"INFO","msg":"runtime settings","runtime":{"memory_mb":512,"memory_var":"FUNCTION_MEMORY_SIZE",` +
		`"gomaxprocs":1,"gomaxprocs_from":"FUNCTION_MEMORY_SIZE","memory_limit":429496729,"memory_limit_from":"FUNCTION_MEMORY_SIZE"}}`
	other := `{"time":"2026-12-02T01:03:02Z","level":"INFO","msg":"configuration","config":{"gomaxprocs":7,"memory_limit":5}}`
	for _, tt := range []struct {
		name, out string
		procs     int
		limit     int64
	}{
		{"lambda", lambda + "\n" + other, 2, 107374182},
		{"scf", other + "\n" + scf + "\n", 1, 429496729},
		{"the last start", lambda + "\n" + scf, 1, 429496729},
		{"none", other, 0, 0},
	} {
		if procs, limit := startupSettings(tt.out); procs != tt.procs || limit != tt.limit {
			t.Errorf("%s: got GOMAXPROCS %d, limit %d; want %d, %d", tt.name, procs, limit, tt.procs, tt.limit)
		}
	}
}
