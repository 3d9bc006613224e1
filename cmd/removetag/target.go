package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/removetag/removetag/internal/wiring"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// target is where calls go: the real service, the built-in emulator, or nowhere
// (dry run), through one engine for every input, so that they share its rate;
// with --coordinate, each input's run holds a share of the quota the
// function's jobs share instead.
type target struct {
	caller  imapi.Caller
	rate    float64
	emu     *emulator.Server
	counter *countingCaller
	engine  *imapi.Engine
	quota   job.Quota
	tags    tagReader // reads accounts back (--verify); nil in a dry run
}

// start makes the target's engine.
func (t *target) start() *target {
	t.counter = &countingCaller{next: t.caller}
	t.engine = imapi.NewEngine(t.counter, imapi.EngineConfig{Rate: t.rate})
	return t
}

func newTarget(getenv func(string) string, o options, inputs []*input, stderr io.Writer) (*target, error) {
	if o.dryRun {
		return (&target{caller: &dryRunCaller{w: stderr}, rate: 1e6}).start(), nil
	}
	t := &target{}
	if getenv(wiring.EnvSDKAppID) == "" && getenv(wiring.EnvSecretKey) == "" {
		// No credentials: the built-in emulator stands in for the service, and the
		// environment points at it.
		fmt.Fprint(stderr, emulatorNote)
		t.emu = emulator.NewServer(emulator.Config{})
		for _, in := range inputs {
			dec, err := in.decoder()
			if err != nil {
				t.close()
				return nil, err
			}
			seedEmulator(t.emu, dec)
		}
		fmt.Fprintf(stderr, "emulator %s: before: %d tags\n", t.emu.URL(), t.emu.TagCount())
		getenv = emulatorEnv(t.emu, getenv)
	}
	// The function's own configuration reader: the same variables, the same checks.
	cfg, err := wiring.Load(getenv)
	if err != nil {
		t.close()
		return nil, &exitError{code: exitConfig, msg: err.Error()}
	}
	client, err := newClient(cfg, stderr)
	if err != nil {
		t.close()
		return nil, &exitError{code: exitConfig, msg: err.Error()}
	}
	t.caller, t.tags, t.rate = client, client, cfg.RateLimit
	if o.rate > 0 {
		t.rate = min(o.rate, imapi.MaxCallsPerSecond)
	}
	if o.coordinate != "" {
		cfg.RateLimit = t.rate
		if t.quota, err = coordinate(cfg, o.coordinate, stderr); err != nil {
			t.close()
			return nil, err
		}
	}
	return t.start(), nil
}

// newClient makes the IM client of cfg, with its key from REMOVETAG_SECRET
// if set; warnings go to stderr.
func newClient(cfg wiring.Config, stderr io.Writer) (*imapi.Client, error) {
	keys, err := wiring.NewSecrets(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return wiring.NewIMClient(cfg, nil)
	}
	return wiring.NewIMClient(cfg, keys)
}

// coordinate joins the leases of the deployed function in the bucket named by
// --coordinate, under {REMOVETAG_OUTPUT_PREFIX}quota/, after checking that the
// bucket can be listed there; storage warnings go to stderr.
func coordinate(cfg wiring.Config, bucket string, stderr io.Writer) (job.Quota, error) {
	loc, err := storage.ParseLocation(bucket)
	switch {
	case err != nil:
		return nil, &exitError{code: exitInvalid, msg: "--coordinate: " + err.Error()}
	case loc.Key != "":
		return nil, &exitError{code: exitInvalid, msg: fmt.Sprintf("--coordinate %s names an object: want a bucket, s3://BUCKET or cos://BUCKET-APPID", bucket)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opener, err := wiring.NewStoreOpener(cfg)
	if err != nil {
		return nil, &exitError{code: exitConfig, msg: err.Error()}
	}
	st, err := opener.Open(ctx, loc, "")
	if err == nil {
		_, err = st.List(ctx, cfg.OutputPrefix+"quota/")
	}
	if err != nil {
		return nil, &exitError{code: exitConfig, msg: fmt.Sprintf("--coordinate %s: cannot list %squota/ there: %v", bucket, cfg.OutputPrefix, err)}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err := wiring.NewQuota(cfg, opener, loc, logger)
	if err != nil {
		return nil, &exitError{code: exitConfig, msg: err.Error()}
	}
	fmt.Fprintf(stderr, "sharing %.0f calls/s with the jobs holding leases in %s/%squota/\n", cfg.RateLimit, loc, cfg.OutputPrefix)
	return q, nil
}

// emulatorEnv overlays the emulator's credentials and address on getenv.
func emulatorEnv(emu *emulator.Server, getenv func(string) string) func(string) string {
	c := emu.Config()
	env := map[string]string{
		wiring.EnvSDKAppID:  fmt.Sprint(c.SDKAppID),
		wiring.EnvSecretKey: c.Key,
		wiring.EnvAdmin:     c.Admin,
		wiring.EnvEndpoint:  emu.URL(),
	}
	return func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return getenv(k)
	}
}

// seedEmulator gives every account of src its records' tags plus one tag the input
// does not name, so that a run visibly removes exactly what it should.
func seedEmulator(emu *emulator.Server, src records.Source) {
	for {
		rec, err := src.Next()
		if err == io.EOF {
			return
		}
		if err != nil && rec.Account == "" {
			continue
		}
		emu.SetTags(rec.Account, append(append(emu.Tags(rec.Account), rec.Tags...), "untouched")...)
	}
}

// after reports the emulator's store after the run.
func (t *target) after(w io.Writer) {
	if t.emu != nil {
		st := t.emu.Stats()
		fmt.Fprintf(w, "emulator: after: %d tags (the \"untouched\" ones); %d calls (%d refused for the rate), at most %d in one second\n",
			t.emu.TagCount(), st.Requests, st.Refused, st.MaxPerSecond)
	}
}

func (t *target) close() {
	if t.emu != nil {
		t.emu.Close()
	}
}

// dryRunCaller shows the calls instead of making them.
type dryRunCaller struct {
	w io.Writer
	n atomic.Int64
}

func (d *dryRunCaller) Call(_ context.Context, op imapi.Operation, recs []records.Record) error {
	n := d.n.Add(1)
	show := make([]string, 0, 3)
	for _, r := range recs[:min(len(recs), 3)] {
		show = append(show, r.Account+" −"+strings.Join(r.Tags, ","))
	}
	more := ""
	if len(recs) > 3 {
		more = fmt.Sprintf(" … (+%d)", len(recs)-3)
	}
	fmt.Fprintf(d.w, "dry run: call %d: %s with %d accounts: %s%s\n", n, op.Name(), len(recs), strings.Join(show, "; "), more)
	return nil
}
