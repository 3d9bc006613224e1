// Package objstore implements the job service's object storage port
// ([storage.Store]) for Amazon S3 ([NewS3]) and Tencent Cloud COS ([NewCOS]),
// and its store-opening port (job.StoreOpener) with an [Opener] of buckets
// by location, which owns the clients and reads the credentials.
//
// Both implementations behave alike (a shared contract test suite runs against
// both); the behaviour they share is written down in package storage.
//
// Package memstore holds an in-memory server that both implementations can
// talk to, for tests and local runs.
package objstore

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/removetag/removetag/pkg/job/storage"
)

// emptyBody is the stream of an Open at the object's end.
func emptyBody() io.ReadCloser { return io.NopCloser(strings.NewReader("")) }

// quoteETag puts quotes around an ETag for a conditional request header.
func quoteETag(etag string) string { return `"` + storage.TrimETag(etag) + `"` }

// checkOffset rejects negative offsets.
func checkOffset(off int64) error {
	if off < 0 {
		return fmt.Errorf("negative offset %d", off)
	}
	return nil
}

// sizeFromContentRange returns the complete length in a Content-Range header
// value ("bytes 10-99/100"), or false.
func sizeFromContentRange(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok || total == "*" {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil
}

// openAtEnd serves an Open whose ranged GET was refused as unsatisfiable
// (HTTP 416): the offset is at or past the end. At the end it is an empty
// stream; past it an error.
func openAtEnd(ctx context.Context, s storage.Store, key string, off int64, etag string) (io.ReadCloser, storage.Info, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, storage.Info{}, err
	}
	if etag != "" && info.ETag != storage.TrimETag(etag) {
		return nil, storage.Info{}, fmt.Errorf("open %s/%s: etag %s, want %s: %w", s.Name(), key, info.ETag, storage.TrimETag(etag), storage.ErrChanged)
	}
	if off != info.Size {
		return nil, storage.Info{}, fmt.Errorf("open %s/%s: offset %d beyond the object's size %d", s.Name(), key, off, info.Size)
	}
	return emptyBody(), info, nil
}

// storeError wraps an SDK error of op on what (bucket/key), adding
// storage.ErrNotFound for a missing object (not a missing bucket: that is a
// configuration error) and storage.ErrChanged for a failed precondition, from
// the answer's HTTP status.
func storeError(op, what string, status int, noBucket bool, err error) error {
	switch {
	case status == http.StatusNotFound && !noBucket:
		return fmt.Errorf("%s %s: %w: %w", op, what, storage.ErrNotFound, err)
	case status == http.StatusPreconditionFailed:
		return fmt.Errorf("%s %s: %w: %w", op, what, storage.ErrChanged, err)
	}
	return fmt.Errorf("%s %s: %w", op, what, err)
}
