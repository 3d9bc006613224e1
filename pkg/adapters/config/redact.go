package config

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
)

// secretVars are the variables whose values must never be logged or answered.
var secretVars = []string{
	EnvSecretKey, EnvHTTPToken,
	EnvTencentSecretID, EnvTencentSecretKey, EnvTencentToken,
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
}

// minSecretBytes: shorter values are not searched for (they would match
// ordinary text); such values are refused as secrets anyway.
const minSecretBytes = 6

// Secrets returns the current values of the secret variables, read through
// getenv at each call: platforms renew some of them (SCF role keys) while the
// process lives.
func Secrets(getenv func(string) string) func() []string {
	return func() []string {
		var out []string
		for _, name := range secretVars {
			if v := strings.TrimSpace(getenv(name)); len(v) >= minSecretBytes {
				out = append(out, v)
			}
		}
		return out
	}
}

// credentialParam matches a UserSig (or other signature) in a URL's query.
var credentialParam = regexp.MustCompile(`(?i)\b(usersig|x-amz-signature|x-amz-security-token|sign|signature|token)=[^&\s"'<>]+`)

// Redact replaces every secret in s, and any UserSig or signature in a URL
// query, by "[redacted]".
func Redact(s string, secrets []string) string {
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

// NewRedactingHandler returns a handler that passes every record to next with
// the secrets (as secrets returns them at the time) and URL signatures
// replaced by "[redacted]", in the message and in every attribute, nested or
// not, errors and other values included.
func NewRedactingHandler(next slog.Handler, secrets func() []string) slog.Handler {
	if secrets == nil {
		secrets = func() []string { return nil }
	}
	return &redactingHandler{next: next, secrets: secrets}
}

type redactingHandler struct {
	next    slog.Handler
	secrets func() []string
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	secrets := h.secrets()
	out := slog.NewRecord(r.Time, r.Level, Redact(r.Message, secrets), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a, secrets))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	secrets := h.secrets()
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redactAttr(a, secrets)
	}
	return &redactingHandler{next: h.next.WithAttrs(clean), secrets: h.secrets}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}

// redactAttr redacts one attribute's value, resolving LogValuers and
// descending into groups; a value of another kind whose text holds a secret
// is replaced by its redacted text.
func redactAttr(a slog.Attr, secrets []string) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String(), secrets))
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
		if clean := Redact(text, secrets); clean != text {
			return slog.String(a.Key, clean)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
