package trigger

import (
	"encoding/json"
	"fmt"
)

// maxRecords bounds the records of an upload event: the platforms send one
// object per notification, and decoding an event of thousands of (empty)
// records would take hundreds of times its size in memory.
const maxRecords = 100

// Uploads makes the upload event of a notification's Records array: at most
// maxRecords records, each read into an R and made an [Object] by object. An
// event that is not such a notification ("not "+what), has no records, or
// has a record that object refuses is unknown, its Problem naming the record
// ("Records[i]: " and object's error).
func Uploads[R any](name, what string, payload []byte, p *Probe, object func(R) (Object, error)) Event {
	if n := p.arrayLen("Records"); n > maxRecords {
		return Unknown(name, fmt.Sprintf("a Records event with %d records, at most %d are read", n, maxRecords), payload)
	}
	var ev struct{ Records []R }
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Unknown(name, "a Records event that is not "+what+" ("+err.Error()+")", payload)
	}
	if len(ev.Records) == 0 {
		return Unknown(name, "a Records event without records", payload)
	}
	objs := make([]Object, 0, len(ev.Records))
	for i, r := range ev.Records {
		o, err := object(r)
		if err != nil {
			return Unknown(name, fmt.Sprintf("Records[%d]: %v", i, err), payload)
		}
		objs = append(objs, o)
	}
	return Event{Kind: KindUpload, Name: name, Objects: objs}
}

// Skipped returns o skipped as "not an upload: "+event unless upload is true.
func Skipped(o Object, upload bool, event string) Object {
	if !upload {
		o.Skip = Clip("not an upload: "+event, maxReason)
	}
	return o
}
