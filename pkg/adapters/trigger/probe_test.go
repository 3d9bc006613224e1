package trigger

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestProbeLen(t *testing.T) {
	tests := []struct {
		payload string
		want    int
	}{
		{`{"R":[]}`, 0},
		{`{"R":[ ]}`, 0},
		{`{"R":[1]}`, 1},
		{`{"R":[{},{}]}`, 2},
		{`{"R":[[1,2],{"a":[3,4],"b":"x,y"}, "]\",["]}`, 3},
		{`{"R":[null, null ,null]}`, 3},
		{`{"R":{"a":1}}`, -1},
		{`{"R":"[1,2]"}`, -1},
		{`{"R":null}`, -1},
		{`{}`, -1},
	}
	for _, tt := range tests {
		p, problem := NewProbe([]byte(tt.payload))
		if p == nil {
			t.Fatalf("NewProbe(%s): %s", tt.payload, problem)
		}
		if got := p.Len("R"); got != tt.want {
			t.Errorf("Len in %s = %d, want %d", tt.payload, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"aé", 2, "a…"},
		{"", 0, ""},
		{strings.Repeat("標", 10), 4, "標…"},
	}
	for _, tt := range tests {
		got := Clip(tt.s, tt.n)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestDescribeClipsKeys(t *testing.T) {
	payload := `{"` + strings.Repeat("k", 100000) + `":1}`
	if d := Describe([]byte(payload)); len(d) > 1000 {
		t.Errorf("Describe of a payload with a 100000-byte key is %d bytes", len(d))
	}
}
