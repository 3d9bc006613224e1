package main_test

// End-to-end tests: the real function binary, built once by TestMain, runs
// under the AWS Lambda Runtime Interface Emulator (built from the module
// pinned as a tool in go.mod) and as an SCF Go1 function driven over net/rpc.
// IM is the emulator of pkg/imapi, object storage the fake of package
// memstore (S3 and COS), and self-invocation goes through the stand-ins of
// package loopback, which deliver each continuation back to the same
// runtime, one invocation at a time.
//
// go test -short skips them.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"

	"github.com/removetag/removetag/internal/logtest"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
)

// Secrets the function is given: the tests check that none of them, nor any
// UserSig, appears in a log line or an answer.
const (
	imKey     = "e2e-im-secret-key-7f3a9c1d"
	httpToken = "e2e-http-token-5b8e2f6a0c4d"
	tcKey     = "e2e-tencentcloud-secret-key"
	tcToken   = "e2e-tencentcloud-session-token"
	awsSecret = "e2e-aws-secret-access-key"
)

// scfNamespace is the namespace SCF's runtime passes with every invocation:
// the function's continuations must go there (the environment says "default").
const scfNamespace = "e2e-jobs"

// The built programs: built once, by the first test that needs them, in a
// directory TestMain removes.
var bin struct {
	once     sync.Once
	dir      string
	err      error
	function string // functions/removetag, built with -tags lambda.norpc: serves both platforms
	rie      string // the Lambda Runtime Interface Emulator
}

func TestMain(m *testing.M) {
	cgroupWrapper() // as the wrapper of BenchmarkShipped, execs the function and never returns
	flag.Parse()
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// binaries builds the function and the emulator, once for all tests; a
// test that needs them is skipped with -short.
func binaries(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp("", "removetag-e2e-")
		if bin.err != nil {
			return
		}
		bin.function = filepath.Join(bin.dir, "bootstrap")
		bin.rie = filepath.Join(bin.dir, "aws-lambda-rie")
		start := time.Now()
		bin.err = build(
			[]string{"build", "-buildvcs=false", "-tags", "lambda.norpc", "-o", bin.function, "."},
			[]string{"build", "-buildvcs=false", "-o", bin.rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"},
		)
		if testing.Verbose() && bin.err == nil {
			fmt.Printf("e2e: built the function and the emulator in %v\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
}

// build runs go build commands at once.
func build(cmds ...[]string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, args := range cmds {
		wg.Go(func() {
			cmd := exec.Command(goBin, args...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess starts a child in its own process group, its output to out;
// the cleanup ends the group.
func startProcess(t testing.TB, out io.Writer, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return cmd
}

// waitListening waits until addr accepts connections.
func waitListening(t testing.TB, addr string, cmd *exec.Cmd, out *logtest.Buffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("%s never listened on %s: %v\n%s", cmd.Path, addr, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// baseEnv is the environment every child starts from: nothing of the host's
// but PATH, and no AWS configuration files.
func baseEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// answer is the outcome of one invocation: the function's answer, or the
// error it returned (which the platform shows).
type answer struct {
	payload []byte
	fnErr   string
	elapsed time.Duration
}

// runtimeProc is a running function.
type runtimeProc interface {
	// invoke runs one invocation and waits for its answer; err is a failure
	// of the runtime itself (a timeout, a crash).
	invoke(payload []byte) (answer, error)
}

// lambdaRuntime is the function under the Runtime Interface Emulator, which
// takes one invocation at a time.
type lambdaRuntime struct {
	url     string
	timeout time.Duration
	client  *http.Client
	mu      sync.Mutex
}

// startLambda runs the function under the emulator with the function
// timeout (whole seconds).
func startLambda(t testing.TB, out *logtest.Buffer, env []string, timeout time.Duration) *lambdaRuntime {
	t.Helper()
	return startLambdaCmd(t, out, env, timeout, bin.function)
}

// startLambdaCmd runs the program command as the bootstrap the emulator
// starts (and starts again after a timeout or a crash).
func startLambdaCmd(t testing.TB, out *logtest.Buffer, env []string, timeout time.Duration, command string) *lambdaRuntime {
	t.Helper()
	emu := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env = append(env, fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(timeout.Seconds())))
	cmd := startProcess(t, out, env, bin.rie,
		"--runtime-interface-emulator-address", emu, "--runtime-api-address", api, command)
	waitListening(t, emu, cmd, out)
	return &lambdaRuntime{
		url:     "http://" + emu + "/2015-03-31/functions/function/invocations",
		timeout: timeout,
		client:  &http.Client{Timeout: timeout + 30*time.Second},
	}
}

func (r *lambdaRuntime) invoke(payload []byte) (answer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	resp, err := r.client.Post(r.url, "application/json", bytes.NewReader(payload))
	if err != nil {
		return answer{}, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	a := answer{payload: body, elapsed: time.Since(start)}
	switch {
	case err != nil:
		return a, fmt.Errorf("invoke: read the answer: %w", err)
	case bytes.HasPrefix(body, []byte("Task timed out")):
		return a, fmt.Errorf("the invocation timed out: %s", body)
	case resp.StatusCode != http.StatusOK:
		return a, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	var fnErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(body, &fnErr) == nil && fnErr.ErrorMessage != "" {
		a.payload, a.fnErr = nil, fnErr.ErrorMessage
	}
	return a, nil
}

// scfRuntime is the function as SCF's Go1 runtime runs it: a process serving
// net/rpc on _LAMBDA_SERVER_PORT; each invocation has a deadline, which only
// the function itself keeps (nothing kills it).
type scfRuntime struct {
	client *rpc.Client
	budget time.Duration
	mu     sync.Mutex
	seq    int
}

func startSCF(t testing.TB, out *logtest.Buffer, env []string, budget time.Duration) *scfRuntime {
	t.Helper()
	return startSCFCmd(t, out, env, budget, bin.function)
}

// startSCFCmd starts the program command as SCF's runtime starts the function.
func startSCFCmd(t testing.TB, out *logtest.Buffer, env []string, budget time.Duration, command string) *scfRuntime {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env = append(env, "_LAMBDA_SERVER_PORT="+addr[strings.LastIndex(addr, ":")+1:])
	cmd := startProcess(t, out, env, command)
	waitListening(t, addr, cmd, out)
	// A connection that broke (a call answered with an error) is not used
	// again: every later call on it would fail the same way.
	deadline := time.Now().Add(10 * time.Second)
	var client *rpc.Client
	for {
		c, err := rpc.Dial("tcp", addr)
		if err == nil {
			if err = c.Call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err == nil {
				client = c
				break
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("Function.Ping never answered: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { client.Close() })
	return &scfRuntime{client: client, budget: budget}
}

func (r *scfRuntime) invoke(payload []byte) (answer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	start := time.Now()
	dl := start.Add(r.budget)
	req := &messages.InvokeRequest{
		Payload:            payload,
		RequestId:          fmt.Sprintf("scf-req-%04d", r.seq),
		Deadline:           messages.InvokeRequest_Timestamp{Seconds: dl.Unix(), Nanos: int64(dl.Nanosecond())},
		FunctionName:       "removetag",
		Namespace:          scfNamespace,
		TimeLimitInMs:      int32(r.budget.Milliseconds()),
		TencentcloudRegion: "ap-guangzhou",
	}
	var resp messages.InvokeResponse
	call := r.client.Go("Function.Invoke", req, &resp, nil)
	select {
	case <-call.Done:
	case <-time.After(r.budget + 30*time.Second):
		return answer{}, errors.New("Function.Invoke never answered")
	}
	a := answer{payload: resp.Payload, elapsed: time.Since(start)}
	if call.Error != nil {
		return a, fmt.Errorf("Function.Invoke: %w", call.Error)
	}
	if resp.Error != nil {
		a.fnErr = resp.Error.Message
		if resp.Error.ShouldExit {
			return a, fmt.Errorf("the function panicked: %s", resp.Error.Message)
		}
	}
	return a, nil
}

// keepsDeadline fails unless an invocation ended within its budget: SCF does
// not enforce the deadline, the function must.
func keepsDeadline(t testing.TB, a answer, budget time.Duration) {
	t.Helper()
	if a.elapsed > budget+750*time.Millisecond {
		t.Errorf("the invocation took %v, its budget was %v", a.elapsed.Round(time.Millisecond), budget)
	}
}

// parseResult reads a job result answer.
func parseResult(t testing.TB, a answer) *job.Result {
	t.Helper()
	if a.fnErr != "" {
		t.Fatalf("the function returned an error: %s", a.fnErr)
	}
	var r job.Result
	if err := json.Unmarshal(a.payload, &r); err != nil {
		t.Fatalf("the answer is not a result: %v: %.500s", err, a.payload)
	}
	if r.Status == "" {
		t.Fatalf("the answer has no Status: %.500s", a.payload)
	}
	return &r
}

// imWorld is the IM emulator with an app key the tests know.
func newIM(t testing.TB) *emulator.Server {
	im := emulator.NewServer(emulator.Config{Key: imKey, Latency: 20 * time.Millisecond})
	t.Cleanup(im.Close)
	return im
}

func newStore(t testing.TB, buckets ...string) *memstore.Server {
	fs := memstore.New()
	t.Cleanup(fs.Close)
	for _, b := range buckets {
		if err := fs.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	return fs
}

// imEnv is the function's IM configuration against the emulator.
func imEnv(im *emulator.Server, rate int) []string {
	return []string{
		"IM_SDKAPPID=" + strconv.Itoa(emulator.DefaultSDKAppID),
		"IM_SECRET_KEY=" + imKey,
		"IM_ENDPOINT=" + im.URL(),
		"IM_RATE_LIMIT=" + strconv.Itoa(rate),
	}
}

// newAPI starts a stand-in of an invoke API whose deliveries go to the runtime
// set later (the runtime needs the stand-in's URL first).
type delivery struct {
	payload []byte
	answer  answer
	err     error
}

type deliverer struct {
	mu        sync.Mutex
	rt        runtimeProc
	delivered []delivery
}

func (d *deliverer) deliver(payload []byte) {
	d.mu.Lock()
	rt := d.rt
	d.mu.Unlock()
	a, err := rt.invoke(payload)
	d.mu.Lock()
	d.delivered = append(d.delivered, delivery{payload: payload, answer: a, err: err})
	d.mu.Unlock()
}

func (d *deliverer) list() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivery(nil), d.delivered...)
}
