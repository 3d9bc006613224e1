package imapi_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// storeKeys is a KeySource over a key "store": Key returns the value cached at
// the last read, Refresh reads the store (unless the cache already moved past
// the rejected key), as a caching adapter does.
type storeKeys struct {
	mu     sync.Mutex
	stored string // the store's value
	down   error  // the store's answer when it is down
	cached string
	reads  atomic.Int64
}

func (s *storeKeys) Key(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached == "" {
		return s.readLocked()
	}
	return s.cached, nil
}

func (s *storeKeys) Refresh(ctx context.Context, rejected string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != rejected && s.cached != "" {
		return s.cached, nil
	}
	return s.readLocked()
}

func (s *storeKeys) readLocked() (string, error) {
	s.reads.Add(1)
	if s.down != nil {
		return "", s.down
	}
	s.cached = s.stored
	return s.cached, nil
}

func (s *storeKeys) set(stored string, down error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored, s.down = stored, down
}

func newKeyedClient(t *testing.T, srv *emulator.Server, keys imapi.KeySource) *imapi.Client {
	t.Helper()
	c := srv.Config()
	client, err := imapi.NewClient(imapi.Config{SDKAppID: c.SDKAppID, Keys: keys, Admin: c.Admin, BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestClientFollowsRotatedKey: the key rotated in the store and at the service
// between two calls costs the second call nothing but one more request; a
// store that still has the refused key leaves the refusal as it is (fatal); a
// store down at that moment is a *KeySourceError, retryable, naming no key.
func TestClientFollowsRotatedKey(t *testing.T) {
	const k1, k2 = "first-key-0123456789", "second-key-0123456789"
	srv := emulator.NewServer(emulator.Config{Key: k1})
	t.Cleanup(srv.Close)
	keys := &storeKeys{stored: k1}
	client := newKeyedClient(t, srv, keys)
	ctx := context.Background()
	rec := []records.Record{{Account: "u1", Tags: []string{"a"}}}

	if err := client.Call(ctx, imapi.AllMemberPush.RemoveTag(), rec); err != nil {
		t.Fatal(err)
	}
	srv.SetKey(k2)
	keys.set(k2, nil)
	if err := client.Call(ctx, imapi.AllMemberPush.RemoveTag(), rec); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	if st := client.Stats(); st.Requests != 3 || st.KeyChanges != 1 {
		t.Errorf("stats %+v, want 3 requests (one refused, sent again) and 1 key change", st)
	}

	srv.SetKey("third-key-0123456789") // rotated at the service, not in the store
	err := client.Call(ctx, imapi.AllMemberPush.RemoveTag(), rec)
	if imapi.ErrorCode(err) != 70009 || imapi.Classify(err) != imapi.Fatal {
		t.Errorf("store behind the service: err = %v, want 70009, fatal", err)
	}

	keys.set("", errors.New("secret ssm:removetag: the store is down"))
	err = client.Call(ctx, imapi.AllMemberPush.RemoveTag(), rec)
	var ke *imapi.KeySourceError
	if !errors.As(err, &ke) || imapi.Classify(err) != imapi.Retryable || imapi.KeyRejected(ke.Rejected) != true {
		t.Fatalf("store down: err = %v (%T), want a retryable *KeySourceError after a rejected key", err, err)
	}
	for _, k := range []string{k1, k2} {
		if strings.Contains(err.Error(), k) {
			t.Errorf("the error shows a key: %v", err)
		}
	}
	if !strings.Contains(err.Error(), "ssm:removetag") {
		t.Errorf("the error does not name the secret: %v", err)
	}
}

// TestClientWithKeysReadsOnFirstCall: NewClient with Keys reads nothing; a
// store down at the first call is a retryable *KeySourceError and nothing is sent.
func TestClientWithKeysReadsOnFirstCall(t *testing.T) {
	srv := emulator.NewServer(emulator.Config{})
	t.Cleanup(srv.Close)
	keys := &storeKeys{down: errors.New("secret secretsmanager:removetag: refused")}
	client := newKeyedClient(t, srv, keys)
	if keys.reads.Load() != 0 {
		t.Errorf("NewClient read the key %d times", keys.reads.Load())
	}
	err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), []records.Record{{Account: "u1", Tags: []string{"a"}}})
	var ke *imapi.KeySourceError
	if !errors.As(err, &ke) || imapi.Classify(err) != imapi.Retryable || srv.Stats().Requests != 0 {
		t.Errorf("err = %v, requests %d; want a retryable *KeySourceError and nothing sent", err, srv.Stats().Requests)
	}
}

// TestEngineKeyRotatedMidRun: the key is rotated at the service and in the
// store while a run of many concurrent calls is under way; every record
// succeeds and none fails.
func TestEngineKeyRotatedMidRun(t *testing.T) {
	const k1, k2 = "first-key-0123456789", "second-key-0123456789"
	srv := emulator.NewServer(emulator.Config{Key: k1, Rate: -1, Latency: 2 * time.Millisecond})
	t.Cleanup(srv.Close)
	keys := &storeKeys{stored: k1}
	client := newKeyedClient(t, srv, keys)
	const accounts = 20000
	recs := job(srv, accounts, accounts)

	rotated := make(chan struct{})
	go func() {
		defer close(rotated)
		for srv.Stats().Applied < 50 { // a quarter of the 200 calls
			time.Sleep(time.Millisecond)
		}
		srv.SetKey(k2)
		keys.set(k2, nil)
	}()
	rep, err := imapi.NewEngine(client, imapi.EngineConfig{Rate: 1e6}).Run(context.Background(), records.NewSliceSource(recs))
	<-rotated
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Succeeded != accounts || rep.Failed != 0 || rep.Pending != 0 {
		t.Fatalf("report %s: want every record done", rep.Summary())
	}
	if st := client.Stats(); st.KeyChanges != 1 || srv.Stats().Codes[70009] == 0 {
		t.Errorf("client %+v, emulator codes %v: want one key change after some 70009 answers", st, srv.Stats().Codes)
	}
	assertOnlyKeepLeft(t, srv, accounts)
}
