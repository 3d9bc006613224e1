package imapi

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, the first
// through rawIO.
func tcpPair(t *testing.T) (raw, other net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	other = <-accepted
	if other == nil {
		t.Fatal("no connection accepted")
	}
	raw = rawIO(c)
	if _, ok := raw.(*rawIOConn); !ok {
		t.Fatalf("rawIO of a TCP connection gave %T", raw)
	}
	t.Cleanup(func() { raw.Close(); other.Close() })
	return raw, other
}

// TestRawIOCarriesBytes writes and reads 8 MB each way through a raw
// connection, far more than the sockets hold: the raw calls wait for room
// and for data in the network poller, and no byte is lost or reordered.
func TestRawIOCarriesBytes(t *testing.T) {
	raw, other := tcpPair(t)
	data := make([]byte, 8<<20)
	rand.Read(data)
	var wg sync.WaitGroup
	var echoErr error
	wg.Go(func() { // the other end sends back what it reads
		_, echoErr = io.Copy(other, io.LimitReader(other, int64(len(data))))
	})
	var writeErr error
	wg.Go(func() {
		_, writeErr = raw.Write(data)
	})
	got := make([]byte, len(data))
	if _, err := io.ReadFull(raw, got); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if writeErr != nil || echoErr != nil {
		t.Fatalf("write: %v; echo: %v", writeErr, echoErr)
	}
	if !bytes.Equal(got, data) {
		t.Error("the bytes read back differ from those written")
	}
	// An end of file once the other end closes.
	other.Close()
	if n, err := raw.Read(got); n != 0 || err != io.EOF {
		t.Errorf("read after the other end closed: %d, %v; want 0, EOF", n, err)
	}
}

// TestRawIOErrors checks the errors as net.Conn gives them: a passed
// deadline (a timeout, os.ErrDeadlineExceeded), a closed connection
// (net.ErrClosed), a reset (a *net.OpError naming the addresses).
func TestRawIOErrors(t *testing.T) {
	raw, other := tcpPair(t)
	if err := raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := raw.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read past the deadline: %v, want a timeout", err)
	}
	raw.SetReadDeadline(time.Time{})

	// A reset: the other end closes lingering 0 s, which sends RST.
	other.(*net.TCPConn).SetLinger(0)
	other.Close()
	var opErr *net.OpError
	_, err := raw.Read(make([]byte, 1))
	if !errors.As(err, &opErr) || opErr.Op != "read" || opErr.Addr == nil || opErr.Source == nil {
		t.Errorf("read after a reset: %v (%T), want a read *net.OpError with both addresses", err, err)
	}

	raw.Close()
	if _, err := raw.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write on a closed connection: %v, want net.ErrClosed", err)
	}
	if _, err := raw.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read on a closed connection: %v, want net.ErrClosed", err)
	}
}

// TestNothingToRead checks alive's peek: open and quiet, then with bytes
// to read, then closed by the other end.
func TestNothingToRead(t *testing.T) {
	raw, other := tcpPair(t)
	// readable waits in the network poller until raw has something to read.
	readable := func() {
		rc, _ := raw.(*rawIOConn).SyscallConn()
		if err := rc.Read(func(fd uintptr) bool { return !nothingToRead(fd) }); err != nil {
			t.Fatal(err)
		}
	}
	if !alive(raw) {
		t.Error("a quiet open connection is not alive")
	}
	other.Write([]byte("x"))
	readable()
	if alive(raw) {
		t.Error("a connection with unasked-for bytes is alive")
	}
	raw.Read(make([]byte, 1))
	other.Close()
	readable()
	if alive(raw) {
		t.Error("a connection closed by the other end is alive")
	}
}
