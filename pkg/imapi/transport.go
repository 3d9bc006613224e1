package imapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// connPool is the client's own HTTP/1.1 transport: keep-alive connections,
// each used by one call at a time, on which the calling goroutine writes the
// request and reads the answer itself. net/http's Transport hands each
// request to a goroutine that writes it and each answer back from one that
// reads it: four goroutine switches a call, each a wake-up of the scheduler,
// which on a function's share of a CPU cost more than the call's own work
// (issue 18). The request and the answer are still written and read by
// net/http (Request.Write, ReadResponse).
//
// Requests that go through a proxy (HTTP_PROXY, HTTPS_PROXY and NO_PROXY, as
// net/http reads them) are net/http's Transport's, as before.
//
// What net/http's Transport does that matters here, it does too: an idle
// connection is not used again once the server has closed it (checked before
// each use where the system allows it, see [alive]) or after idleTimeout;
// one whose answer said Connection: close, or whose body was not read to its
// end, is closed; the context's deadline and cancellation end a call under
// way, with the context's error.
type connPool struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	tlsConfig   *tls.Config // for https; ServerName is set per host
	proxy       func(*http.Request) (*url.URL, error)
	proxied     http.RoundTripper // the requests with a proxy
	maxIdle     int               // idle connections kept per host
	idleTimeout time.Duration
	now         func() time.Time

	mu   sync.Mutex
	idle map[string][]*poolConn // by scheme and address, the most recently used last
}

// idleTimeout is how long an idle connection is kept (net/http's default Transport's).
const idleTimeout = 90 * time.Second

func newConnPool(maxIdle int) *connPool {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	p := &connPool{
		dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return rawIO(c), nil
		},
		tlsConfig:   &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		proxy:       http.ProxyFromEnvironment,
		maxIdle:     maxIdle,
		idleTimeout: idleTimeout,
		now:         time.Now,
		idle:        map[string][]*poolConn{},
	}
	proxied := newTransport(maxIdle)
	proxied.Proxy = func(req *http.Request) (*url.URL, error) { return p.proxy(req) }
	p.proxied = proxied
	return p
}

// poolConn is one connection of a connPool.
type poolConn struct {
	key   string
	conn  net.Conn // what is read and written: the TLS connection for https
	tcp   net.Conn // the connection under it, checked by alive
	br    *bufio.Reader
	bw    *bufio.Writer
	since time.Time // idle since
}

// RoundTrip makes one request on an idle connection to its host, or on a new one.
func (p *connPool) RoundTrip(req *http.Request) (*http.Response, error) {
	if proxy, err := p.proxy(req); err != nil || proxy != nil {
		return p.proxied.RoundTrip(req) // which answers the proxy's error too
	}
	key, addr, err := hostKey(req.URL)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	pc := p.get(key)
	if pc == nil {
		if pc, err = p.connect(req.Context(), req.URL, key, addr); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	return p.exchange(pc, req)
}

// hostKey names the pool of a URL's host and gives the address to dial.
func hostKey(u *url.URL) (key, addr string, err error) {
	port := u.Port()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", fmt.Errorf("unsupported protocol scheme %q", u.Scheme)
	case u.Hostname() == "":
		return "", "", errors.New("no host in request URL")
	case port == "" && u.Scheme == "https":
		port = "443"
	case port == "":
		port = "80"
	}
	addr = net.JoinHostPort(u.Hostname(), port)
	return u.Scheme + "://" + addr, addr, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// get takes the most recently used idle connection to key that is still open,
// closing those that are not or have been idle too long; nil if none is left.
func (p *connPool) get(key string) *poolConn {
	now := p.now()
	for {
		p.mu.Lock()
		conns := p.idle[key]
		if len(conns) == 0 {
			p.mu.Unlock()
			return nil
		}
		pc := conns[len(conns)-1]
		p.idle[key] = conns[:len(conns)-1]
		p.mu.Unlock()
		if now.Sub(pc.since) < p.idleTimeout && alive(pc.tcp) {
			return pc
		}
		pc.conn.Close()
	}
}

// put keeps pc for the next request to its host, unless enough are idle.
func (p *connPool) put(pc *poolConn) {
	pc.since = p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if conns := p.idle[pc.key]; len(conns) < p.maxIdle {
		p.idle[pc.key] = append(conns, pc)
		return
	}
	pc.conn.Close()
}

// CloseIdleConnections closes the idle connections (http.Client.CloseIdleConnections calls it).
func (p *connPool) CloseIdleConnections() {
	p.mu.Lock()
	idle := p.idle
	p.idle = map[string][]*poolConn{}
	p.mu.Unlock()
	for _, conns := range idle {
		for _, pc := range conns {
			pc.conn.Close()
		}
	}
	if c, ok := p.proxied.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// connect dials addr, with TLS for https.
func (p *connPool) connect(ctx context.Context, u *url.URL, key, addr string) (*poolConn, error) {
	c, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := &poolConn{key: key, conn: c, tcp: c}
	if u.Scheme == "https" {
		cfg := p.tlsConfig.Clone()
		cfg.ServerName = u.Hostname()
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		pc.conn = tc
	}
	pc.br = bufio.NewReaderSize(pc.conn, 4<<10)
	pc.bw = bufio.NewWriterSize(pc.conn, writeBufferSize)
	return pc, nil
}

// exchange writes req on pc and reads the answer's head; the body is read
// through pc by the caller, and pc goes back to the pool when it is closed
// after its end.
func (p *connPool) exchange(pc *poolConn, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	deadline, _ := ctx.Deadline()
	if err := pc.conn.SetDeadline(deadline); err != nil {
		pc.conn.Close()
		closeBody(req)
		return nil, err
	}
	// A cancellation ends the read or write under way at once.
	stop := context.AfterFunc(ctx, func() { pc.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.conn.Close()
		return nil, contextError(ctx, err)
	}
	if err := req.Write(pc.bw); err != nil { // closes req.Body
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(pc.br, req)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(pc.br, req) // an informational answer comes before the answer
	}
	if err != nil {
		return fail(err)
	}
	resp.Body = &poolBody{rc: resp.Body, p: p, pc: pc, stop: stop, ctx: ctx, keep: !resp.Close, eof: resp.Body == http.NoBody}
	return resp, nil
}

// poolBody is an answer's body on a pool's connection.
type poolBody struct {
	rc     io.ReadCloser
	p      *connPool
	pc     *poolConn
	stop   func() bool
	ctx    context.Context
	keep   bool // the server keeps the connection open
	eof    bool // the body was read to its end
	err    error
	closed bool
}

func (b *poolBody) Read(buf []byte) (int, error) {
	if b.closed {
		return 0, errors.New("http: read on closed response body")
	}
	n, err := b.rc.Read(buf)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.err = err
		err = contextError(b.ctx, err)
	}
	return n, err
}

// contextError is the error of a read or write on a connection that failed
// with err: the context's error if it ended (its deadline is the
// connection's, which may pass a moment before the context says so), else err.
func contextError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if deadline, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return err
}

// Close puts the connection back in the pool if the body was read to its
// end, the server keeps it open and the context did not end it; else it
// closes the connection.
func (b *poolBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.rc.Close()
	stopped := b.stop() // false: the cancellation ran, or runs, on the connection
	if b.eof && b.keep && b.err == nil && err == nil && stopped {
		b.p.put(b.pc)
		return nil
	}
	b.pc.conn.Close()
	return err
}
