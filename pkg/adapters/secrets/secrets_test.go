package secrets_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/secrets"
	"github.com/removetag/removetag/pkg/adapters/secrets/secretstest"
)

const (
	key1  = "im-key-first-0123456789abcdef"
	key2  = "im-key-second-0123456789abcdef"
	token = "http-token-0123456789abcdef"
)

func TestParseRef(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:removetag-AbCdEf"
	tests := []struct {
		in      string
		want    secrets.Ref
		wantErr string
	}{
		{"secretsmanager:removetag", secrets.Ref{Store: "secretsmanager", Name: "removetag"}, ""},
		{"secretsmanager:" + arn, secrets.Ref{Store: "secretsmanager", Name: arn}, ""},
		{arn, secrets.Ref{Store: "secretsmanager", Name: arn}, ""},
		{"ssm:removetag", secrets.Ref{Store: "ssm", Name: "removetag"}, ""},
		{" ssm:removetag ", secrets.Ref{Store: "ssm", Name: "removetag"}, ""},
		{"removetag", secrets.Ref{}, "want secretsmanager:NAME"},
		{"ssm:", secrets.Ref{}, "want secretsmanager:NAME"},
		{"vault:removetag", secrets.Ref{}, "unknown store"},
		{"arn:aws:s3:::bucket", secrets.Ref{}, "not a Secrets Manager ARN"},
		{"ssm:two words", secrets.Ref{}, "want"},
	}
	for _, tt := range tests {
		got, err := secrets.ParseRef(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRef(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRef(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// store is one of the two stand-ins with a Reader of its secret "removetag".
type store struct {
	name  string
	ref   secrets.Ref
	srv   *secretstest.Store
	read  secrets.Reader
	refus string // an error code the store refuses with
}

func stores(t *testing.T) []store {
	t.Helper()
	aws := secretstest.NewAWS()
	t.Cleanup(aws.Close)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws.URL())
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-example")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	client, err := secrets.NewAWSClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	awsRef := secrets.Ref{Store: secrets.StoreAWS, Name: "removetag"}

	tc := secretstest.NewTencent()
	t.Cleanup(tc.Close)
	tcRef := secrets.Ref{Store: secrets.StoreTencent, Name: "removetag"}
	tr, err := secrets.NewTencent(secrets.TencentConfig{
		Region:      "ap-guangzhou",
		Endpoint:    tc.URL(),
		Credentials: func() (string, string, string) { return "AKIDtencent", "tencent-secret-key", "session-token" },
	}, tcRef)
	if err != nil {
		t.Fatal(err)
	}
	return []store{
		{"aws", awsRef, aws, secrets.NewAWS(client, awsRef), "AccessDeniedException"},
		{"tencent", tcRef, tc, tr, "AuthFailure.UnauthorizedOperation"},
	}
}

// assertClean checks that err names the secret and shows no value.
func assertClean(t *testing.T, err error, ref secrets.Ref, values ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var se *secrets.Error
	if !errors.As(err, &se) || se.Secret != ref || !strings.Contains(err.Error(), ref.String()) {
		t.Errorf("err = %v (%T): want a *secrets.Error naming %s", err, err, ref)
	}
	for _, v := range values {
		if strings.Contains(err.Error(), v) {
			t.Errorf("err shows a secret value: %v", err)
		}
	}
}

// TestReaders: each store's reader gets the current version, follows a
// rotation, and reports a missing secret, a bad value, a refusal and a store
// down with an error naming the secret and never a value.
func TestReaders(t *testing.T) {
	for _, s := range stores(t) {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			_, err := s.read.Read(ctx)
			assertClean(t, err, s.ref)

			s.srv.PutKeys("removetag", key1, token)
			v, err := s.read.Read(ctx)
			if err != nil || v != (secrets.Values{IMSecretKey: key1, HTTPToken: token}) {
				t.Fatalf("Read = %+v, %v", v, err)
			}
			s.srv.PutKeys("removetag", key2, token)
			if v, err := s.read.Read(ctx); err != nil || v.IMSecretKey != key2 {
				t.Fatalf("after a rotation Read = %+v, %v; want the new key", v, err)
			}

			for value, want := range map[string]string{
				"not json " + key1:                   "not a JSON object",
				`{"HTTP_TOKEN":"` + token + `"}`:     "no IM_SECRET_KEY",
				`{"IM_SECRET_KEY":42}`:               "not a string",
				`{"IM_SECRET_KEY":"` + key1 + `\n"}`: "white space",
			} {
				s.srv.Put("removetag", value)
				_, err := s.read.Read(ctx)
				assertClean(t, err, s.ref, key1, token)
				if err != nil && !strings.Contains(err.Error(), want) {
					t.Errorf("value %.20q: err = %v, want %q", value, err, want)
				}
			}

			s.srv.PutKeys("removetag", key1, token)
			s.srv.Refuse(s.refus)
			_, err = s.read.Read(ctx)
			assertClean(t, err, s.ref, key1, token)
			if err != nil && !strings.Contains(err.Error(), s.refus) {
				t.Errorf("refused: err = %v, want the store's code %s", err, s.refus)
			}
			s.srv.Refuse("")
			s.srv.Close()
			_, err = s.read.Read(ctx)
			assertClean(t, err, s.ref, key1, token)
		})
	}
}

// fakeReader counts reads and answers what it is told.
type fakeReader struct {
	v     secrets.Values
	err   error
	reads int
}

func (f *fakeReader) Read(context.Context) (secrets.Values, error) {
	f.reads++
	return f.v, f.err
}

// TestCache: read once, used until MaxAge, read again after it (a failed
// periodic read keeps the values, tried again a second later); Refresh reads
// at once unless another caller already moved past the rejected key.
func TestCache(t *testing.T) {
	now := time.Unix(1700000000, 0)
	r := &fakeReader{v: secrets.Values{IMSecretKey: key1, HTTPToken: token}}
	c := secrets.NewCache(r, secrets.Ref{Store: "ssm", Name: "removetag"}, secrets.CacheConfig{MaxAge: time.Minute, Now: func() time.Time { return now }})
	ctx := context.Background()
	step := func(name string, got string, err error, want string, reads int) {
		t.Helper()
		if err != nil || got != want || r.reads != reads {
			t.Errorf("%s: got %q, %v after %d reads; want %q after %d", name, got, err, r.reads, want, reads)
		}
	}
	k, err := c.Key(ctx)
	step("first use", k, err, key1, 1)
	k, err = c.Key(ctx)
	step("cached", k, err, key1, 1)

	r.v.IMSecretKey = key2
	k, err = c.Refresh(ctx, key1)
	step("refresh", k, err, key2, 2)
	k, err = c.Refresh(ctx, key1)
	step("refresh of a key already replaced", k, err, key2, 2)

	now = now.Add(time.Minute)
	r.err = errors.New("store down")
	k, err = c.Key(ctx)
	step("failed periodic read keeps the values", k, err, key2, 3)
	k, err = c.Key(ctx)
	step("not read again at once", k, err, key2, 3)
	now = now.Add(time.Second)
	_, _ = c.Key(ctx)
	if r.reads != 4 {
		t.Errorf("reads = %d: the failed read was not tried again a second later", r.reads)
	}
	now = now.Add(time.Second)
	if _, err := c.Refresh(ctx, key2); err == nil {
		t.Error("Refresh with the store down gave no error")
	}

	empty := secrets.NewCache(r, secrets.Ref{Store: "ssm", Name: "x"}, secrets.CacheConfig{})
	if _, err := empty.Key(ctx); err == nil {
		t.Error("a first read that fails gave no error")
	}
}

// TestNewAWSMakesItsClient: without a client, the AWS reader makes one from
// the SDK's default chain at its first read, not before: the endpoint set
// after NewAWS is the one read.
func TestNewAWSMakesItsClient(t *testing.T) {
	srv := secretstest.NewAWS()
	t.Cleanup(srv.Close)
	ref := secrets.Ref{Store: secrets.StoreAWS, Name: "removetag"}
	r := secrets.NewAWS(nil, ref)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL())
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-example")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	srv.PutKeys("removetag", key1, token)
	if v, err := r.Read(t.Context()); err != nil || v.IMSecretKey != key1 {
		t.Fatalf("Read = %+v, %v; want the stand-in's secret", v, err)
	}
}

// TestCacheHTTPToken: the HTTP token as the cache has it (a rotated token is
// taken once the cache reads the secret again); a token TokenProblem finds
// wrong is an error naming the secret that shows no value; OnRead is given
// every value read, and only those.
func TestCacheHTTPToken(t *testing.T) {
	const first, second = "first-token-0123456789abcdef", "second-token-0123456789abcdef"
	now := time.Unix(1700000000, 0)
	r := &fakeReader{v: secrets.Values{IMSecretKey: key1, HTTPToken: first}}
	ref := secrets.Ref{Store: secrets.StoreTencent, Name: "removetag"}
	var seen []secrets.Values
	c := secrets.NewCache(r, ref, secrets.CacheConfig{
		MaxAge: time.Minute,
		Now:    func() time.Time { return now },
		OnRead: func(v secrets.Values) { seen = append(seen, v) },
		TokenProblem: func(tok string) string {
			if tok != "" && len(tok) < 16 {
				return "too short"
			}
			return ""
		},
	})
	ctx := t.Context()
	if got, err := c.HTTPToken(ctx); err != nil || got != first {
		t.Fatalf("HTTPToken = %q, %v; want the secret's", got, err)
	}
	r.v.HTTPToken = second
	if got, _ := c.HTTPToken(ctx); got != first {
		t.Errorf("HTTPToken before the cache expires = %q, want the one read", got)
	}
	now = now.Add(2 * time.Minute)
	if got, err := c.HTTPToken(ctx); err != nil || got != second {
		t.Errorf("HTTPToken after the cache expired = %q, %v; want the rotated one", got, err)
	}

	r.v.HTTPToken = "tiny-tok"
	now = now.Add(2 * time.Minute)
	got, err := c.HTTPToken(ctx)
	if err == nil || got != "" || !strings.Contains(err.Error(), ref.String()) || strings.Contains(err.Error(), "tiny-tok") {
		t.Errorf("a bad token: %q, %v; want an error naming %s that shows no value", got, err, ref)
	}
	if k, err := c.Key(ctx); err != nil || k != key1 {
		t.Errorf("Key with a bad token = %q, %v; want the key: a bad token refuses HTTP only", k, err)
	}

	r.v.HTTPToken = ""
	now = now.Add(2 * time.Minute)
	if got, err := c.HTTPToken(ctx); err != nil || got != "" {
		t.Errorf("no token: %q, %v; want none and no error", got, err)
	}

	r.err = errors.New("store down")
	fresh := secrets.NewCache(r, ref, secrets.CacheConfig{OnRead: func(v secrets.Values) { seen = append(seen, v) }})
	if _, err := fresh.HTTPToken(ctx); err == nil {
		t.Error("HTTPToken with the store down gave no error")
	}
	if len(seen) != 4 || seen[0].HTTPToken != first || seen[1].HTTPToken != second || seen[2].HTTPToken != "tiny-tok" {
		t.Errorf("OnRead saw %d reads (%+v), want the 4 that succeeded", len(seen), seen)
	}
}
