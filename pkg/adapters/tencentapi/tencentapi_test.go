package tencentapi

import (
	"errors"
	"strings"
	"testing"
)

func TestProfile(t *testing.T) {
	tests := []struct {
		endpoint, scheme, host string
		ok                     bool
	}{
		{"", "HTTPS", "", true},
		{"http://127.0.0.1:8080", "HTTP", "127.0.0.1:8080", true},
		{"https://scf.internal.tencentcloudapi.com/base/", "HTTPS", "scf.internal.tencentcloudapi.com/base", true},
		{"ftp://host", "", "", false},
		{"http://", "", "", false},
		{"http://host?x=1", "", "", false},
		{"::bad", "", "", false},
	}
	for _, tt := range tests {
		prof, err := Profile(tt.endpoint)
		if (err == nil) != tt.ok {
			t.Errorf("Profile(%q): error %v, want ok %v", tt.endpoint, err, tt.ok)
			continue
		}
		if err == nil && tt.endpoint != "" && (prof.HttpProfile.Scheme != tt.scheme || prof.HttpProfile.Endpoint != tt.host) {
			t.Errorf("Profile(%q) = %s %s, want %s %s", tt.endpoint, prof.HttpProfile.Scheme, prof.HttpProfile.Endpoint, tt.scheme, tt.host)
		}
	}
}

// TestClient: a client is made with a SecretID and a SecretKey (the session
// token may be empty); without either, or without a source, the error is
// ErrNoCredentials and quotes nothing.
func TestClient(t *testing.T) {
	prof, err := Profile("")
	if err != nil {
		t.Fatal(err)
	}
	creds := func(id, key, token string) Credentials {
		return func() (string, string, string) { return id, key, token }
	}
	tests := []struct {
		name  string
		creds Credentials
		ok    bool
	}{
		{"complete", creds("AKID", "key-value", "token-value"), true},
		{"no token", creds("AKID", "key-value", ""), true},
		{"no id", creds("", "key-value", "token-value"), false},
		{"no key", creds("AKID", "", "token-value"), false},
		{"no source", nil, false},
	}
	for _, tt := range tests {
		c, err := Client(tt.creds, "ap-guangzhou", prof)
		if tt.ok != (err == nil) || tt.ok != (c != nil) {
			t.Errorf("%s: Client = %v, %v; want ok %v", tt.name, c, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrNoCredentials) || strings.Contains(err.Error(), "value")) {
			t.Errorf("%s: err = %v, want ErrNoCredentials quoting nothing", tt.name, err)
		}
	}
}
