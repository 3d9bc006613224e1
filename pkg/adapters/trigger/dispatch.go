// Package trigger is the one platform-neutral conversion of trigger events
// into calls of the job service, shared by the SCF and Lambda adapters
// (pkg/adapters/scf, pkg/adapters/lambda).
//
//   - An adapter tells a platform event's kind by its shape ([Probe]) and
//     makes an [Event] of it: what the event asks, in neutral terms
//     ([TriggerHTTP], [TriggerTimer], [TriggerUpload], [TriggerDirect], or
//     [TriggerUnknown] with the reason, see [Unknown] and [Describe]).
//   - A [Dispatcher] runs the Event on a [Service] (*job.Service in
//     production): one log line per invocation, secrets kept out of returned
//     errors, panics turned into errors, the results of several objects
//     summed by [Aggregate].
//   - [Lazy] builds the Service on the first invocation (retrying while the
//     configuration is wrong), [Unavailable] answers every invocation with an
//     error instead of crashing, and [WithHTTPTimeout] bounds HTTP jobs.
package trigger

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/removetag/removetag/internal/redact"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Triggers: the kinds of [Event].
const (
	// TriggerHTTP: an API gateway or function URL request; Event.HTTP.
	TriggerHTTP = "http"
	// TriggerTimer: a schedule; Event.Message is a job document or empty (the sweep).
	TriggerTimer = "timer"
	// TriggerUpload: object storage notifications; Event.Objects.
	TriggerUpload = "upload"
	// TriggerDirect: a job document or a continuation event; Event.Payload.
	TriggerDirect = "direct"
	// TriggerUnknown: nothing the function handles; Event.Problem says what arrived.
	TriggerUnknown = "unknown"
)

// Event is what a platform event asks of the function, in the platform's
// neutral terms: the adapters make one from each invocation's payload.
type Event struct {
	// Trigger is one of the Trigger constants.
	Trigger string
	// Name is the platform's name of the event, for logs: "apigw-v2",
	// "function-url", "cos", "s3", "eventbridge-schedule", …
	Name string
	// HTTP is the request of an HTTP trigger.
	HTTP job.HTTPRequest
	// Timeout, if positive, bounds an HTTP job: the gateway's own wait (SCF's
	// API gateway says it in the endpoint-timeout header), less a margin.
	Timeout time.Duration
	// Message is a timer's message.
	Message string
	// Objects are the objects of an upload trigger.
	Objects []Object
	// Payload is a direct invocation's payload.
	Payload []byte
	// Problem says, for an unknown event, what arrived and why it is not handled.
	Problem string
}

// Object is one object of an upload event.
type Object struct {
	// Location is the object: its bucket and key (URL-decoded).
	Location storage.Location
	// Region is the event's region (COS: a short code such as "gz"), or "".
	Region string
	// Skip, when set, says why the record is not processed (not a creation, …).
	Skip string
}

// Dispatcher runs events on a [Service], with one log line per invocation
// (trigger, result, counts, duration), secrets kept out of logs and errors,
// and panics turned into errors. It is safe for concurrent use.
type Dispatcher struct {
	svc     Service
	logger  *slog.Logger
	secrets func() []string
}

// NewDispatcher returns a Dispatcher. logger may be nil (no logs); secrets,
// if not nil, lists the values to redact from returned errors (logs are
// redacted by the logger's handler, see [redact.NewHandler]).
func NewDispatcher(svc Service, logger *slog.Logger, secrets func() []string) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if secrets == nil {
		secrets = func() []string { return nil }
	}
	return &Dispatcher{svc: svc, logger: logger, secrets: secrets}
}

// HTTP runs an HTTP event and returns the answer; its body is JSON. An event
// of another trigger (an HTTP event that could not be read: TriggerUnknown) is
// answered 400 with the reason.
func (d *Dispatcher) HTTP(ctx context.Context, ev Event) (resp job.HTTPResponse) {
	if ev.Trigger != TriggerHTTP {
		res, err := d.Run(ctx, ev)
		if err != nil {
			return errorResponse(http.StatusInternalServerError, err.Error())
		}
		return resultResponse(http.StatusBadRequest, res)
	}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err := d.panicked(ctx, p)
			resp = errorResponse(http.StatusInternalServerError, err.Error())
		}
		d.logHTTP(ctx, ev, resp, time.Since(start))
	}()
	if ev.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ev.Timeout)
		defer cancel()
	}
	return d.svc.HTTP(ctx, ev.HTTP)
}

// Run runs a non-HTTP event and returns its result. The error is non-nil only
// where a platform retry can help; bad input and unknown events are results
// with Status "invalid".
func (d *Dispatcher) Run(ctx context.Context, ev Event) (res *job.Result, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, d.panicked(ctx, p)
		}
		if err != nil {
			if msg := redact.String(err.Error(), d.secrets()); msg != err.Error() {
				err = &FunctionError{msg: msg, err: err}
			}
		}
		d.logRun(ctx, ev, res, err, time.Since(start))
	}()
	switch ev.Trigger {
	case TriggerTimer:
		return d.svc.Timer(ctx, ev.Message)
	case TriggerUpload:
		return d.objects(ctx, ev.Objects)
	case TriggerDirect:
		return d.svc.Direct(ctx, ev.Payload)
	case TriggerHTTP:
		return nil, errors.New("an HTTP event must go through Dispatcher.HTTP")
	}
	return invalid("event", redact.String(ev.Problem, d.secrets())), nil
}

// objects runs every object of an upload event, one after another; an error
// of one does not stop the others. A retry of the whole event is harmless:
// finished objects are skipped.
func (d *Dispatcher) objects(ctx context.Context, objs []Object) (*job.Result, error) {
	if len(objs) == 0 {
		return invalid("event", "the upload event lists no object"), nil
	}
	var (
		results []*job.Result
		errs    []error
	)
	for _, o := range objs {
		if o.Skip != "" {
			results = append(results, &job.Result{Status: job.StatusIgnored, Source: o.Location.String(), Message: o.Skip})
			continue
		}
		r, err := d.svc.ObjectCreated(ctx, o.Location, o.Region)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Location, err))
			continue
		}
		results = append(results, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return Aggregate(results), nil
}

// statusRank orders statuses from the one that most needs attention.
var statusRank = []job.Status{
	job.StatusError, job.StatusPending, job.StatusInvalid, job.StatusRefused,
	job.StatusDone, job.StatusSwept, job.StatusSkipped, job.StatusIgnored,
}

// Aggregate sums the results of several objects into one: its Jobs are the
// results, its counts their sums, its Status the one that most needs
// attention (pending before done before skipped …). One result is returned
// as it is.
func Aggregate(results []*job.Result) *job.Result {
	if len(results) == 1 {
		return results[0]
	}
	agg := &job.Result{Jobs: results, Message: fmt.Sprintf("%d objects", len(results))}
	best := len(statusRank)
	for _, r := range results {
		agg.Total += r.Total
		agg.Succeeded += r.Succeeded
		agg.Failed += r.Failed
		agg.Pending += r.Pending
		agg.Calls += r.Calls
		agg.Retries += r.Retries
		agg.Continued = agg.Continued || r.Continued
		if i := slices.Index(statusRank, r.Status); i >= 0 && i < best {
			best = i
		}
	}
	agg.Status = job.StatusDone
	if best < len(statusRank) {
		agg.Status = statusRank[best]
	}
	return agg
}

// invalid is the result of an event the function does not handle.
func invalid(where, reason string) *job.Result {
	return &job.Result{
		Status:     job.StatusInvalid,
		Message:    reason,
		Errors:     []imapi.Problem{{Where: where, Reason: reason}},
		ErrorCount: 1,
	}
}

// errorResponse is an HTTP answer with a message in a Result body.
func errorResponse(status int, msg string) job.HTTPResponse {
	return resultResponse(status, &job.Result{Status: job.StatusError, Message: msg})
}

// resultResponse is an HTTP answer with a Result body.
func resultResponse(status int, r *job.Result) job.HTTPResponse {
	body, _ := json.Marshal(r)
	return job.HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
}

// panicked logs a panic with its stack and makes it an error.
func (d *Dispatcher) panicked(ctx context.Context, p any) error {
	d.logger.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return fmt.Errorf("internal error: %v", p)
}

// FunctionError is an error whose text had secrets removed; it unwraps to the
// original error.
type FunctionError struct {
	msg string
	err error
}

// Error returns the redacted text.
func (e *FunctionError) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *FunctionError) Unwrap() error { return e.err }

// logRun writes the invocation's line.
func (d *Dispatcher) logRun(ctx context.Context, ev Event, res *job.Result, err error, elapsed time.Duration) {
	attrs := []slog.Attr{slog.String("trigger", ev.Trigger), slog.String("event", ev.Name)}
	if ev.Trigger == TriggerUpload {
		attrs = append(attrs, slog.Int("objects", len(ev.Objects)))
	}
	level := slog.LevelInfo
	switch {
	case err != nil:
		level = slog.LevelError
		if len(ev.Objects) == 1 {
			attrs = append(attrs, slog.String("source", ev.Objects[0].Location.String()))
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	case res != nil:
		attrs = append(attrs, resultAttrs(res)...)
		if res.Status == job.StatusInvalid {
			level = slog.LevelWarn
		}
	}
	attrs = append(attrs, slog.Int64("durationMs", elapsed.Milliseconds()))
	d.logger.LogAttrs(ctx, level, "invocation", attrs...)
}

// logHTTP writes the invocation's line for an HTTP event.
func (d *Dispatcher) logHTTP(ctx context.Context, ev Event, resp job.HTTPResponse, elapsed time.Duration) {
	attrs := []slog.Attr{
		slog.String("trigger", ev.Trigger), slog.String("event", ev.Name),
		slog.Int("httpStatus", resp.StatusCode),
	}
	var res job.Result
	if json.Unmarshal(resp.Body, &res) == nil {
		attrs = append(attrs, resultAttrs(&res)...)
	}
	attrs = append(attrs, slog.Int64("durationMs", elapsed.Milliseconds()))
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	} else if resp.StatusCode >= 400 {
		level = slog.LevelWarn
	}
	d.logger.LogAttrs(ctx, level, "invocation", attrs...)
}

func resultAttrs(r *job.Result) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("status", string(r.Status)),
		slog.Int64("total", r.Total),
		slog.Int64("succeeded", r.Succeeded),
		slog.Int64("failed", r.Failed),
		slog.Int64("pending", r.Pending),
		slog.Int64("calls", r.Calls),
	}
	if r.Source != "" {
		attrs = append(attrs, slog.String("source", r.Source))
	}
	if r.Continued {
		attrs = append(attrs, slog.Bool("continued", true), slog.Int("chain", r.Chain))
	}
	if r.Message != "" {
		attrs = append(attrs, slog.String("message", clipMessage(r.Message)))
	}
	return attrs
}

func clipMessage(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Probe is the top level of an event payload, for telling its shape.
type Probe struct {
	// Fields are the payload's top-level fields.
	Fields map[string]json.RawMessage
}

// NewProbe reads the top level of payload. If payload is not a JSON object,
// it returns nil and says what arrived.
func NewProbe(payload []byte) (*Probe, string) {
	trimmed := bytes.TrimSpace(payload)
	if !json.Valid(trimmed) {
		return nil, "the event is not JSON: " + Describe(payload)
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, "the event is not a JSON object: " + Describe(payload)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, "the event cannot be read: " + err.Error() + ": " + Describe(payload)
	}
	return &Probe{Fields: fields}, ""
}

// Has reports whether the field is present (with any value but null).
func (p *Probe) Has(name string) bool {
	v, ok := p.Fields[name]
	return ok && string(v) != "null"
}

// String returns the field's value if it is a JSON string, else "".
func (p *Probe) String(name string) string {
	var s string
	if v, ok := p.Fields[name]; ok {
		_ = json.Unmarshal(v, &s)
	}
	return s
}

// Bool returns the field's value if it is a JSON boolean, else false.
func (p *Probe) Bool(name string) bool {
	var b bool
	if v, ok := p.Fields[name]; ok {
		_ = json.Unmarshal(v, &b)
	}
	return b
}

// Keys returns the field names, sorted.
func (p *Probe) Keys() []string {
	keys := make([]string, 0, len(p.Fields))
	for k := range p.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Len returns the number of elements of the field's value if it is a JSON
// array, else -1. It decodes none of them: an adapter can refuse an event with
// too many records before it allocates anything for them.
func (p *Probe) Len(name string) int {
	v := bytes.TrimSpace(p.Fields[name])
	if len(v) == 0 || v[0] != '[' {
		return -1
	}
	// v is valid JSON (NewProbe checked the payload): count the commas at
	// depth 1, outside strings.
	n, depth, inString, escaped, empty := 0, 0, false, false, true
	for _, c := range v {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth == 1 {
				continue
			}
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 1:
			n++
		}
		if depth >= 1 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			empty = false
		}
	}
	if empty {
		return 0
	}
	return n + 1
}

// MaxRecords bounds the records of an upload event: the platforms send one
// object per notification, and decoding an event of thousands of (empty)
// records would take hundreds of times its size in memory.
const MaxRecords = 100

// MaxReason bounds the reason of an unknown event (see [Unknown]) and other
// strings taken from a payload into an Event, such as Object.Skip.
const MaxReason = 1 << 10

// Unknown makes the event of a payload the function does not handle: why
// (clipped to MaxReason bytes), then what arrived.
func Unknown(name, why string, payload []byte) Event {
	return Event{Trigger: TriggerUnknown, Name: name, Problem: Clip(why, MaxReason) + ": " + Describe(payload)}
}

// Clip returns s cut to at most n bytes, at a character boundary, with "…"
// added when it was cut: strings from a payload go into events, logs and
// answers, and must stay small whatever arrives.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Describe says what a payload is, for errors: its size, its first bytes and,
// for a JSON object, its top-level keys.
func Describe(payload []byte) string {
	const head, maxKeys, maxKeyBytes = 80, 20, 40
	if len(bytes.TrimSpace(payload)) == 0 {
		return fmt.Sprintf("%d bytes, nothing but white space", len(payload))
	}
	start := payload
	if len(start) > head {
		start = start[:head]
		for len(start) > 0 && !utf8.Valid(start) {
			start = start[:len(start)-1]
		}
	}
	s := fmt.Sprintf("%d bytes starting %q", len(payload), start)
	if len(payload) > head {
		s += "…"
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) == nil {
		keys := (&Probe{Fields: fields}).Keys()
		if len(keys) > maxKeys {
			keys = append(keys[:maxKeys], fmt.Sprintf("… %d more", len(keys)-maxKeys))
		}
		for i, k := range keys {
			keys[i] = Clip(k, maxKeyBytes)
		}
		s += fmt.Sprintf(", keys [%s]", strings.Join(keys, " "))
	}
	return s
}

// DecodeBody returns an HTTP event's body: as it is, or base64-decoded when
// the gateway says so (standard or URL alphabet, padded or not).
func DecodeBody(body string, isBase64 bool) ([]byte, error) {
	if !isBase64 {
		return []byte(body), nil
	}
	s := strings.TrimRight(strings.TrimSpace(body), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("the body is marked base64 but is not")
}
