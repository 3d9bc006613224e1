package trigger

import (
	"encoding/json"
	"fmt"
)

// maxRecords bounds the records of a Records event: the platforms send one
// object per storage notification, and decoding an event of thousands of
// (empty) records would take hundreds of times its size in memory.
const maxRecords = 100

// Records routes an event of a top-level Records array by its records'
// source: every record's source (SourceOf) must have a decoder (Decoders, the
// table from a source to the decoder of its events), and all must share it.
// A new kind of record is one entry of the table.
type Records struct {
	// Name names an event whose records cannot be routed, in logs.
	Name string
	// SourceOf tells a record's source from its JSON ("" for none: a record
	// of no known shape).
	SourceOf func(record json.RawMessage) string
	// Decoders make the event of a payload whose records are all of one
	// source.
	Decoders map[string]func(payload []byte, p *Probe) Event
	// Refusal says why a record of a source without a decoder is not handled.
	Refusal func(source string) string
}

// Decode makes the event of payload, a JSON object with a Records field (p
// its top level): at most maxRecords records, each of a source the table
// routes, all of the same one. Else the event is unknown, its Problem naming
// the record ("Records[i]: " and the refusal).
func (r Records) Decode(payload []byte, p *Probe) Event {
	records, refused := readRecords[json.RawMessage](r.Name, "that cannot be read", payload, p)
	if refused != nil {
		return *refused
	}
	source := r.SourceOf(records[0])
	for i, rec := range records {
		src := source
		if i > 0 {
			src = r.SourceOf(rec)
		}
		if _, ok := r.Decoders[src]; !ok {
			return Unknown(r.Name, fmt.Sprintf("Records[%d]: %s", i, r.Refusal(src)), payload)
		}
		if src != source {
			return Unknown(r.Name, fmt.Sprintf("Records[%d] comes from %s, Records[0] from %s: an event holds records of one source", i, src, source), payload)
		}
	}
	return r.Decoders[source](payload, p)
}

// Uploads makes the upload event of a notification's Records array: each
// record read into an R and made an [Object] by object. An event that is not
// such a notification ("not "+what), has no records, or has a record that
// object refuses is unknown, its Problem naming the record ("Records[i]: "
// and object's error).
func Uploads[R any](name, what string, payload []byte, p *Probe, object func(R) (Object, error)) Event {
	records, refused := readRecords[R](name, "that is not "+what, payload, p)
	if refused != nil {
		return *refused
	}
	objs := make([]Object, 0, len(records))
	for i, r := range records {
		o, err := object(r)
		if err != nil {
			return Unknown(name, fmt.Sprintf("Records[%d]: %v", i, err), payload)
		}
		objs = append(objs, o)
	}
	return Objects(name, objs...)
}

// readRecords reads the Records of payload into Rs: at least one, at most
// maxRecords, refused (an unknown event named name) before any is decoded if
// there are more. A Records field that cannot be read into Rs is "a Records
// event "+that.
func readRecords[R any](name, that string, payload []byte, p *Probe) ([]R, *Event) {
	refuse := func(why string) ([]R, *Event) {
		ev := Unknown(name, why, payload)
		return nil, &ev
	}
	if n := p.arrayLen("Records"); n > maxRecords {
		return refuse(fmt.Sprintf("a Records event with %d records, at most %d are read", n, maxRecords))
	}
	var ev struct{ Records []R }
	if err := json.Unmarshal(payload, &ev); err != nil {
		return refuse("a Records event " + that + " (" + err.Error() + ")")
	}
	if len(ev.Records) == 0 {
		return refuse("a Records event without records")
	}
	return ev.Records, nil
}

// Skipped returns o skipped as "not an upload: "+event unless upload is true.
func Skipped(o Object, upload bool, event string) Object {
	if !upload {
		o.Skip = Clip("not an upload: "+event, maxReason)
	}
	return o
}
