package objstore

// A bucket (a storage.Store) as the storage of the quota leases of package
// quota, which knows nothing of object storage SDKs.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/quota"
)

// maxLeaseBytes bounds the read of one lease: a lease is about 150 bytes.
const maxLeaseBytes = 64 << 10

// BucketOpener opens a bucket: [Opener] does.
type BucketOpener interface {
	Open(ctx context.Context, loc storage.Location, region string) (storage.Store, error)
}

// leases is a bucket seen as a quota.Store.
type leases struct {
	// bucket returns the bucket's Store.
	bucket func(ctx context.Context) (storage.Store, error)
}

var _ quota.Store = leases{}

// Leases returns s as the storage of quota leases.
func Leases(s storage.Store) quota.Store {
	return leases{bucket: func(context.Context) (storage.Store, error) { return s, nil }}
}

// LeasesIn returns the storage of quota leases in loc's bucket, opened
// through o at each call: opening makes no network call (o keeps the
// clients), and a failure to open is that call's error, as any storage
// error, tried again at the next. InBucket itself opens nothing.
func LeasesIn(o BucketOpener, loc storage.Location) quota.Store {
	bucket := storage.Location{Scheme: loc.Scheme, Bucket: loc.Bucket}
	return leases{bucket: func(ctx context.Context) (storage.Store, error) { return o.Open(ctx, bucket, "") }}
}

// Put stores data under key.
func (st leases) Put(ctx context.Context, key string, data []byte) error {
	s, err := st.bucket(ctx)
	if err != nil {
		return err
	}
	return s.Put(ctx, key, bytes.NewReader(data), "application/json")
}

// List lists the objects under prefix with their ETags.
func (st leases) List(ctx context.Context, prefix string) ([]quota.Object, error) {
	s, err := st.bucket(ctx)
	if err != nil {
		return nil, err
	}
	infos, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	objs := make([]quota.Object, len(infos))
	for i, in := range infos {
		objs[i] = quota.Object{Key: in.Key, ETag: in.ETag}
	}
	return objs, nil
}

// Get reads an object whole; a missing one is quota.ErrNotFound.
func (st leases) Get(ctx context.Context, key string) ([]byte, string, error) {
	s, err := st.bucket(ctx)
	if err != nil {
		return nil, "", err
	}
	rc, info, err := s.Open(ctx, key, 0, "")
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", fmt.Errorf("%w: %w", quota.ErrNotFound, err)
	}
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxLeaseBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s/%s: %w", s.Name(), key, err)
	}
	if len(data) > maxLeaseBytes {
		return nil, "", fmt.Errorf("read %s/%s: over %d bytes: not a lease", s.Name(), key, maxLeaseBytes)
	}
	return data, info.ETag, nil
}

// Delete removes the object.
func (st leases) Delete(ctx context.Context, key string) error {
	s, err := st.bucket(ctx)
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}
