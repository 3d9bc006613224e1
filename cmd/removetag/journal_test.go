package main

// The journal of `removetag run`, as a user meets it: the built binary on a
// terminal, an app served by the IM emulator in the test process (so that its
// store outlives each run), real signals.

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi/emulator"
)

// journalApp is an emulator of n accounts jr-0000000… holding two of their
// three listed tags (seedListed), the environment of a user working on it,
// and a CSV listing the three for every account: a third of the listed tags
// are absent. It returns the pairs a full run removes.
func journalApp(t *testing.T, n int, latency time.Duration) (*emulator.Server, *user, string, map[string][]string) {
	t.Helper()
	emu := emulator.NewServer(emulator.Config{Latency: latency})
	t.Cleanup(emu.Close)
	var b strings.Builder
	want := seedListed(emu, "jr-", n, &b)
	c := emu.Config()
	u := newUser(t, map[string]string{
		"IM_SDKAPPID": fmt.Sprint(c.SDKAppID), "IM_SECRET_KEY": c.Key, "IM_ENDPOINT": emu.URL(), "TERM": "xterm",
	})
	in := filepath.Join(u.dir, "accounts.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return emu, u, in, want
}

// journalPairs reads a journal file: account → tags, each account once.
func journalPairs(t *testing.T, path string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, r := range readJSONL(t, path) {
		if _, dup := got[r.Account]; dup {
			t.Errorf("%s: %s is on two lines", path, r.Account)
		}
		got[r.Account] = r.Tags
	}
	return got
}

// countPairs counts the account–tag pairs of a journal.
func countPairs(j map[string][]string) (pairs int64) {
	for _, tags := range j {
		pairs += int64(len(tags))
	}
	return pairs
}

// TestJournalStoppedAndContinued stops a journaled run on a terminal with a
// real signal while calls are in flight (the emulator holds each answer, so
// the stop cuts calls it has applied), then runs the command its summary
// names: the two journals together hold every removed pair exactly once, each
// run's counts are its journal's, the store lost exactly those pairs, and no
// log is left.
func TestJournalStoppedAndContinued(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			// 60 calls at 10 a second, each answered 300 ms after it is applied.
			emu, u, in, want := journalApp(t, 6000, 300*time.Millisecond)
			p := u.startPTY(120, "run", "--yes", "--rate", "10", in)
			// The progress line counts the pairs the answers confirmed.
			p.waitOutput(`[1-9]\d* changed \([1-9]\d* tags\)`, 60*time.Second)
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(60 * time.Second); code != exitFailed {
				t.Fatalf("exit %d, want 1\n%s", code, p.output())
			}
			out := p.output()
			if emu.Stats().Canceled == 0 {
				t.Fatalf("the signal cut no call in flight: the test shows nothing\n%s", out)
			}
			first := regexp.MustCompile(`(\d+) accounts changed, (\d+) tags removed`).FindStringSubmatch(out)
			journal1 := regexp.MustCompile(`journal of the tags removed \(to add them back\): (\S+)`).FindStringSubmatch(out)
			cont := regexp.MustCompile(`continue with: (.+?)\r?\n`).FindStringSubmatch(out)
			if first == nil || journal1 == nil || cont == nil {
				t.Fatalf("the summary does not give the counts, the journal and the command:\n%s", out)
			}
			j1 := journalPairs(t, filepath.Join(u.dir, journal1[1]))
			if fmt.Sprint(len(j1)) != first[1] || fmt.Sprint(countPairs(j1)) != first[2] {
				t.Errorf("first run: %s accounts, %s tags; its journal: %d and %d", first[1], first[2], len(j1), countPairs(j1))
			}

			args := strings.Fields(cont[1])
			code, stdout, stderr := u.run(nil, append(args[1:], "--json")...)
			if code != exitOK {
				t.Fatalf("continue: exit %d\n%s\n%s", code, stdout, stderr)
			}
			rep := report(t, stdout)
			j2 := journalPairs(t, filepath.Join(u.dir, rep.JournalFile))
			if rep.Changed != int64(len(j2)) || rep.TagsRemoved != countPairs(j2) || rep.Files[0].TagsRemoved != rep.TagsRemoved {
				t.Errorf("continue: Changed %d, TagsRemoved %d; its journal: %d and %d", rep.Changed, rep.TagsRemoved, len(j2), countPairs(j2))
			}

			// Every removed pair once, in one journal or the other.
			got := map[string][]string{}
			for _, j := range []map[string][]string{j1, j2} {
				for a, tags := range j {
					for _, tg := range tags {
						if slices.Contains(got[a], tg) {
							t.Errorf("%s/%s is in both journals", a, tg)
						}
						got[a] = append(got[a], tg)
					}
				}
			}
			bad := 0
			for _, a := range slices.Sorted(maps.Keys(want)) {
				slices.Sort(got[a])
				if !slices.Equal(got[a], want[a]) && bad < 10 {
					t.Errorf("%s: journals %v, want %v", a, got[a], want[a])
					bad++
				}
				if tags := emu.Tags(a); !slices.Equal(tags, []string{"keep"}) && bad < 10 {
					t.Errorf("%s holds %v after both runs", a, tags)
					bad++
				}
			}
			if len(got) != len(want) {
				t.Errorf("the journals hold %d accounts, want %d", len(got), len(want))
			}
			if logs, _ := filepath.Glob(filepath.Join(u.dir, "*journal-log*")); len(logs) != 0 {
				t.Errorf("logs left: %v", logs)
			}
			if left, _ := filepath.Glob(filepath.Join(u.tmp, "*")); len(left) != 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
			t.Logf("stopped run: %d accounts, %d pairs (%d calls cut); continued: %d accounts, %d pairs",
				len(j1), countPairs(j1), emu.Stats().Canceled, len(j2), countPairs(j2))
		})
	}
}

// TestJournalOff: --no-journal and REMOVETAG_JOURNAL=off make no read and no
// journal, the report says so (and the command that continues keeps the flag);
// by default a journal is written, and an absent tag is not in it.
func TestJournalOff(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		off  bool
	}{
		{"default", nil, nil, false},
		{"--no-journal", nil, []string{"--no-journal"}, true},
		{"REMOVETAG_JOURNAL=off", map[string]string{"REMOVETAG_JOURNAL": "off"}, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emu, u, in, want := journalApp(t, 300, 0)
			maps.Copy(u.env, tt.env)
			code, stdout, stderr := u.run(nil, append([]string{"run", "--json", in}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			rep := report(t, stdout)
			reads := emu.Stats().Requests - rep.Calls
			if tt.off {
				if !rep.NoJournal || rep.JournalFile != "" || rep.Changed != 0 || reads != 0 {
					t.Errorf("NoJournal %v, JournalFile %q, Changed %d, %d reads", rep.NoJournal, rep.JournalFile, rep.Changed, reads)
				}
				return
			}
			j := journalPairs(t, filepath.Join(u.dir, rep.JournalFile))
			if rep.NoJournal || !maps.EqualFunc(j, want, slices.Equal) || rep.TagsRemoved != 600 || reads != rep.Calls {
				t.Errorf("NoJournal %v, TagsRemoved %d (want 600), %d reads for %d calls; journal %v", rep.NoJournal, rep.TagsRemoved, reads, rep.Calls, j)
			}
		})
	}
	t.Run("continue keeps --no-journal", func(t *testing.T) {
		_, u, in, _ := journalApp(t, 3000, 0)
		code, stdout, _ := u.run(nil, "run", "--json", "--no-journal", "--rate", "5", "--timeout", "1s", in)
		if rep := report(t, stdout); code != exitFailed || !strings.Contains(rep.Continue, "--no-journal") {
			t.Errorf("exit %d, continue %q", code, rep.Continue)
		}
	})
}
