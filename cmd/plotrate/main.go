// Command plotrate runs the engine against the emulator and plots the run:
// accounts removed over time against the quota line (10,000 accounts/s), and
// the calls per second against the call quota (100/s), as an SVG file.
//
//	go run ./cmd/plotrate -accounts 50000 -latency 20ms -out docs/rate.svg
//
// Fault rates (-drop, -bad-gateway, -internal, -rate-limit, -expired, -spike)
// make the emulator fail that share of calls at random, to show how the
// engine recovers. It samples the emulator's counters every -interval.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "plotrate:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	accounts int
	latency  time.Duration
	jitter   time.Duration
	interval time.Duration
	out      string
	seed     int64
	faults   emulator.Faults
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("plotrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.accounts, "accounts", 50_000, "accounts to remove tags from")
	fs.DurationVar(&o.latency, "latency", 20*time.Millisecond, "the emulator's latency per call")
	fs.DurationVar(&o.jitter, "jitter", 0, "random extra latency per call, up to this")
	fs.DurationVar(&o.interval, "interval", 100*time.Millisecond, "how often the emulator's counters are sampled")
	fs.StringVar(&o.out, "out", "docs/rate.svg", "the SVG file to write")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the emulator's random faults")
	fs.Float64Var(&o.faults.Drop, "drop", 0, "share of calls whose connection drops before they are applied")
	fs.Float64Var(&o.faults.DropAfterApply, "drop-after-apply", 0, "share of calls applied, then dropped without an answer")
	fs.Float64Var(&o.faults.BadGateway, "bad-gateway", 0, "share of calls answered HTTP 502")
	fs.Float64Var(&o.faults.Internal, "internal", 0, "share of calls answered 91000 (internal error)")
	fs.Float64Var(&o.faults.RateLimit, "rate-limit", 0, "share of calls answered as rate-limited, whatever the rate")
	fs.Float64Var(&o.faults.Expired, "expired", 0, "share of calls answered 70001 (UserSig expired)")
	fs.Float64Var(&o.faults.Spike, "spike", 0, "share of calls delayed by -spike-latency")
	fs.DurationVar(&o.faults.SpikeLatency, "spike-latency", 2*time.Second, "the delay of a latency spike")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.accounts <= 0 || o.interval <= 0 || o.latency < 0 || o.jitter < 0 {
		return o, fmt.Errorf("-accounts (%d) and -interval (%s) must be positive, -latency (%s) and -jitter (%s) not negative",
			o.accounts, o.interval, o.latency, o.jitter)
	}
	for name, v := range map[string]float64{"drop": o.faults.Drop, "drop-after-apply": o.faults.DropAfterApply,
		"bad-gateway": o.faults.BadGateway, "internal": o.faults.Internal, "rate-limit": o.faults.RateLimit,
		"expired": o.faults.Expired, "spike": o.faults.Spike} {
		if v < 0 || v > 1 {
			return o, fmt.Errorf("-%s %g: want a share from 0 to 1", name, v)
		}
	}
	return o, nil
}

// run is main without the process: it runs the engine, samples the emulator
// and writes the plot.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	srv := emulator.NewServer(emulator.Config{Latency: o.latency, Jitter: o.jitter, Faults: o.faults, Seed: o.seed})
	defer srv.Close()
	c := srv.Config()
	client, err := imapi.NewClient(imapi.Config{SDKAppID: c.SDKAppID, SecretKey: c.Key, Admin: c.Admin, BaseURL: srv.URL()})
	if err != nil {
		return fmt.Errorf("client of the emulator: %w", err)
	}
	recs := make([]records.Record, o.accounts)
	for i := range recs {
		recs[i] = records.Record{Account: fmt.Sprintf("user%07d", i), Tags: []string{"campaign-2026", "vip"}}
	}
	srv.Seed(recs)

	start := time.Now()
	samples := []Sample{{}}
	stopSampling := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(o.interval)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				samples = append(samples, sample(srv, start))
			}
		}
	})
	rep, err := imapi.NewEngine(client, imapi.EngineConfig{}).Run(ctx, records.NewSliceSource(recs))
	close(stopSampling)
	wg.Wait()
	samples = append(samples, sample(srv, start))
	if err != nil {
		return fmt.Errorf("engine run: %w", err)
	}
	elapsed := time.Since(start)
	st := srv.Stats()

	rate := float64(rep.Succeeded) / elapsed.Seconds()
	p := Plot{
		Title: fmt.Sprintf("%s accounts in %.1f s: %s accounts/s, %.3f of the quota",
			thousands(float64(rep.Succeeded)), elapsed.Seconds(), thousands(rate), rate/ceiling),
		Subtitle: fmt.Sprintf("the engine against the emulator: %s per call, faults: %s; %d calls, %d retries",
			o.latency, describeFaults(o.faults), rep.Calls, rep.Retries),
		Samples: samples, Quota: ceiling, CallQuota: imapi.MaxCallsPerSecond,
	}
	if err := writeFile(o.out, p); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n%s in %s: %s accounts/s (%.3f of the quota); %d calls, at most %d in one second; wrote %s\n",
		rep.Summary(), thousands(float64(rep.Succeeded)), elapsed.Round(time.Millisecond), thousands(rate), rate/ceiling,
		st.Requests, st.MaxPerSecond, o.out)
	if !rep.Done() {
		return fmt.Errorf("the run did not finish: %s", rep.Summary())
	}
	return nil
}

// ceiling is the most accounts per second the API allows.
const ceiling = imapi.MaxCallsPerSecond * imapi.MaxAccountsPerCall

// sample reads the emulator's counters.
func sample(srv *emulator.Server, start time.Time) Sample {
	st := srv.Stats()
	return Sample{At: time.Since(start), Accounts: st.AccountsApplied, Calls: st.Requests}
}

// describeFaults lists the fault rates set, or "none".
func describeFaults(f emulator.Faults) string {
	var parts []string
	for _, x := range []struct {
		name string
		v    float64
	}{{"drop", f.Drop}, {"drop after apply", f.DropAfterApply}, {"502", f.BadGateway}, {"91000", f.Internal},
		{"rate limit", f.RateLimit}, {"70001", f.Expired}, {"spike " + f.SpikeLatency.String(), f.Spike}} {
		if x.v > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", x.name, 100*x.v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// writeFile writes the plot to path, creating its directory.
func writeFile(path string, p Plot) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := WriteSVG(f, p); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
