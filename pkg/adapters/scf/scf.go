// Package scf adapts Tencent Cloud SCF's Go1 runtime (github.com/tencentyun/scf-go-lib)
// to the function's service: it tells an event's kind by its shape and makes a
// [trigger.Event] of it, with the reply the trigger expects; the
// [trigger.Handler] does the rest.
//
//	function URL  {"httpMethod","headers","body","path","queryString"}            → {"statusCode","headers","body"}
//	API gateway   {"httpMethod","requestContext","headers","body",…}             → an events.APIGatewayResponse
//	timer         {"Type":"Timer" (any case),"TriggerName","Time","Message"}      → the report (Message: a job, or empty: the sweep)
//	COS upload    {"Records":[{"cos":{"cosBucket","cosObject"},"event"}]}         → the report (several objects: summed, in Jobs)
//	other Records (CKafka, CMQ, …): unknown, saying the records' source (records: a source → its decoder)
//	anything else that is a JSON object: a direct invocation                      → the report
//
// Only the fields the function uses are read (see trigger.Text and
// trigger.Headers): a field it does not use, such as a COS object's size or
// an event's time, can never fail an event, whatever its type.
//
// Files: this one routes a payload by its shape, and a Records event by its
// records' source (the table of records); http.go reads HTTP requests
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
	return &trigger.Handler{Dispatcher: d, Platform: trigger.Platform{Decode: decode}}
}

// decode tells an SCF payload's kind by its shape and makes its event.
func decode(payload []byte) trigger.Event { return decodeWith(records(), payload) }

// decodeWith is decode with the table of record sources rs.
func decodeWith(rs trigger.Records, payload []byte) trigger.Event {
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
		return trigger.Timer(eventTimer, string(t.Message))
	case p.Has("Records"):
		return rs.Decode(payload, p)
	}
	return trigger.Direct(payload)
}

// sourceCOS is the source of a COS notification's records.
const sourceCOS = "qcs::cos"

// records is the table of the record sources the function handles on SCF:
// COS notifications. A new kind of record (a CKafka or CMQ message) is one
// entry.
func records() trigger.Records {
	return trigger.Records{
		Name:     eventCOS,
		SourceOf: recordSource,
		Decoders: map[string]func([]byte, *trigger.Probe) trigger.Event{
			sourceCOS: func(payload []byte, p *trigger.Probe) trigger.Event {
				return trigger.Uploads(eventCOS, "a COS notification", payload, p, cosObject)
			},
		},
		Refusal: func(source string) string {
			if source == "" {
				return errNotCOS.Error()
			}
			return errNotCOS.Error() + ": a record from " + source
		},
	}
}

// recordSource tells an SCF record's source by what marks it: a COS
// notification's record holds "cos" (and "event":{"eventSource":"qcs::cos"};
// testdata/cos-*.json), a CKafka message "Ckafka" (Tencent's "CKafka Trigger
// Description", tencentcloud.com/document/product/583/17530, read
// 2026-12-01), a CMQ message "CMQ"; else an "eventSource" of its own, if any.
func recordSource(record json.RawMessage) string {
	var r struct {
		COS         json.RawMessage `json:"cos"`
		CKafka      json.RawMessage `json:"Ckafka"`
		CMQ         json.RawMessage `json:"CMQ"`
		EventSource string          `json:"eventSource"`
	}
	_ = json.Unmarshal(record, &r) // a field of another type is left empty
	present := func(v json.RawMessage) bool { return len(v) > 0 && string(v) != "null" }
	switch {
	case present(r.COS):
		return sourceCOS
	case present(r.CKafka):
		return "ckafka"
	case present(r.CMQ):
		return "cmq"
	}
	return r.EventSource
}
