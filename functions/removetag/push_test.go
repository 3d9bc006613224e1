package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/records"
)

// pushRows is the rows of TestPush's file: 90 calls at 25 calls/s, more than
// one invocation of 3 s.
const pushRows = 9000

// withTimPush sets IM_TAG_API=timpush in the function's environment.
func withTimPush(env []string) []string { return append(env, "IM_TAG_API=timpush") }

// readFailed reads a failed-records object: one record a line.
func (w *world) readFailed(t *testing.T, key string) []records.Record {
	t.Helper()
	data, err := w.fs.GetObject(w.p.bucket, key)
	if err != nil {
		t.Fatalf("no failed records at %s: %v", key, err)
	}
	var out []records.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r records.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("failed line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestPush runs the function under each runtime (the real RIE, SCF's
// net/rpc) with IM_TAG_API=timpush, on the emulator serving the Push
// service's v4/timpush/* strictly: a file whose accounts are known, unknown to
// the Push service (answered 70107 in the ErrorList), or failing once with a
// retryable code of their own (91000, retried alone), goes through a chain of
// invocations with exact counts: the unknown accounts failed with their code,
// every other record succeeded, and the failed file holds exactly the unknown
// accounts' records; the report names the API, and no all_member_push path
// was called. Then an {"AllTags":true,…} document clears every tag of the
// accounts it lists and of no other.
func TestPush(t *testing.T) {
	binaries(t)
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		t.Run(p.name, func(t *testing.T) {
			w := newWorld(t, p, withTimPush)
			var (
				rows    strings.Builder
				known   []string
				ghosts  []string
				retried int
			)
			rows.WriteString("To_Account,Tags\n")
			for i := range pushRows {
				a := fmt.Sprintf("tp-%d", i)
				switch {
				case i%97 == 13:
					a = fmt.Sprintf("ghost-%d", i) // never seeded: the Push service does not know it
					ghosts = append(ghosts, a)
				case i%89 == 5:
					w.im.SetTags(a, "keep", "vip")
					w.im.FailAccount(a, emulator.CodeInternal, 1)
					known = append(known, a)
					retried++
				default:
					w.im.SetTags(a, "keep", "vip")
					known = append(known, a)
				}
				rows.WriteString(a + ",vip\n")
			}
			key := "incoming/push.csv"
			w.put(t, key, []byte(rows.String()))
			w.run(t, w.p.upload(key))
			w.waitIdle(t)
			rep, err := w.waitReport(key, 2*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Invocations < 2 {
				t.Errorf("%d invocation(s): want a chain", rep.Invocations)
			}
			if rep.Status != job.StatusDone || rep.API != "v4/timpush/remove_tag" || rep.Total != pushRows ||
				rep.Succeeded != int64(len(known)) || rep.Failed != int64(len(ghosts)) || rep.Pending != 0 {
				t.Fatalf("report: %s via %s, %d total, %d succeeded, %d failed, %d pending; want %d succeeded, %d failed",
					rep.Status, rep.API, rep.Total, rep.Succeeded, rep.Failed, rep.Pending, len(known), len(ghosts))
			}
			if len(rep.Failures) != 1 || rep.Failures[0].ErrorCode != emulator.CodeNoAccount || !slices.Equal(rep.Failures[0].Accounts, ghosts) {
				t.Errorf("failures %+v, want one 70107 group of the %d unknown accounts", rep.Failures, len(ghosts))
			}
			failed := w.readFailed(t, rep.FailedKey)
			var names []string
			for _, r := range failed {
				names = append(names, r.Account)
				if !slices.Equal(r.Tags, []string{"vip"}) {
					t.Errorf("failed record %+v, want its vip", r)
				}
			}
			if slices.Sort(names); !slices.Equal(names, slices.Sorted(slices.Values(ghosts))) {
				t.Errorf("failed file holds %d records (%v…), want exactly the %d unknown accounts'", len(names), names[:min(3, len(names))], len(ghosts))
			}
			if left := w.vipLeft(known); left != 0 || rep.Retries == 0 {
				t.Errorf("%d accounts still hold vip; %d retries for %d accounts retried alone", left, rep.Retries, retried)
			}
			// Each listed once at least (a batch left unresolved at a hand-off is sent again whole).
			st := w.im.Stats()
			if st.Paths[emulator.RemoveTagPath] != 0 || st.Paths[emulator.PushRemoveTagPath] == 0 || st.AccountErrors < int64(len(ghosts)+retried) {
				t.Errorf("emulator paths %v, %d ErrorList elements; want timpush alone, at least %d", st.Paths, st.AccountErrors, len(ghosts)+retried)
			}

			// Every tag of the listed accounts, and nothing else.
			w.im.SetTags("bystander", "keep", "vip")
			list := append(slices.Clone(known[:5]), "ghost-x")
			res := w.run(t, mustJSON(map[string]any{"AllTags": true, "To_Account": list}))
			if res.Status != job.StatusDone || res.API != "v4/timpush/clear_all_tags" || !res.AllTags || res.Succeeded != 5 || res.Failed != 1 {
				t.Fatalf("AllTags result %+v", res)
			}
			for _, a := range known[:5] {
				if got := w.im.Tags(a); got != nil {
					t.Errorf("%s holds %v after AllTags", a, got)
				}
			}
			if got := w.im.Tags(known[5]); !slices.Equal(got, []string{"keep"}) || !slices.Equal(w.im.Tags("bystander"), []string{"keep", "vip"}) {
				t.Errorf("not listed: %s holds %v, bystander %v", known[5], got, w.im.Tags("bystander"))
			}
			if w.im.Stats().Paths[emulator.RemoveAllTagsPath] != 0 {
				t.Error("all_member_push's im_remove_all_tags was called")
			}
		})
	}
}

// TestBadTagAPI starts the function with an IM_TAG_API it does not know:
// every invocation answers a configuration error naming the variable, the
// process stays up, nothing is sent.
func TestBadTagAPI(t *testing.T) {
	binaries(t)
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		t.Run(p.name, func(t *testing.T) {
			w := newWorld(t, p, func(env []string) []string { return append(env, "IM_TAG_API=v4/timpush") })
			for range 2 {
				a := w.invoke(t, userTags([]string{"a"}))
				if !strings.Contains(a.fnErr, "IM_TAG_API") || !strings.Contains(a.fnErr, "timpush") {
					t.Errorf("answer %q %.200s, want an error naming IM_TAG_API and the families", a.fnErr, a.payload)
				}
			}
			if n := w.requests(); n != 0 || strings.Contains(w.out.String(), "panic") {
				t.Errorf("%d requests reached IM; output:\n%s", n, w.out)
			}
		})
	}
}
