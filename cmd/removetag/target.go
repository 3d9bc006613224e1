package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/imapitest"
)

// target is where calls go: the real service, the built-in emulator, or nowhere
// (dry run), through one engine for every input, so that they share its rate.
type target struct {
	caller  imapi.Caller
	rate    float64
	emu     *imapitest.Server
	counter *countingCaller
	engine  *imapi.Engine
}

// start makes the target's engine.
func (t *target) start() *target {
	t.counter = &countingCaller{next: t.caller}
	t.engine = imapi.NewEngine(t.counter, imapi.EngineConfig{Rate: t.rate})
	return t
}

func newTarget(getenv func(string) string, o options, inputs []*input, stderr io.Writer) (*target, error) {
	rate, err := parseRate(getenv("IM_RATE_LIMIT"))
	if err != nil {
		return nil, &exitError{code: exitConfig, msg: err.Error()}
	}
	if o.rate > 0 {
		rate = min(o.rate, imapi.MaxCallsPerSecond)
	}
	if o.dryRun {
		return (&target{caller: &dryRunCaller{w: stderr}, rate: 1e6}).start(), nil
	}
	appID, key := getenv("IM_SDKAPPID"), getenv("IM_SECRET_KEY")
	if appID == "" && key == "" {
		return newEmulatorTarget(rate, inputs, stderr)
	}
	cfg, err := clientConfig(getenv)
	if err != nil {
		return nil, &exitError{code: exitConfig, msg: err.Error()}
	}
	client, err := imapi.NewClient(cfg)
	if err != nil {
		return nil, &exitError{code: exitConfig, msg: err.Error()}
	}
	return (&target{caller: client, rate: rate}).start(), nil
}

// clientConfig reads the IM_* variables; errors name the variable, never a secret's value.
func clientConfig(getenv func(string) string) (imapi.Config, error) {
	var problems []string
	appID, err := strconv.Atoi(getenv("IM_SDKAPPID"))
	if err != nil || appID <= 0 {
		problems = append(problems, fmt.Sprintf("IM_SDKAPPID=%q is not a positive number", getenv("IM_SDKAPPID")))
	}
	if getenv("IM_SECRET_KEY") == "" {
		problems = append(problems, "IM_SECRET_KEY is not set")
	}
	region, err := imapi.ParseRegion(getenv("IM_REGION"))
	if err != nil {
		problems = append(problems, "IM_REGION: "+err.Error())
	}
	if len(problems) > 0 {
		return imapi.Config{}, fmt.Errorf("configuration: %s", strings.Join(problems, "; "))
	}
	return imapi.Config{SDKAppID: appID, SecretKey: getenv("IM_SECRET_KEY"), Admin: getenv("IM_ADMIN"), Region: region, BaseURL: getenv("IM_ENDPOINT")}, nil
}

// newEmulatorTarget starts the built-in emulator and seeds it with every input
// record's tags plus one tag the input does not name, so the run visibly removes
// exactly what it should.
func newEmulatorTarget(rate float64, inputs []*input, stderr io.Writer) (*target, error) {
	fmt.Fprint(stderr, emulatorNote)
	emu := imapitest.NewServer(imapitest.Config{})
	for _, in := range inputs {
		dec, err := in.decoder()
		if err != nil {
			emu.Close()
			return nil, err
		}
		for {
			rec, err := dec.Next()
			if err != nil {
				break
			}
			emu.SetTags(rec.Account, append(append(emu.Tags(rec.Account), rec.Tags...), "untouched")...)
		}
	}
	fmt.Fprintf(stderr, "emulator %s: before: %d tags\n", emu.URL(), emu.TagCount())
	cfg := emu.Config()
	client, err := imapi.NewClient(imapi.Config{SDKAppID: cfg.SDKAppID, SecretKey: cfg.Key, Admin: cfg.Admin, BaseURL: emu.URL()})
	if err != nil {
		emu.Close()
		return nil, err
	}
	return (&target{caller: client, rate: rate, emu: emu}).start(), nil
}

// after reports the emulator's store after the run.
func (t *target) after(w io.Writer) {
	if t.emu != nil {
		st := t.emu.Stats()
		fmt.Fprintf(w, "emulator: after: %d tags (the \"untouched\" ones); %d calls, at most %d in one second\n", t.emu.TagCount(), st.Requests, st.MaxPerSecond)
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

func (d *dryRunCaller) RemoveTags(_ context.Context, recs []imapi.Record) error {
	n := d.n.Add(1)
	show := make([]string, 0, 3)
	for _, r := range recs[:min(len(recs), 3)] {
		show = append(show, r.Account+" −"+strings.Join(r.Tags, ","))
	}
	more := ""
	if len(recs) > 3 {
		more = fmt.Sprintf(" … (+%d)", len(recs)-3)
	}
	fmt.Fprintf(d.w, "dry run: call %d: im_remove_tag with %d accounts: %s%s\n", n, len(recs), strings.Join(show, "; "), more)
	return nil
}
