// Package scf adapts Tencent Cloud SCF's Go1 runtime (github.com/tencentyun/scf-go-lib)
// to the function's service: it tells an event's kind by its shape and makes a
// [trigger.Event] of it, with the reply the trigger expects; the
// [trigger.Handler] does the rest.
//
//	function URL  {"httpMethod","headers","body","path","queryString"}            → {"statusCode","headers","body"}
//	API gateway   {"httpMethod","requestContext","headers","body",…}             → an events.APIGatewayResponse
//	timer         {"Type":"Timer" (any case),"TriggerName","Time","Message"}      → the report (Message: a job, or empty: the sweep)
//	COS upload    {"Records":[{"cos":{"cosBucket","cosObject"},"event"}]}         → the report (several objects: summed, in Jobs)
//	anything else that is a JSON object: a direct invocation                      → the report
//
// Only the fields the function uses are read (see trigger.Text and
// trigger.Headers): a field it does not use, such as a COS object's size or
// an event's time, can never fail an event, whatever its type.
//
// Files: this one routes a payload by its shape; http.go reads HTTP requests
// and shapes their replies; cos.go reads COS notifications; log.go adds the
// request id to log records.
package scf

import (
	"encoding/json"
	"strings"

	"github.com/removetag/removetag/pkg/adapters/trigger"
)

// Names of the events, in logs.
const (
	eventFunctionURL = "scf-url"
	eventAPIGateway  = "scf-apigw"
	eventTimer       = "scf-timer"
	eventCOS         = "cos"
)

// NewHandler returns the handler of the function's events on SCF; use it
// with cloudfunction.StartHandler, which hands it the raw payload.
func NewHandler(d *trigger.Dispatcher) *trigger.Handler {
	return &trigger.Handler{Dispatcher: d, Platform: trigger.Platform{
		Decode: decode,
		Replies: map[trigger.ReplyKind]func(trigger.HTTPReply) any{
			trigger.ReplyAPIGateway:  gatewayReply,
			trigger.ReplyFunctionURL: urlReply,
		},
	}}
}

// decode tells an SCF payload's kind by its shape and makes its event.
func decode(payload []byte) trigger.Event {
	p, problem := trigger.NewProbe(payload)
	switch {
	case p == nil:
		return trigger.Event{Kind: trigger.KindUnknown, Name: "unknown", Problem: problem}
	case p.Has("httpMethod"):
		return decodeHTTP(payload, p)
	case strings.EqualFold(p.String("Type"), "timer"):
		// "Timer" in scf-go-lib and the trigger summary page, "timer" on the
		// timer trigger's own page (tencentyun/qcloud-documents).
		var t struct{ Message trigger.Text }
		if err := json.Unmarshal(payload, &t); err != nil {
			return trigger.Unknown(eventTimer, "a timer event that cannot be read ("+err.Error()+")", payload)
		}
		return trigger.Event{Kind: trigger.KindTimer, Name: eventTimer, Message: string(t.Message)}
	case p.Has("Records"):
		return trigger.Uploads(eventCOS, "a COS notification", payload, p, cosObject)
	}
	return trigger.Direct(payload)
}
