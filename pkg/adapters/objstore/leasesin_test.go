package objstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/quota"
)

// The Opener that opens the function's buckets is the one LeasesIn takes.
var _ objstore.BucketOpener = (*objstore.Opener)(nil)

// countingOpener counts the buckets opened and fails the first fail opens.
type countingOpener struct {
	next  objstore.BucketOpener
	fail  int
	opens []storage.Location
}

func (c *countingOpener) Open(ctx context.Context, loc storage.Location, region string) (storage.Store, error) {
	c.opens = append(c.opens, loc)
	if len(c.opens) <= c.fail {
		return nil, errors.New("bucket unreachable")
	}
	return c.next.Open(ctx, loc, region)
}

// TestLeasesIn: the leases' bucket is opened at each call, not before; a
// failure to open it is that call's error, and the next call opens it again;
// the location's key is not part of the bucket opened.
func TestLeasesIn(t *testing.T) {
	srv := memstore.New()
	t.Cleanup(srv.Close)
	const bucket = "leases-1250000000"
	if err := srv.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	o, err := objstore.NewOpener(objstore.OpenerConfig{COSBucketURL: srv.COSBucketURLTemplate(), COSRegion: "ap-guangzhou"})
	if err != nil {
		t.Fatal(err)
	}
	opener := &countingOpener{next: o, fail: 1}
	st := objstore.LeasesIn(opener, storage.Location{Scheme: storage.SchemeCOS, Bucket: bucket, Key: "ignored"})
	if len(opener.opens) != 0 {
		t.Fatal("the bucket was opened before the first call")
	}
	ctx := t.Context()
	if err := st.Put(ctx, "quota/a", []byte(`{"Holder":"a"}`)); err == nil {
		t.Fatal("Put with the bucket unreachable gave no error")
	}
	if err := st.Put(ctx, "quota/a", []byte(`{"Holder":"a"}`)); err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "quota/")
	if err != nil || len(objs) != 1 || objs[0].Key != "quota/a" || objs[0].ETag == "" {
		t.Fatalf("List = %+v, %v", objs, err)
	}
	if data, etag, err := st.Get(ctx, "quota/a"); err != nil || string(data) != `{"Holder":"a"}` || etag != objs[0].ETag {
		t.Fatalf("Get = %s, %s, %v", data, etag, err)
	}
	if err := st.Delete(ctx, "quota/a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Get(ctx, "quota/a"); !errors.Is(err, quota.ErrNotFound) {
		t.Errorf("Get of a deleted lease = %v, want quota.ErrNotFound", err)
	}
	want := storage.Location{Scheme: storage.SchemeCOS, Bucket: bucket}
	if len(opener.opens) != 6 { // two Puts, List, Get, Delete, Get
		t.Errorf("opened %d times, want 6: once per call", len(opener.opens))
	}
	for _, loc := range opener.opens {
		if loc != want {
			t.Errorf("opened %v, want %v", loc, want)
		}
	}
}
