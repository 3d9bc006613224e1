package config

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
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
		if got := Redact(tt.in, secrets); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	e := env{
		EnvSecretKey:            testKey,
		EnvHTTPToken:            testToken,
		EnvTencentSecretKey:     "tc-secret-key",
		EnvTencentToken:         "tc-session-token",
		"AWS_SECRET_ACCESS_KEY": "aws-secret",
		EnvTencentSecretID:      "abc", // too short to search for
		EnvSDKAppID:             "1400000001",
	}
	got := strings.Join(Secrets(e.get)(), ",")
	want := strings.Join([]string{testKey, testToken, "tc-secret-key", "tc-session-token", "aws-secret"}, ",")
	if got != want {
		t.Errorf("Secrets = %s, want %s", got, want)
	}
}

type leaky struct{ Key string }

func TestRedactingHandler(t *testing.T) {
	var buf bytes.Buffer
	secrets := func() []string { return []string{testKey, testToken} }
	log := slog.New(NewRedactingHandler(slog.NewJSONHandler(&buf, nil), secrets))
	cfg, err := Load(minimal.with(EnvHTTPToken, testToken).get)
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
