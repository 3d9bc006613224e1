package main

// The command line as a user runs it: the built binary, in a folder of its
// own, with an environment of nothing but what each test gives it, real
// signals, and a terminal (a pty) where one matters; against the built-in
// emulator (--emulator) and against standIn, an HTTP stand-in of the API that
// answers as a test tells it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds the command once per test binary and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "removetag-cli-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "removetag")
		// -buildvcs=auto: stamp the commit where git can tell it (GOFLAGS may say otherwise).
		cmd := exec.Command("go", "build", "-buildvcs=auto", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// examples is the absolute path of examples/.
func examples(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("../../examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// user is a shell of a user: a working folder, a TMPDIR of its own, and the
// variables given (nothing of the test's own environment but PATH and HOME).
type user struct {
	t   *testing.T
	dir string
	tmp string
	env map[string]string
}

func newUser(t *testing.T, env map[string]string) *user {
	u := &user{t: t, dir: t.TempDir(), tmp: t.TempDir(), env: env}
	return u
}

func (u *user) environ() []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + u.dir, "TMPDIR=" + u.tmp}
	for k, v := range u.env {
		out = append(out, k+"="+v)
	}
	return out
}

// syncBuffer is a buffer safe to write and read at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running command.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
	elapsed        time.Duration
}

// start runs the binary with args, standard input from stdin (nil: none).
func (u *user) start(stdin io.Reader, args ...string) *proc {
	u.t.Helper()
	p := &proc{t: u.t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary(u.t), args...)
	p.cmd.Dir, p.cmd.Env, p.cmd.Stdin = u.dir, u.environ(), stdin
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		p.elapsed = time.Since(began)
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code < 0 {
			p.code = -1
		}
	}()
	u.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the command to end, at most limit.
func (p *proc) wait(limit time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(limit):
		p.t.Fatalf("still running after %s\nstdout: %s\nstderr: %s", limit, p.stdout, p.stderr)
		return -1
	}
}

// waitFor waits until the command's stderr matches re, at most limit.
func (p *proc) waitFor(re string, limit time.Duration) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(limit)
	for !rx.MatchString(p.stderr.String()) {
		select {
		case <-p.done:
			p.t.Fatalf("ended (exit %d) before stderr matched %q\nstdout: %s\nstderr: %s", p.code, re, p.stdout, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("stderr did not match %q within %s:\n%s", re, limit, p.stderr)
		}
	}
}

// runCLI runs the binary to its end (at most two minutes).
func (u *user) run(stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	u.t.Helper()
	p := u.start(stdin, args...)
	code = p.wait(2 * time.Minute)
	return code, p.stdout.String(), p.stderr.String()
}

// report decodes the --json answer of run.
func report(t *testing.T, stdout string) runReport {
	t.Helper()
	var r runReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("--json answer: %v\n%s", err, stdout)
	}
	return r
}

// readJSONL reads a file of records in JSON Lines.
func readJSONL(t *testing.T, path string) []wireRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []wireRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r wireRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// wireRecord is a record as the API takes it.
type wireRecord struct {
	Account string   `json:"To_Account"`
	Tags    []string `json:"Tags"`
}

// writeRows writes a CSV of n accounts user00000… with the tag vip.
func writeRows(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "user%05d,vip\n", i)
	}
	p := filepath.Join(dir, fmt.Sprintf("rows%d.csv", n))
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// standIn is an HTTP stand-in of the API: it answers each call with
// answer(accounts), or never (silent), and records the accounts of the calls
// it answered with success; a read (im_get_tag, the journal's) finds no tags.
type standIn struct {
	*httptest.Server
	mu       sync.Mutex
	calls    int
	accounts map[string][]string // account → tags removed
	code     func(accounts []string) int
	silent   bool
	html     bool
	quit     chan struct{} // closed at the end of the test: silent handlers return
}

func newStandIn(t *testing.T, code func([]string) int) *standIn {
	s := &standIn{accounts: map[string][]string{}, code: code, quit: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.quit)
		s.CloseClientConnections()
		s.Close()
	})
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	silent, html := s.silent, s.html
	s.mu.Unlock()
	if silent {
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return
	}
	if html {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>\n<head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center></body>\n</html>\n")
		return
	}
	var body struct {
		UserTags []wireRecord
		// im_get_tag
		ToAccount []string `json:"To_Account"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	var accounts []string
	for _, u := range body.UserTags {
		accounts = append(accounts, u.Account)
	}
	accounts = append(accounts, body.ToAccount...)
	code := 0
	if s.code != nil {
		code = s.code(accounts)
	}
	w.Header().Set("Content-Type", "application/json")
	if code != 0 {
		fmt.Fprintf(w, `{"ActionStatus":"FAIL","ErrorCode":%d,"ErrorInfo":"stand-in refuses with %d"}`, code, code)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/im_get_tag") {
		// The journal's read, before each removal: the stand-in keeps no tags.
		var b strings.Builder
		for i, a := range body.ToAccount {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"To_Account":%q,"Tags":[]}`, a)
		}
		fmt.Fprintf(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","UserTags":[%s]}`, b.String())
		return
	}
	s.mu.Lock()
	for _, u := range body.UserTags {
		s.accounts[u.Account] = append(s.accounts[u.Account], u.Tags...)
	}
	s.mu.Unlock()
	fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","UserTags":[]}`)
}

// set changes how the stand-in answers.
func (s *standIn) set(change func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change()
}

func (s *standIn) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// removed returns a copy of the accounts sent so far, with their tags.
func (s *standIn) removed() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.accounts)
}

// app is the environment of an app served by the stand-in.
func (s *standIn) app(extra ...string) map[string]string {
	env := map[string]string{"IM_SDKAPPID": "1400000000", "IM_SECRET_KEY": "stand-in-key-0123456789", "IM_ENDPOINT": s.URL}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// Finding 1: without credentials nothing looks like success: run and invoke
// exit 3 naming the variables and --emulator; the emulator runs when asked,
// and the report says so.
func TestFinding1NoCredentialsIsNoSuccess(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string // in stdout+stderr
	}{
		{"run", []string{"run", "--json", examples(t, "accounts.csv")}, exitConfig, []string{"IM_SDKAPPID", "IM_SECRET_KEY", "--emulator", `"Status": "configuration"`, `"ExitCode": 3`}},
		{"run text", []string{"run", examples(t, "accounts.csv")}, exitConfig, []string{"IM_SDKAPPID", "IM_SECRET_KEY", "--emulator"}},
		{"invoke", []string{"invoke", "--platform", "scf", examples(t, "events/scf-url.json")}, exitConfig, []string{"IM_SDKAPPID", "IM_SECRET_KEY", "--emulator"}},
		{"check", []string{"check"}, exitConfig, []string{"IM_SDKAPPID", "IM_SECRET_KEY"}},
		{"run --emulator", []string{"run", "--emulator", "--json", examples(t, "accounts.csv")}, exitOK, []string{`"Target": "emulator"`, `"Succeeded": 5000`, "BUILT-IN EMULATOR"}},
		{"run --emulator text", []string{"run", "--emulator", examples(t, "accounts.csv")}, exitOK, []string{"→ emulator: 5000 records: 5000 succeeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := newUser(t, nil).run(nil, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", w, out, errOut)
				}
			}
			if tt.code != exitOK && strings.Contains(out, `"Succeeded": 5000`) {
				t.Errorf("a refused run reports successes: %s", out)
			}
		})
	}
}

// Finding 2: the target is named before the first call; on a terminal a
// real run shows the app, the accounts and the distinct tags and goes on
// only on "yes"; --yes and a run without a terminal do not ask.
func TestFinding2TargetNamedAndConfirmed(t *testing.T) {
	in := examples(t, "accounts.csv")
	t.Run("no terminal", func(t *testing.T) {
		s := newStandIn(t, nil)
		code, out, errOut := newUser(t, s.app()).run(nil, "run", "--json", in)
		if code != exitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		rep := report(t, out)
		if rep.Target != "app 1400000000" || rep.App == nil || rep.App.Endpoint != s.URL || rep.App.Admin != "administrator" || rep.App.API != "v4/all_member_push/im_remove_tag" {
			t.Errorf("target %q %+v", rep.Target, rep.App)
		}
		want := fmt.Sprintf(`target: app 1400000000 in china at %s, admin "administrator", API v4/all_member_push/im_remove_tag`, s.URL)
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not name the target %q:\n%s", want, errOut)
		}
		if strings.Contains(errOut, "Go on?") {
			t.Error("asked without a terminal")
		}
		if len(s.removed()) != 5000 {
			t.Errorf("%d accounts reached the stand-in", len(s.removed()))
		}
	})
	for _, tt := range []struct {
		name, answer string
		args         []string
		code         int
		asked        bool
	}{
		{"terminal, yes", "yes\n", nil, exitOK, true},
		{"terminal, no", "no\n", nil, exitFailed, true},
		{"terminal, --yes", "", []string{"--yes"}, exitOK, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStandIn(t, nil)
			p := newUser(t, s.app("TERM", "xterm")).startPTY(80, append([]string{"run", in}, tt.args...)...)
			if tt.asked {
				p.waitOutput(`Go on\? Type yes`, 60*time.Second)
				screen := p.output()
				for _, w := range []string{"About to REMOVE TAGS in app 1400000000 in china at " + s.URL, `5000 records (accounts "user00000", "user00001", "user00002", …, "user04999")`, `distinct tags: "beta", "vip", "spring-sale"`} {
					if !strings.Contains(screen, w) {
						t.Errorf("the question lacks %q:\n%s", w, screen)
					}
				}
				if n := s.callCount(); n != 0 {
					t.Fatalf("%d calls before the answer", n)
				}
				io.WriteString(p.tty, tt.answer)
			}
			if code := p.wait(60 * time.Second); code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, p.output())
			}
			if got := strings.Contains(p.output(), "Go on?"); got != tt.asked {
				t.Errorf("asked: %v, want %v", got, tt.asked)
			}
			if sent := len(s.removed()); (tt.code == exitOK) != (sent == 5000) || (tt.code != exitOK && s.callCount() != 0) {
				t.Errorf("%d accounts sent (%d calls) after exit %d", sent, s.callCount(), tt.code)
			}
		})
	}
	t.Run("invoke", func(t *testing.T) {
		s := newStandIn(t, nil)
		code, out, errOut := newUser(t, s.app("REMOVETAG_HTTP_TOKEN", "example-token-change-me-0123456789")).run(nil, "invoke", "--platform", "scf", examples(t, "events/direct-job.json"))
		if !strings.Contains(errOut, "target: app 1400000000 in china at "+s.URL) {
			t.Errorf("exit %d; stderr does not name the target:\n%s\n%s", code, out, errOut)
		}
	})
}

// ptyProc is a command on a terminal.
type ptyProc struct {
	*proc
	tty *os.File
	out *syncBuffer
}

// startPTY runs the binary on a terminal of cols columns.
func (u *user) startPTY(cols uint16, args ...string) *ptyProc {
	u.t.Helper()
	p := &ptyProc{proc: &proc{t: u.t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}, out: &syncBuffer{}}
	p.cmd = exec.Command(binary(u.t), args...)
	p.cmd.Dir, p.cmd.Env = u.dir, u.environ()
	tty, err := pty.StartWithSize(p.cmd, &pty.Winsize{Cols: cols, Rows: 40})
	if err != nil {
		u.t.Fatal(err)
	}
	p.tty = tty
	copied := make(chan struct{})
	go func() {
		io.Copy(p.out, tty) // ends with EIO when the process is gone
		close(copied)
	}()
	go func() {
		defer close(p.done)
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		select {
		case <-copied:
		case <-time.After(5 * time.Second):
		}
	}()
	u.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		tty.Close()
	})
	return p
}

func (p *ptyProc) output() string { return p.out.String() }

func (p *ptyProc) waitOutput(re string, limit time.Duration) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(limit)
	for !rx.MatchString(p.output()) {
		if time.Now().After(deadline) {
			p.t.Fatalf("the terminal did not show %q within %s:\n%s", re, limit, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Finding 3: a dry run says so, sends nothing and counts nothing as succeeded.
func TestFinding3DryRun(t *testing.T) {
	s := newStandIn(t, nil)
	for _, tt := range []struct {
		name   string
		env    map[string]string
		args   []string
		target string
	}{
		{"emulator", nil, []string{"--emulator"}, "emulator"},
		{"app", s.app(), nil, "app 1400000000"},
		{"nothing configured", nil, nil, "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUser(t, tt.env)
			code, out, errOut := u.run(nil, append([]string{"run", "--dry-run", "--json", examples(t, "accounts.csv")}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			rep := report(t, out)
			if !rep.DryRun || rep.Status != statusDryRun || rep.Succeeded != 0 || rep.Calls != 0 || rep.Planned != 5000 || rep.PlannedCalls != 50 || rep.Target != tt.target {
				t.Errorf("report %+v", rep)
			}
			if !strings.Contains(out, `"DryRun": true`) {
				t.Errorf("no \"DryRun\": true in %s", out)
			}
			if s.callCount() != 0 {
				t.Errorf("%d calls reached the stand-in", s.callCount())
			}
			if entries, _ := os.ReadDir(u.dir); len(entries) != 0 {
				t.Errorf("a dry run left files: %v", entries)
			}
			code, out, _ = u.run(nil, append([]string{"run", "--dry-run", examples(t, "accounts.csv")}, tt.args...)...)
			if code != exitOK || !strings.Contains(out, "dry run, nothing sent: 5000 records would go to "+tt.target+" in 50 calls") || strings.Contains(out, "succeeded") {
				t.Errorf("text summary (exit %d): %s", code, out)
			}
		})
	}
}

// Finding 4: a configuration refusal exits 3; its records stay pending
// (none failed), in the pending file; after the fix the continue command
// sends them all.
func TestFinding4ConfigurationRefusal(t *testing.T) {
	for _, tt := range []struct {
		code int
		hint string
	}{
		{70009, "IM_SECRET_KEY"},
		{90045, "Premium edition"},
		{70016, "IM_REGION"},
		{90009, "IM_ADMIN"},
	} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			refusing := newStandIn(t, func([]string) int { return tt.code })
			u := newUser(t, refusing.app())
			in := writeRows(t, u.dir, 1000)
			code, out, errOut := u.run(nil, "run", "--json", in)
			if code != exitConfig {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, exitConfig, out, errOut)
			}
			rep := report(t, out)
			if rep.Status != statusRefused || rep.Total != 1000 || rep.Failed != 0 || rep.Pending != 1000 || rep.FailedFile != "" {
				t.Errorf("report: status %s, %d total, %d failed, %d pending, failed file %q", rep.Status, rep.Total, rep.Failed, rep.Pending, rep.FailedFile)
			}
			if !strings.Contains(rep.Error, fmt.Sprint(tt.code)) || !strings.Contains(rep.Error, tt.hint) || !strings.Contains(errOut, tt.hint) {
				t.Errorf("error %q (stderr %q) does not say %d and %q", rep.Error, errOut, tt.code, tt.hint)
			}
			pending := readJSONL(t, filepath.Join(u.dir, rep.PendingFile))
			if len(pending) != 1000 {
				t.Fatalf("pending file: %d records, want 1000", len(pending))
			}
			// The fix: an app that accepts the calls; continue as the report says.
			fixed := newStandIn(t, nil)
			u.env = fixed.app()
			args := strings.Fields(rep.Continue)
			if args[0] != "removetag" || args[1] != "run" {
				t.Fatalf("continue command %q", rep.Continue)
			}
			code, out, errOut = u.run(nil, append(args[1:], "--json")...)
			if code != exitOK || report(t, out).Succeeded != 1000 || len(fixed.removed()) != 1000 {
				t.Errorf("continue: exit %d, %d accounts sent\n%s\n%s", code, len(fixed.removed()), out, errOut)
			}
		})
	}
}

// Finding 5: a run stopped by its timeout leaves a pending file and a failed
// file (with the tags) that account for every record; Total is the input's
// count; the command it names continues, and together the runs send every account.
func TestFinding5StopIsResumable(t *testing.T) {
	// Every other call (the accounts of odd hundreds) is refused for good,
	// whichever calls the run gets to make before it stops.
	bad := func(a string) bool {
		var n int
		fmt.Sscanf(a, "user%d", &n)
		return n/100%2 == 1
	}
	s := newStandIn(t, func(accounts []string) int {
		if slices.ContainsFunc(accounts, bad) {
			return 70107 // permanent: that call's records fail
		}
		return 0
	})
	u := newUser(t, s.app())
	in := writeRows(t, u.dir, 5000)
	// 50 calls at 20 a second take 2.5 s: a 1 s budget stops the run.
	code, out, errOut := u.run(nil, "run", "--json", "--rate", "20", "--timeout", "1s", "--out", "left", in)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	rep := report(t, out)
	f := rep.Files[0]
	if f.Total != 5000 || rep.Total != 5000 || f.Succeeded+f.Failed+f.Pending != 5000 || f.Pending == 0 || f.Failed == 0 || f.Failed%100 != 0 {
		t.Fatalf("counts: %+v", f.Counts)
	}
	failed := readJSONL(t, filepath.Join(u.dir, rep.FailedFile))
	pending := readJSONL(t, filepath.Join(u.dir, rep.PendingFile))
	if len(failed) != int(f.Failed) || len(pending) != int(f.Pending) {
		t.Errorf("files: %d failed, %d pending records; the report says %d and %d", len(failed), len(pending), f.Failed, f.Pending)
	}
	for _, r := range failed {
		if !bad(r.Account) || !slices.Equal(r.Tags, []string{"vip"}) {
			t.Errorf("the failed file holds %+v: want refused accounts with their tag", r)
			break
		}
	}
	if !strings.HasPrefix(rep.PendingFile, "left/") || !strings.Contains(rep.Continue, "--rate 20 --out left "+rep.PendingFile) {
		t.Errorf("pending file %q, continue %q", rep.PendingFile, rep.Continue)
	}
	// Every account is accounted for: succeeded (sent), failed or pending.
	sent := s.removed()
	seen := map[string]bool{}
	for a := range sent {
		seen[a] = true
	}
	for _, r := range append(failed, pending...) {
		seen[r.Account] = true
	}
	if len(seen) != 5000 || len(sent) < int(f.Succeeded) {
		t.Errorf("%d of 5000 accounts accounted for; %d sent, %d succeeded", len(seen), len(sent), f.Succeeded)
	}
	_, textOut, _ := u.run(nil, "run", "--rate", "100", "--dry-run", rep.PendingFile)
	if !strings.Contains(textOut, fmt.Sprintf("%d records would go", f.Pending)) {
		t.Errorf("the pending file does not read back as %d records: %s", f.Pending, textOut)
	}
	args := strings.Fields(rep.Continue)
	code, out, errOut = u.run(nil, append(args[1:], "--json")...)
	// The refused hundreds among the pending ones fail again; the rest succeed.
	if cont := report(t, out); code != exitFailed || cont.Pending != 0 || cont.Succeeded+cont.Failed != f.Pending || cont.Total != f.Pending {
		t.Fatalf("continue: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := len(s.removed()); got != 2500 {
		t.Errorf("%d accounts sent by both runs, want the 2500 not refused", got)
	}

	// The text summary names the files and the command.
	code, textOut, _ = u.run(nil, "run", "--rate", "20", "--timeout", "1s", in)
	for _, w := range []string{"pending records: removetag-", "failed records", "continue with: removetag run --rate 20 removetag-", "ErrorCode 70107"} {
		if code != exitFailed || !strings.Contains(textOut, w) {
			t.Errorf("exit %d; summary lacks %q:\n%s", code, w, textOut)
		}
	}
}

// Finding 6: an input without records is an error (exit 2) unless
// --allow-empty, and a first row that looks like a header of another name is
// refused with a hint unless --header or --no-header says what it is;
// nothing is sent.
func TestFinding6EmptyInputAndHeaders(t *testing.T) {
	for _, tt := range []struct {
		name, content string
		args          []string
		code          int
		total         int64
		hint          string
	}{
		{"nothing on stdin", "", []string{"--format", "csv", "-"}, exitInvalid, 0, "--allow-empty"},
		{"header only", "To_Account,Tag\n", []string{"--format", "csv", "-"}, exitInvalid, 0, "--allow-empty"},
		{"blank lines", "\n\n  \n", []string{"--format", "jsonl", "-"}, exitInvalid, 0, "--allow-empty"},
		{"empty, allowed", "", []string{"--allow-empty", "--format", "csv", "-"}, exitOK, 0, ""},
		{"UserID,Tag", "UserID,Tag\nu1,vip\n", []string{"--format", "csv", "-"}, exitInvalid, 2, "--header"},
		{"Account,Tags", "Account,Tags\nu1,vip\n", []string{"--format", "csv", "-"}, exitInvalid, 2, "--no-header"},
		{"UserID,Tag --header", "UserID,Tag\nu1,vip\n", []string{"--header", "--format", "csv", "-"}, exitOK, 1, ""},
		{"UserID,Tag --no-header", "UserID,Tag\nu1,vip\n", []string{"--no-header", "--format", "csv", "-"}, exitOK, 2, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := newUser(t, nil).run(strings.NewReader(tt.content), append([]string{"run", "--emulator", "--json"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tt.code, out, errOut)
			}
			rep := report(t, out)
			if rep.Total != tt.total || (tt.code != exitOK && (rep.Succeeded != 0 || rep.Calls != 0)) {
				t.Errorf("report %+v", rep)
			}
			if tt.code == exitInvalid && (rep.Status != statusInvalid || !strings.Contains(errOut, tt.hint)) {
				t.Errorf("status %s; stderr %q does not name %s", rep.Status, errOut, tt.hint)
			}
		})
	}
}

// Finding 7: SIGINT and SIGTERM both end the run with its report and the
// file of pending records, and leave no copy of standard input behind.
func TestFinding7Signals(t *testing.T) {
	rows, err := os.ReadFile(writeRows(t, t.TempDir(), 5000))
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			u := newUser(t, nil)
			// 50 calls at 5 a second: 10 s, far more than the test waits.
			p := u.start(bytes.NewReader(rows), "run", "--emulator", "--json", "--rate", "5", "--format", "csv", "-")
			p.waitFor(`target: the BUILT-IN EMULATOR`, 60*time.Second)
			time.Sleep(500 * time.Millisecond)
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(60 * time.Second); code != exitFailed {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, p.stdout, p.stderr)
			}
			rep := report(t, p.stdout.String())
			f := rep.Files[0]
			if f.Total != 5000 || f.Pending == 0 || f.Succeeded+f.Failed+f.Pending != 5000 || f.StopReason != "canceled" {
				t.Errorf("report %+v, stopped %q", f.Counts, f.Stopped)
			}
			if got := len(readJSONL(t, filepath.Join(u.dir, rep.PendingFile))); got != int(f.Pending) {
				t.Errorf("pending file: %d records, report %d", got, f.Pending)
			}
			left, _ := filepath.Glob(filepath.Join(u.tmp, "*"))
			if len(left) != 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
		})
	}
}

// Finding 8: --rate is checked as IM_RATE_LIMIT is: from 1 to the quota.
func TestFinding8Rate(t *testing.T) {
	for _, tt := range []struct {
		rate  string
		quota string
		code  int
	}{
		{"0", "", exitInvalid},
		{"-5", "", exitInvalid},
		{"0.5", "", exitInvalid},
		{"101", "", exitInvalid},
		{"150", "", exitInvalid},
		{"80", "50", exitInvalid},
		{"abc", "", exitInvalid},
		{"50", "", exitOK},
		{"100", "", exitOK},
		{"50", "50", exitOK},
	} {
		t.Run(tt.rate+"/"+tt.quota, func(t *testing.T) {
			env := map[string]string{}
			if tt.quota != "" {
				env["IM_RATE_LIMIT"] = tt.quota
			}
			code, out, errOut := newUser(t, env).run(nil, "run", "--emulator", "--rate", tt.rate, examples(t, "accounts.jsonl"))
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tt.code, out, errOut)
			}
			if tt.code == exitInvalid && !strings.Contains(errOut, "--rate") {
				t.Errorf("stderr does not name --rate: %s", errOut)
			}
		})
	}
}

// Finding 9: an endpoint that does not answer is said so within seconds
// during a run, and check separates "could not reach" from a refusal,
// honours its --timeout and keeps an HTML page out of its line.
func TestFinding9Unanswered(t *testing.T) {
	t.Run("run, silent endpoint", func(t *testing.T) {
		s := newStandIn(t, nil)
		s.set(func() { s.silent = true })
		u := newUser(t, s.app())
		p := u.start(nil, "run", "--json", examples(t, "accounts.csv"))
		// The default retries take about a minute before the run gives up.
		began := time.Now()
		p.waitFor(`no answer from `+regexp.QuoteMeta(s.URL)+` for \d+s`, 20*time.Second)
		t.Logf("said after %s", time.Since(began).Round(100*time.Millisecond))
		p.cmd.Process.Signal(syscall.SIGINT)
		if code := p.wait(60 * time.Second); code != exitFailed {
			t.Fatalf("exit %d\n%s\n%s", code, p.stdout, p.stderr)
		}
		if rep := report(t, p.stdout.String()); rep.Pending != 5000 || rep.PendingFile == "" {
			t.Errorf("report: %d pending, file %q", rep.Pending, rep.PendingFile)
		}
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tt := range []struct {
		name      string
		endpoint  func(*standIn) string
		setup     func(*standIn)
		timeout   string
		minTime   time.Duration
		code      int
		failAt    string
		want, not string
	}{
		{"silent", nil, func(s *standIn) { s.set(func() { s.silent = true }) }, "8s", 7500 * time.Millisecond, exitFailed, checkReach, "could not reach", "SDKAppID"},
		{"refused connection", func(*standIn) string { return closedURL }, nil, "2s", 0, exitFailed, checkReach, "could not reach " + closedURL, "region"},
		{"HTML page", nil, func(s *standIn) { s.set(func() { s.html = true }) }, "5s", 0, exitFailed, checkReach, "HTTP 502 with an HTML page", "<"},
		{"wrong key", nil, nil, "5s", 0, exitConfig, checkKey, "70009", "could not reach"},
	} {
		t.Run("check, "+tt.name, func(t *testing.T) {
			s := newStandIn(t, func([]string) int { return 70009 })
			if tt.setup != nil {
				tt.setup(s)
			}
			env := s.app()
			if tt.endpoint != nil {
				env["IM_ENDPOINT"] = tt.endpoint(s)
			}
			u := newUser(t, env)
			p := u.start(nil, "check", "--json", "--timeout", tt.timeout)
			code := p.wait(60 * time.Second)
			if code != tt.code || p.elapsed < tt.minTime {
				t.Fatalf("exit %d after %s, want %d after at least %s\n%s\n%s", code, p.elapsed, tt.code, tt.minTime, p.stdout, p.stderr)
			}
			var rep checkReport
			if err := json.Unmarshal([]byte(p.stdout.String()), &rep); err != nil {
				t.Fatal(err, p.stdout)
			}
			for _, l := range rep.Lines {
				if l.Check == tt.failAt && (l.OK || !strings.Contains(l.Detail, tt.want) || strings.Contains(l.Detail, tt.not)) {
					t.Errorf("%s: %+v; want a failure saying %q, not %q", l.Check, l, tt.want, tt.not)
				}
				if strings.Contains(l.Detail, "\n") || len(l.Detail) > 300 {
					t.Errorf("%s: a detail of %d bytes: %q", l.Check, len(l.Detail), l.Detail)
				}
			}
		})
	}
}

// Finding 10: a progress line that fits the terminal and is redrawn in
// place; no escape codes where the terminal cannot take them; --version;
// --help exits 0; flags anywhere; one JSON shape.
func TestFinding10Conventions(t *testing.T) {
	escape := regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")
	t.Run("progress fits 80 columns", func(t *testing.T) {
		p := newUser(t, map[string]string{"TERM": "xterm"}).startPTY(80, "run", "--emulator", "--rate", "25", examples(t, "accounts.csv"))
		if code := p.wait(120 * time.Second); code != exitOK {
			t.Fatalf("exit %d\n%s", code, p.output())
		}
		out := p.output()
		redraws := 0
		for _, line := range strings.Split(out, "\n") {
			segs := strings.Split(line, "\r")
			for _, seg := range segs {
				seg = escape.ReplaceAllString(seg, "")
				if n := len([]rune(seg)); n >= 80 && strings.Contains(seg, "accounts,") {
					t.Errorf("a progress line of %d columns: %q", n, seg)
				}
			}
			if strings.Contains(line, "accounts,") {
				redraws += len(segs) - 1
			}
		}
		if redraws < 3 {
			t.Errorf("the progress line was redrawn in place %d times:\n%q", redraws, out)
		}
	})
	t.Run("TERM=dumb", func(t *testing.T) {
		p := newUser(t, map[string]string{"TERM": "dumb"}).startPTY(80, "run", "--emulator", "--rate", "25", examples(t, "accounts.csv"))
		if code := p.wait(120 * time.Second); code != exitOK {
			t.Fatalf("exit %d\n%s", code, p.output())
		}
		if strings.Contains(p.output(), "\x1b") {
			t.Errorf("escape codes on a dumb terminal: %q", p.output())
		}
	})
	t.Run("not a terminal", func(t *testing.T) {
		code, out, errOut := newUser(t, map[string]string{"TERM": "xterm"}).run(nil, "run", "--emulator", examples(t, "accounts.csv"))
		if code != exitOK || strings.ContainsAny(out+errOut, "\x1b\r") {
			t.Errorf("exit %d; control characters in %q %q", code, out, errOut)
		}
	})
	t.Run("--version", func(t *testing.T) {
		code, out, errOut := newUser(t, nil).run(nil, "--version")
		if code != exitOK || !strings.HasPrefix(out, "removetag ") {
			t.Fatalf("exit %d: %q %q", code, out, errOut)
		}
		// The commit where the toolchain could stamp it (describeBuild's test covers both forms).
		if !regexp.MustCompile(`^removetag \S+ commit ([0-9a-f]{40}|unknown)`).MatchString(out) {
			t.Errorf("--version %q names no commit", out)
		}
	})
	for _, args := range [][]string{{"--help"}, {"help"}, {"run", "--help"}, {"invoke", "--help"}, {"check", "--help"}, {"run", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := newUser(t, nil).run(nil, args...)
			if code != exitOK || !strings.Contains(out, "Usage:") {
				t.Errorf("exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"unknown command", []string{"frobnicate"}, exitInvalid},
		{"unknown flag", []string{"run", "--frobnicate", "x.csv"}, exitInvalid},
		{"flags after the files", []string{"run", examples(t, "accounts.csv"), "--emulator", "--json"}, exitOK},
		{"flags between the files", []string{"run", examples(t, "accounts.csv"), "--emulator", examples(t, "accounts.jsonl"), "--json"}, exitOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := newUser(t, nil).run(nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tt.code, out, errOut)
			}
		})
	}
	t.Run("a cut gzip says gzip", func(t *testing.T) {
		gz, err := os.ReadFile(examples(t, "accounts.csv.gz"))
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := newUser(t, nil).run(bytes.NewReader(gz[:len(gz)/2]), "run", "--emulator", "--json", "--format", "csv", "-")
		if code != exitInvalid || !strings.Contains(errOut, "gzip") || !strings.Contains(report(t, out).Error, "gzip") {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})
	t.Run("one JSON shape", func(t *testing.T) {
		u := newUser(t, nil)
		bad := filepath.Join(u.dir, "bad.csv")
		os.WriteFile(bad, []byte("u1,a\n,b\n"), 0o600)
		for _, tt := range []struct {
			name   string
			args   []string
			files  int
			status string
		}{
			{"one file", []string{"--emulator", examples(t, "accounts.csv")}, 1, statusDone},
			{"two files", []string{"--emulator", examples(t, "accounts.csv"), examples(t, "accounts.jsonl")}, 2, statusDone},
			{"invalid input", []string{"--emulator", examples(t, "accounts.csv"), bad}, 2, statusInvalid},
			{"configuration", []string{examples(t, "accounts.csv")}, 1, statusConfig},
			{"no file", []string{"--emulator"}, 0, statusInvalid},
		} {
			_, out, _ := u.run(nil, append([]string{"run", "--json"}, tt.args...)...)
			var shape map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &shape); err != nil {
				t.Errorf("%s: not one JSON object: %v\n%s", tt.name, err, out)
				continue
			}
			rep := report(t, out)
			if len(rep.Files) != tt.files || rep.Status != tt.status || shape["Files"] == nil || shape["Target"] == nil {
				t.Errorf("%s: %d files, status %s:\n%s", tt.name, len(rep.Files), rep.Status, out)
			}
			if tt.status == statusInvalid && tt.files == 2 && (rep.Files[1].Errors == nil || rep.Files[1].Errors.Count != 1) {
				t.Errorf("%s: the problems are not in the report: %s", tt.name, out)
			}
		}
	})
}
