package objstore_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/job/storage"
)

// bucketSeq numbers the buckets the tests create.
var bucketSeq atomic.Int64

// newServer starts a fake store with one new bucket, named like a COS bucket
// (which S3 accepts too).
func newServer(t *testing.T) (*memstore.Server, string) {
	t.Helper()
	srv := memstore.New()
	t.Cleanup(srv.Close)
	bucket := fmt.Sprintf("test%d-1250000000", bucketSeq.Add(1))
	if err := srv.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	return srv, bucket
}

// newS3Client is an S3 client for the fake, retrying without delay.
func newS3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	})
}

func newS3Store(t *testing.T) (storage.Store, *memstore.Server) {
	srv, bucket := newServer(t)
	return objstore.NewS3(newS3Client(srv.S3Endpoint()), bucket), srv
}

func newCOSStore(t *testing.T) (storage.Store, *memstore.Server) {
	t.Helper()
	srv, bucket := newServer(t)
	u, err := objstore.COSBucketURL(srv.COSBucketURLTemplate(), bucket, "gz")
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.NewCOS(u, objstore.COSCredentials{SecretID: "id", SecretKey: "key", SessionToken: "token"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

// backends are the stores under test, with the conditional writes each must
// report on a new bucket.
var backends = []struct {
	name     string
	scheme   string
	newStore func(t *testing.T) (storage.Store, *memstore.Server)
	conds    storage.Conditions
}{
	{"S3", storage.SchemeS3, newS3Store, storage.Conditions{Create: true, IfMatch: true}},
	{"COS", storage.SchemeCOS, newCOSStore, storage.Conditions{Create: true}},
	{"COS versioned", storage.SchemeCOS, newVersionedCOSStore, storage.Conditions{}},
	{"S3 opened", storage.SchemeS3, openedStore(storage.SchemeS3), storage.Conditions{Create: true, IfMatch: true}},
	{"COS opened", storage.SchemeCOS, openedStore(storage.SchemeCOS), storage.Conditions{Create: true}},
}

// openedStore makes stores of the scheme as an Opener opens them: COS
// requests signed with the credentials of the moment.
func openedStore(scheme string) func(t *testing.T) (storage.Store, *memstore.Server) {
	return func(t *testing.T) (storage.Store, *memstore.Server) {
		t.Helper()
		srv, bucket := newServer(t)
		o, err := objstore.NewOpener(objstore.OpenerConfig{
			COSBucketURL:   srv.COSBucketURLTemplate(),
			COSRegion:      "ap-guangzhou",
			COSCredentials: func() (string, string, string) { return "id", "key", "token" },
			S3Client:       newS3Client(srv.S3Endpoint()),
		})
		if err != nil {
			t.Fatal(err)
		}
		s, err := o.Open(t.Context(), storage.Location{Scheme: scheme, Bucket: bucket}, "")
		if err != nil {
			t.Fatal(err)
		}
		return s, srv
	}
}

func TestContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			newStore := func(t *testing.T) storage.Store {
				s, _ := b.newStore(t)
				return s
			}
			runContract(t, newStore)
			t.Run("Conditional", func(t *testing.T) { runConditionalContract(t, newStore, b.conds) })
		})
	}
}

func TestName(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.newStore(t)
			if !strings.HasPrefix(s.Name(), b.scheme+"://test") || !strings.HasSuffix(s.Name(), "-1250000000") {
				t.Errorf("Name() = %q, want %s://test…-1250000000", s.Name(), b.scheme)
			}
			if _, err := storage.ParseLocation(s.Name()); err != nil {
				t.Errorf("ParseLocation(Name()): %v", err)
			}
		})
	}
}

// TestFaults checks that storage failures surface as errors that are neither
// ErrNotFound nor ErrChanged, and that the SDKs retry a passing failure.
func TestFaults(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, srv := b.newStore(t)
			ctx := t.Context()
			if err := s.Put(ctx, "k", strings.NewReader("data"), ""); err != nil {
				t.Fatal(err)
			}
			ops := []struct {
				name string
				do   func() error
			}{
				{"Open", func() error {
					rc, _, err := s.Open(ctx, "k", 1, "")
					if err == nil {
						rc.Close()
					}
					return err
				}},
				{"Stat", func() error { _, err := s.Stat(ctx, "k"); return err }},
				{"Put", func() error { return s.Put(ctx, "k", strings.NewReader("data"), "") }},
				{"List", func() error { _, err := s.List(ctx, ""); return err }},
				{"Delete", func() error { return s.Delete(ctx, "other") }},
			}
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusForbidden} {
						srv.FailNext(100, status)
						err := op.do()
						srv.FailNext(0, 0)
						if err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrChanged) {
							t.Errorf("with status %d: error = %v, want a storage error", status, err)
						}
					}
					srv.FailNext(1, http.StatusServiceUnavailable)
					if err := op.do(); err != nil {
						t.Errorf("after one 503: %v, want the SDK to retry", err)
					}
					if err := op.do(); err != nil {
						t.Errorf("after faults: %v", err)
					}
				})
			}
		})
	}
}

// TestOpenGzipEncoded checks that objects stored with Content-Encoding: gzip
// are read as stored, not inflated on the way.
func TestOpenGzipEncoded(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Repeat("account\n", 1000)))
	zw.Close()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, srv := b.newStore(t)
			bucket := strings.TrimPrefix(s.Name(), b.scheme+"://")
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, srv.URL()+"/"+bucket+"/in.csv.gz", bytes.NewReader(gz.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Encoding", "gzip")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("raw PUT: %v, %v", resp, err)
			}
			resp.Body.Close()
			for _, off := range []int64{0, 10} {
				rc, info, err := s.Open(t.Context(), "in.csv.gz", off, "")
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, gz.Bytes()[off:]) || info.Size != int64(gz.Len()) {
					t.Errorf("Open(off %d) read %d bytes, size %d, %v; want the %d stored bytes", off, len(got), info.Size, err, gz.Len()-int(off))
				}
			}
		})
	}
}

func TestNewS3ClientPathStyle(t *testing.T) {
	srv, bucket := newServer(t)
	if err := srv.PutObject(bucket, "k", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_S3", "")
			t.Setenv("AWS_ENDPOINT_URL", "")
			t.Setenv(env, srv.S3Endpoint())
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
			t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
			client, err := objstore.NewS3Client(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !client.Options().UsePathStyle {
				t.Error("UsePathStyle = false with a custom endpoint")
			}
			info, err := objstore.NewS3(client, bucket).Stat(t.Context(), "k")
			if err != nil || info.Size != 5 {
				t.Errorf("Stat = %+v, %v", info, err)
			}
		})
	}
}

// TestCOSBucketURLPathPrefix checks that a bucket URL path reaches the server
// in front of the key, escaped as the key is.
func TestCOSBucketURLPathPrefix(t *testing.T) {
	srv, bucket := newServer(t)
	s, err := objstore.NewCOS(srv.URL()+"/"+bucket+"/", objstore.COSCredentials{}, &http.Client{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "a b/c+d", strings.NewReader("x"), ""); err != nil {
		t.Fatal(err)
	}
	if keys := srv.List(bucket, ""); len(keys) != 1 || keys[0] != "a b/c+d" {
		t.Errorf("keys = %q, want [a b/c+d]", keys)
	}
	if s.Name() != "cos://"+bucket {
		t.Errorf("Name() = %q", s.Name())
	}
}
