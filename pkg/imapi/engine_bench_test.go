package imapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// ceiling is the most users per second the API allows: 100 calls/s × 100 accounts.
const ceiling = imapi.MaxCallsPerSecond * imapi.MaxAccountsPerCall

// BenchmarkEngine sends 100,000 accounts through the engine against the emulator
// (which enforces 100 calls in any sliding second) at 20 ms and 200 ms per call,
// and 5,000 through a plain serial client, one call at a time, as the existing
// SDKs do; with all_member_push's im_remove_tag ("latency=…", as before) and
// timpush's remove_tag ("timpush/latency=…": the Push service's, whose every
// account the emulator must know, or it answers 70107 in an ErrorList); and
// journaled runs ("latency=20ms/prepare=…": a BeforeSend function taking a
// journal's read and write ahead before each batch's turn).
// Metrics: users/s, ceiling-ratio (users/s over 10,000), speedup (engine
// users/s over the serial client's), max-calls/s (seen by the emulator in any
// one-second window) and rejected (calls the emulator refused for the rate).
func BenchmarkEngine(b *testing.B) {
	for _, latency := range []time.Duration{20 * time.Millisecond, 200 * time.Millisecond} {
		b.Run("latency="+latency.String(), func(b *testing.B) { benchEngine(b, imapi.AllMemberPush, latency) })
	}
	b.Run("timpush", func(b *testing.B) {
		for _, latency := range []time.Duration{20 * time.Millisecond, 200 * time.Millisecond} {
			b.Run("latency="+latency.String(), func(b *testing.B) { benchEngine(b, imapi.TimPush, latency) })
		}
	})
	// A journaled run: each batch prepared (read, written ahead) before its
	// turn, the preparation taking a read and a write's time; the read-ahead
	// must keep a batch ready at every turn.
	for _, prep := range []time.Duration{40 * time.Millisecond, 400 * time.Millisecond} {
		b.Run("latency=20ms/prepare="+prep.String(), func(b *testing.B) {
			benchEngine(b, imapi.AllMemberPush, 20*time.Millisecond, imapi.BeforeSend(sleepingPrepare(prep)))
		})
	}
}

// sleepingPrepare is a BeforeSend function that takes d.
func sleepingPrepare(d time.Duration) func(context.Context, []records.Record) (func(func(string) (bool, bool)), error) {
	return func(ctx context.Context, _ []records.Record) (func(func(string) (bool, bool)), error) {
		select {
		case <-time.After(d):
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// benchEngine is one case of BenchmarkEngine: api's removal at latency.
func benchEngine(b *testing.B, api imapi.API, latency time.Duration, opts ...imapi.RunOption) {
	serial := serialUsersPerSecond(b, api, latency, 5000)
	var users, seconds float64
	var st emulator.Stats
	for b.Loop() {
		srv, client := newEmulator(b, emulator.Config{Latency: latency})
		recs := benchJob(100_000)
		srv.Seed(recs)
		start := time.Now()
		rep, err := imapi.NewEngine(client, imapi.EngineConfig{}).Run(context.Background(), records.NewSliceSource(recs), append(opts, imapi.WithOperation(api.RemoveTag()))...)
		seconds += time.Since(start).Seconds()
		if err != nil || !rep.Done() || rep.Succeeded != int64(len(recs)) {
			b.Fatalf("run: %v, %s", err, rep.Summary())
		}
		users += float64(rep.Succeeded)
		st = srv.Stats()
		srv.Close()
	}
	rate := users / seconds
	b.ReportMetric(rate, "users/s")
	b.ReportMetric(rate/ceiling, "ceiling-ratio")
	b.ReportMetric(rate/serial, "speedup")
	b.ReportMetric(float64(st.MaxPerSecond), "max-calls/s")
	b.ReportMetric(float64(st.Codes[emulator.CodeRateLimited]), "rejected")
}

// serialUsersPerSecond removes n accounts' tags one call of 100 at a time and
// returns the users per second it reached.
func serialUsersPerSecond(b *testing.B, api imapi.API, latency time.Duration, n int) float64 {
	b.Helper()
	srv, client := newEmulator(b, emulator.Config{Latency: latency})
	defer srv.Close()
	recs := benchJob(n)
	srv.Seed(recs)
	start := time.Now()
	for i := 0; i < len(recs); i += imapi.MaxAccountsPerCall {
		if err := client.Call(context.Background(), api.RemoveTag(), recs[i:min(i+imapi.MaxAccountsPerCall, len(recs))]); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

func benchJob(n int) []records.Record {
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{Account: fmt.Sprintf("user%07d", i), Tags: []string{"campaign-2026", "vip"}}
	}
	return recs
}

// BenchmarkClientCall measures one 100-account call through the client against the
// emulator with no latency: signing (cached), encoding, the loopback round trip and
// decoding, plus the emulator's own work. At 100 calls/s the client must spend a
// small fraction of a core: cpu-share-at-100/s is the share of one core used.
func BenchmarkClientCall(b *testing.B) {
	srv, client := newEmulator(b, emulator.Config{Rate: -1})
	defer srv.Close()
	recs := benchJob(imapi.MaxAccountsPerCall)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), recs); err != nil {
			b.Fatal(err)
		}
	}
	perCall := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(1/perCall, "calls/s")
	b.ReportMetric(perCall*imapi.MaxCallsPerSecond, "cpu-share-at-100/s")
}
