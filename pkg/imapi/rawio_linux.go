package imapi

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// The client's connections read and write with system calls the Go
// scheduler does not hear of (syscall.RawSyscall through the connection's
// syscall.RawConn, which still waits in the network poller when the socket,
// which never blocks, has nothing to give or no room).
//
// Why: a system call made the usual way (syscall.Syscall, as net.Conn's Read
// and Write make it) wakes the runtime's monitor thread (sysmon) when it
// sleeps because every P is idle, and the monitor then polls every 20 µs
// until they are idle again. A function at 100 calls a second is idle
// between bursts of a few hundred microseconds, so each burst began with a
// wake-up and a dozen polls: a tenth of the function's CPU at 128 MB
// (BenchmarkCPU, issue 18). A read or write of a socket that does not block
// takes microseconds, so the P it holds needs no monitor meanwhile.

// rawIO returns c reading and writing with raw system calls if it is a TCP
// connection, else c.
func rawIO(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &rawIOConn{Conn: tc, raw: raw}
}

// rawIOConn is a TCP connection whose Read and Write are raw system calls.
// It embeds net.Conn, not *net.TCPConn, so that io.Copy finds no ReadFrom or
// WriteTo that would go around them.
type rawIOConn struct {
	net.Conn
	raw syscall.RawConn
}

// SyscallConn returns the connection's raw connection (for alive).
func (c *rawIOConn) SyscallConn() (syscall.RawConn, error) { return c.raw, nil }

func (c *rawIOConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var (
		n     int
		errno syscall.Errno
	)
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until the socket is readable, then again
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawIOConn) Write(p []byte) (int, error) {
	var (
		n     int
		errno syscall.Errno
	)
	err := c.raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until the socket has room, then on
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}

// opError wraps err as net.Conn's Read and Write do.
func (c *rawIOConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// nothingToRead reports whether the socket fd, which does not block, has
// nothing to read and is open: a peek that would have to wait (a raw system
// call, as rawIOConn's).
func nothingToRead(fd uintptr) bool {
	var buf [1]byte
	_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), 1, syscall.MSG_PEEK, 0, 0)
	return e == syscall.EAGAIN || e == syscall.EWOULDBLOCK
}
