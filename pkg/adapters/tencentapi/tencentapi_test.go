package tencentapi

import "testing"

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
