package triggertest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/trigger"
)

// Sample is a platform's published event kept in a test's testdata folder,
// and what the decoder must make of it.
type Sample struct {
	// File is the event's file in testdata, Source where it was published,
	// Kind and Event the decoded event's Kind and Name, Want its summary.
	File, Source string
	Kind         trigger.Kind
	Event, Want  string
}

// summary says what an event asks, for comparing: an HTTP event's "METHOD
// body ?name=value&…" (no query: "METHOD body"), a timer's message, an upload's objects.
func summary(ev trigger.Event) string {
	switch ev.Kind {
	case trigger.KindHTTP:
		s := ev.HTTP.Method + " " + string(ev.HTTP.Body)
		if len(ev.HTTP.Query) > 0 {
			var params []string
			for _, k := range slices.Sorted(maps.Keys(ev.HTTP.Query)) {
				params = append(params, k+"="+ev.HTTP.Query[k])
			}
			s += " ?" + strings.Join(params, "&")
		}
		return s
	case trigger.KindTimer:
		return Message(ev)
	case trigger.KindUpload:
		return fmt.Sprint(ev.Objects())
	}
	return ev.Problem
}

// Message returns the message of a timer event (of its one request).
func Message(ev trigger.Event) string {
	if len(ev.Requests) != 1 {
		return fmt.Sprintf("(%d requests)", len(ev.Requests))
	}
	return string(ev.Requests[0].Job.Document)
}

// RunSamples decodes each sample, as a subtest, and checks its kind and
// summary, naming the sample's source on failure. The samples may be of any
// type with Sample's fields, so that a test can write them without field names.
func RunSamples[S ~struct {
	File, Source string
	Kind         trigger.Kind
	Event, Want  string
}](t *testing.T, decode Decoder, samples []S) {
	t.Helper()
	for _, sample := range samples {
		s := Sample(sample)
		t.Run(s.File, func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join("testdata", s.File))
			if err != nil {
				t.Fatal(err)
			}
			ev := decode(payload)
			if ev.Kind != s.Kind || ev.Name != s.Event {
				t.Fatalf("from %s: trigger %q event %q, want %q %q (problem %q)", s.Source, ev.Kind, ev.Name, s.Kind, s.Event, ev.Problem)
			}
			if got := summary(ev); got != s.Want {
				t.Errorf("from %s: got %q, want %q", s.Source, got, s.Want)
			}
		})
	}
}
