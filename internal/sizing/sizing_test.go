package sizing

import (
	"cmp"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// env is an environment of the given variables.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestConfiguredMemory(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		mb      int
		from    string
		wantErr string
	}{
		{name: "none", env: nil},
		{name: "lambda", env: map[string]string{EnvLambdaMemory: "128"}, mb: 128, from: EnvLambdaMemory},
		{name: "scf", env: map[string]string{EnvSCFMemory: "256"}, mb: 256, from: EnvSCFMemory},
		{name: "lambda first", env: map[string]string{EnvLambdaMemory: "512", EnvSCFMemory: "256"}, mb: 512, from: EnvLambdaMemory},
		{name: "not a number", env: map[string]string{EnvSCFMemory: "128MB"}, from: EnvSCFMemory, wantErr: `FUNCTION_MEMORY_SIZE="128MB"`},
		{name: "zero", env: map[string]string{EnvLambdaMemory: "0"}, from: EnvLambdaMemory, wantErr: "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"},
		{name: "negative", env: map[string]string{EnvLambdaMemory: "-128"}, from: EnvLambdaMemory, wantErr: "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"},
		{name: "too large", env: map[string]string{EnvLambdaMemory: "2000000"}, from: EnvLambdaMemory, wantErr: "1 to 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb, from, err := ConfiguredMemory(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if mb != tt.mb || from != tt.from {
				t.Errorf("got %d MB from %q, want %d from %q", mb, from, tt.mb, tt.from)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	for _, tt := range []struct {
		mb   int
		want int64
	}{
		{128, 107_374_182}, // 80 % of 128 MiB, rounded down
		{256, 214_748_364},
		{512, 429_496_729},
		{10240, 8_589_934_592},
	} {
		if got := Limit(tt.mb); got != tt.want {
			t.Errorf("Limit(%d) = %d, want %d", tt.mb, got, tt.want)
		}
	}
}

// TestApply sets the process's soft memory limit, GOMAXPROCS and the
// collector's target, so it restores them after each case.
func TestApply(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	if procs < 2 {
		procs = 2 // whatever the machine, a default above one shows that Apply lowers it
	}
	tests := []struct {
		name      string
		env       map[string]string
		preset    int64 // the limit in effect before Apply (as GOMEMLIMIT would have set it)
		wantLimit int64
		wantFrom  string
		wantProcs int
		procsFrom string
		presetGC  int // the target in effect before Apply (as GOGC would have set it); 0: 100
		wantGC    int // 0: 100
		gcFrom    string
		wantErr   bool
	}{
		{name: "lambda 128", env: map[string]string{EnvLambdaMemory: "128"}, preset: math.MaxInt64,
			wantLimit: Limit(128), wantFrom: EnvLambdaMemory, wantProcs: 1, procsFrom: EnvLambdaMemory, wantGC: GCPercent, gcFrom: EnvLambdaMemory},
		{name: "scf 512", env: map[string]string{EnvSCFMemory: "512"}, preset: math.MaxInt64,
			wantLimit: Limit(512), wantFrom: EnvSCFMemory, wantProcs: 1, procsFrom: EnvSCFMemory, wantGC: GCPercent, gcFrom: EnvSCFMemory},
		{name: "just under a CPU", env: map[string]string{EnvLambdaMemory: "1768"}, preset: math.MaxInt64,
			wantLimit: Limit(1768), wantFrom: EnvLambdaMemory, wantProcs: 1, procsFrom: EnvLambdaMemory, wantGC: GCPercent, gcFrom: EnvLambdaMemory},
		{name: "a whole CPU keeps the runtime's", env: map[string]string{EnvLambdaMemory: "1769"}, preset: math.MaxInt64,
			wantLimit: Limit(1769), wantFrom: EnvLambdaMemory, wantProcs: procs, wantGC: GCPercent, gcFrom: EnvLambdaMemory},
		{name: "GOMEMLIMIT and GOMAXPROCS win", env: map[string]string{EnvLambdaMemory: "128", EnvGOMEMLIMIT: "50MiB", EnvGOMAXPROCS: "2"},
			preset: 50 << 20, wantLimit: 50 << 20, wantFrom: EnvGOMEMLIMIT, wantProcs: procs, procsFrom: EnvGOMAXPROCS},
		{name: "GOGC wins", env: map[string]string{EnvLambdaMemory: "128", EnvGOGC: "50"}, preset: math.MaxInt64,
			wantLimit: Limit(128), wantFrom: EnvLambdaMemory, wantProcs: 1, procsFrom: EnvLambdaMemory, presetGC: 50, wantGC: 50, gcFrom: EnvGOGC},
		{name: "GOGC=off", env: map[string]string{EnvSCFMemory: "256", EnvGOGC: "off"}, preset: math.MaxInt64,
			wantLimit: Limit(256), wantFrom: EnvSCFMemory, wantProcs: 1, procsFrom: EnvSCFMemory, presetGC: -1, wantGC: -1, gcFrom: EnvGOGC},
		{name: "GOMEMLIMIT=off", env: map[string]string{EnvLambdaMemory: "128", EnvGOMEMLIMIT: "off"}, preset: math.MaxInt64,
			wantLimit: math.MaxInt64, wantProcs: 1, procsFrom: EnvLambdaMemory},
		{name: "no memory variable", env: nil, preset: math.MaxInt64, wantLimit: math.MaxInt64, wantProcs: procs},
		{name: "bad memory variable", env: map[string]string{EnvSCFMemory: "lots"}, preset: math.MaxInt64,
			wantLimit: math.MaxInt64, wantProcs: procs, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			presetGC, wantGC := cmp.Or(tt.presetGC, 100), cmp.Or(tt.wantGC, 100)
			before := debug.SetMemoryLimit(tt.preset)
			beforeProcs := runtime.GOMAXPROCS(procs)
			beforeGC := debug.SetGCPercent(presetGC)
			t.Cleanup(func() {
				debug.SetMemoryLimit(before)
				runtime.GOMAXPROCS(beforeProcs)
				debug.SetGCPercent(beforeGC)
			})
			s, err := Apply(env(tt.env))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("the limit in effect is %d, want %d", got, tt.wantLimit)
			}
			if s.MemoryLimit != tt.wantLimit || s.MemoryLimitFrom != tt.wantFrom {
				t.Errorf("settings say %d from %q, want %d from %q", s.MemoryLimit, s.MemoryLimitFrom, tt.wantLimit, tt.wantFrom)
			}
			if got := runtime.GOMAXPROCS(0); got != tt.wantProcs || s.GOMAXPROCS != got || s.GOMAXPROCSFrom != tt.procsFrom {
				t.Errorf("GOMAXPROCS %d, settings say %d from %q; want %d from %q", got, s.GOMAXPROCS, s.GOMAXPROCSFrom, tt.wantProcs, tt.procsFrom)
			}
			if got := debug.SetGCPercent(presetGC); got != wantGC || s.GCPercent != got || s.GCPercentFrom != tt.gcFrom {
				t.Errorf("GC percent %d, settings say %d from %q; want %d from %q", got, s.GCPercent, s.GCPercentFrom, wantGC, tt.gcFrom)
			}
		})
	}
}
