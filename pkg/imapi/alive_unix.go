//go:build linux || darwin

package imapi

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// alive reports whether an idle connection is still open: it peeks without
// waiting (the socket does not block), and an idle HTTP/1.1 connection has
// nothing to read until the server closes it (an end of file, or a reset) or
// misbehaves (unasked-for bytes), either way not to be used again.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	peek := func(fd uintptr) bool {
		open = nothingToRead(fd)
		return true // never wait for the socket to become readable
	}
	err = raw.Read(peek)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The last call's deadline, passed while the connection was idle.
		if err = c.SetReadDeadline(time.Time{}); err == nil {
			err = raw.Read(peek)
		}
	}
	return err == nil && open
}
