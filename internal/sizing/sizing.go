// Package sizing fits the Go runtime to the size the function is configured
// with: a soft memory limit (runtime/debug.SetMemoryLimit) from the memory the
// platform says the function has, unless GOMEMLIMIT says otherwise, and one
// P (GOMAXPROCS=1) when that memory buys less than a whole CPU, unless
// GOMAXPROCS says otherwise. The function's main applies it first thing;
// [Settings] is what it logs.
//
// A function's memory is a hard limit: past it the platform kills the
// process. The Go heap alone does not know that limit, and by default grows
// to twice the live heap before collecting; with the soft limit it collects
// harder as it nears the limit instead of being killed. HeapPercent of the
// memory leaves the rest for what the soft limit does not bound well: the
// binary's text, the stacks, and the memory the runtime has not returned yet.
//
// A function's CPU is a share of a core in proportion to its memory (Lambda:
// 1,769 MB is one vCPU, "Configuring Lambda function memory"; SCF: "CPU in
// proportion to the memory", no figure, so the same is assumed): 7.2 % of a
// core at 128 MB, as a CFS quota, while the function sees 2 CPUs. Go 1.25 and
// later read that quota, but round it up to at least 2 (runtime's
// adjustCgroupGOMAXPROCS in Go 1.26), so a 128 MB function runs 2 Ps on 7 %
// of a core: the second P's idle GC workers and spinning threads spend quota
// the function cannot spare. With one P the same file took 12 % less CPU
// per call (0.67 against 0.76 ms, ten runs each of 30,000 records at 128 MB
// under both runtimes, BenchmarkShipped) and was throttled in a third fewer
// periods; a function that mostly waits on the network loses nothing by
// running one goroutine at a time.
//
// The soft limit also makes a collection every time the heap doubles
// needless: the heap of a job is small (a few MiB live, allocated a batch at
// a time) and the limit bounds it whatever GOGC says. So with the limit set
// from the configured memory the collector runs at GCPercent unless GOGC says
// otherwise: a fifth of the collections, and their CPU from 20-25 µs a
// 100-account call to about 2 (BenchmarkCPU, gc-cpu-ms/call, -cpu 1).
package sizing

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
)

// The variables read.
const (
	// EnvLambdaMemory is the function's memory in MB on AWS Lambda (AWS Lambda
	// Developer Guide, "Defined runtime environment variables": "The amount of
	// memory available to the function in MB"; looked up December 2026).
	EnvLambdaMemory = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
	// EnvSCFMemory is the function's memory in MB on Tencent SCF: Tencent's Go
	// runtime library reads it at start (github.com/tencentyun/scf-go-lib,
	// functioncontext.MemoryLimitInMB, the version this module pins). SCF's
	// documented list of built-in variables (product 583, "环境变量", updated
	// 2 December 2024, looked up December 2026) names no memory variable: this
	// one is the runtime's own.
	EnvSCFMemory = "FUNCTION_MEMORY_SIZE"
	// EnvGOMEMLIMIT is the Go runtime's own soft memory limit: when it is set,
	// the runtime has applied it and it is left as it is.
	EnvGOMEMLIMIT = "GOMEMLIMIT"
	// EnvGOMAXPROCS is the Go runtime's own number of Ps: when it is set, it is
	// left as it is.
	EnvGOMAXPROCS = "GOMAXPROCS"
	// EnvGOGC is the Go runtime's own collector target: when it is set, it is
	// left as it is.
	EnvGOGC = "GOGC"
)

// GCPercent is the collector's target set with the soft limit: the heap
// grows by four times the live heap before a collection, unless the limit
// comes first.
const GCPercent = 400

// MBPerCPU is the memory that buys one whole CPU: below it, the function runs
// one P.
const MBPerCPU = 1769

// HeapPercent is the share of the configured memory given to the soft limit:
// 80 %, 102.4 MiB of a 128 MB function.
const HeapPercent = 80

// MaxMemoryMB bounds a memory size read: more than either platform offers
// (Lambda 10,240 MB, SCF 3,072 MB for CPU functions) and far from overflow.
const MaxMemoryMB = 1 << 20

// Settings are the runtime settings the function runs with.
type Settings struct {
	// MemoryMB is the memory the function is configured with, in MB (0: no
	// variable said it); MemoryVar names the variable that said it.
	MemoryMB  int
	MemoryVar string
	// MemoryLimit is the soft memory limit in effect, in bytes (math.MaxInt64:
	// none); MemoryLimitFrom says what set it: GOMEMLIMIT, MemoryVar, or ""
	// (none).
	MemoryLimit     int64
	MemoryLimitFrom string
	// GOMAXPROCS is the Go runtime's in effect; GOMAXPROCSFrom says what set
	// it: GOMAXPROCS, MemoryVar, or "" (the runtime's default).
	GOMAXPROCS     int
	GOMAXPROCSFrom string
	// GCPercent is the collector's target in effect (-1: off); GCPercentFrom
	// says what set it: GOGC, MemoryVar, or "" (the runtime's default).
	GCPercent     int
	GCPercentFrom string
}

// LogValue logs the settings as one group.
func (s Settings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("memory_mb", s.MemoryMB),
		slog.String("memory_var", s.MemoryVar),
		slog.Int("gomaxprocs", s.GOMAXPROCS),
		slog.String("gomaxprocs_from", s.GOMAXPROCSFrom),
		slog.Int64("memory_limit", s.MemoryLimit),
		slog.String("memory_limit_from", s.MemoryLimitFrom),
		slog.Int("gc_percent", s.GCPercent),
		slog.String("gc_percent_from", s.GCPercentFrom),
	)
}

// ConfiguredMemory reads the function's memory in MB from the first of
// EnvLambdaMemory and EnvSCFMemory that is set; 0 and "" when neither is. A
// value that is not a number of MB in [1, MaxMemoryMB] is an error naming the
// variable.
func ConfiguredMemory(getenv func(string) string) (mb int, from string, err error) {
	for _, name := range []string{EnvLambdaMemory, EnvSCFMemory} {
		v := getenv(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxMemoryMB {
			return 0, name, fmt.Errorf("%s=%q: want the function's memory in MB, 1 to %d", name, v, MaxMemoryMB)
		}
		return n, name, nil
	}
	return 0, "", nil
}

// Limit is the soft memory limit of a function of mb MB, in bytes.
func Limit(mb int) int64 {
	return int64(mb) << 20 * HeapPercent / 100
}

// Apply sets the soft memory limit from the configured memory unless
// GOMEMLIMIT is set, and with it the collector's target to GCPercent unless
// GOGC is set, and GOMAXPROCS to 1 when that memory is under MBPerCPU unless
// GOMAXPROCS is set; it returns the settings in effect. A bad memory
// variable is returned as an error, with the settings left as the runtime has
// them: the function still runs (and logs it).
func Apply(getenv func(string) string) (Settings, error) {
	mb, from, err := ConfiguredMemory(getenv)
	s := Settings{MemoryMB: mb, MemoryVar: from}
	switch {
	case getenv(EnvGOMEMLIMIT) != "":
		s.MemoryLimitFrom = EnvGOMEMLIMIT
	case err == nil && mb > 0:
		debug.SetMemoryLimit(Limit(mb))
		s.MemoryLimitFrom = from
	}
	s.MemoryLimit = debug.SetMemoryLimit(-1) // reads the limit in effect
	if s.MemoryLimit == math.MaxInt64 {
		s.MemoryLimitFrom = ""
	}
	switch {
	case getenv(EnvGOGC) != "":
		s.GCPercentFrom = EnvGOGC
	case s.MemoryLimitFrom == from && from != "":
		debug.SetGCPercent(GCPercent)
		s.GCPercentFrom = from
	}
	s.GCPercent = gcPercent()
	switch {
	case getenv(EnvGOMAXPROCS) != "":
		s.GOMAXPROCSFrom = EnvGOMAXPROCS
	case err == nil && mb > 0 && mb < MBPerCPU:
		runtime.GOMAXPROCS(1)
		s.GOMAXPROCSFrom = from
	}
	s.GOMAXPROCS = runtime.GOMAXPROCS(0)
	return s, err
}

// gcPercent reads the collector's target in effect (runtime/metrics'
// /gc/gogc:percent; -1 when the collector is off).
func gcPercent() int {
	m := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return 100 // an older runtime without the metric: its default
	}
	p := m[0].Value.Uint64()
	if p == math.MaxUint64 || p > math.MaxInt32 {
		return -1
	}
	return int(p)
}
