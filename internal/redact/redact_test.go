package redact_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/removetag/removetag/internal/redact"
	"github.com/removetag/removetag/internal/wiring"
)

// testKey and testToken stand for secrets: they must never show in a log.
const (
	testKey   = "k3y-0f-the-app-that-must-never-show"
	testToken = "t0ken-that-must-never-show-0123456789"
)

// env is a fake environment.
type env map[string]string

func (e env) get(name string) string { return e[name] }

func TestString(t *testing.T) {
	secrets := []string{testKey, testToken}
	tests := []struct{ in, want string }{
		{"nothing to hide", "nothing to hide"},
		{"key " + testKey + " twice " + testKey, "key [redacted] twice [redacted]"},
		{"Bearer " + testToken, "Bearer [redacted]"},
		{"POST https://console.tim.qq.com/v4/x?sdkappid=1&usersig=eJw1jV1Pg&random=5", "POST https://console.tim.qq.com/v4/x?sdkappid=1&usersig=[redacted]&random=5"},
		{`"UserSig=abc def"`, `"UserSig=[redacted] def"`},
		{"X-Amz-Signature=0a1b2c&X-Amz-Security-Token=zz", "X-Amz-Signature=[redacted]&X-Amz-Security-Token=[redacted]"},
		{"design=fine", "design=fine"},
	}
	for _, tt := range tests {
		if got := redact.String(tt.in, secrets); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	e := env{
		wiring.EnvSecretKey:        testKey,
		wiring.EnvHTTPToken:        testToken,
		wiring.EnvTencentSecretKey: "tc-secret-key",
		wiring.EnvTencentToken:     "tc-session-token",
		"AWS_SECRET_ACCESS_KEY":    "aws-secret",
		wiring.EnvTencentSecretID:  "abc", // too short to search for
		wiring.EnvSDKAppID:         "1400000001",
	}
	got := strings.Join(redact.Secrets(e.get, wiring.SecretVars()...)(), ",")
	want := strings.Join([]string{testKey, testToken, "tc-secret-key", "tc-session-token", "aws-secret"}, ",")
	if got != want {
		t.Errorf("Secrets = %s, want %s", got, want)
	}
}

type leaky struct{ Key string }

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	secrets := func() []string { return []string{testKey, testToken} }
	log := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), secrets))
	cfg, err := wiring.Load(env{
		wiring.EnvSDKAppID:  "1400000001",
		wiring.EnvSecretKey: testKey,
		wiring.EnvHTTPToken: testToken,
	}.get)
	if err != nil {
		t.Fatal(err)
	}
	log.With("token", testToken).WithGroup("g").Info("message with "+testKey,
		"plain", "x "+testKey,
		"err", errors.New("call https://h/v4?usersig=SIG123&x=1 failed"),
		"struct", leaky{Key: testKey},
		"n", 42,
		slog.Group("nested", "deep", testToken),
		"config", cfg,
	)
	out := buf.String()
	for _, bad := range []string{testKey, testToken, "SIG123"} {
		if strings.Contains(out, bad) {
			t.Errorf("log holds %q: %s", bad, out)
		}
	}
	for _, want := range []string{`"n":42`, `usersig=[redacted]`, `"deep":"[redacted]"`, `"sdkAppID":1400000001`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
	if !log.Handler().Enabled(context.Background(), slog.LevelInfo) {
		t.Error("not enabled at info")
	}
}
