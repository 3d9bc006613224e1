package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Kind is what an [Event] asks of the function.
type Kind string

// The kinds of [Event]; their values name the trigger in log lines.
const (
	// KindHTTP: an API gateway or function URL request; Event.HTTP.
	KindHTTP Kind = "http"
	// KindTimer: a schedule; Event.Message is a job document or empty (the sweep).
	KindTimer Kind = "timer"
	// KindUpload: object storage notifications; Event.Objects.
	KindUpload Kind = "upload"
	// KindDirect: a job document or a continuation event; Event.Payload.
	KindDirect Kind = "direct"
	// KindUnknown: nothing the function handles; Event.Problem says what arrived.
	KindUnknown Kind = "unknown"
)

// ReplyKind is the shape of an invocation's answer: the platform adapter
// chooses it when it reads the event, and encodes the answer in that shape
// (see [Platform]).
type ReplyKind int

// The kinds of reply.
const (
	// ReplyResult: the job.Result as JSON (timers, uploads, direct invocations).
	ReplyResult ReplyKind = iota
	// ReplyAPIGateway: an API gateway's integration response to an HTTP answer
	// (SCF's API gateway; Lambda's REST API and HTTP API payload 1.0).
	ReplyAPIGateway
	// ReplyAPIGatewayV2: the response of an HTTP API with payload format 2.0.
	ReplyAPIGatewayV2
	// ReplyFunctionURL: the answer a function URL turns into its HTTP response.
	ReplyFunctionURL
)

// String names the reply kind, for errors.
func (r ReplyKind) String() string {
	switch r {
	case ReplyResult:
		return "result"
	case ReplyAPIGateway:
		return "api-gateway"
	case ReplyAPIGatewayV2:
		return "api-gateway-v2"
	case ReplyFunctionURL:
		return "function-url"
	}
	return fmt.Sprintf("ReplyKind(%d)", int(r))
}

// Event is what a platform event asks of the function, in neutral terms: the
// adapters make one from each invocation's payload.
type Event struct {
	// Kind says what the event asks, and which field holds it.
	Kind Kind
	// Reply is the shape of the answer the platform expects.
	Reply ReplyKind
	// Name is the platform's name of the event, for logs: "apigw-v2",
	// "function-url", "cos", "s3", "eventbridge-schedule", …
	Name string
	// HTTP is the request of an HTTP trigger.
	HTTP HTTPRequest
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

// Direct makes the event of a JSON object of no trigger's shape: a
// continuation event, or else a direct invocation (a job document).
func Direct(payload []byte) Event {
	if job.IsContinuation(payload) {
		return Event{Kind: KindDirect, Name: "continuation", Payload: payload}
	}
	return Event{Kind: KindDirect, Name: "direct", Payload: payload}
}

// maxReason bounds the reason of an unknown event (see [Unknown]) and other
// strings taken from a payload into an Event, such as Object.Skip.
const maxReason = 1 << 10

// Unknown makes the event of a payload the function does not handle: why
// (clipped to maxReason bytes), then what arrived. Its reply is a Result; an
// adapter that read an HTTP request sets the HTTP reply kind.
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
