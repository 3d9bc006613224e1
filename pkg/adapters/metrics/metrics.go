// Package metrics writes what each invocation did in the platform's own
// format, for those who watch jobs in the platform's console: on AWS Lambda,
// CloudWatch Embedded Metric Format (EMF) records, JSON on standard output
// that CloudWatch Logs turns into metrics; on Tencent SCF, one flat JSON log
// line that CLS (Cloud Log Service) indexes field by field.
//
// A [Meter] is both the engine's [imapi.Observer] (it counts each call, its
// latency, the refusals for the rate) and the [trigger.Meter] of the
// function's invocations: Begin gives the invocation a tally in its context,
// End writes, from the tally and the invocation's results (job.Result's
// Invocation, Ended, LeftForSweep), one record for the invocation and one
// for each job that ended in it (see [Metrics]). The invocation records'
// flows, summed over the invocations of a job, equal the job's report.
//
// Every record names the namespace, the function (dimension FunctionName)
// and the trigger of the invocation (dimension Trigger), the request id,
// and only numbers and the names of objects: never a key, a token or a
// UserSig (the secrets it is given are redacted from every line all the
// same).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/removetag/removetag/internal/redact"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
)

// DefaultNamespace is the CloudWatch namespace (and the CLS line's
// Namespace) when none is configured.
const DefaultNamespace = "RemoveTag"

// Format is how a [Meter] writes its records.
type Format string

// The formats.
const (
	// FormatEMF: CloudWatch Embedded Metric Format, one JSON document a line
	// (AWS Lambda sends its standard output to CloudWatch Logs, which extracts
	// the metrics).
	FormatEMF Format = "emf"
	// FormatCLS: one flat JSON object a line, every value a number or a
	// string (SCF delivers its standard output to CLS, which parses the first
	// level of a JSON line into fields).
	FormatCLS Format = "cls"
)

// Config configures a [Meter].
type Config struct {
	// Format is how records are written; required.
	Format Format
	// Namespace is the CloudWatch namespace; default DefaultNamespace. See
	// [CheckNamespace].
	Namespace string
	// FunctionName is the value of the FunctionName dimension; default "unknown".
	FunctionName string
	// Out receives the records, a line each (the process's standard output).
	Out io.Writer
	// RequestID, if set, gives an invocation's request id from its context.
	RequestID func(ctx context.Context) string
	// Secrets, if set, lists values redacted from every line (none is
	// expected in one: this is a second guard).
	Secrets func() []string
	// Now is the clock of the records' timestamps; default time.Now.
	Now func() time.Time
}

// Meter counts each invocation's calls and writes its records. It is safe
// for concurrent use.
type Meter struct {
	cfg Config
	mu  sync.Mutex // one line at a time on Out
}

var (
	_ imapi.Observer = (*Meter)(nil)
	_ trigger.Meter  = (*Meter)(nil)
)

// New checks cfg and returns a Meter.
func New(cfg Config) (*Meter, error) {
	if cfg.Format != FormatEMF && cfg.Format != FormatCLS {
		return nil, fmt.Errorf("metrics: format %q: want %q or %q", cfg.Format, FormatEMF, FormatCLS)
	}
	if cfg.Out == nil {
		return nil, errors.New("metrics: Config.Out is required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if err := CheckNamespace(cfg.Namespace); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if cfg.FunctionName == "" {
		cfg.FunctionName = "unknown"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Meter{cfg: cfg}, nil
}

// CheckNamespace says what is wrong with a CloudWatch namespace, or nil: 1
// to 255 ASCII characters among letters, digits, period, hyphen, underscore,
// slash, hash, colon and space, not all spaces, not starting with "AWS/"
// (reserved for AWS's own). Amazon CloudWatch User Guide, "Metrics concepts:
// Namespaces", and the PutMetricData reference, looked up 1 December 2026.
func CheckNamespace(ns string) error {
	switch {
	case ns == "" || len(ns) > 255:
		return fmt.Errorf("namespace %q: want 1 to 255 characters", ns)
	case strings.TrimSpace(ns) == "":
		return fmt.Errorf("namespace %q: want at least one character that is not a space", ns)
	case strings.HasPrefix(ns, "AWS/"):
		return fmt.Errorf("namespace %q: the prefix AWS/ is reserved for AWS's own metrics", ns)
	}
	for _, r := range ns {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/#: ", r)
		if !ok {
			return fmt.Errorf("namespace %q: %q is not allowed (letters, digits and . _ - / # : and space are)", ns, r)
		}
	}
	return nil
}

// tallyKey holds an invocation's tally in its context.
type tallyKey struct{}

// Begin gives the invocation a tally of its calls, in the context it returns.
func (m *Meter) Begin(ctx context.Context, _ trigger.Event) context.Context {
	return context.WithValue(ctx, tallyKey{}, &tally{})
}

// ObserveCall counts a call in its invocation's tally; a call made outside a
// Begin's context (a command-line run) is not counted.
func (m *Meter) ObserveCall(ctx context.Context, c imapi.CallOutcome) {
	if t, ok := ctx.Value(tallyKey{}).(*tally); ok {
		t.observe(c)
	}
}

// End writes the invocation's record, then one for each job that ended in
// it. An invocation that Begin did not begin is not measured.
func (m *Meter) End(ctx context.Context, ev trigger.Event, o trigger.Outcome, elapsed time.Duration) {
	t, ok := ctx.Value(tallyKey{}).(*tally)
	if !ok {
		return
	}
	recs := figures(ev, o, t.summary(), elapsed)
	id := ""
	if m.cfg.RequestID != nil {
		id = m.cfg.RequestID(ctx)
	}
	now := m.cfg.Now()
	var b []byte
	for _, r := range recs {
		r.props = append([]prop{{"FunctionName", m.cfg.FunctionName}, {"Trigger", triggerName(ev.Kind)}}, r.props...)
		if id != "" {
			r.props = append(r.props, prop{"requestId", id})
		}
		if m.cfg.Format == FormatEMF {
			b = appendEMF(b, m.cfg.Namespace, r, now)
		} else {
			b = appendCLS(b, m.cfg.Namespace, r, now)
		}
	}
	if m.cfg.Secrets != nil {
		if s := m.cfg.Secrets(); len(s) > 0 {
			b = []byte(redact.String(string(b), s))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.cfg.Out.Write(b) // nowhere to report a failed write of standard output
}

// triggerName is the Trigger dimension's value: never empty (a dimension's
// value has at least one character).
func triggerName(k trigger.Kind) string {
	if k == "" {
		return string(trigger.KindUnknown)
	}
	return string(k)
}
