package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/removetag/removetag/internal/wiring"
	"github.com/removetag/removetag/pkg/imapi"
)

// checkLine is one point of `removetag check`: what was checked, whether it
// holds, and what to do if not.
type checkLine struct {
	Check string `json:"check"`
	OK    bool   `json:"ok"`
	// Unknown: an earlier point failed, so this one could not be judged.
	Unknown bool   `json:"unknown,omitempty"`
	Detail  string `json:"detail"`
}

// checkReport is the answer of `removetag check`.
type checkReport struct {
	OK        bool        `json:"ok"`
	ErrorCode int         `json:"errorCode,omitempty"`
	Lines     []checkLine `json:"checks"`
}

// The points of a check, in the order the service checks them.
const (
	checkApp     = "SDKAppID and region"
	checkKey     = "key"
	checkAdmin   = "admin"
	checkFeature = "push to all users (tags)"
)

// checkCommand signs a UserSig and asks im_get_tag for the admin account's
// tags (harmless: it changes nothing), then says, one line each, whether the
// SDKAppID and region, the key, the admin and the push-to-all feature are
// right. Exit status: 0 all right; 3 a configuration problem; 1 the service
// could not be reached.
func checkCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitInvalid}
	}
	if fs.NArg() != 0 {
		return &exitError{code: exitInvalid, msg: "check takes no arguments"}
	}
	cfg, err := wiring.Load(getenv)
	if err != nil {
		return &exitError{code: exitConfig, msg: err.Error()}
	}
	client, err := newClient(cfg, stderr)
	if err != nil {
		return &exitError{code: exitConfig, msg: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	_, err = client.GetTags(ctx, []string{cfg.Admin})
	rep := judge(cfg, err)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		for _, l := range rep.Lines {
			mark := "ok  "
			switch {
			case l.Unknown:
				mark = "?   "
			case !l.OK:
				mark = "FAIL"
			}
			fmt.Fprintf(stdout, "%s %-26s %s\n", mark, l.Check, l.Detail)
		}
	}
	switch {
	case rep.OK:
		return nil
	case rep.ErrorCode == 0 && err != nil && imapi.Classify(err) == imapi.Retryable:
		return &exitError{code: exitFailed}
	}
	return &exitError{code: exitConfig}
}

// judge turns the answer to im_get_tag into the check's lines. The service
// checks the app, then the signature, then the admin, then the feature: a
// failure leaves the points after it unknown.
func judge(cfg wiring.Config, err error) checkReport {
	where := string(cfg.Region)
	if cfg.Endpoint != "" {
		where = cfg.Endpoint
	}
	lines := []checkLine{
		{Check: checkApp, OK: true, Detail: fmt.Sprintf("%d answers in %s", cfg.SDKAppID, where)},
		{Check: checkKey, OK: true, Detail: "the UserSig verifies"},
		{Check: checkAdmin, OK: true, Detail: fmt.Sprintf("%q is an app admin", cfg.Admin)},
		{Check: checkFeature, OK: true, Detail: "on"},
	}
	rep := checkReport{OK: err == nil, ErrorCode: imapi.ErrorCode(err), Lines: lines}
	if err == nil {
		return rep
	}
	failAt := func(i int, detail string) checkReport {
		rep.Lines[i].OK, rep.Lines[i].Detail = false, detail
		for j := i + 1; j < len(rep.Lines); j++ {
			rep.Lines[j] = checkLine{Check: rep.Lines[j].Check, Unknown: true, Detail: "not checked: " + rep.Lines[i].Check + " failed"}
		}
		return rep
	}
	var ke *imapi.KeySourceError
	switch code := imapi.ErrorCode(err); {
	case errors.As(err, &ke):
		return failAt(1, ke.Error())
	case code == 70016 || code == 70020 || code == 60006 || code == 60012 || code == 70014:
		return failAt(0, fmt.Sprintf("%d: the SDKAppID is not known here (%v): set IM_REGION to the app's region (or fix IM_SDKAPPID)", code, err))
	case code == 70009 || code == 70003 || code == 70005 || code == 70002 || code == 70050:
		return failAt(1, fmt.Sprintf("%d: the UserSig was refused (%v): the key is not the app's; set IM_SECRET_KEY (or the secret's IM_SECRET_KEY) to the key in the Chat console", code, err))
	case code == 90009 || code == 60010 || code == 70013:
		return failAt(2, fmt.Sprintf("%d: %q is not an app admin (%v): set IM_ADMIN to an admin account of the Chat console", code, cfg.Admin, err))
	case code == 90045:
		return failAt(3, fmt.Sprintf("90045: the push-to-all feature is off (%v): it needs the Premium edition, switched on in the Chat console (Feature Configuration, push to all users)", err))
	case code != 0:
		return failAt(0, fmt.Sprintf("%d: unexpected answer: %v", code, err))
	}
	return failAt(0, fmt.Sprintf("the service could not be reached: %v", err))
}
