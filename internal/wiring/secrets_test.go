package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/internal/logtest"
	"github.com/removetag/removetag/pkg/adapters/secrets/secretstest"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
)

func TestLoadSecret(t *testing.T) {
	base := env{EnvSDKAppID: "1400000000"}
	tests := []struct {
		name    string
		e       env
		want    string // the secret's reference, or
		wantErr []string
	}{
		{"aws", base.with(EnvSecret, "secretsmanager:removetag"), "secretsmanager:removetag", nil},
		{"tencent", base.with(EnvSecret, "ssm:removetag", EnvSSMEndpoint, "http://127.0.0.1:9"), "ssm:removetag", nil},
		{"and a key", base.with(EnvSecret, "ssm:removetag", EnvSecretKey, testKey), "", []string{EnvSecret, EnvSecretKey, EnvHTTPToken}},
		{"and a token", base.with(EnvSecret, "ssm:removetag", EnvHTTPToken, testToken), "", []string{EnvSecret, EnvSecretKey, EnvHTTPToken}},
		{"bad reference", base.with(EnvSecret, "vault:x"), "", []string{EnvSecret, "unknown store"}},
		{"bad SSM endpoint", base.with(EnvSecret, "ssm:x", EnvSSMEndpoint, "ftp://x"), "", []string{EnvSSMEndpoint}},
		{"neither", base, "", []string{EnvSecretKey, EnvSecret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.e.get)
			if tt.wantErr == nil {
				if err != nil || c.Secret == nil || c.Secret.String() != tt.want || c.SecretKey != "" || c.HTTPToken != "" {
					t.Fatalf("Load = %v, %v; want secret %s", c, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), testToken) {
				t.Errorf("err shows a secret: %v", err)
			}
		})
	}
}

// logtest.Buffer is a log sink safe for concurrent writers.
// TestSecretAtRunTime, on each store's stand-in: the function reads the IM
// key and the HTTP token from the secret; a key rotated between two
// invocations and in the middle of one costs no record; the store refusing
// while the key in use is refused leaves every record pending, the logs
// naming the secret; no key or token is ever in a log line or an answer.
func TestSecretAtRunTime(t *testing.T) {
	for _, store := range []string{"secretsmanager", "ssm"} {
		t.Run(store, func(t *testing.T) {
			w := newWorld(t)
			var st *secretstest.Store
			e := w.env.with(EnvSecretKey, "", EnvHTTPToken, "", EnvSecret, store+":removetag")
			refusal := "AccessDeniedException"
			if store == "ssm" {
				st = secretstest.NewTencent()
				e = e.with(EnvSSMEndpoint, st.URL())
				refusal = "AuthFailure.UnauthorizedOperation"
			} else {
				st = secretstest.NewAWS()
				t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", st.URL())
				t.Setenv("AWS_MAX_ATTEMPTS", "1")
			}
			t.Cleanup(st.Close)
			keys := []string{"rotated-key-one-0123456789", "rotated-key-two-0123456789", "rotated-key-three-0123456789", "rotated-key-four-0123456789"}
			w.im.SetKey(keys[0])
			st.PutKeys("removetag", keys[0], testToken)

			var logs logtest.Buffer
			cfg, err := Load(e.get)
			if err != nil {
				t.Fatal(err)
			}
			jc, hc, err := serviceConfig(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if hc.Token != testToken {
				t.Error("the HTTP token is not the secret's")
			}
			svc, err := job.New(jc)
			if err != nil {
				t.Fatal(err)
			}
			var answers []string
			run := func(n int, timeout time.Duration, during func()) *job.Result {
				t.Helper()
				body := `{"To_Account":[`
				accs := make([]string, n)
				for i := range accs {
					accs[i] = fmt.Sprintf("%q", fmt.Sprintf("u%04d", i))
					w.im.SetTags(fmt.Sprintf("u%04d", i), "vip", "keep")
				}
				body += strings.Join(accs, ",") + `],"Tags":["vip"]}`
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				done := make(chan struct{})
				if during != nil {
					go func() { defer close(done); during() }()
				} else {
					close(done)
				}
				res, err := svc.Handle(ctx, job.Direct([]byte(body)))
				<-done
				if err != nil {
					t.Fatal(err)
				}
				answers = append(answers, fmt.Sprintf("%+v", res))
				return res
			}
			want := func(res *job.Result, succeeded, pending int64) {
				t.Helper()
				if res.Succeeded != int64(succeeded) || res.Failed != 0 || res.Pending != pending {
					t.Fatalf("report %+v: want %d succeeded, 0 failed, %d pending", res.Report, succeeded, pending)
				}
			}

			want(run(300, 20*time.Second, nil), 300, 0)

			w.im.SetKey(keys[1]) // between two invocations
			st.PutKeys("removetag", keys[1], testToken)
			want(run(300, 20*time.Second, nil), 300, 0)

			applied := w.im.Stats().Applied
			want(run(3000, 30*time.Second, func() { // in the middle of one
				for w.im.Stats().Applied < applied+5 {
					time.Sleep(time.Millisecond)
				}
				w.im.SetKey(keys[2])
				st.PutKeys("removetag", keys[2], testToken)
			}), 3000, 0)
			if c := w.im.Stats().Codes[70009]; c == 0 {
				t.Error("the mid-run rotation drew no 70009: it did not happen mid-run")
			}

			w.im.SetKey(keys[3]) // rotated at IM, and the store refuses
			st.Refuse(refusal)
			want(run(200, 3*time.Second, nil), 0, 200)
			if !strings.Contains(logs.String(), "secret "+store+":removetag") || !strings.Contains(logs.String(), refusal) {
				t.Errorf("no log line names the secret and the store's refusal:\n%.2000s", logs.String())
			}

			all := logs.String() + strings.Join(answers, "\n")
			for _, s := range append(keys, testToken) {
				if strings.Contains(all, s) {
					t.Errorf("a secret value is in the logs or answers")
				}
			}
			if got := cfg.SecretValues(); len(got) != 4 { // three keys read, one token
				t.Errorf("SecretValues has %d values, want 4 (every key read and the token)", len(got))
			}
		})
	}
}

// TestSecretToken: the cache NewSecrets wires is the HTTP side's token
// source, and it checks the secret's token as REMOVETAG_HTTP_TOKEN is
// checked: a token the secret holds badly is an error that names the secret
// and shows no value, while the key still signs.
func TestSecretToken(t *testing.T) {
	w := newWorld(t) // AWS credentials and region for the SDK
	st := secretstest.NewAWS()
	t.Cleanup(st.Close)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", st.URL())
	cfg, err := Load(w.env.with(EnvSecretKey, "", EnvHTTPToken, "", EnvSecret, "secretsmanager:removetag").get)
	if err != nil {
		t.Fatal(err)
	}
	const good = "good-token-0123456789abcdef"
	for _, tt := range []struct {
		name, token, want string
	}{
		{"good", good, good},
		{"short", "tiny", ""},
		{"white space", "two-words 0123456789abcdef", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st.PutKeys("removetag", "key-0123456789", tt.token)
			cache, err := NewSecrets(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			var tokens trigger.TokenSource = cache
			got, err := tokens.HTTPToken(t.Context())
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("token = %q, %v; want the secret's", got, err)
				}
				return
			}
			if err == nil || got != "" || !strings.Contains(err.Error(), "secretsmanager:removetag") || strings.Contains(err.Error(), tt.token) {
				t.Errorf("a bad token: %q, %v; want an error naming the secret that shows no value", got, err)
			}
			if key, err := cache.Key(t.Context()); err != nil || key != "key-0123456789" {
				t.Errorf("the key with a bad token: %q, %v; want the secret's", key, err)
			}
		})
	}
}
