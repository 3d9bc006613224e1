package main

import (
	"strings"
	"testing"
)

// TestRunAPI: the tag API family comes from IM_TAG_API, or --api over it; the
// report names the operation called, the emulator serves either family, and
// an unknown name is a usage error that sends nothing.
func TestRunAPI(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		api  string // the report's App.API
	}{
		{"default", nil, nil, exitOK, "v4/all_member_push/im_remove_tag"},
		{"--api timpush", nil, []string{"--api", "timpush"}, exitOK, "v4/timpush/remove_tag"},
		{"IM_TAG_API=timpush", map[string]string{"IM_TAG_API": "timpush"}, nil, exitOK, "v4/timpush/remove_tag"},
		{"--api over IM_TAG_API", map[string]string{"IM_TAG_API": "timpush"}, []string{"--api", "all_member_push"}, exitOK, "v4/all_member_push/im_remove_tag"},
		{"--api unknown", nil, []string{"--api", "v4/push"}, exitInvalid, ""},
		{"IM_TAG_API unknown", map[string]string{"IM_TAG_API": "push"}, nil, exitConfig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"run", "--emulator", "--json"}, tt.args...), examples(t, "accounts.csv"))
			code, out, errOut := newUser(t, tt.env).run(nil, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			rep := report(t, out)
			if tt.code != exitOK {
				if rep.Succeeded != 0 || !strings.Contains(rep.Error, "IM_TAG_API") && !strings.Contains(rep.Error, "--api") {
					t.Errorf("refused run: %d succeeded, error %q", rep.Succeeded, rep.Error)
				}
				return
			}
			if rep.Succeeded != 5000 || rep.App == nil || rep.App.API != tt.api || !strings.Contains(errOut, tt.api) {
				t.Errorf("report: %d succeeded, app %+v; stderr %s; want 5000 through %s", rep.Succeeded, rep.App, errOut, tt.api)
			}
		})
	}
}
