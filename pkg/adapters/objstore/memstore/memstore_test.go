package memstore_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
)

const bucket = "accounts-1250000000"

func newServer(t *testing.T) *memstore.Server {
	t.Helper()
	s := memstore.New()
	t.Cleanup(s.Close)
	if err := s.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	return s
}

func do(t *testing.T, method, url string, body string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = http.NoBody
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHelpers(t *testing.T) {
	s := newServer(t)
	if err := s.CreateBucket(bucket); err == nil {
		t.Error("CreateBucket(existing) succeeded")
	}
	if err := s.CreateBucket("Bad_Name"); err == nil {
		t.Error("CreateBucket(Bad_Name) succeeded")
	}
	for _, k := range []string{"in/b.csv", "in/a.csv", "out/r.json"} {
		if err := s.PutObject(bucket, k, []byte("data of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutObject("no-such-bucket", "k", nil); err == nil {
		t.Error("PutObject(no such bucket) succeeded")
	}
	got, err := s.GetObject(bucket, "in/a.csv")
	if err != nil || string(got) != "data of in/a.csv" {
		t.Errorf("GetObject = %q, %v", got, err)
	}
	if _, err := s.GetObject(bucket, "missing"); err == nil {
		t.Error("GetObject(missing) succeeded")
	}
	tests := []struct {
		bucket, prefix string
		want           []string
	}{
		{bucket, "in/", []string{"in/a.csv", "in/b.csv"}},
		{bucket, "", []string{"in/a.csv", "in/b.csv", "out/r.json"}},
		{bucket, "none", []string{}},
		{"no-such-bucket", "", nil},
	}
	for _, tt := range tests {
		if got := s.List(tt.bucket, tt.prefix); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q, %q) = %q, want %q", tt.bucket, tt.prefix, got, tt.want)
		}
	}
	if tmpl := s.COSBucketURLTemplate(); tmpl != s.URL()+"/{bucket}" || s.S3Endpoint() != s.URL() {
		t.Errorf("COSBucketURLTemplate() = %q, S3Endpoint() = %q, URL() = %q", tmpl, s.S3Endpoint(), s.URL())
	}
}

// TestCOSHeaders checks the headers COS clients expect: the whole object's
// CRC-64/ECMA in decimal, real ETags, ranges.
func TestCOSHeaders(t *testing.T) {
	s := newServer(t)
	// "123456789" is the CRC catalogue's check input: CRC-64/XZ, which COS
	// calls crc64ecma, gives 0x995dc9bbdf1939fa.
	const data, crc = "123456789", "11051210869376104954"
	etag := func() string { sum := md5.Sum([]byte(data)); return `"` + hex.EncodeToString(sum[:]) + `"` }()
	url := s.URL() + "/" + bucket + "/dir/a%20b+c.txt"

	put := do(t, http.MethodPut, url, data, http.Header{"X-Amz-Checksum-Crc32": {"zvKqZQ=="}})
	tests := []struct {
		name        string
		resp        *http.Response
		status      int
		body        string
		contentRang string
		checksum    bool
	}{
		{"PUT", put, http.StatusOK, "", "", false},
		{"GET", do(t, http.MethodGet, url, "", nil), http.StatusOK, data, "", true},
		{"HEAD", do(t, http.MethodHead, url, "", nil), http.StatusOK, "", "", true},
		{"GET range", do(t, http.MethodGet, url, "", http.Header{"Range": {"bytes=4-"}}), http.StatusPartialContent, "56789", "bytes 4-8/9", false},
		{"GET query", do(t, http.MethodGet, url+"?x-id=GetObject", "", nil), http.StatusOK, data, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", tt.resp.StatusCode, tt.status)
			}
			h := tt.resp.Header
			if got := h.Get("x-cos-hash-crc64ecma"); got != crc {
				t.Errorf("x-cos-hash-crc64ecma = %q, want %s", got, crc)
			}
			if got := h.Get("ETag"); got != etag {
				t.Errorf("ETag = %q, want %s", got, etag)
			}
			if got := readAll(t, tt.resp.Body); got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
			if got := h.Get("Content-Range"); got != tt.contentRang {
				t.Errorf("Content-Range = %q, want %q", got, tt.contentRang)
			}
			if got := h.Get("X-Amz-Checksum-Crc32") != ""; got != tt.checksum {
				t.Errorf("x-amz-checksum-crc32 present = %v, want %v", got, tt.checksum)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		resp := do(t, http.MethodGet, s.URL()+"/"+bucket+"/missing", "", nil)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("x-cos-hash-crc64ecma") != "" {
			t.Errorf("status %d, crc %q; want 404 without a CRC", resp.StatusCode, resp.Header.Get("x-cos-hash-crc64ecma"))
		}
	})
}

func TestFailNext(t *testing.T) {
	s := newServer(t)
	if err := s.PutObject(bucket, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	url := s.URL() + "/" + bucket + "/k"
	tests := []struct {
		status int
		code   string
	}{
		{http.StatusServiceUnavailable, "SlowDown"},
		{http.StatusInternalServerError, "InternalError"},
		{http.StatusForbidden, "AccessDenied"},
		{http.StatusTeapot, "InjectedFault"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			s.FailNext(2, tt.status)
			for i := range 2 {
				resp := do(t, http.MethodGet, url, "", nil)
				var e struct{ Code string }
				if err := xml.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != tt.status || e.Code != tt.code {
					t.Fatalf("request %d: status %d, code %q, %v; want %d %s", i, resp.StatusCode, e.Code, err, tt.status, tt.code)
				}
			}
			if resp := do(t, http.MethodGet, url, "", nil); resp.StatusCode != http.StatusOK {
				t.Errorf("third request: status %d, want 200", resp.StatusCode)
			}
		})
	}

	t.Run("HEAD and PUT", func(t *testing.T) {
		s.FailNext(2, http.StatusInternalServerError)
		if resp := do(t, http.MethodHead, url, "", nil); resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("HEAD status %d", resp.StatusCode)
		}
		if resp := do(t, http.MethodPut, url, "new", nil); resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("PUT status %d", resp.StatusCode)
		}
		if got, _ := s.GetObject(bucket, "k"); string(got) != "v" {
			t.Errorf("object = %q after a failed PUT, want it unchanged", got)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		s.FailNext(5, http.StatusInternalServerError)
		s.FailNext(0, 0)
		if resp := do(t, http.MethodGet, url, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("status %d after FailNext(0, 0)", resp.StatusCode)
		}
	})
}

// TestConditionalPut checks the conditional writes of both services on the
// wire: COS's x-cos-forbid-overwrite (409 FileAlreadyExists in a bucket that
// never had versioning, ignored in a versioned one) and S3's If-None-Match and
// If-Match (412).
func TestConditionalPut(t *testing.T) {
	s := newServer(t)
	const versioned = "versioned-1250000000"
	if err := s.CreateBucket(versioned); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableVersioning(versioned); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableVersioning("no-such-bucket"); err == nil {
		t.Error("EnableVersioning(no such bucket) succeeded")
	}
	forbid := http.Header{"X-Cos-Forbid-Overwrite": {"true"}}
	for _, o := range []struct{ bucket, key string }{{bucket, "k"}, {bucket, "other"}, {versioned, "k"}} {
		if err := s.PutObject(o.bucket, o.key, []byte("original")); err != nil {
			t.Fatal(err)
		}
	}
	etag := `"` + func() string { sum := md5.Sum([]byte("original")); return hex.EncodeToString(sum[:]) }() + `"`
	tests := []struct {
		name   string
		bucket string
		key    string
		header http.Header
		status int
		code   string
	}{
		{"forbid over an object", bucket, "k", forbid, http.StatusConflict, "FileAlreadyExists"},
		{"forbid, case of the value", bucket, "k", http.Header{"X-Cos-Forbid-Overwrite": {"True"}}, http.StatusConflict, "FileAlreadyExists"},
		{"forbid false over an object", bucket, "other", http.Header{"X-Cos-Forbid-Overwrite": {"false"}}, http.StatusOK, ""},
		{"forbid, new key", bucket, "new", forbid, http.StatusOK, ""},
		{"forbid, versioned bucket: ignored", versioned, "k", forbid, http.StatusOK, ""},
		{"If-None-Match over an object", bucket, "k", http.Header{"If-None-Match": {"*"}}, http.StatusPreconditionFailed, "PreconditionFailed"},
		{"If-None-Match, versioned bucket", versioned, "k", http.Header{"If-None-Match": {"*"}}, http.StatusPreconditionFailed, "PreconditionFailed"},
		{"If-Match stale", bucket, "k", http.Header{"If-Match": {`"0123456789abcdef0123456789abcdef"`}}, http.StatusPreconditionFailed, "PreconditionFailed"},
		{"If-Match current", bucket, "k", http.Header{"If-Match": {etag}}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.GetObject(tt.bucket, tt.key)
			resp := do(t, http.MethodPut, s.URL()+"/"+tt.bucket+"/"+tt.key, "replacement", tt.header)
			var e struct{ Code string }
			if tt.code != "" {
				if err := xml.NewDecoder(resp.Body).Decode(&e); err != nil {
					t.Fatalf("error body: %v", err)
				}
			}
			if resp.StatusCode != tt.status || e.Code != tt.code {
				t.Fatalf("status %d, code %q; want %d %q", resp.StatusCode, e.Code, tt.status, tt.code)
			}
			got, _ := s.GetObject(tt.bucket, tt.key)
			if want := "replacement"; tt.status != http.StatusOK {
				if string(got) != string(before) {
					t.Errorf("object = %q after a refused PUT, want %q", got, before)
				}
			} else if string(got) != want {
				t.Errorf("object = %q, want %q", got, want)
			}
		})
	}
}

// TestCRCWhileWritten: the CRC of a whole-object answer is the CRC of that
// answer's own content, even while other writes of the object land at the
// same time (the COS SDK checks it; a stand-in that computed it from a later
// version made TestClaimTwoDeliveries fail now and then).
func TestCRCWhileWritten(t *testing.T) {
	s := newServer(t)
	url := s.URL() + "/" + bucket + "/state/race.json"
	table := crc64.MakeTable(crc64.ECMA)
	const writers, rounds = 4, 50
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	check := func(what string, resp *http.Response, body string) {
		want := strconv.FormatUint(crc64.Checksum([]byte(body), table), 10)
		if got := resp.Header.Get("x-cos-hash-crc64ecma"); got != want {
			fail("%s: x-cos-hash-crc64ecma %s, the content's is %s", what, got, want)
		}
	}
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				body := fmt.Sprintf(`{"writer":%d,"round":%d,"pad":%q}`, w, i, strings.Repeat("x", w*i))
				req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					fail("PUT: %v", err)
					return
				}
				resp.Body.Close()
				check("PUT", resp, body)
				resp, err = http.Get(url)
				if err != nil {
					fail("GET: %v", err)
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					fail("GET: %v", err)
					return
				}
				check("GET", resp, string(got))
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d answers carry another content's CRC; first: %s", len(errs), 2*writers*rounds, errs[0])
	}
}
