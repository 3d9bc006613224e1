// Command removetag removes user tags in Tencent Cloud Chat from files of accounts,
// with the same engine as the serverless function.
//
//	removetag run [flags] FILE…          (FILE "-" reads standard input)
//	removetag undo [flags] JOURNAL       (a local file, s3://… or cos://…)
//	removetag invoke --platform scf|lambda [flags] EVENT.json
//	removetag check [flags]
//	removetag status [flags] s3://BUCKET[/PREFIX]   (the deployed function's jobs)
//	removetag cancel [flags] s3://BUCKET/KEY        (stop one)
//
// With IM_SDKAPPID and IM_SECRET_KEY (or REMOVETAG_SECRET) in the environment it
// works on that app (IM_REGION, IM_ADMIN, IM_ENDPOINT, IM_RATE_LIMIT as for the
// function), and names it before the first call. With --emulator it runs
// against the built-in emulator instead; without either it refuses to start.
//
// Exit status: 0 every record succeeded; 1 some failed or are pending; 2 invalid
// input or usage; 3 configuration error (of the environment, or refused by the
// service).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
	exitConfig  = 3
)

func main() {
	os.Exit(run(onSignal(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// onSignal returns a context canceled by SIGINT or SIGTERM, with the signal
// as its cause: the run then stops, reports and writes what is left. A second
// signal ends the process at once (the default action is back).
func onSignal() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		signal.Stop(sigs)
		cancel(&signalError{sig})
	}()
	return ctx
}

// signalError is the cause of a run's end by a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "stopped by a signal (" + e.sig.String() + ")" }

// run is main without the process: testable.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRoot(ctx, env)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ex *exitError
	if !errors.As(err, &ex) {
		// cobra's own errors: an unknown command or flag, a bad argument.
		ex = &exitError{code: exitInvalid, msg: err.Error() + "\n(removetag --help lists the commands, removetag COMMAND --help their flags)"}
	}
	if ex.msg != "" && !ex.shown {
		fmt.Fprintln(stderr, "removetag:", ex.msg)
	}
	return ex.code
}

// cliEnv is what a command reads and writes: the process's streams and environment.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// exitError carries an exit status, and the message to print (unless shown
// already, as in a --json answer).
type exitError struct {
	code  int
	msg   string
	shown bool
}

func (e *exitError) Error() string { return e.msg }

// orNil is e, or nil for a success: what a command's RunE returns.
func (e *exitError) orNil() error {
	if e.code == exitOK {
		return nil
	}
	return e
}

// usageErr is an error of the command line: exit status 2.
func usageErr(format string, a ...any) *exitError {
	return &exitError{code: exitInvalid, msg: fmt.Sprintf(format, a...)}
}

// configErr is a configuration error: exit status 3.
func configErr(format string, a ...any) *exitError {
	return &exitError{code: exitConfig, msg: fmt.Sprintf(format, a...)}
}

// exitFor is the exit of a command that ended with err, having done all it
// was asked (complete) or not: err's own status, 1 for another error or an
// incomplete job, else 0.
func exitFor(err error, complete bool) *exitError {
	var ex *exitError
	switch {
	case errors.As(err, &ex):
	case err != nil:
		ex = &exitError{code: exitFailed, msg: err.Error()}
	case !complete:
		ex = &exitError{code: exitFailed}
	default:
		ex = &exitError{code: exitOK}
	}
	return ex
}

// statusFor is the report's status of an exit other than a success.
func statusFor(code int) string {
	switch code {
	case exitInvalid:
		return statusInvalid
	case exitConfig:
		return statusConfig
	}
	return statusIncomplete
}
