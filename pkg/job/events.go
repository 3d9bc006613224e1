package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/removetag/removetag/pkg/records"
)

// continueMarker is the value of the "removetag" field that marks a continuation event.
const continueMarker = "continue"

// ContinueEvent is the payload of a self-invocation that continues a file job
// from its checkpoint, e.g.
// {"removetag":"continue","Source":"s3://b/k.csv","Checkpoint":"removetag/state/k.csv.json","ETag":"…","Chain":3}.
// An event whose Chain or ETag no longer matches the checkpoint is a stale
// duplicate and is skipped.
type ContinueEvent struct {
	// Removetag is always "continue": [ContinueEvent.Payload] sets it.
	Removetag string `json:"removetag"`
	// Kind is the job's kind; absent for removal (see [Kind]).
	Kind Kind `json:",omitempty"`
	// Source is the file: "s3://bucket/key" or "cos://bucket-appid/key".
	Source string
	// Region is the region of the upload event that started the job, if any.
	Region string `json:",omitempty"`
	// Checkpoint is the key of the checkpoint in the source's bucket.
	Checkpoint string
	// ETag is the version of the file the checkpoint is for.
	ETag string
	// Chain is the place of the invocation to come in the file's chain.
	Chain int
}

// Payload returns the event as the JSON payload of a self-invocation, marked
// as a continuation.
func (ev ContinueEvent) Payload() []byte {
	ev.Removetag = continueMarker
	return mustJSON(ev)
}

// IsContinuation reports whether payload is a [ContinueEvent], for adapters
// that route invocations by their shape.
func IsContinuation(payload []byte) bool {
	var probe struct {
		Removetag string `json:"removetag"`
	}
	return json.Unmarshal(payload, &probe) == nil && probe.Removetag == continueMarker
}

// payloadKind is what a job payload holds.
type payloadKind int

const (
	kindInline   payloadKind = iota // records in the API's forms (or not JSON at all: the decoder says why)
	kindSource                      // {"Source":"s3://…"}
	kindContinue                    // a ContinueEvent
	kindBad                         // a recognizable document with a mistake in it
	kindUndo                        // {"Undo":"s3://…"}: a journal to add back
)

// sourceDoc is a {"Source":…} job document.
type sourceDoc struct {
	Source string
	// Region is optional: the region of a COS bucket, when not the function's own.
	Region string `json:",omitempty"`
}

// undoDoc is an {"Undo":…} job document: the journal of a removal job (or any
// file of records) whose tags are to be added back.
type undoDoc struct {
	Undo string
	// Region is optional, as in a sourceDoc.
	Region string `json:",omitempty"`
}

// parsed is a classified payload.
type parsed struct {
	kind   payloadKind
	source sourceDoc
	cont   ContinueEvent
	reason string // for kindBad
}

// classify looks at the top-level fields of a JSON payload to tell a file job or a
// continuation from records. Anything it cannot read is left to the record
// decoder, which explains what is wrong with it.
func classify(payload []byte) parsed {
	trimmed := bytes.TrimLeft(payload, " \t\r\n\ufeff")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return parsed{kind: kindInline}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return parsed{kind: kindInline}
	}
	has := func(name string) bool {
		for k := range fields {
			if strings.EqualFold(k, name) {
				return true
			}
		}
		return false
	}
	switch {
	case has("removetag"):
		var ev ContinueEvent
		if err := strictUnmarshal(payload, &ev); err != nil {
			return parsed{kind: kindBad, reason: "continuation event: " + err.Error()}
		}
		if ev.Removetag != continueMarker {
			return parsed{kind: kindBad, reason: fmt.Sprintf("unknown removetag event %q (want %q)", ev.Removetag, continueMarker)}
		}
		return parsed{kind: kindContinue, cont: ev}
	case has("Undo"):
		if has("Source") || has("UserTags") || has("To_Account") {
			return parsed{kind: kindBad, reason: "an undo document names a journal (Undo) and nothing else: no Source, no records (UserTags, To_Account)"}
		}
		var doc undoDoc
		if err := strictUnmarshal(payload, &doc); err != nil {
			return parsed{kind: kindBad, reason: `undo document: ` + err.Error() + `; want {"Undo":"s3://bucket/key"} or {"Undo":"cos://bucket-appid/key"}`}
		}
		return parsed{kind: kindUndo, source: sourceDoc{Source: doc.Undo, Region: doc.Region}}
	case has("Source"):
		if has("UserTags") || has("To_Account") {
			return parsed{kind: kindBad, reason: "a job document has either Source (a stored file) or records (UserTags, To_Account), not both"}
		}
		var doc sourceDoc
		if err := strictUnmarshal(payload, &doc); err != nil {
			return parsed{kind: kindBad, reason: `file job document: ` + err.Error() + `; want {"Source":"s3://bucket/key"} or {"Source":"cos://bucket-appid/key"}`}
		}
		return parsed{kind: kindSource, source: doc}
	}
	return parsed{kind: kindInline}
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

// invalidResult is the answer to an input rejected as a whole, with one reason.
func invalidResult(reason string) *Result {
	return &Result{
		Status:     StatusInvalid,
		Message:    reason,
		Errors:     []records.Problem{{Reason: reason}},
		ErrorCount: 1,
	}
}
