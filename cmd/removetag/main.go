// Command removetag removes user tags in Tencent Cloud Chat from files of accounts,
// with the same engine as the serverless function.
//
//	removetag run [flags] FILE…   (FILE "-" reads standard input)
//	removetag invoke --platform scf|lambda EVENT.json
//	removetag check [--json]
//
// With IM_SDKAPPID and IM_SECRET_KEY in the environment it works on the real
// service (IM_REGION, IM_ADMIN, IM_ENDPOINT, IM_RATE_LIMIT as for the function).
// Without them it runs against the built-in emulator, seeded from the input, and
// says so.
//
// Exit status: 0 every record succeeded; 1 some failed or are pending; 2 invalid
// input or usage; 3 configuration error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
	exitConfig  = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is main without the process: testable.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitInvalid
	}
	var err error
	switch args[0] {
	case "run":
		err = runCommand(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "invoke":
		err = invokeCommand(ctx, args[1:], stdout, stderr, getenv)
	case "check":
		err = checkCommand(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "removetag: unknown command %q\n%s", args[0], usage)
		return exitInvalid
	}
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(stderr, "removetag:", ex.msg)
		}
		return ex.code
	}
	if err != nil {
		fmt.Fprintln(stderr, "removetag:", err)
		return exitFailed
	}
	return exitOK
}

const usage = `Usage:
  removetag run [flags] FILE…
      Removes the tags listed in each FILE (.csv, .jsonl/.ndjson, .json, optionally
      .gz; "-" reads standard input, see --format) from Tencent Cloud Chat users.
  removetag invoke --platform scf|lambda [flags] EVENT.json
      Runs the function's handler on a trigger event (samples: examples/events/),
      as "sam local invoke" does, and prints its answer.
  removetag check [--json] [--timeout D]
      Asks the service something harmless (im_get_tag for the admin) and says
      whether the SDKAppID and region, the key, the admin and the push-to-all
      feature are right (exit 0), or which is not (exit 3).

Without IM_SDKAPPID and IM_SECRET_KEY both run against local stand-ins (the IM
emulator; for invoke also an in-memory bucket and Invoke API). "-h" after a
command lists its flags.
`

// exitError carries an exit status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
