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

// Target names of the reports.
const (
	targetEmulator = "emulator"
	targetNone     = "none" // a dry run with no app configured
)

// App describes the app a run changes (or would change): what an admin must
// see before the first call.
type App struct {
	SDKAppID int
	Region   string
	Endpoint string
	Admin    string
	// API is the call the run makes.
	API string
}

// appOf describes the app of cfg that client calls.
func appOf(cfg wiring.Config, client *imapi.Client, op imapi.Operation) *App {
	return &App{SDKAppID: cfg.SDKAppID, Region: string(cfg.Region), Endpoint: client.BaseURL(), Admin: cfg.Admin, API: op.String()}
}

// String names the app in one line.
func (a *App) String() string {
	return fmt.Sprintf("app %d in %s at %s, admin %q, API %s", a.SDKAppID, a.Region, a.Endpoint, a.Admin, a.API)
}

// target is where calls go: an app of the real service, the built-in
// emulator, or nowhere (a dry run), through one engine for every input, so
// that they share its rate; with --coordinate, each input's run holds a share
// of the quota the function's jobs share instead.
type target struct {
	name    string // "emulator", "app {SDKAppID}" or "none"
	app     *App   // nil for "none"
	dryRun  bool
	caller  imapi.Caller
	rate    float64
	emu     *emulator.Server
	counter *countingCaller
	engine  *imapi.Engine
	quota   job.Quota
	tags    tagReader // reads accounts (--verify, the journal); nil in a dry run
	api     imapi.API // the tag API family the calls go to
	allTags bool      // --all-tags: the calls clear every tag of their accounts
	undo    bool      // the calls add the tags back (removetag undo)
	// noJournal is REMOVETAG_JOURNAL=off, as for the function.
	noJournal bool
}

// op is the operation the target's runs call: its family's removal of the
// listed tags, with --all-tags its clearing of every tag, or its add for an
// undo.
func (t *target) op() imapi.Operation {
	switch {
	case t.allTags:
		return t.api.ClearAllTags()
	case t.undo:
		return t.api.AddTag(false)
	}
	return t.api.RemoveTag()
}

// real reports whether the target is an app of the real service.
func (t *target) real() bool { return t.emu == nil && t.app != nil }

// start makes the target's engine.
func (t *target) start() *target {
	t.counter = &countingCaller{next: t.caller}
	t.engine = imapi.NewEngine(t.counter, imapi.EngineConfig{Rate: t.rate})
	return t
}

// noCredentials is the answer to a run with no app configured and no --emulator.
var noCredentials = fmt.Sprintf("no app configured: set %s and %s (or %s) to work on an app of Tencent Cloud Chat, or pass --emulator to run against the built-in emulator (nothing is sent to Tencent Cloud)",
	wiring.EnvSDKAppID, wiring.EnvSecretKey, wiring.EnvSecret)

// configured reports whether the environment names an app.
func configured(getenv func(string) string) bool {
	return getenv(wiring.EnvSDKAppID) != "" || getenv(wiring.EnvSecretKey) != "" || getenv(wiring.EnvSecret) != ""
}

func newTarget(getenv func(string) string, f *runFlags, inputs []*input, stderr io.Writer) (*target, error) {
	t := &target{dryRun: f.dryRun, allTags: f.allTags, undo: f.undo}
	if f.api != "" {
		api, err := imapi.ParseAPI(f.api)
		if err != nil {
			return nil, usageErr("--api: %v", err)
		}
		t.api = api
	}
	switch {
	case f.emulator:
		if configured(getenv) {
			fmt.Fprintf(stderr, "--emulator: the app of %s in the environment is left alone\n", wiring.EnvSDKAppID)
		}
		t.name, t.emu = targetEmulator, emulator.NewServer(emulator.Config{})
		if !f.dryRun {
			for _, in := range inputs {
				dec, err := in.decoder(0)
				if err != nil {
					t.close()
					return nil, err
				}
				seedEmulator(t.emu, dec)
			}
		}
		getenv = emulatorEnv(t.emu, getenv)
	case !configured(getenv) && f.dryRun:
		t.name, t.caller, t.rate = targetNone, &dryRunCaller{w: stderr}, 1e6
		return t.start(), nil
	case !configured(getenv):
		return nil, configErr("%s", noCredentials)
	}
	// The function's own configuration reader: the same variables, the same checks.
	cfg, err := wiring.Load(getenv)
	if err != nil {
		t.close()
		return nil, configErr("%v", err)
	}
	client, err := newClient(cfg, stderr)
	if err != nil {
		t.close()
		return nil, configErr("%v", err)
	}
	if f.api == "" {
		t.api = cfg.TagAPI
	}
	if t.app = appOf(cfg, client, t.op()); t.name == "" {
		t.name = fmt.Sprintf("app %d", cfg.SDKAppID)
	}
	t.rate, t.noJournal = cfg.RateLimit, cfg.NoJournal
	if f.rateSet {
		if f.rate < 1 || f.rate > cfg.RateLimit {
			t.close()
			return nil, usageErr("--rate %g: want calls per second from 1 to the app's quota, %g (%s, default %d)", f.rate, cfg.RateLimit, wiring.EnvRateLimit, imapi.MaxCallsPerSecond)
		}
		t.rate = f.rate
	}
	if f.dryRun {
		t.caller, t.rate = &dryRunCaller{w: stderr}, 1e6
		return t.start(), nil
	}
	return t.connect(cfg, client, f.coordinate, stderr)
}

// connect calls through client and, with --coordinate, joins the shared quota.
func (t *target) connect(cfg wiring.Config, client *imapi.Client, bucket string, stderr io.Writer) (*target, error) {
	t.caller, t.tags = client, client
	if bucket != "" {
		var err error
		cfg.RateLimit = t.rate
		if t.quota, err = coordinate(cfg, bucket, stderr); err != nil {
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
		return nil, usageErr("--coordinate: %v", err)
	case loc.Key != "":
		return nil, usageErr("--coordinate %s names an object: want a bucket, s3://BUCKET or cos://BUCKET-APPID", bucket)
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
		return nil, configErr("--coordinate %s: cannot list %squota/ there: %v", bucket, cfg.OutputPrefix, err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err := wiring.NewQuota(cfg, opener, loc, logger)
	if err != nil {
		return nil, configErr("%v", err)
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
		wiring.EnvSecret:    "",
		wiring.EnvAdmin:     c.Admin,
		wiring.EnvEndpoint:  emu.URL(),
		wiring.EnvRegion:    "",
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

// announce names the target on w before the first call.
func (t *target) announce(w io.Writer) {
	switch {
	case t.name == targetNone:
		fmt.Fprintln(w, "dry run: no app configured; nothing is sent anywhere")
	case t.emu != nil:
		fmt.Fprintf(w, "target: the BUILT-IN EMULATOR at %s (--emulator), API %s: nothing is sent to Tencent Cloud; before: %d tags\n", t.emu.URL(), t.op(), t.emu.TagCount())
	case t.dryRun:
		fmt.Fprintf(w, "dry run against %s: nothing is sent\n", t.app)
	default:
		fmt.Fprintf(w, "target: %s, at %g calls/s\n", t.app, t.rate)
	}
}

// after reports the emulator's store after the run.
func (t *target) after(w io.Writer) {
	if t.emu != nil && !t.dryRun {
		st := t.emu.Stats()
		fmt.Fprintf(w, "emulator: after: %d tags (%s); %d calls (%d refused for the rate), at most %d in one second\n",
			t.emu.TagCount(), t.leftNote(), st.Requests, st.Refused, st.MaxPerSecond)
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
		if len(r.Tags) == 0 {
			show = append(show, r.Account+" −every tag")
			continue
		}
		show = append(show, r.Account+" −"+strings.Join(r.Tags, ","))
	}
	more := ""
	if len(recs) > 3 {
		more = fmt.Sprintf(" … (+%d)", len(recs)-3)
	}
	fmt.Fprintf(d.w, "dry run: call %d: %s with %d accounts: %s%s\n", n, op.Name(), len(recs), strings.Join(show, "; "), more)
	return nil
}
