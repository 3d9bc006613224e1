package main

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/removetag/removetag/pkg/imapi"
)

// noAnswer reports whether a call's error means the service did not answer
// at all: the connection could not be made or was cut, or the answer did not
// come in time (as opposed to a refusal, an HTTP error page or garbage).
// imapi keeps the cause of such an error (a net.Error, a deadline, an EOF)
// in its chain.
func noAnswer(err error) bool {
	var ne net.Error
	return err != nil && (errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))
}

// httpStatusOf returns the status and body of an answer that was not HTTP
// 200; 0 for any other error.
func httpStatusOf(err error) (status int, body string) { return imapi.HTTPStatus(err) }
