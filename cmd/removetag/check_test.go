package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
)

// TestCheck runs `removetag check` against the emulator in each failure mode
// the check names, and once with everything right.
func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string // over a right configuration
		setup    func(*emulator.Server)
		wantExit int
		failAt   string // the check that fails, "" none
		wantText string
		api      imapi.API   // the family checked: IM_TAG_API's ("": the default)
		usable   []imapi.API // the families that answered
	}{
		{"right", nil, nil, exitOK, "", "", imapi.AllMemberPush, []imapi.API{imapi.AllMemberPush, imapi.TimPush}},
		{"right, timpush", map[string]string{"IM_TAG_API": "timpush"}, nil, exitOK, "", "", imapi.TimPush, []imapi.API{imapi.TimPush, imapi.AllMemberPush}},
		{"all_member_push off: timpush answers", nil, func(s *emulator.Server) { s.SetPushToAll(false) }, exitConfig, checkFeature,
			"all_member_push is off for the app (90045); timpush answers: set IM_TAG_API=timpush (or --api timpush)", imapi.AllMemberPush, []imapi.API{imapi.TimPush}},
		{"timpush set, only all_member_push on", map[string]string{"IM_TAG_API": "timpush"}, func(s *emulator.Server) { s.SetAPI(imapi.TimPush, false) }, exitConfig, checkFeature,
			"set IM_TAG_API=all_member_push", imapi.TimPush, []imapi.API{imapi.AllMemberPush}},
		{"timpush set, timpush answers, all_member_push off", map[string]string{"IM_TAG_API": "timpush"}, func(s *emulator.Server) { s.SetPushToAll(false) }, exitOK, "", "", imapi.TimPush, []imapi.API{imapi.TimPush}},
		{"both off", nil, func(s *emulator.Server) { s.SetPushToAll(false); s.SetAPI(imapi.TimPush, false) }, exitConfig, checkFeature, "neither family answers", imapi.AllMemberPush, nil},
		{"wrong region (SDKAppID not found)", map[string]string{"IM_SDKAPPID": "1400000999"}, nil, exitConfig, checkApp, "set IM_REGION", imapi.AllMemberPush, nil},
		{"wrong key", map[string]string{"IM_SECRET_KEY": "not-the-app-key-0123"}, nil, exitConfig, checkKey, "70009", imapi.AllMemberPush, nil},
		{"not an admin", map[string]string{"IM_ADMIN": "bob"}, nil, exitConfig, checkAdmin, "IM_ADMIN", imapi.AllMemberPush, nil},
		{"unreachable", map[string]string{"IM_ENDPOINT": "http://127.0.0.1:1"}, nil, exitFailed, checkReach, "could not reach http://127.0.0.1:1", imapi.AllMemberPush, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := emulator.NewServer(emulator.Config{})
			t.Cleanup(srv.Close)
			if tt.setup != nil {
				tt.setup(srv)
			}
			env := map[string]string{
				"IM_SDKAPPID":   fmt.Sprint(emulator.DefaultSDKAppID),
				"IM_SECRET_KEY": emulator.DefaultKey,
				"IM_ENDPOINT":   srv.URL(),
			}
			for k, v := range tt.env {
				env[k] = v
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"check", "--json", "--timeout", "2s"}, nil, &out, &errb, func(k string) string { return env[k] })
			if code != tt.wantExit {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, tt.wantExit, out.String(), errb.String())
			}
			var rep checkReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("--json output: %v: %s", err, out.String())
			}
			if len(rep.Lines) != 5 || rep.OK != (tt.failAt == "") {
				t.Fatalf("report %+v", rep)
			}
			if rep.API != tt.api || !slices.Equal(rep.Usable, tt.usable) || !strings.HasSuffix(rep.App.API, string(tt.api)+"/"+map[imapi.API]string{imapi.AllMemberPush: "im_get_tag", imapi.TimPush: "get_tag"}[tt.api]) {
				t.Errorf("api %q, usable %v, app %+v; want %q, %v", rep.API, rep.Usable, rep.App, tt.api, tt.usable)
			}
			if tt.failAt == "" && !strings.Contains(rep.Lines[4].Detail, string(tt.api)+" answers (the one set)") {
				t.Errorf("tag API line: %+v", rep.Lines[4])
			}
			failed := false
			for _, l := range rep.Lines {
				switch {
				case l.Check == tt.failAt:
					failed = true
					if l.OK || !strings.Contains(l.Detail, tt.wantText) {
						t.Errorf("%s: %+v, want a failure saying %q", l.Check, l, tt.wantText)
					}
				case failed && !l.Unknown:
					t.Errorf("%s after the failure: %+v, want unknown", l.Check, l)
				case !failed && !l.OK:
					t.Errorf("%s before the failure: %+v, want ok", l.Check, l)
				}
			}
			if strings.Contains(out.String()+errb.String(), emulator.DefaultKey) {
				t.Error("the key is in the output")
			}

			out.Reset()
			if code := run(context.Background(), []string{"check", "--timeout", "2s"}, nil, &out, &errb, func(k string) string { return env[k] }); code != tt.wantExit || strings.Count(out.String(), "\n") != 5 {
				t.Errorf("text output (exit %d): %s", code, out.String())
			}
		})
	}
}
