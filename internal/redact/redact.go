// Package redact keeps secrets out of what the function writes: its logs and
// the errors it returns to the platform.
//
//   - [Secrets] reads the current values of the secret variables.
//   - [String] replaces those values, and any signature in a URL's query, by
//     "[redacted]".
//   - [NewHandler] wraps a slog.Handler so that every record is redacted.
//
// It knows no variable by name: the caller says which ones hold secrets (see
// wiring.SecretVars).
package redact

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
)

// minSecretBytes: shorter values are not searched for (they would match
// ordinary text); such values are refused as secrets anyway.
const minSecretBytes = 6

// Secrets returns the current values of the variables named by names, read
// through getenv at each call: platforms renew some of them (SCF role keys) while the
// process lives. Unset values, and values too short to search for, are left
// out.
func Secrets(getenv func(string) string, names ...string) func() []string {
	names = append([]string(nil), names...)
	return func() []string {
		var out []string
		for _, name := range names {
			if v := strings.TrimSpace(getenv(name)); len(v) >= minSecretBytes {
				out = append(out, v)
			}
		}
		return out
	}
}

// credentialParam matches a UserSig (or other signature) in a URL's query.
var credentialParam = regexp.MustCompile(`(?i)\b(usersig|x-amz-signature|x-amz-security-token|sign|signature|token)=[^&\s"'<>]+`)

// String returns s with every secret, and any UserSig or signature in a URL
// query, replaced by "[redacted]".
func String(s string, secrets []string) string {
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	if strings.Contains(s, "=") {
		s = credentialParam.ReplaceAllString(s, "$1=[redacted]")
	}
	return s
}

// NewHandler returns a handler that passes every record to next with the
// secrets (as secrets returns them at the time) and URL signatures replaced
// by "[redacted]", in the message and in every attribute, nested or not,
// errors and other values included.
func NewHandler(next slog.Handler, secrets func() []string) slog.Handler {
	if secrets == nil {
		secrets = func() []string { return nil }
	}
	return &handler{next: next, secrets: secrets}
}

// handler is the slog.Handler of [NewHandler].
type handler struct {
	next    slog.Handler
	secrets func() []string
}

// Enabled reports whether next handles records of level l.
func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle passes a redacted copy of r to next.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	secrets := h.secrets()
	out := slog.NewRecord(r.Time, r.Level, String(r.Message, secrets), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a, secrets))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs returns a handler whose next has the attributes, redacted.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	secrets := h.secrets()
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redactAttr(a, secrets)
	}
	return &handler{next: h.next.WithAttrs(clean), secrets: h.secrets}
}

// WithGroup returns a handler whose next opens the group.
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), secrets: h.secrets}
}

// redactAttr redacts one attribute's value, resolving LogValuers and
// descending into groups; a value of another kind whose text holds a secret
// is replaced by its redacted text.
func redactAttr(a slog.Attr, secrets []string) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, String(v.String(), secrets))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = redactAttr(g, secrets)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		text := v.String()
		if err, ok := v.Any().(error); ok {
			text = err.Error()
		}
		if clean := String(text, secrets); clean != text {
			return slog.String(a.Key, clean)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
