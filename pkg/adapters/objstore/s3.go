package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/removetag/removetag/pkg/job/storage"
)

// NewS3Client makes an S3 client from the SDK's default configuration chain
// (environment, shared files, the Lambda role). When a custom endpoint is set
// in AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (which the SDK honours), the
// client uses path-style addressing, as local stand-ins need.
func NewS3Client(ctx context.Context) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	custom := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = o.UsePathStyle || custom
		// Ranged GETs carry no checksum: the SDK would log a plain-text line for each.
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

// NewS3 returns the Store of an S3 bucket.
func NewS3(client *s3.Client, bucket string) storage.Store {
	return &s3Store{client: client, bucket: bucket}
}

// s3Store is the storage port on one S3 bucket.
type s3Store struct {
	client *s3.Client
	bucket string
}

var _ storage.Store = (*s3Store)(nil)

func (s *s3Store) Name() string { return storage.SchemeS3 + "://" + s.bucket }

func (s *s3Store) Open(ctx context.Context, key string, off int64, etag string) (io.ReadCloser, storage.Info, error) {
	if err := checkOffset(off); err != nil {
		return nil, storage.Info{}, fmt.Errorf("open %s/%s: %w", s.Name(), key, err)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	if etag != "" {
		in.IfMatch = aws.String(quoteETag(etag))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			return openAtEnd(ctx, s, key, off, etag)
		}
		return nil, storage.Info{}, s.fail("open", key, err)
	}
	info := storage.Info{Key: key, ETag: storage.TrimETag(aws.ToString(out.ETag)), Size: aws.ToInt64(out.ContentLength)}
	if out.LastModified != nil {
		info.Modified = out.LastModified.UTC()
	}
	if n, ok := sizeFromContentRange(aws.ToString(out.ContentRange)); ok {
		info.Size = n
	}
	// Not every S3-compatible service honours If-Match: check too.
	if etag != "" && info.ETag != storage.TrimETag(etag) {
		out.Body.Close()
		return nil, storage.Info{}, fmt.Errorf("open %s/%s: etag %s, want %s: %w", s.Name(), key, info.ETag, storage.TrimETag(etag), storage.ErrChanged)
	}
	return out.Body, info, nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (storage.Info, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return storage.Info{}, s.fail("stat", key, err)
	}
	info := storage.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: storage.TrimETag(aws.ToString(out.ETag))}
	if out.LastModified != nil {
		info.Modified = out.LastModified.UTC()
	}
	return info, nil
}

func (s *s3Store) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error {
	if _, err := s.client.PutObject(ctx, s.putInput(key, body, contentType)); err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

// putInput is the request of a put.
func (s *s3Store) putInput(key string, body io.ReadSeeker, contentType string) *s3.PutObjectInput {
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: body}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	return in
}

// Conditions: S3 honours both, on PutObject: If-None-Match: * (create only)
// and If-Match: an ETag (Amazon S3 User Guide, "How to prevent object
// overwrites with conditional writes",
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html;
// PutObjectInput.IfNoneMatch and IfMatch in the SDK).
func (s *s3Store) Conditions(context.Context) storage.Conditions {
	return storage.Conditions{Create: true, IfMatch: true, Note: "S3 conditional writes: If-None-Match: * to create, If-Match to replace"}
}

func (s *s3Store) PutIf(ctx context.Context, key string, body io.ReadSeeker, contentType string, cond storage.Condition) (string, error) {
	if err := cond.Validate(); err != nil {
		return "", fmt.Errorf("put %s/%s: %w", s.Name(), key, err)
	}
	in := s.putInput(key, body, contentType)
	if cond.Create {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(quoteETag(cond.IfMatch))
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return "", s.failPut(key, cond, err)
	}
	return storage.TrimETag(aws.ToString(out.ETag)), nil
}

// failPut wraps the error of a conditional put, adding ErrPreconditionFailed
// where the condition did not hold: 412 Precondition Failed; 409
// ConditionalRequestConflict, which S3 answers when another write to the key
// is under way (the SDK's documentation of IfMatch and IfNoneMatch): a race
// this writer lost or cannot know it won, so it is treated as lost; and a 404
// to If-Match, the object being gone.
func (s *s3Store) failPut(key string, cond storage.Condition, err error) error {
	var apiErr smithy.APIError
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	switch status := httpStatus(err); {
	case status == http.StatusPreconditionFailed,
		status == http.StatusConflict && code == "ConditionalRequestConflict",
		status == http.StatusNotFound && cond.IfMatch != "" && code != "NoSuchBucket":
		return fmt.Errorf("put %s/%s (%s): %w: %w", s.Name(), key, cond, storage.ErrPreconditionFailed, err)
	}
	return s.fail("put", key, err)
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]storage.Info, error) {
	var infos []storage.Info
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.fail("list", prefix, err)
		}
		for _, o := range page.Contents {
			infos = append(infos, storage.Info{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: storage.TrimETag(aws.ToString(o.ETag))})
		}
	}
	return infos, nil
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && httpStatus(err) != http.StatusNotFound {
		return s.fail("delete", key, err)
	}
	return nil
}

// fail wraps an SDK error, adding ErrNotFound or ErrChanged where they apply.
func (s *s3Store) fail(op, key string, err error) error {
	var apiErr smithy.APIError
	noBucket := errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket"
	return storeError(op, s.Name()+"/"+key, httpStatus(err), noBucket, err)
}

// httpStatus returns the HTTP status code an SDK error carries, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
