package imapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/records"
)

// okAnswer is the service's answer to a call that went through.
const okAnswer = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// SyscallConn is the connection's own, for alive.
func (c countingConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// wired is a client whose pool's connections are counted.
type wired struct {
	c             *Client
	pool          *connPool
	dials, writes atomic.Int64
}

// newWired returns a client of baseURL on its own connection pool, whose dials
// and writes are counted; change, if set, changes the pool first.
func newWired(t *testing.T, baseURL string, change func(*connPool)) *wired {
	t.Helper()
	w := &wired{pool: newConnPool(4)}
	dial := w.pool.dial
	w.pool.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		w.dials.Add(1)
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: &w.writes}, nil
	}
	if change != nil {
		change(w.pool)
	}
	var err error
	w.c, err = NewClient(Config{SDKAppID: 1400000000, SecretKey: "k", BaseURL: baseURL, HTTPClient: &http.Client{Transport: w.pool}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// fullCall is the records of a call of 100 accounts.
func fullCall() []records.Record {
	recs := make([]records.Record, MaxAccountsPerCall)
	for i := range recs {
		recs[i] = records.Record{Account: fmt.Sprintf("user-%07d", i), Tags: []string{"vip"}}
	}
	return recs
}

// TestOneWritePerCall checks that the client's own transport sends a call of
// 100 accounts (the request line, the headers with the UserSig, the body) in
// one write on one keep-alive connection: a write is a system call, and on
// the function's share of a CPU each one counts.
func TestOneWritePerCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, okAnswer) }))
	defer srv.Close()
	w := newWired(t, srv.URL, nil)
	const calls = 5
	for range calls {
		if err := w.c.Call(context.Background(), AllMemberPush.RemoveTag(), fullCall()); err != nil {
			t.Fatal(err)
		}
	}
	if d, n := w.dials.Load(), w.writes.Load(); d != 1 || n != calls {
		t.Errorf("%d calls made %d writes on %d connections; want %d writes on one", calls, n, d, calls)
	}
}

// TestPoolConnections checks when the pool keeps a connection for the next
// call and when it makes a new one, against a server that answers as told
// per request and says when it has closed a connection.
func TestPoolConnections(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter) // the first call's answer
		closeIt bool                        // the server closes the connection after the first answer
		dials   int64                       // for two calls
	}{
		{"kept alive", func(w http.ResponseWriter) { fmt.Fprint(w, okAnswer) }, false, 1},
		{"chunked answer", func(w http.ResponseWriter) {
			fmt.Fprint(w, okAnswer[:10])
			w.(http.Flusher).Flush()
			fmt.Fprint(w, okAnswer[10:])
		}, false, 1},
		{"connection close", func(w http.ResponseWriter) {
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, okAnswer)
		}, false, 2},
		{"closed while idle", func(w http.ResponseWriter) { fmt.Fprint(w, okAnswer) }, true, 2},
		{"early hints first", func(w http.ResponseWriter) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			fmt.Fprint(w, okAnswer)
		}, false, 1},
		{"answer too long to read", func(w http.ResponseWriter) {
			fmt.Fprint(w, okAnswer+strings.Repeat(" ", 2<<20)) // past the 1 MB the client reads
		}, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			closed := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) > 1 {
					fmt.Fprint(w, okAnswer)
					return
				}
				tt.answer(w)
			}))
			srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
				if s == http.StateClosed && n.Load() == 1 {
					close(closed)
				}
			}
			srv.Start()
			defer srv.Close()
			w := newWired(t, srv.URL, nil)
			err := w.c.Call(context.Background(), AllMemberPush.RemoveTag(), fullCall())
			if tt.name == "answer too long to read" {
				err = nil // the first answer's tail is not JSON: not what is checked
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.closeIt {
				srv.CloseClientConnections()
				<-closed // the server's end is closed: the client's has the FIN
			}
			if err := w.c.Call(context.Background(), AllMemberPush.RemoveTag(), fullCall()); err != nil {
				t.Fatalf("second call: %v", err)
			}
			if got := w.dials.Load(); got != tt.dials {
				t.Errorf("%d connections for two calls, want %d", got, tt.dials)
			}
		})
	}
}

// TestPoolContext checks that a call under way ends with its context: at the
// deadline with context.DeadlineExceeded (Retryable), when canceled with
// context.Canceled; the connection is not used again.
func TestPoolContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server sees the client go away
		if r.URL.Query().Get("identifier") == "slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		fmt.Fprint(w, okAnswer)
	}))
	defer srv.Close()
	defer close(release)
	for _, tt := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWired(t, srv.URL, nil)
			slow, err := NewClient(Config{SDKAppID: 1400000000, SecretKey: "k", Admin: "slow", BaseURL: srv.URL, HTTPClient: &http.Client{Transport: w.pool}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			err = slow.Call(ctx, AllMemberPush.RemoveTag(), fullCall())
			if !errors.Is(err, tt.want) {
				t.Fatalf("call: %v, want %v", err, tt.want)
			}
			if tt.want == context.DeadlineExceeded && Classify(err) != Retryable {
				t.Errorf("Classify(%v) = %v, want Retryable", err, Classify(err))
			}
			if err := w.c.Call(context.Background(), AllMemberPush.RemoveTag(), fullCall()); err != nil {
				t.Fatal(err)
			}
			if got := w.dials.Load(); got != 2 {
				t.Errorf("%d connections; want 2 (the ended call's is not used again)", got)
			}
		})
	}
}

// TestPoolTLS makes calls over https on one connection, the server's
// certificate checked against its name.
func TestPoolTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, okAnswer) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	w := newWired(t, srv.URL, func(p *connPool) { p.tlsConfig.RootCAs = roots })
	for range 3 {
		if err := w.c.Call(context.Background(), AllMemberPush.RemoveTag(), fullCall()); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.dials.Load(); got != 1 {
		t.Errorf("%d connections for three calls, want 1", got)
	}
	// Another name for the same address is refused: the certificate is checked.
	other := newWired(t, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), func(p *connPool) { p.tlsConfig.RootCAs = roots })
	var certErr *tls.CertificateVerificationError
	if err := other.c.Call(context.Background(), AllMemberPush.RemoveTag(), fullCall()); !errors.As(err, &certErr) {
		t.Errorf("call to a name the certificate does not have: %v, want a certificate error", err)
	}
}

// TestPoolProxy checks that a request with a proxy goes through it, by
// net/http's Transport.
func TestPoolProxy(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host != "im.example" { // a proxy is asked for the absolute URL
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		proxied.Add(1)
		fmt.Fprint(w, okAnswer)
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)
	w := newWired(t, "http://im.example", func(p *connPool) {
		p.proxy = func(*http.Request) (*url.URL, error) { return proxyURL, nil }
	})
	if err := w.c.Call(context.Background(), AllMemberPush.RemoveTag(), fullCall()); err != nil {
		t.Fatal(err)
	}
	if proxied.Load() != 1 || w.dials.Load() != 0 {
		t.Errorf("%d requests through the proxy, %d dials of the pool; want 1 and 0", proxied.Load(), w.dials.Load())
	}
}

// TestPoolRawExchange runs the pool against a server written by hand, to
// check what goes on the wire: one keep-alive connection, the request as
// net/http writes it, answers of both framings read exactly.
func TestPoolRawExchange(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		answers := []string{
			"HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(okAnswer)) + "\r\n\r\n" + okAnswer,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(okAnswer), okAnswer),
		}
		for _, a := range answers {
			req, err := http.ReadRequest(br)
			if err != nil {
				t.Error(err)
				return
			}
			if req.Method != http.MethodPost || req.URL.Path != AllMemberPush.RemoveTag().urlPath() || req.Header.Get("Content-Type") != "application/json" || req.ContentLength <= 0 {
				t.Errorf("request %s %s, Content-Type %q, Content-Length %d", req.Method, req.URL.Path, req.Header.Get("Content-Type"), req.ContentLength)
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				t.Error(err)
			}
			if _, err := io.WriteString(c, a); err != nil {
				t.Error(err)
			}
		}
	})
	w := newWired(t, "http://"+l.Addr().String(), nil)
	for i := range 2 {
		if err := w.c.Call(context.Background(), AllMemberPush.RemoveTag(), fullCall()); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if got := w.dials.Load(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
	if got := len(w.pool.idle[w.c.base]); got != 1 {
		t.Errorf("%d idle connections after the calls, want 1", got)
	}
	w.pool.CloseIdleConnections()
	if got := len(w.pool.idle[w.c.base]); got != 0 {
		t.Errorf("%d idle connections after CloseIdleConnections, want none", got)
	}
}
