// Command removetag is the function's one entry point, for Tencent Cloud SCF
// (Go1 runtime: build `GOOS=linux GOARCH=amd64 go build -o main`) and AWS
// Lambda (provided.al2023: build `GOOS=linux GOARCH=arm64 go build -tags
// lambda.norpc -o bootstrap`). It picks its platform at start: Lambda when
// AWS_LAMBDA_RUNTIME_API is set, SCF otherwise.
//
// It reads its configuration from the environment (see package
// internal/wiring) and never crashes on a bad one: it logs the error,
// naming the variable, and answers every invocation with it until it is fixed.
// Package internal/sizing first fits the Go runtime to the function's
// configured memory (a soft memory limit below it).
// Every event goes through package pkg/adapters/trigger; package
// internal/redact keeps secrets out of its logs.
package main

import (
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/tencentyun/scf-go-lib/cloudfunction"

	"github.com/removetag/removetag/internal/redact"
	"github.com/removetag/removetag/internal/sizing"
	"github.com/removetag/removetag/internal/wiring"
	"github.com/removetag/removetag/pkg/adapters/awslambda"
	"github.com/removetag/removetag/pkg/adapters/scf"
	"github.com/removetag/removetag/pkg/adapters/trigger"
)

// scfPortVar is where SCF's Go1 runtime says which port to serve net/rpc on.
const scfPortVar = "_LAMBDA_SERVER_PORT"

func main() {
	platform := wiring.DetectPlatform(os.Getenv)
	// The secrets are the environment's and, with REMOVETAG_SECRET, every
	// value read from the secret store so far (loaded holds the configuration).
	var loaded atomic.Pointer[wiring.Config]
	envSecrets := redact.Secrets(os.Getenv, wiring.SecretVars()...)
	secrets := func() []string {
		s := envSecrets()
		if c := loaded.Load(); c != nil {
			s = append(s, c.SecretValues()...)
		}
		return s
	}

	var base slog.Handler
	if platform == wiring.PlatformLambda {
		base = awslambda.NewLogHandler()
	} else {
		base = scf.NewLogHandler(os.Stdout, slog.LevelInfo)
	}
	logger := slog.New(redact.NewHandler(base, secrets))

	// The Go runtime fitted to the function's memory (a soft limit below it).
	size, err := sizing.Apply(os.Getenv)
	if err != nil {
		logger.Warn("runtime settings", "error", err)
	}
	logger.Info("runtime settings", "runtime", size)

	if platform == wiring.PlatformSCF && os.Getenv(scfPortVar) == "" {
		logger.Error("not started by a serverless runtime: AWS Lambda sets " + wiring.EnvLambdaRuntimeAPI +
			", SCF's Go1 runtime sets " + scfPortVar + "; to run jobs locally, use cmd/removetag")
		os.Exit(2)
	}

	app := trigger.Lazy(func() (trigger.App, error) {
		cfg, err := wiring.Load(os.Getenv)
		if err != nil {
			return trigger.App{}, err
		}
		loaded.Store(&cfg)
		for _, w := range cfg.Warnings() {
			logger.Warn("configuration", "warning", w)
		}
		logger.Info("configuration", "config", cfg)
		// The metrics (CloudWatch EMF on Lambda, CLS lines on SCF) go to
		// standard output, which both platforms send to their logs.
		return wiring.BuildMetered(cfg, logger, wiring.MetricsOutput{Out: os.Stdout, Secrets: secrets})
	}, logger)
	_ = trigger.Prepare(app) // an error is logged here, and answered to every invocation

	d := trigger.NewDispatcher(app, logger, secrets)
	if platform == wiring.PlatformLambda {
		lambda.Start(awslambda.NewHandler(d))
		return
	}
	cloudfunction.StartHandler(scf.NewHandler(d))
}
