package imapi

import (
	"errors"
	"fmt"
	"testing"
)

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"an error page", &httpError{Op: "im_get_tag", StatusCode: 502, Body: "<html>bad gateway</html>"}, 502, "<html>bad gateway</html>"},
		{"wrapped", fmt.Errorf("call 3: %w", &httpError{StatusCode: 404, Body: "no"}), 404, "no"},
		{"a refusal", &APIError{ErrorCode: 70009}, 0, ""},
		{"no answer", &transportError{Err: errors.New("connection refused")}, 0, ""},
		{"nil", nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := HTTPStatus(tt.err)
			if status != tt.status || body != tt.body {
				t.Errorf("HTTPStatus = %d, %q; want %d, %q", status, body, tt.status, tt.body)
			}
		})
	}
}
