package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/removetag/removetag/internal/redact"
	"github.com/removetag/removetag/internal/wiring"
	"github.com/removetag/removetag/pkg/adapters/awslambda"
	"github.com/removetag/removetag/pkg/adapters/invoke/loopback"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/adapters/scf"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
	"github.com/spf13/cobra"
)

// Names the sample events in examples/events use.
const (
	exampleToken     = "example-token-change-me-0123456789"
	exampleS3Bucket  = "removetag-demo"
	exampleCOSBucket = "removetag-demo-1250000000"
	exampleFunction  = "removetag"
)

// invoker is a platform handler: the same the function's main starts.
type invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

func newInvokeCommand(env *cliEnv) *cobra.Command {
	o := &invokeFlags{}
	c := &cobra.Command{
		Use:   "invoke --platform scf|lambda [flags] EVENT.json",
		Short: "Run the function's handler on a trigger event, as sam local invoke does",
		Long: `Runs the function's own handler on a trigger event (samples: examples/events/),
the way "sam local invoke" does, and prints its answer. The function is
configured as on the chosen platform whatever the environment says.

It works on the app of IM_SDKAPPID and IM_SECRET_KEY (or REMOVETAG_SECRET),
named before the call, with the buckets and Invoke API of the environment;
--emulator runs it against local stand-ins instead: the IM emulator, an
in-memory S3/COS bucket holding the sample inputs of --examples under
incoming/, and an Invoke API that loops continuations back into the process.`,
		Args: exactArgs(1, "one EVENT.json file"),
		RunE: func(c *cobra.Command, args []string) error {
			return invokeEvent(c.Context(), env, o, args[0])
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.platform, "platform", "", "the handler to run: scf or lambda")
	fs.BoolVar(&o.emulator, "emulator", false, "run against local stand-ins (IM emulator, in-memory bucket, Invoke API): nothing is sent to the cloud")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "the invocation's time budget, as the function's timeout")
	fs.StringVar(&o.examples, "examples", "examples", "folder of sample input files the stand-in bucket holds under incoming/ (--emulator)")
	return c
}

// invokeFlags are the flags of "removetag invoke".
type invokeFlags struct {
	platform, examples string
	emulator           bool
	timeout            time.Duration
}

// invokeEvent runs the function's handler on a trigger event, the way
// `sam local invoke` does.
func invokeEvent(ctx context.Context, env *cliEnv, o *invokeFlags, event string) error {
	if o.platform != "scf" && o.platform != "lambda" {
		return usageErr("--platform %q: want scf or lambda", o.platform)
	}
	payload, err := os.ReadFile(event)
	if err != nil {
		return usageErr("%v", err)
	}
	getenv, stderr := env.getenv, env.stderr
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(stderr, nil), redact.Secrets(getenv, wiring.SecretVars()...)))
	var local *standIns
	switch {
	case o.emulator:
		fmt.Fprint(stderr, standInNote)
		if local, err = startStandIns(o.platform, o.examples); err != nil {
			return err
		}
		defer local.close()
		getenv = local.getenv(getenv)
	case !configured(getenv):
		return configErr("%s", noCredentials)
	}
	getenv = platformEnv(o.platform, getenv)
	cfg, err := wiring.Load(getenv)
	if err != nil {
		return configErr("%v", err)
	}
	if local == nil {
		client, err := newClient(cfg, stderr)
		if err != nil {
			return configErr("%v", err)
		}
		fmt.Fprintf(stderr, "target: %s; buckets and Invoke API of the environment\n", appOf(cfg, client, cfg.TagAPI.RemoveTag()))
	}
	app, err := wiring.Build(cfg, logger)
	if err != nil {
		return configErr("%v", err)
	}
	d := trigger.NewDispatcher(app, logger, redact.Secrets(getenv, wiring.SecretVars()...))
	var h invoker = scf.NewHandler(d)
	if o.platform == "lambda" {
		h = awslambda.NewHandler(d)
	}
	invokeOnce := func(payload []byte) ([]byte, error) {
		ictx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		return h.Invoke(ictx, payload)
	}
	if local != nil {
		local.deliverTo(func(p []byte) {
			out, err := invokeOnce(p)
			fmt.Fprintf(stderr, "continuation: %s %v\n", bytes.TrimSpace(out), errOrNil(err))
		})
	}

	out, err := invokeOnce(payload)
	if local != nil {
		// Let a continuation chain started by the invocation run to its end.
		wctx, cancel := context.WithTimeout(ctx, 20*o.timeout)
		if werr := local.invokeAPI.WaitIdle(wctx); werr != nil {
			fmt.Fprintln(stderr, "continuations still running:", werr)
		}
		cancel()
		local.report(stderr)
	}
	printJSON(env.stdout, out)
	if err != nil {
		return &exitError{code: exitFailed, msg: "the handler returned an error: " + err.Error()}
	}
	return nil
}

// platformEnv makes the configuration that of the chosen platform, whatever
// the environment says: wiring.DetectPlatform takes a process with
// AWS_LAMBDA_RUNTIME_API for Lambda and any other for SCF, and the platform
// decides the self-invoker, and so where a continuation goes.
func platformEnv(platform string, next func(string) string) func(string) string {
	runtimeAPI := "" // SCF sets no such variable
	if platform == "lambda" {
		runtimeAPI = "removetag-invoke" // any value: the Runtime API itself is not used
	}
	return func(k string) string {
		if k == wiring.EnvLambdaRuntimeAPI {
			return runtimeAPI
		}
		return next(k)
	}
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return "error: " + err.Error()
}

// printJSON prints the handler's answer indented, or as it is if it is not JSON.
func printJSON(w io.Writer, b []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		buf.Reset()
		buf.Write(b)
	}
	buf.WriteByte('\n')
	w.Write(buf.Bytes())
}

const standInNote = `
  ┌──────────────────────────────────────────────────────────────────────┐
  │ --emulator: invoking the handler against LOCAL STAND-INS: the        │
  │ IM emulator, an in-memory S3/COS holding examples/ under incoming/,  │
  │ and an Invoke API looping continuations back into this process.      │
  └──────────────────────────────────────────────────────────────────────┘
`

// standIns are the local services an invocation talks to without a cloud account.
type standIns struct {
	emu       *emulator.Server
	store     *memstore.Server
	invokeAPI *loopback.API
	deliver   func([]byte)
	env       map[string]string
}

func startStandIns(platform, examples string) (*standIns, error) {
	s := &standIns{emu: emulator.NewServer(emulator.Config{}), store: memstore.New()}
	fwd := func(p []byte) {
		if s.deliver != nil {
			s.deliver(p)
		}
	}
	if platform == "lambda" {
		s.invokeAPI = loopback.NewLambdaAPI(fwd)
	} else {
		s.invokeAPI = loopback.NewSCFAPI(fwd)
	}
	if err := s.seed(examples); err != nil {
		s.close()
		return nil, err
	}
	emu := s.emu.Config()
	s.env = map[string]string{
		wiring.EnvSDKAppID:       fmt.Sprint(emu.SDKAppID),
		wiring.EnvSecretKey:      emu.Key,
		wiring.EnvEndpoint:       s.emu.URL(),
		wiring.EnvHTTPToken:      exampleToken,
		wiring.EnvBuckets:        "s3://" + exampleS3Bucket + ",cos://" + exampleCOSBucket,
		wiring.EnvCOSBucketURL:   s.store.COSBucketURLTemplate(),
		"TENCENTCLOUD_REGION":    "ap-guangzhou",
		"TENCENTCLOUD_SECRETID":  "local-secret-id",
		"TENCENTCLOUD_SECRETKEY": "local-secret-key",
		"SCF_FUNCTIONNAME":       exampleFunction,
		wiring.EnvSCFEndpoint:    s.invokeAPI.URL(),
	}
	// The AWS SDK reads its configuration from the process environment.
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_S3":      s.store.S3Endpoint(),
		"AWS_ENDPOINT_URL_LAMBDA":  s.invokeAPI.URL(),
		"AWS_ACCESS_KEY_ID":        "local",
		"AWS_SECRET_ACCESS_KEY":    "local",
		"AWS_REGION":               "eu-west-1",
		"AWS_LAMBDA_FUNCTION_NAME": exampleFunction,
	} {
		os.Setenv(k, v)
		s.env[k] = v
	}
	return s, nil
}

// seed puts every sample input in both buckets under incoming/, and its records'
// tags (plus one the input does not name) in the emulator.
func (s *standIns) seed(examples string) error {
	for _, b := range []string{exampleS3Bucket, exampleCOSBucket} {
		if err := s.store.CreateBucket(b); err != nil {
			return err
		}
	}
	files, _ := filepath.Glob(filepath.Join(examples, "*.*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, b := range []string{exampleS3Bucket, exampleCOSBucket} {
			if err := s.store.PutObject(b, "incoming/"+filepath.Base(f), data); err != nil {
				return err
			}
		}
		format, _, err := records.FormatOf(f)
		if err != nil {
			continue
		}
		if dec, err := records.NewDecoder(bytes.NewReader(data), records.DecoderOptions{Format: format}); err == nil {
			seedEmulator(s.emu, dec)
		}
	}
	return nil
}

// getenv overlays the stand-ins' settings, the emulator's among them, on the environment.
func (s *standIns) getenv(next func(string) string) func(string) string {
	return emulatorEnv(s.emu, func(k string) string {
		if v, ok := s.env[k]; ok {
			return v
		}
		return next(k)
	})
}

func (s *standIns) deliverTo(f func([]byte)) { s.deliver = f }

func (s *standIns) report(w io.Writer) {
	st := s.emu.Stats()
	fmt.Fprintf(w, "stand-ins: IM emulator: %d calls, %d tags left; continuations: %d; objects written: %v\n",
		st.Requests, s.emu.TagCount(), s.invokeAPI.Count(), append(s.store.List(exampleS3Bucket, "removetag/"), s.store.List(exampleCOSBucket, "removetag/")...))
}

func (s *standIns) close() {
	s.invokeAPI.Close()
	s.store.Close()
	s.emu.Close()
}
