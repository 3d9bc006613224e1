package journal

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// TestGroupEveryFor: a two-hundredth of the run, from 50 ms to 250 ms.
func TestGroupEveryFor(t *testing.T) {
	for _, tt := range []struct{ run, want time.Duration }{
		{0, 50 * time.Millisecond}, {time.Second, 50 * time.Millisecond}, {10 * time.Second, 50 * time.Millisecond},
		{20 * time.Second, 100 * time.Millisecond}, {40 * time.Second, 200 * time.Millisecond},
		{time.Minute, DefaultGroupEvery}, {time.Hour, DefaultGroupEvery},
	} {
		if got := GroupEveryFor(tt.run); got != tt.want {
			t.Errorf("GroupEveryFor(%v) = %v, want %v", tt.run, got, tt.want)
		}
	}
}

// slowSink is a log store whose every write takes a few milliseconds.
type slowSink struct{}

func (slowSink) Append(context.Context, []byte) error {
	time.Sleep(5 * time.Millisecond)
	return nil
}

// BenchmarkJournaledRun runs 100,000 records through an engine at 100
// calls/s against the emulator (20-30 ms a call), without a journal and with
// one whose log is written every 250 ms and every 50 ms (GroupEveryFor of the
// run's 10 s): a batch is sent once the write after its read is done, and as
// the reads go no faster than the removals the run loses about one spacing,
// never won back. ceiling-ratio is the run's records per second over 10,000.
func BenchmarkJournaledRun(b *testing.B) {
	for _, every := range []time.Duration{0, DefaultGroupEvery, GroupEveryFor(10 * time.Second)} {
		name := "off"
		if every > 0 {
			name = "every=" + every.String()
		}
		b.Run(name, func(b *testing.B) {
			emu := emulator.NewServer(emulator.Config{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond})
			defer emu.Close()
			client, err := imapi.NewClient(imapi.Config{SDKAppID: emulator.DefaultSDKAppID, SecretKey: emulator.DefaultKey, BaseURL: emu.URL()})
			if err != nil {
				b.Fatal(err)
			}
			recs := make([]records.Record, 100_000)
			for i := range recs {
				recs[i] = records.Record{Account: fmt.Sprintf("u%07d", i), Tags: []string{"vip"}}
				emu.SetTags(recs[i].Account, "vip", "keep")
			}
			eng := imapi.NewEngine(client, imapi.EngineConfig{Rate: imapi.MaxCallsPerSecond})
			for b.Loop() {
				var (
					opts []imapi.RunOption
					rec  *Recorder
				)
				if every > 0 {
					if rec, err = NewRecorder(Config{Reader: client, Sink: slowSink{}, Attempt: "bench", GroupEvery: every}); err != nil {
						b.Fatal(err)
					}
					opts = append(opts, rec.Option())
				}
				start := time.Now()
				rep, err := eng.Run(context.Background(), records.NewSliceSource(recs), opts...)
				if err != nil || !rep.Done() {
					b.Fatal(err, rep.Summary())
				}
				if rec != nil {
					if _, err := rec.Close(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(recs))/time.Since(start).Seconds()/(imapi.MaxCallsPerSecond*imapi.MaxAccountsPerCall), "ceiling-ratio")
			}
		})
	}
}
