// Package triggertest checks what the platform adapters' decoders promise
// about any payload, for their fuzz targets and tests.
package triggertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
)

// maxProblemBytes bounds an unknown event's Problem, whatever the payload:
// the reason, clipped, and a description of the payload (its size, its first
// bytes and up to 20 clipped keys).
const maxProblemBytes = 4 << 10

// allocFactor and allocSlack bound the memory a decoder may allocate for one
// payload: allocFactor times its size, plus allocSlack.
const (
	allocFactor = 64
	allocSlack  = 256 << 10
)

// checkEvent reports how ev, decoded from payload, breaks the decoders'
// promises: it has a kind and a name; an unknown event's Problem describes the
// payload (its size in bytes) within maxProblemBytes; an HTTP event has the
// Reply of its shape; any other asks something (its requests); and nothing it
// holds is more than a few times the payload's size.
func checkEvent(payload []byte, ev trigger.Event) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if ev.Name == "" {
		bad("event of trigger %q has no name", ev.Kind)
	}
	// JSON decoding may turn one invalid byte into U+FFFD (3 bytes).
	limit := 3*len(payload) + 64
	switch ev.Kind {
	case trigger.KindUnknown:
		if want := fmt.Sprintf("%d bytes", len(payload)); !strings.Contains(ev.Problem, want) {
			bad("unknown event's problem %.200q does not say the payload's size (%s)", ev.Problem, want)
		}
		if len(ev.Problem) > maxProblemBytes {
			bad("unknown event's problem is %d bytes (limit %d): %.200q", len(ev.Problem), maxProblemBytes, ev.Problem)
		}
	case trigger.KindHTTP:
		if n := len(ev.HTTP.Body) + len(ev.HTTP.Method); n > limit {
			bad("HTTP event holds %d bytes from a %d-byte payload", n, len(payload))
		}
		if ev.Reply == nil {
			bad("HTTP event %q without a Reply: it would be answered as a Result, which no gateway takes", ev.Name)
		}
	case "":
		bad("event %q has no kind", ev.Name)
	default:
		errs = append(errs, checkRequests(payload, ev, limit)...)
	}
	if ev.Kind != trigger.KindUnknown && ev.Problem != "" {
		bad("%s event has a problem: %.200q", ev.Kind, ev.Problem)
	}
	return errors.Join(errs...)
}

// checkRequests reports how the requests of ev break the promises: there is
// at least one (a timer or a direct invocation: exactly one, of its kind, a
// direct one with the invocation's payload); an object has a bucket and a key
// unless skipped; and they hold at most limit bytes (their IDs apart).
func checkRequests(payload []byte, ev trigger.Event, limit int) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	one := map[trigger.Kind]job.RequestKind{trigger.KindTimer: job.RequestTimer, trigger.KindDirect: job.RequestDirect}
	if want, ok := one[ev.Kind]; ok && (len(ev.Requests) != 1 || ev.Requests[0].Job.Kind != want) {
		bad("%s event with %d requests, want one of kind %s", ev.Kind, len(ev.Requests), want)
	}
	if len(ev.Requests) == 0 {
		bad("%s event asks nothing (no requests)", ev.Kind)
	}
	if ev.Kind == trigger.KindDirect && len(ev.Requests) == 1 && string(ev.Requests[0].Job.Document) != string(payload) {
		bad("direct event's payload differs from the invocation's")
	}
	size, ids := 0, 0
	for i, r := range ev.Requests {
		if o := r.Job.Object; r.Job.Kind == job.RequestUpload && r.Skip == "" && (o.Bucket == "" || o.Key == "") {
			bad("Requests[%d] %+v is an object without a bucket or a key, not skipped", i, r)
		}
		if len(r.Skip) > maxProblemBytes {
			bad("Requests[%d] Skip is %d bytes (limit %d)", i, len(r.Skip), maxProblemBytes)
		}
		size += len(r.Job.Document) + len(r.Job.Object.Bucket) + len(r.Job.Object.Key) + len(r.Job.Region) + len(r.Job.Via)
		ids += len(r.ID)
	}
	if size > limit || ids > limit {
		bad("%s event holds %d bytes (and %d of IDs) from a %d-byte payload", ev.Kind, size, ids, len(payload))
	}
	return errs
}

// allocated returns the bytes allocated while f ran. Other goroutines'
// allocations count too: use it where nothing else runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkAlloc reports an error if allocated bytes exceed the bound for a
// payload of n bytes (allocFactor·n + allocSlack).
func checkAlloc(n int, allocated uint64) error {
	if limit := uint64(allocFactor*n + allocSlack); allocated > limit {
		return fmt.Errorf("decoding a %d-byte payload allocated %d bytes (limit %d)", n, allocated, limit)
	}
	return nil
}

// seeds returns the sample events (the files matching pattern, relative to
// the calling test's directory) and hostile payloads: not JSON, not an
// object, deep nesting, huge keys and values, many records, bad base64,
// invalid UTF-8.
func seeds(pattern string) ([][]byte, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("sample events %s: %w", pattern, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("sample events %s: no file", pattern)
	}
	var seeds [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("sample event: %w", err)
		}
		seeds = append(seeds, b)
	}
	long := strings.Repeat("x", 5000)
	for _, s := range []string{
		"", " ", "null", "[]", "42", `"text"`, "{", "\xff\xfe{}", "{}",
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		`{"a":` + strings.Repeat(`{"a":`, 3000) + "1" + strings.Repeat("}", 3001),
		`{"` + long + `":1,"Records":1}`,
		`{"Records":` + strings.Repeat("1", 3000) + `}`,
		`{"Records":[` + strings.Repeat("{},", 2000) + `{}]}`,
		`{"Records":[]}`, `{"Records":[null]}`, `{"Records":{"x":1}}`,
		`{"Type":"Timer","Message":"` + long + `"}`, `{"Type":"Timer","Message":3}`,
		`{"httpMethod":"POST","requestContext":{},"body":"!!!","isBase64Encoded":true}`,
		`{"httpMethod":"POST","requestContext":{},"body":"e30=","isBase64Encoded":true,"headers":{"endpoint-timeout":"99999999999999999999"}}`,
		`{"httpMethod":["x"],"requestContext":1,"body":1}`,
		`{"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"\u0000\udfff","isBase64Encoded":false}`,
		`{"version":"2.0","requestContext":{"http":1}}`,
		`{"httpMethod":"POST","headers":{"Authorization":["Bearer x",7,null],"authorization":{"a":1}},"body":{"UserTags":[]}}`,
		`{"httpMethod":"POST","headers":{"a":"` + long + `"},"isBase64Encoded":true,"body":"` + long + `"}`,
		`{"Type":"tImEr","Message":{"Source":["` + long + `"]}}`,
		`{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"%zz` + long + `"}}}`,
		`{"source":"aws.s3","detail-type":"` + long + `","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`,
		`{"Records":[{"cos":{"cosBucket":{"name":"b","appid":12.5e3,"region":[1]},"cosObject":{"key":"/k","size":"1"}},"event":{"eventTime":"x"}}]}`,
		`{"Event":"s3:TestEvent","Bucket":""}`,
		`{"detail-type":"` + long + `","source":"` + long + `"}`,
		`{"Records":[{"eventSource":"` + long + `","s3":{"bucket":{"name":"b"}}}]}`,
		`{"Records":[{"eventSource":"aws:s3","eventName":"` + long + `","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
		`{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b/../c"},"object":{"key":"%zz"}}}]}`,
		`{"Records":[{"cos":{"cosBucket":{"name":"b","appid":"1"},"cosObject":{"key":"/1/b/%zz` + long + `"}},"event":{"eventName":"` + long + `"}}]}`,
		`{"removetag":"continue","Source":"s3://b/k","Chain":-1}`,
		`{"To_Account":["\xff"],"Tags":["\u0000"]}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds, nil
}
