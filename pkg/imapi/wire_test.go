package imapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/removetag/removetag/pkg/records"
)

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestOneWritePerCall checks that the client's own transport sends a call of
// 100 accounts (the request line, the headers with the UserSig, the body) in
// one write on its keep-alive connection: a write is a system call, and on
// the function's share of a CPU each one counts.
func TestOneWritePerCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	defer srv.Close()
	var writes, dials atomic.Int64
	tr := newTransport(4)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: &writes}, nil
	}
	c, err := NewClient(Config{SDKAppID: 1400000000, SecretKey: "k", BaseURL: srv.URL, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]records.Record, MaxAccountsPerCall)
	for i := range recs {
		recs[i] = records.Record{Account: fmt.Sprintf("user-%07d", i), Tags: []string{"vip"}}
	}
	const calls = 5
	for range calls {
		if err := c.Call(context.Background(), AllMemberPush.RemoveTag(), recs); err != nil {
			t.Fatal(err)
		}
	}
	if d, w := dials.Load(), writes.Load(); d != 1 || w != calls {
		t.Errorf("%d calls made %d writes on %d connections; want %d writes on one", calls, w, d, calls)
	}
}
