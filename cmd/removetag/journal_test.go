package main

// The journal of `removetag run`, as a user meets it: the built binary on a
// terminal, an app served by the IM emulator in the test process (so that its
// store outlives each run), real signals.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
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

// removedExactly checks that the journals together hold exactly the pairs
// the store lost: for every account of want (the listed tags it carried),
// those it no longer carries, each in one journal only.
func removedExactly(t *testing.T, emu *emulator.Server, want map[string][]string, journals ...map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, j := range journals {
		for a, tags := range j {
			for _, tg := range tags {
				if slices.Contains(got[a], tg) {
					t.Errorf("%s/%s is in two journals", a, tg)
				}
				got[a] = append(got[a], tg)
			}
		}
	}
	bad := 0
	for _, a := range slices.Sorted(maps.Keys(want)) {
		var gone []string
		for _, tg := range want[a] {
			if !slices.Contains(emu.Tags(a), tg) {
				gone = append(gone, tg)
			}
		}
		slices.Sort(got[a])
		if !slices.Equal(got[a], gone) && bad < 10 {
			t.Errorf("%s: the journals hold %v, the store lost %v", a, got[a], gone)
			bad++
		}
		delete(got, a)
	}
	if len(got) != 0 {
		t.Errorf("the journals hold accounts no run listed: %v", got)
	}
}

// killMidRun starts a journaled run of in on a terminal-less shell, kills it
// with SIGKILL once the emulator has applied some of its calls (each answered
// 300 ms after), and returns the journal its log names, not made yet.
func killMidRun(t *testing.T, emu *emulator.Server, u *user, in string) string {
	t.Helper()
	p := u.start(nil, "run", "--yes", "--rate", "10", in)
	waitApplied(t, emu, p, 8)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(30 * time.Second)
	logs, _ := filepath.Glob(filepath.Join(u.dir, "removetag-*-journal-log.jsonl"))
	if len(logs) != 1 {
		t.Fatalf("after SIGKILL the folder holds logs %v, want one\n%s", logs, p.stderr)
	}
	j := strings.TrimSuffix(logs[0], "-log.jsonl") + ".jsonl"
	if _, err := os.Stat(j); err == nil {
		t.Fatalf("%s exists: the killed run merged", j)
	}
	return j
}

// waitApplied waits until the emulator has applied n calls, while p runs.
func waitApplied(t *testing.T, emu *emulator.Server, p *proc, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for emu.Stats().Applied < n {
		select {
		case <-p.done:
			t.Fatalf("ended (exit %d) before %d calls were applied\n%s", p.code, n, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls not applied within 60s\n%s", n, p.stderr)
		}
	}
}

// mergedLine matches what a run or an undo says of a log it merged.
var mergedLine = regexp.MustCompile(`merged removetag-\S+-journal-log\.jsonl\.merging-0, the journal log of a run that ended before merging it, into (\S+): (\d+) accounts changed, (\d+) tags removed \((\d+) pairs of unknown outcome read again\)`)

// TestJournalKilled kills a journaled run with SIGKILL while calls are in
// flight (its log is left, unmerged: nothing of it in a journal), then:
// the next run with the same --out merges the log into the killed run's
// journal before it sends anything, reading the accounts of unknown outcome,
// says so, and the two journals hold exactly the pairs the store lost; an
// undo of both restores the store tag for tag. Or the undo of the killed
// run's journal merges it first, and restores the store exactly.
func TestJournalKilled(t *testing.T) {
	for _, next := range []string{"run", "undo"} {
		t.Run(next, func(t *testing.T) {
			emu, u, in, want := journalApp(t, 6000, 300*time.Millisecond)
			before := map[string][]string{}
			for a := range want {
				before[a] = emu.Tags(a)
			}
			journal1 := killMidRun(t, emu, u, in)
			applied := emu.Stats().Applied
			var args []string
			if next == "run" {
				args = []string{"run", "--json", in}
			} else {
				args = []string{"undo", "--json", filepath.Base(journal1)}
			}
			code, stdout, stderr := u.run(nil, args...)
			if code != exitOK {
				t.Fatalf("%s: exit %d\n%s\n%s", next, code, stdout, stderr)
			}
			m := mergedLine.FindStringSubmatch(stderr)
			if m == nil || filepath.Base(m[1]) != filepath.Base(journal1) {
				t.Fatalf("%s does not say it merged the log into %s:\n%s", next, journal1, stderr)
			}
			if m[4] == "0" {
				t.Errorf("no pair of unknown outcome: the kill cut nothing, the test shows less than it should\n%s", stderr)
			}
			if logs, _ := filepath.Glob(filepath.Join(u.dir, "*journal-log*")); len(logs) != 0 {
				t.Errorf("logs left: %v", logs)
			}
			t.Logf("killed after %d calls applied: %s", applied, m[0])
			if next == "undo" {
				// The killed run's journal was made whole, then undone.
				for a, tags := range before {
					if got := emu.Tags(a); !slices.Equal(got, tags) {
						t.Fatalf("%s holds %v after the undo, %v before the killed run", a, got, tags)
					}
				}
				return
			}
			j1 := journalPairs(t, journal1)
			if fmt.Sprint(len(j1)) != m[2] || fmt.Sprint(countPairs(j1)) != m[3] {
				t.Errorf("merged %s accounts, %s tags; the journal holds %d and %d", m[2], m[3], len(j1), countPairs(j1))
			}
			rep := report(t, stdout)
			j2 := journalPairs(t, filepath.Join(u.dir, rep.JournalFile))
			removedExactly(t, emu, want, j1, j2)
			for _, j := range []string{journal1, rep.JournalFile} {
				if code, stdout, stderr := u.run(nil, "undo", "--json", filepath.Base(j)); code != exitOK {
					t.Fatalf("undo %s: exit %d\n%s\n%s", j, code, stdout, stderr)
				}
			}
			for a, tags := range before {
				if got := emu.Tags(a); !slices.Equal(got, tags) {
					t.Fatalf("%s holds %v after the undos, %v before the runs", a, got, tags)
				}
			}
		})
	}
}

// TestJournalLogOfARunGoing: a run started while another journaled run
// writes its log in the same --out leaves that log alone (its lock is held),
// says so, and the run going merges its own log when it stops: its journal
// holds exactly what the store lost.
func TestJournalLogOfARunGoing(t *testing.T) {
	emu, u, in, want := journalApp(t, 6000, 300*time.Millisecond)
	a := u.start(nil, "run", "--yes", "--json", "--rate", "10", in)
	waitApplied(t, emu, a, 3)
	logs, _ := filepath.Glob(filepath.Join(u.dir, "removetag-*-journal-log.jsonl"))
	for len(logs) == 0 {
		time.Sleep(20 * time.Millisecond)
		logs, _ = filepath.Glob(filepath.Join(u.dir, "removetag-*-journal-log.jsonl"))
	}
	emu.SetTags("other", "x")
	other := filepath.Join(u.dir, "other.csv")
	if err := os.WriteFile(other, []byte("other,x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := u.run(nil, "run", "--json", other)
	if code != exitOK || !strings.Contains(stderr, filepath.Base(logs[0])+": the journal log of a run still going") {
		t.Fatalf("exit %d; stderr does not say the log of the run going is left:\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(logs[0]); err != nil {
		t.Fatalf("the log of the run going: %v", err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := a.wait(60 * time.Second); code != exitFailed && code != exitOK { // ended by the signal, or just before it
		t.Fatalf("exit %d\n%s", code, a.stderr)
	}
	rep := report(t, a.stdout.String())
	removedExactly(t, emu, want, journalPairs(t, filepath.Join(u.dir, rep.JournalFile)))
	if logs, _ := filepath.Glob(filepath.Join(u.dir, "*journal-log*")); len(logs) != 0 {
		t.Errorf("logs left: %v", logs)
	}
}

// TestJournalLeftoverLogs: what a run does with each kind of journal log it
// finds left in --out, before it sends anything: a log of this app is merged
// into its run's journal (from the length its name says when a merge was
// begun and cut short, so that nothing is in the journal twice), a pair of
// unknown outcome journaled only if a read finds it gone; a log of another
// app is left for a run on it, one of the built-in emulator (whose store
// ended with its run) deleted, one without the first line naming its app left.
func TestJournalLeftoverLogs(t *testing.T) {
	const body = `{"I":"b1","UserTags":[{"To_Account":"k1","Tags":["a","b"]}]}
{"O":"b1","S":"ok"}
{"I":"b2","UserTags":[{"To_Account":"k2","Tags":["a"]},{"To_Account":"k3","Tags":["a"]}]}
`
	const merged = `{"To_Account":"k1","Tags":["a","b"]}` + "\n" + `{"To_Account":"k2","Tags":["a"]}` + "\n"
	const earlier = `{"To_Account":"e1","Tags":["z"]}` + "\n"
	emu := emulator.NewServer(emulator.Config{})
	t.Cleanup(emu.Close)
	c := emu.Config()
	vars := map[string]string{"IM_SDKAPPID": fmt.Sprint(c.SDKAppID), "IM_SECRET_KEY": c.Key, "IM_ENDPOINT": emu.URL()}
	head := func(app logApp) string {
		line, _ := json.Marshal(logHead{Run: &app})
		return string(line) + "\n"
	}
	this := logApp{SDKAppID: c.SDKAppID, Endpoint: emu.URL(), API: imapi.AllMemberPush}
	for _, tt := range []struct {
		name, log, journal string // the log's name after the stamp, the journal before
		content            string
		journalAfter       string // "-": none
		logLeft            bool
		say                string
	}{
		{"no merge begun", "-journal-log.jsonl", "", head(this) + body, merged, false, "2 accounts changed, 3 tags removed (2 pairs of unknown outcome read again)"},
		{"merge cut short", "-journal-log.jsonl.merging-" + fmt.Sprint(len(earlier)), earlier + `{"To_Account":"k1","Ta`, head(this) + body, earlier + merged, false, "into "},
		{"another app", "-journal-log.jsonl", "", head(logApp{SDKAppID: 1400000999, Endpoint: "https://console.tim.qq.com"}) + body, "-", true, "not this target: left"},
		{"the built-in emulator", "-journal-log.jsonl", "", head(logApp{Emulator: true, API: imapi.AllMemberPush}) + body, "-", false, "built-in emulator, whose store ended with it"},
		{"no first line naming the app", "-journal-log.jsonl", "", body, "-", true, "not a journal log this removetag reads"},
		{"nothing removed", "-journal-log.jsonl", "", head(this), "-", false, "0 accounts changed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emu.SetTags("k1", "keep")
			emu.SetTags("k2", "keep")
			emu.SetTags("k3", "a", "keep")
			emu.SetTags("other", "x")
			dir := t.TempDir()
			log := filepath.Join(dir, "removetag-20261201-101500"+tt.log)
			journal := filepath.Join(dir, "removetag-20261201-101500-journal.jsonl")
			if err := os.WriteFile(log, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour) // no call of that run can still be applied
			if err := os.Chtimes(log, old, old); err != nil {
				t.Fatal(err)
			}
			if tt.journal != "" {
				if err := os.WriteFile(journal, []byte(tt.journal), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut bytes.Buffer
			in := writeFile(t, "other.csv", "other,x\n")
			if code := run(context.Background(), []string{"run", "--out", dir, in}, nil, &out, &errOut, env(vars)); code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.say) {
				t.Errorf("stderr lacks %q:\n%s", tt.say, errOut.String())
			}
			got, err := os.ReadFile(journal)
			switch {
			case tt.journalAfter == "-" && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("a journal was made: %q (%v)", got, err)
			case tt.journalAfter != "-" && string(got) != tt.journalAfter:
				t.Errorf("the journal holds %q, want %q (%v)", got, tt.journalAfter, err)
			}
			if _, err := os.Stat(log); (err == nil) != tt.logLeft {
				t.Errorf("log left: %v, want %v", err == nil, tt.logLeft)
			}
			if tags := emu.Tags("other"); len(tags) != 0 {
				t.Errorf("the run did not go on: other holds %v", tags)
			}
		})
	}
}
