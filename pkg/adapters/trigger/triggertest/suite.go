package triggertest

import (
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/trigger"
)

// Decoder is a platform adapter's Decode.
type Decoder func(payload []byte) trigger.Event

// Fuzz runs the fuzz target of a decoder: it never panics, makes a known kind
// of event or an unknown one that describes the payload, and allocates no more
// than a bounded multiple of the payload's size. seeds: every sample event
// matching examples (a glob), hostile payloads, and the crashers kept in the
// calling package's testdata/fuzz.
func Fuzz(f *testing.F, examples string, decode Decoder) {
	seeds, err := seeds(examples)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var ev trigger.Event
		n := allocated(func() { ev = decode(payload) })
		if err := checkEvent(payload, ev); err != nil {
			t.Errorf("Decode(%.200q): %v", payload, err)
		}
		if err := checkAlloc(len(payload), n); err != nil {
			t.Error(err)
		}
	})
}

// TestBounds checks a decoder's bounds on hostile events: an upload event of
// many records is refused before its records are decoded, and long strings
// from the payload are clipped in the event.
func TestBounds(t *testing.T, decode Decoder) {
	long := strings.Repeat("x", 100_000)
	tests := []struct {
		name    string
		payload string
		problem string
	}{
		{"many records", `{"Records":[` + strings.Repeat("{},", 100_000) + `{}]}`, "100001 records, at most 100"},
		{"long key", `{"` + long + `":1,"Records":7}`, "Records"},
		{"long records error", `{"Records":` + strings.Repeat("9", 100_000) + `}`, "Records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev trigger.Event
			n := allocated(func() { ev = decode([]byte(tt.payload)) })
			if ev.Kind != trigger.KindUnknown || !strings.Contains(ev.Problem, tt.problem) {
				t.Errorf("event %s %q, want unknown with %q", ev.Kind, trigger.Clip(ev.Problem, 300), tt.problem)
			}
			if err := checkEvent([]byte(tt.payload), ev); err != nil {
				t.Error(err)
			}
			if err := checkAlloc(len(tt.payload), n); err != nil {
				t.Error(err)
			}
		})
	}
}
