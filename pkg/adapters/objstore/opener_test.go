package objstore_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/job/storage"
)

// TestOpenerSignsWithTheCredentialsOfTheMoment: every COS request of a store
// the Opener opened is signed with the credentials its source gives at that
// request (SCF renews the role's while the process lives), and none is
// signed when the source gives none.
func TestOpenerSignsWithTheCredentialsOfTheMoment(t *testing.T) {
	srv, bucket := newServer(t)
	var (
		mu  sync.Mutex
		aks []string // the q-ak of each request's signature, "" for none
	)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, _ := url.ParseQuery(r.Header.Get("Authorization"))
		mu.Lock()
		aks = append(aks, q.Get("q-ak"))
		mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	id := "AKIDfirst"
	o, err := objstore.NewOpener(objstore.OpenerConfig{
		COSBucketURL:   front.URL + "/{bucket}",
		COSCredentials: func() (string, string, string) { return id, "key-of-" + id, "token" },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s, err := o.Open(ctx, storage.Location{Scheme: storage.SchemeCOS, Bucket: bucket}, "gz")
	if err != nil {
		t.Fatal(err)
	}
	for _, next := range []string{"AKIDrenewed", ""} {
		if err := s.Put(ctx, "k", strings.NewReader("data"), "text/plain"); err != nil {
			t.Fatal(err)
		}
		id = next
	}
	if _, err := s.Stat(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(aks, ",") != "AKIDfirst,AKIDrenewed," {
		t.Errorf("requests signed by %q, want AKIDfirst, AKIDrenewed, then unsigned", aks)
	}
}

// TestOpenerS3ClientOnFirstUse: without a client, the Opener makes one from
// the SDK's default chain when the first S3 bucket is opened, not before.
func TestOpenerS3ClientOnFirstUse(t *testing.T) {
	srv, bucket := newServer(t)
	o, err := objstore.NewOpener(objstore.OpenerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.S3Endpoint())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-test-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	s, err := o.Open(t.Context(), storage.Location{Scheme: storage.SchemeS3, Bucket: bucket}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "k", strings.NewReader("data"), ""); err != nil {
		t.Fatal(err)
	}
	if got, err := srv.GetObject(bucket, "k"); err != nil || string(got) != "data" {
		t.Errorf("stored %q, %v", got, err)
	}
}

// TestOpenerErrors: a template without {bucket} is refused at once; a COS
// bucket with no region where the template needs one names the variable
// that gives the function's; an unknown scheme is named.
func TestOpenerErrors(t *testing.T) {
	if _, err := objstore.NewOpener(objstore.OpenerConfig{COSBucketURL: "https://cos.example.com"}); err == nil || !strings.Contains(err.Error(), "{bucket}") {
		t.Errorf("a template without {bucket}: %v", err)
	}
	o, err := objstore.NewOpener(objstore.OpenerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := o.Open(ctx, storage.Location{Scheme: storage.SchemeCOS, Bucket: "files-1250000000"}, ""); err == nil || !strings.Contains(err.Error(), "TENCENTCLOUD_REGION") {
		t.Errorf("no region: %v, want an error naming TENCENTCLOUD_REGION", err)
	}
	s, err := o.Open(ctx, storage.Location{Scheme: storage.SchemeCOS, Bucket: "files-1250000000"}, "gz")
	if err != nil || s.Name() != "cos://files-1250000000" {
		t.Errorf("the default template with the event's region: %v, %v", s, err)
	}
	if _, err := o.Open(ctx, storage.Location{Scheme: "gs", Bucket: "x"}, ""); err == nil || !strings.Contains(err.Error(), "unknown scheme") {
		t.Errorf("unknown scheme: %v", err)
	}
}
