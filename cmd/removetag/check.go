package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/removetag/removetag/internal/wiring"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/spf13/cobra"
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
	OK     bool   `json:"ok"`
	Target string `json:"target,omitempty"`
	App    *App   `json:"app,omitempty"`
	// API is the tag API family checked: IM_TAG_API's, or --api's.
	API imapi.API `json:"api,omitempty"`
	// Usable are the families whose get answered for the app: the one to set
	// in IM_TAG_API if API is not among them.
	Usable    []imapi.API `json:"usable,omitempty"`
	ErrorCode int         `json:"errorCode,omitempty"`
	Lines     []checkLine `json:"checks"`
	// Error says why the check could not be made at all (the configuration).
	Error string `json:"error,omitempty"`
}

// The points of a check, in the order the service checks them.
const (
	checkReach   = "endpoint"
	checkApp     = "SDKAppID and region"
	checkKey     = "key"
	checkAdmin   = "admin"
	checkFeature = "tag API (IM_TAG_API)"
)

func newCheckCommand(env *cliEnv) *cobra.Command {
	var (
		asJSON  bool
		timeout time.Duration
		api     string
	)
	c := &cobra.Command{
		Use:   "check [flags]",
		Short: "Check the configuration with a harmless call before a large job",
		Long: `Signs a UserSig and asks the service something harmless (the get operation of
the tag API, im_get_tag or timpush's get_tag, for the admin account), then says,
one line each, whether the endpoint can be reached, and whether the SDKAppID and
region, the key, the admin and the tag API are right. The other tag API family
is asked too, so that the last line says which of them the app can use and what
to set (IM_TAG_API, or --api). Exit status: 0 all right; 3 a configuration
problem; 1 the service could not be reached (tried until --timeout).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			return checkConfig(c.Context(), env, api, asJSON, timeout)
		},
	}
	c.Flags().StringVar(&api, "api", "", "the tag API family to check: all_member_push or timpush (default IM_TAG_API, else all_member_push)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "keep trying to reach the endpoint this long")
	return c
}

// checkConfig runs the check and prints it.
func checkConfig(ctx context.Context, env *cliEnv, apiFlag string, asJSON bool, timeout time.Duration) error {
	if !configured(env.getenv) {
		return printCheck(env, checkReport{Error: noCredentials, Lines: []checkLine{}}, asJSON, configErr("%s", noCredentials))
	}
	cfg, err := wiring.Load(env.getenv)
	if err != nil {
		return printCheck(env, checkReport{Error: err.Error(), Lines: []checkLine{}}, asJSON, configErr("%v", err))
	}
	client, err := newClient(cfg, env.stderr)
	if err != nil {
		return printCheck(env, checkReport{Error: err.Error(), Lines: []checkLine{}}, asJSON, configErr("%v", err))
	}
	api := cfg.TagAPI
	if apiFlag != "" {
		if api, err = imapi.ParseAPI(apiFlag); err != nil {
			return printCheck(env, checkReport{Error: "--api: " + err.Error(), Lines: []checkLine{}}, asJSON, usageErr("--api: %v", err))
		}
	}
	app := appOf(cfg, client, api.GetTag())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ask := func(api imapi.API) error {
		_, _, err := client.GetTags(ctx, api, []string{cfg.Admin})
		return err
	}
	err = askUntil(ctx, func() error { return ask(api) })
	var other error
	if reached(err) && (err == nil || imapi.ErrorCode(err) == codeFeatureOff) {
		other = ask(otherAPI(api)) // the endpoint answers: one more call, to say which family works
	}
	rep := judge(cfg, app, err, timeout)
	rep.Target, rep.App, rep.API = fmt.Sprintf("app %d", cfg.SDKAppID), app, api
	judgeAPI(&rep, api, err, other)
	var ex *exitError
	switch {
	case rep.OK:
	case !reached(err) || imapi.Classify(err) == imapi.Retryable:
		ex = &exitError{code: exitFailed}
	default:
		ex = &exitError{code: exitConfig}
	}
	return printCheck(env, rep, asJSON, ex)
}

func printCheck(env *cliEnv, rep checkReport, asJSON bool, ex *exitError) error {
	if asJSON {
		enc := json.NewEncoder(env.stdout)
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
			fmt.Fprintf(env.stdout, "%s %-26s %s\n", mark, l.Check, l.Detail)
		}
	}
	if ex == nil {
		return nil
	}
	return ex
}

// askUntil calls ask until it gets an answer (any error that is not a failure
// to reach the service), or ctx ends; it returns the last error.
func askUntil(ctx context.Context, ask func() error) error {
	for {
		err := ask()
		if reached(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// reached reports whether err is an answer of the endpoint (or nil): not a
// connection that failed or an answer that did not come.
func reached(err error) bool { return !noAnswer(err) }

// judge turns the answer to im_get_tag into the check's lines. The endpoint
// must answer first; then the service checks the app, the signature, the
// admin, the feature: a failure leaves the points after it unknown.
func judge(cfg wiring.Config, app *App, err error, timeout time.Duration) checkReport {
	lines := []checkLine{
		{Check: checkReach, OK: true, Detail: app.Endpoint + " answers"},
		{Check: checkApp, OK: true, Detail: fmt.Sprintf("%d answers in %s", cfg.SDKAppID, app.Region)},
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
	status, body := httpStatusOf(err)
	switch code := imapi.ErrorCode(err); {
	case !reached(err):
		return failAt(0, fmt.Sprintf("could not reach %s within %s: %s", app.Endpoint, timeout, oneLine(cause(err))))
	case status != 0:
		return failAt(0, fmt.Sprintf("%s answered HTTP %d%s, not as the IM API does: check %s (and %s)", app.Endpoint, status, bodyNote(body), wiring.EnvEndpoint, wiring.EnvRegion))
	case errors.As(err, &ke):
		return failAt(2, oneLine(ke.Error()))
	case code != 0:
		point, hint := fixFor(code, cfg.Admin)
		return failAt(point, fmt.Sprintf("%d: %s (%s)", code, hint, oneLine(err.Error())))
	}
	return failAt(0, fmt.Sprintf("unexpected answer from %s: %s", app.Endpoint, oneLine(err.Error())))
}

// fixFor says which point of the check a refusal's code is about, and what to do.
func fixFor(code int, admin string) (point int, hint string) {
	switch code {
	case 70016, 70020, 60006, 60012, 70014:
		return 1, "the SDKAppID is not known here: set IM_REGION to the app's region (or fix IM_SDKAPPID)"
	case 70009, 70003, 70005, 70002, 70050:
		return 2, "the UserSig was refused: the key is not the app's; set IM_SECRET_KEY (or the secret's IM_SECRET_KEY) to the key in the Chat console"
	case 90009, 60010, 70013:
		return 3, fmt.Sprintf("%q is not an app admin: set IM_ADMIN to an admin account of the Chat console", admin)
	case codeFeatureOff:
		return 4, "the tag API is off for the app: all_member_push needs the Premium edition, switched on in the Chat console (Feature Configuration, push to all users); timpush the Push service, activated for the app (" + wiring.EnvTagAPI + " picks the family; removetag check says which answers)"
	}
	return 1, "an unexpected refusal"
}

// codeFeatureOff is the answer of a tag API the app has not switched on: for
// all_member_push, push to all users is off (1047/37174: Premium edition and
// the console's switch); for timpush, the Push service's "push notification
// feature for all users/Tag/single push is not enabled" (its error codes,
// 1047/74196, looked up 2026-12-02).
const codeFeatureOff = 90045

// otherAPI is the family that is not api.
func otherAPI(api imapi.API) imapi.API {
	if api == imapi.TimPush {
		return imapi.AllMemberPush
	}
	return imapi.TimPush
}

// judgeAPI fills the tag API line from the answers of both families' get:
// err is the checked family's, other the other's (nil and unasked alike when
// err was not a success or a feature-off code: then the line stays as judge
// left it). It says which families the app can use and what to set.
func judgeAPI(rep *checkReport, api imapi.API, err, other error) {
	if err != nil && imapi.ErrorCode(err) != codeFeatureOff {
		return
	}
	alt := otherAPI(api)
	if err == nil {
		rep.Usable = append(rep.Usable, api)
	}
	if other == nil {
		rep.Usable = append(rep.Usable, alt)
	}
	line := &rep.Lines[len(rep.Lines)-1]
	switch {
	case err == nil && other == nil:
		line.Detail = fmt.Sprintf("%s answers (the one set); %s answers too", api, alt)
	case err == nil:
		line.Detail = fmt.Sprintf("%s answers (the one set); %s does not (%s)", api, alt, oneLine(other.Error()))
	case other == nil:
		line.Detail = fmt.Sprintf("%s is off for the app (%d); %s answers: set %s=%s (or --api %s)", api, codeFeatureOff, alt, wiring.EnvTagAPI, alt, alt)
	default:
		_, hint := fixFor(codeFeatureOff, "")
		line.Detail = fmt.Sprintf("neither family answers: %s %d, %s %s: %s", api, codeFeatureOff, alt, oneLine(other.Error()), hint)
	}
}

// refusalHint says what a configuration refusal during a run means, what to
// fix, and how to continue.
func refusalHint(err error, cont string) string {
	code := imapi.ErrorCode(err)
	_, hint := fixFor(code, "IM_ADMIN")
	if code == 0 {
		hint = "fix the configuration"
	}
	msg := fmt.Sprintf("the service refused the configuration (%s): %s. The records of the refused calls and every later one are pending, not failed", oneLine(err.Error()), hint)
	if cont != "" {
		msg += "; once fixed (removetag check says so), continue with: " + cont
	}
	return msg
}

// cause is the innermost error's text: the reason a connection failed.
func cause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

var spaces = regexp.MustCompile(`\s+`)

// oneLine keeps a text to one line of reasonable length.
func oneLine(s string) string {
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// bodyNote describes an HTTP answer's body for a line: an HTML page is named
// as one, never shown; a short text is quoted.
func bodyNote(body string) string {
	b := strings.TrimSpace(body)
	switch {
	case b == "":
		return ""
	case strings.HasPrefix(b, "<") || strings.Contains(strings.ToLower(b), "<html"):
		return " with an HTML page"
	}
	return fmt.Sprintf(" (%q)", oneLine(b)[:min(len(oneLine(b)), 80)])
}
