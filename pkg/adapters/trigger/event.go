package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Kind is what an [Event] asks of the function, for logs and the decoders'
// checks; [KindHTTP] and [KindUnknown] are run their own way, every other kind
// is a list of requests to the service (Event.Requests).
type Kind string

// The kinds of [Event]; their values name the trigger in log lines.
const (
	// KindHTTP: an API gateway or function URL request; Event.HTTP.
	KindHTTP Kind = "http"
	// KindTimer: a schedule; one request, a job document or empty (the sweep).
	KindTimer Kind = "timer"
	// KindUpload: object storage notifications; a request per object.
	KindUpload Kind = "upload"
	// KindDirect: a job document or a continuation event; one request.
	KindDirect Kind = "direct"
	// KindUnknown: nothing the function handles; Event.Problem says what arrived.
	KindUnknown Kind = "unknown"
)

// Event is what a platform event asks of the function, in neutral terms, and
// how its answer is shaped: the adapters make one from each invocation's
// payload.
type Event struct {
	// Kind says what the event asks, and which field holds it.
	Kind Kind
	// Name is the platform's name of the event, for logs: "apigw-v2",
	// "function-url", "cos", "s3", "eventbridge-schedule", …
	Name string
	// HTTP is the request of an HTTP trigger.
	HTTP HTTPRequest
	// Requests are what any other event asks of the service, in order: a
	// timer's message, a direct payload, an upload's objects, a queue's
	// messages, ….
	Requests []Request
	// Problem says, for an unknown event, what arrived and why it is not handled.
	Problem string
	// Reply shapes the answer the platform expects for the event from its
	// [Outcome]; nil: the job.Result ([ResultReply]).
	Reply Reply
}

// Request is one thing an event asks of the service: a job request, unless
// the event names it only to say why it is skipped.
type Request struct {
	// ID names the request in errors and per-item answers (an object's
	// location, a message's id), or is "" for an event's one request.
	ID string
	// Job is what the service is asked.
	Job job.Request
	// Skip, when set, says why the request is not run (an object that was
	// not uploaded, …): its result has Status "ignored", ID as its Source
	// and Skip as its Message.
	Skip string
}

// Object is one object of an upload event, as the adapters read it.
type Object struct {
	// Location is the object: its bucket and key (URL-decoded).
	Location storage.Location
	// Region is the event's region (COS: a short code such as "gz"), or "".
	Region string
	// Skip, when set, says why the record is not processed (not a creation, …).
	Skip string
}

// Objects makes the upload event of objs: a request per object, named by
// its location.
func Objects(name string, objs ...Object) Event {
	ev := Event{Kind: KindUpload, Name: name, Requests: make([]Request, 0, len(objs))}
	for _, o := range objs {
		ev.Requests = append(ev.Requests, Request{ID: o.Location.String(), Job: job.Upload(o.Location, o.Region), Skip: o.Skip})
	}
	return ev
}

// Objects returns the uploaded objects the event asks to run or skips.
func (ev Event) Objects() []Object {
	var objs []Object
	for _, r := range ev.Requests {
		if r.Job.Kind == job.RequestUpload {
			objs = append(objs, Object{Location: r.Job.Object, Region: r.Job.Region, Skip: r.Skip})
		}
	}
	return objs
}

// Timer makes the event of a schedule's message ("": the sweep).
func Timer(name, message string) Event {
	return Event{Kind: KindTimer, Name: name, Requests: []Request{{Job: job.Timer(message)}}}
}

// Direct makes the event of a JSON object of no trigger's shape: a
// continuation event, or else a direct invocation (a job document).
func Direct(payload []byte) Event {
	name := "direct"
	if job.IsContinuation(payload) {
		name = "continuation"
	}
	return Event{Kind: KindDirect, Name: name, Requests: []Request{{Job: job.Direct(payload)}}}
}

// maxReason bounds the reason of an unknown event (see [Unknown]) and other
// strings taken from a payload into an Event, such as Object.Skip.
const maxReason = 1 << 10

// Unknown makes the event of a payload the function does not handle: why
// (clipped to maxReason bytes), then what arrived. Its reply is a Result; an
// adapter that read an HTTP request sets the Reply of its HTTP shape.
func Unknown(name, why string, payload []byte) Event {
	return Event{Kind: KindUnknown, Name: name, Problem: Clip(why, maxReason) + ": " + describe(payload)}
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

// describe says what a payload is, for errors: its size, its first bytes and,
// for a JSON object, its top-level keys.
func describe(payload []byte) string {
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
		keys := (&Probe{Fields: fields}).keys()
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
