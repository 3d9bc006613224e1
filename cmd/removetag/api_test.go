package main

import (
	"os"
	"path/filepath"
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

// TestRunAllTags: --all-tags clears every tag of the listed accounts, from a
// file of accounts alone, through either family; without it such a file is
// invalid (a record without tags is never read as "every tag"), a record
// naming tags is invalid with it, and a document saying "AllTags": true is
// refused until --all-tags says so too.
func TestRunAllTags(t *testing.T) {
	u := newUser(t, nil)
	write := func(name, content string) string {
		p := filepath.Join(u.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	accounts := write("accounts.csv", "To_Account\nu1\nu2\nu3\n")
	for _, api := range []string{"all_member_push", "timpush"} {
		code, out, errOut := u.run(nil, "run", "--emulator", "--json", "--all-tags", "--verify", "--api", api, accounts)
		rep := report(t, out)
		if v := rep.Files[0].Verify; v == nil || v.Checked != 3 || v.StillTagged != 0 {
			t.Errorf("%s: verify %+v, want 3 accounts read back without a tag", api, v)
		}
		if code != exitOK || rep.Succeeded != 3 || rep.App == nil || !strings.HasSuffix(rep.App.API, map[string]string{"all_member_push": "im_remove_all_tags", "timpush": "clear_all_tags"}[api]) ||
			!strings.Contains(errOut, "after: 0 tags (every tag of the accounts cleared)") {
			t.Errorf("%s: exit %d, %d succeeded, app %+v\nstderr: %s", api, code, rep.Succeeded, rep.App, errOut)
		}
	}
	for _, tt := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"accounts without --all-tags", accounts, nil, `account "u1" has no tags`},
		{"tags with --all-tags", write("tags.csv", "u1,a\n"), []string{"--all-tags"}, `account "u1" names 1 tag(s): this input takes accounts alone`},
		{"AllTags document without --all-tags", write("all.json", `{"AllTags":true,"To_Account":["u1"]}`), nil, `says "AllTags": true, every tag of its accounts: run it with --all-tags`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := u.run(nil, append(append([]string{"run", "--emulator", "--json"}, tt.args...), tt.file)...)
			if code != exitInvalid || !strings.Contains(errOut+out, tt.want) || report(t, out).Succeeded != 0 {
				t.Errorf("exit %d, want %d saying %q\nstdout: %s\nstderr: %s", code, exitInvalid, tt.want, out, errOut)
			}
		})
	}
	if code, out, errOut := u.run(nil, "run", "--emulator", "--json", "--all-tags", filepath.Join(u.dir, "all.json")); code != exitOK || report(t, out).Succeeded != 1 {
		t.Errorf("AllTags document with --all-tags: exit %d\n%s\n%s", code, out, errOut)
	}
}
