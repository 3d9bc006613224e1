package job_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/quota"
	"github.com/removetag/removetag/pkg/records"
)

const leasePrefix = prefix + "quota/"

// The shared quota is the service's Quota port.
var _ job.Quota = (*quota.Sharer)(nil)

// leaseCounter is a job.Quota on a real quota.Sharer that counts the leases
// taken and given back, and how many lease objects were stored while each was held.
type leaseCounter struct {
	t      *testing.T
	e      *env
	sharer *quota.Sharer

	mu       sync.Mutex
	joins    int
	releases int
	stored   []int // lease objects listed right after each join
}

func (c *leaseCounter) Share(ctx context.Context) (imapi.Limiter, imapi.Limiter, func()) {
	l := c.sharer.Join(ctx)
	n := len(c.e.fs.List(s3Bucket, leasePrefix))
	c.mu.Lock()
	c.joins++
	c.stored = append(c.stored, n)
	c.mu.Unlock()
	return l, l.Follower(), func() {
		l.Release()
		c.mu.Lock()
		c.releases++
		c.mu.Unlock()
	}
}

// check fails unless want leases were taken since the last check, each stored
// while held and all given back and deleted.
func (c *leaseCounter) check(what string, want int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.joins != want || c.releases != c.joins {
		c.t.Errorf("%s: %d leases taken, %d given back; want %d, all given back", what, c.joins, c.releases, want)
	}
	for i, n := range c.stored {
		if n < 1 {
			c.t.Errorf("%s: no lease stored while lease %d was held", what, i+1)
		}
	}
	if left := c.e.fs.List(s3Bucket, leasePrefix); len(left) != 0 {
		c.t.Errorf("%s: leases left behind: %v", what, left)
	}
	c.joins, c.releases, c.stored = 0, 0, nil
}

// TestEveryJobHoldsALease runs every kind of job that sends calls (HTTP,
// direct, timer, upload, continuation, sweep) with a quota: each run holds a
// lease in the coordination bucket while it sends, and deletes it after.
func TestEveryJobHoldsALease(t *testing.T) {
	e := newEnv(t, envOptions{scf: true, config: func(c *job.Config) { c.SweepAfter = sweepAfter }})
	s3c, err := objstore.NewS3Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sharer, err := quota.New(quota.Config{Store: objstore.Leases(objstore.NewS3(s3c, s3Bucket)), Prefix: leasePrefix, Rate: testRate})
	if err != nil {
		t.Fatal(err)
	}
	leases := &leaseCounter{t: t, e: e, sharer: sharer}
	svc := e.another(func(c *job.Config) { c.Quota = leases })
	e.svc.Store(svc) // continuations are delivered to it too

	recs := e.records("q", 14300) // the upload: 140 calls, three invocations or more at the test rate
	resp := serveHTTP(e.budgetCtx(), svc, httpRequest{Method: "POST", Headers: bearer(token), Body: mustMarshal(map[string][]records.Record{"UserTags": recs[:150]})})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP: %d %s", resp.StatusCode, clipBody(resp.Body))
	}
	leases.check("HTTP", 1)
	if res, err := svc.Handle(e.budgetCtx(), job.Direct(mustMarshal(map[string][]records.Record{"UserTags": recs[150:200]}))); err != nil || res.Status != job.StatusDone {
		t.Fatalf("direct: %v, %+v", err, res)
	}
	leases.check("direct", 1)
	if res, err := svc.Handle(e.budgetCtx(), job.Timer(string(mustMarshal(map[string][]records.Record{"UserTags": recs[200:300]})))); err != nil || res.Status != job.StatusDone {
		t.Fatalf("timer: %v, %+v", err, res)
	}
	leases.check("timer", 1)
	// Nothing to send, nothing held: an invalid job takes no lease.
	if res, _ := svc.Handle(e.budgetCtx(), job.Direct([]byte(`{"UserTags":[{"To_Account":"q1"}]}`))); res.Status != job.StatusInvalid {
		t.Fatalf("invalid direct: %+v", res)
	}
	leases.check("invalid job", 0)

	// An upload too long for one invocation: its continuations hold leases too;
	// the first continuation is lost and the sweep takes the job on.
	key := "quota/accounts.csv"
	e.put(cosBucket, key, encode(t, "csv", recs[300:]))
	e.api.LoseNext(1)
	loc := storage.Location{Scheme: storage.SchemeCOS, Bucket: cosBucket, Key: key}
	if res, err := svc.Handle(e.budgetCtx(), job.Upload(loc, "gz")); err != nil || res.Status != job.StatusPending || !res.Continued {
		t.Fatalf("upload: %v, %+v", err, res)
	}
	e.waitChain()
	leases.check("upload", 1)
	time.Sleep(sweepAfter + 50*time.Millisecond)
	sw, err := svc.Handle(e.budgetCtx(), job.Timer(""))
	if err != nil || len(sw.Jobs) != 1 {
		t.Fatalf("sweep: %v, %+v", err, sw)
	}
	e.waitChain()
	rep := e.checkDone(cosBucket, key, recs[300:])
	// One lease per invocation: the first one's was checked above.
	leases.check("sweep and continuations", rep.Invocations-1)
	if len(e.deliveries()) == 0 {
		t.Error("no continuation after the sweep: the test did not cover continuations")
	}
}
