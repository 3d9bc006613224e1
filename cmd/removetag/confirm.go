package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// interactive reports whether a person can answer a question: standard input
// and standard error are both terminals.
func interactive(env *cliEnv) bool {
	return isTerminal(env.stdin) && isTerminal(env.stderr)
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm shows what a real run is about to change and asks to go on; only
// "y" or "yes" goes on. An interrupt or the end of the input is a no.
func confirm(ctx context.Context, env *cliEnv, t *target, inv *inventory) bool {
	if t.allTags {
		fmt.Fprintf(env.stderr, "About to REMOVE EVERY TAG of the accounts (--all-tags) in %s:\n  %s\n", t.app, inv.accounts())
	} else {
		fmt.Fprintf(env.stderr, "About to %s in %s:\n  %s\n  %s\n", t.action(), t.app, inv.accounts(), inv.distinctTags())
	}
	fmt.Fprint(env.stderr, "Go on? Type yes (or run with --yes): ")
	answer := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			line = ""
		}
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(env.stderr)
		return false
	case a := <-answer:
		a = strings.ToLower(strings.TrimSpace(a))
		return a == "y" || a == "yes"
	}
}
