package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	good := writeFile(t, "in.csv", "To_Account,Tag\nu1,a,b\nu2,a\nu1,c\n")
	bad := writeFile(t, "bad.csv", "u1,a\n,b\nu3\n")
	tests := []struct {
		name       string
		args       []string
		stdin      string
		env        map[string]string
		wantCode   int
		wantOut    string
		wantErrOut string
	}{
		{"emulator", []string{"run", "--emulator", good}, "", nil, exitOK, "3 records: 3 succeeded", "BUILT-IN"},
		{"stdin needs a format", []string{"run", "--emulator", "-"}, "u1,a\n", nil, exitInvalid, "", "--format"},
		{"stdin jsonl", []string{"run", "--emulator", "--format", "jsonl", "-"}, `{"To_Account":"u1","Tags":["a"]}` + "\n", nil, exitOK, "1 records: 1 succeeded", ""},
		{"dry run makes no call", []string{"run", "--dry-run", good}, "", nil, exitOK, "dry run, nothing sent: 3 records", "call 1: im_remove_tag with 2 accounts"},
		{"invalid input", []string{"run", "--emulator", good, bad}, "", nil, exitInvalid, "", "line 2"},
		{"unknown extension", []string{"run", "--emulator", writeFile(t, "x.txt", "u1,a\n")}, "", nil, exitInvalid, "", ".txt"},
		{"bad config", []string{"run", good}, "", map[string]string{"IM_SDKAPPID": "abc", "IM_SECRET_KEY": "s3cret"}, exitConfig, "", "IM_SDKAPPID"},
		{"no credentials", []string{"run", good}, "", nil, exitConfig, "", "--emulator"},
		{"bad rate", []string{"run", "--emulator", good}, "", map[string]string{"IM_RATE_LIMIT": "500"}, exitConfig, "", "IM_RATE_LIMIT"},
		{"no files", []string{"run"}, "", nil, exitInvalid, "", "no input"},
		{"unknown command", []string{"frobnicate"}, "", nil, exitInvalid, "", "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := tt.args
			if args[0] == "run" {
				args = append(args, "--out", t.TempDir()) // the journal goes there, not in the package
			}
			code := run(context.Background(), args, strings.NewReader(tt.stdin), &out, &errOut, env(tt.env))
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(errOut.String(), tt.wantErrOut) {
				t.Errorf("stderr = %q, want it to contain %q", errOut.String(), tt.wantErrOut)
			}
			if strings.Contains(out.String()+errOut.String(), "s3cret") {
				t.Error("the secret key was printed")
			}
		})
	}
}

func TestRunAgainstService(t *testing.T) {
	emu := emulator.NewServer(emulator.Config{})
	defer emu.Close()
	emu.Seed([]records.Record{{Account: "u1", Tags: []string{"a", "keep"}}, {Account: "u2", Tags: []string{"a"}}})
	emu.Script(emulator.Fault{}, emulator.Fault{Code: 70107})
	cfg := emu.Config()
	in := writeFile(t, "in.jsonl", `{"To_Account":"u1","Tags":["a"]}`+"\n")
	var out, errOut bytes.Buffer
	e := env(map[string]string{"IM_SDKAPPID": "1400000000", "IM_SECRET_KEY": cfg.Key, "IM_ENDPOINT": emu.URL()})
	if code := run(context.Background(), []string{"run", "--json", "--out", t.TempDir(), in}, nil, &out, &errOut, e); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep imapi.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Succeeded != 1 {
		t.Fatalf("report %s: %v", out.String(), err)
	}
	if got := emu.Tags("u1"); len(got) != 1 || got[0] != "keep" {
		t.Errorf("u1 tags = %v", got)
	}
	// The second call is refused for good: exit status 1 and the failure reported.
	out.Reset()
	if code := run(context.Background(), []string{"run", "--out", t.TempDir(), in}, nil, &out, &errOut, e); code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(out.String(), "70107") {
		t.Errorf("report %q does not name the error", out.String())
	}
	if strings.Contains(out.String()+errOut.String(), cfg.Key) {
		t.Error("the key was printed")
	}
}

// TestExampleInputs runs every sample input in examples/ on the emulator.
func TestExampleInputs(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.*")
	if err != nil || len(files) < 5 {
		t.Fatalf("examples: %v %v", files, err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"run", "--emulator", "--out", t.TempDir()}, files...), nil, &out, &errOut, env(nil)); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if got := strings.Count(out.String(), "../../examples/"); got != len(files) || strings.Count(out.String(), "0 failed, 0 pending;") != len(files)+1 {
		t.Errorf("%d of %d inputs fully succeeded:\n%s", got, len(files), out.String())
	}
}

// TestInvokeExamples runs the handler of each platform on every sample event of
// examples/events against the local stand-ins.
func TestInvokeExamples(t *testing.T) {
	events, err := filepath.Glob("../../examples/events/*.json")
	if err != nil || len(events) < 10 {
		t.Fatalf("events: %v %v", events, err)
	}
	for _, ev := range events {
		name := filepath.Base(ev)
		platforms := []string{"scf", "lambda"}
		switch {
		case strings.HasPrefix(name, "scf-"):
			platforms = platforms[:1]
		case strings.HasPrefix(name, "lambda-"):
			platforms = platforms[1:]
		}
		for _, p := range platforms {
			t.Run(p+"/"+name, func(t *testing.T) {
				var out, errOut bytes.Buffer
				args := []string{"invoke", "--emulator", "--platform", p, "--examples", "../../examples", "--timeout", "10s", ev}
				if code := run(context.Background(), args, nil, &out, &errOut, env(nil)); code != exitOK {
					t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
				}
				var answer struct {
					Status     string
					StatusCode int `json:"statusCode"`
					Body       string
				}
				if err := json.Unmarshal(out.Bytes(), &answer); err != nil {
					t.Fatalf("answer %q: %v", out.String(), err)
				}
				if answer.StatusCode != 0 {
					if answer.StatusCode != 200 || !strings.Contains(answer.Body, `"done"`) {
						t.Errorf("HTTP answer %d %s", answer.StatusCode, answer.Body)
					}
				} else if answer.Status != "done" && answer.Status != "swept" {
					t.Errorf("status %q, want done or swept:\n%s", answer.Status, out.String())
				}
				if strings.Contains(errOut.String(), emulator.DefaultKey) {
					t.Error("the emulator's key appears in the logs")
				}
			})
		}
	}
}

func TestBar(t *testing.T) {
	tests := []struct {
		done, total int64
		want        string
	}{
		{0, 100, "[..........]"},
		{50, 100, "[#####.....]"},
		{100, 100, "[##########]"},
		{150, 100, "[##########]"},
		{3, 0, "[##########]"},
	}
	for _, tt := range tests {
		if got := bar(tt.done, tt.total, 10); got != tt.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tt.done, tt.total, got, tt.want)
		}
	}
}

// TestInvokeContinues runs an upload too long for one invocation through
// `invoke` on each platform: the first invocation hands off, and the
// platform's own self-invoker (Lambda's Invoke API or SCF's) delivers the
// continuations back until the file is done. Sizes: 5,000 records at 20 calls
// of 100 accounts per second need 2.5 s of calls; each 1 s invocation does at
// most 0.9 s of them, so the chain needs at least two continuations,
// however slow the machine.
func TestInvokeContinues(t *testing.T) {
	tests := []struct{ platform, event, report string }{
		{"lambda", "lambda-s3.json", "removetag/reports/incoming/accounts.csv.report.json"},
		{"scf", "scf-cos.json", "removetag/reports/incoming/accounts.csv.report.json"},
	}
	for _, tt := range tests {
		t.Run(tt.platform, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := []string{"invoke", "--emulator", "--platform", tt.platform, "--examples", "../../examples", "--timeout", "1s", "../../examples/events/" + tt.event}
			// A Lambda runtime variable in the environment must not make an SCF invocation a Lambda one.
			e := env(map[string]string{"IM_RATE_LIMIT": "20", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"})
			if code := run(context.Background(), args, nil, &out, &errOut, e); code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			var first struct {
				Status    string
				Continued bool
			}
			if err := json.Unmarshal(out.Bytes(), &first); err != nil || first.Status != "pending" || !first.Continued {
				t.Fatalf("first invocation: %+v %v\n%s", first, err, out.String())
			}
			var chain []string
			for _, line := range strings.Split(errOut.String(), "\n") {
				if rest, ok := strings.CutPrefix(line, "continuation: "); ok {
					var r struct {
						Status string
						Chain  int
					}
					if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &r); err != nil {
						t.Fatalf("continuation answer %q: %v", rest, err)
					}
					chain = append(chain, fmt.Sprintf("%d:%s", r.Chain, r.Status))
				}
			}
			if len(chain) < 2 || chain[len(chain)-1] != fmt.Sprintf("%d:done", len(chain)) {
				t.Errorf("continuations %v: want a chain of at least 2 ending done\n%s", chain, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.report) {
				t.Errorf("no report %s written:\n%s", tt.report, errOut.String())
			}
		})
	}
}

// TestRunCoordinate runs the tool with --coordinate beside another holder of
// the quota, on S3 and COS through the local stand-in: the run holds a lease
// while it sends, uses only its share, and removes the lease when done.
func TestRunCoordinate(t *testing.T) {
	fs := memstore.New()
	defer fs.Close()
	for _, b := range []string{"shared", "shared-1250000000"} {
		if err := fs.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	vars := storeEnv(t, fs)
	var rows strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&rows, "u%04d,vip\n", i)
	}
	in := writeFile(t, "in.csv", rows.String()) // 30 calls

	for _, tt := range []struct{ location, bucket string }{
		{"s3://shared", "shared"},
		{"cos://shared-1250000000", "shared-1250000000"},
	} {
		t.Run(tt.location, func(t *testing.T) {
			// Another holder uses half the quota and renews its lease every 250 ms.
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			wg.Go(func() {
				for seq := 1; ctx.Err() == nil; seq++ {
					lease := fmt.Sprintf(`{"Holder":"other","Seq":%d,"Rate":50,"Quota":100,"Time":%q}`, seq, time.Now().UTC().Format(time.RFC3339Nano))
					if err := fs.PutObject(tt.bucket, "removetag/quota/other.json", []byte(lease)); err != nil {
						t.Error(err)
						return
					}
					select {
					case <-ctx.Done():
					case <-time.After(250 * time.Millisecond):
					}
				}
			})
			time.Sleep(50 * time.Millisecond)
			var out, errOut bytes.Buffer
			done := make(chan int)
			go func() {
				done <- run(context.Background(), []string{"run", "--emulator", "--json", "--out", t.TempDir(), "--coordinate", tt.location, in}, nil, &out, &errOut, env(vars))
			}()
			leases := 0
			for code := -1; code == -1; {
				select {
				case code = <-done:
					if code != exitOK {
						t.Fatalf("exit %d: %s", code, errOut.String())
					}
				case <-time.After(20 * time.Millisecond):
					leases = max(leases, len(fs.List(tt.bucket, "removetag/quota/")))
				}
			}
			var rep imapi.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			// 30 calls at half of 100 calls/s take 0.6 s at least; alone, 0.3 s.
			if rep.Succeeded != 3000 || rep.ElapsedSeconds < 0.55 {
				t.Errorf("report: %d succeeded in %.2f s; want 3000 at the 50 calls/s the other holder leaves", rep.Succeeded, rep.ElapsedSeconds)
			}
			if leases != 2 {
				t.Errorf("at most %d leases stored during the run; want the other's and this run's", leases)
			}
			cancel()
			wg.Wait()
			if left := fs.List(tt.bucket, "removetag/quota/"); len(left) != 1 || left[0] != "removetag/quota/other.json" {
				t.Errorf("leases after the run: %v, want only the other holder's", left)
			}
			if !strings.Contains(errOut.String(), "sharing 100 calls/s") {
				t.Errorf("stderr does not say the quota is shared: %s", errOut.String())
			}
		})
	}

	for _, tt := range []struct {
		name, location string
		code           int
		want           string
	}{
		{"an object", "s3://shared/some/key", exitInvalid, "names an object"},
		{"bad scheme", "gs://shared", exitInvalid, "unknown scheme"},
		{"missing bucket", "s3://nowhere", exitConfig, "cannot list removetag/quota/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"run", "--emulator", "--out", t.TempDir(), "--coordinate", tt.location, in}, nil, &out, &errOut, env(vars))
			if code != tt.code || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), tt.code, tt.want)
			}
		})
	}
}

func TestDescribeBuild(t *testing.T) {
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		version  string
		want     string
	}{
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}}, "v1.2.3",
			"removetag v1.2.3 commit 0123456789abcdef0123456789abcdef01234567 2026-12-01T10:00:00Z, go1.26.8"},
		{"modified", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}, "(devel)",
			"removetag (devel) commit abc (modified), go1.26.8"},
		{"no vcs", nil, "(devel)", "removetag (devel) commit unknown (built without version control information), go1.26.8"},
	}
	for _, tt := range tests {
		info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: tt.version}, Settings: tt.settings}
		if got := describeBuild(info); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
