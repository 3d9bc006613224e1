package trigger

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct {
		json string
		want Text
	}{
		{`"a \"b\""`, `a "b"`},
		{`null`, ""},
		{`1250000000`, "1250000000"},
		{`true`, "true"},
		{`{ "Source" : "cos://b-1/k" }`, `{"Source":"cos://b-1/k"}`},
		{`[1, 2]`, `[1,2]`},
	}
	for _, tt := range tests {
		var v struct{ F Text }
		if err := json.Unmarshal([]byte(`{"F":`+tt.json+`}`), &v); err != nil {
			t.Errorf("%s: %v", tt.json, err)
			continue
		}
		if v.F != tt.want {
			t.Errorf("%s read as %q, want %q", tt.json, v.F, tt.want)
		}
	}
	var absent struct{ F Text }
	if err := json.Unmarshal([]byte(`{}`), &absent); err != nil || absent.F != "" {
		t.Errorf("absent field: %q %v", absent.F, err)
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name, json string
		want       Headers
		wantErr    bool
	}{
		{"names lower-cased", `{"Authorization":"Bearer x","Content-Type":"application/json"}`,
			Headers{"authorization": "Bearer x", "content-type": "application/json"}, false},
		{"lists joined, numbers as text, null and objects dropped",
			`{"accept":["a","b"],"content-length":17,"x-empty":null,"x-obj":{"a":1},"x-none":[]}`,
			Headers{"accept": "a, b", "content-length": "17"}, false},
		{"names differing in case: the first in byte order wins", `{"authorization":"Bearer late","Authorization":"Bearer early"}`,
			Headers{"authorization": "Bearer early"}, false},
		{"null", `null`, Headers{}, false},
		{"not an object", `"x"`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Headers
			err := json.Unmarshal([]byte(tt.json), &h)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && fmt.Sprint(h) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", h, tt.want)
			}
		})
	}
}

func TestHeadersWith(t *testing.T) {
	single := Headers{"authorization": "Bearer single"}
	multi := Headers{"authorization": "Bearer multi", "accept": "a"}
	got := single.With(multi)
	if want := (Headers{"authorization": "Bearer single", "accept": "a"}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
