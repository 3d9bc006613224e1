// Package memstore runs an in-memory object storage server that speaks enough
// of S3 and of Tencent Cloud COS for the SDKs of both: gofakes3 with its s3mem
// backend, behind a small handler that adds what COS clients expect.
//
// One server holds any number of buckets; S3 and COS clients see the same
// buckets and objects. Point an S3 client at [Server.S3Endpoint] with
// path-style addressing (AWS_ENDPOINT_URL_S3 does it for
// objstore.NewS3Client). Point a COS client at the bucket URL made from
// [Server.COSBucketURLTemplate]: "http://127.0.0.1:PORT/{bucket}".
//
// # How COS requests find their bucket
//
// The COS SDK (cos-go-sdk-v5) keeps only the scheme and host of a bucket URL
// and sends "/key", so a bucket cannot be chosen by the URL path it is given,
// and names like bucket.localhost do not resolve everywhere. The template puts
// the bucket in the path anyway, and objstore.NewCOS honours a bucket URL's
// path by putting it in front of every request's path (after signing). The
// server thus sees ordinary path-style requests, "/bucket/key", for COS as for
// S3, on a single listener, from this process or any other.
//
// # What it adds to gofakes3
//
//   - x-cos-hash-crc64ecma on successful object GET, HEAD and PUT responses:
//     the CRC-64/ECMA of the whole object, in decimal, as COS sends it (the COS
//     SDK checks it after a PUT).
//   - No x-amz-checksum-* headers on 206 answers: like S3, a Range GET carries
//     no whole-object checksum (the AWS SDK would check it against the part).
//   - COS's create-only header, x-cos-forbid-overwrite: true, honoured as COS
//     documents it: in a bucket that never had versioning enabled, a PUT over
//     an existing object is refused with 409 FileAlreadyExists; in any other
//     bucket the header is ignored. It goes through the same atomic check as
//     If-None-Match, so of racing creates exactly one succeeds.
//   - [Server.FailNext], to make requests fail; [Server.EnableVersioning].
//
// gofakes3 itself serves real ETags (MD5 of the content), Range requests,
// paginated listings (1000 keys a page) and 404s for missing keys. It honours
// S3's conditional writes, If-None-Match: * and If-Match on PUT (412 when they
// do not hold), checked and written under one lock; it ignores If-Match on
// GET, so clients must compare ETags themselves.
package memstore

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is an in-memory S3 and COS server for tests.
type Server struct {
	backend *s3mem.Backend
	http    *httptest.Server
	s3      http.Handler
	table   *crc64.Table

	mu         sync.Mutex
	failLeft   int
	failStatus int
	crcs       map[string]uint64 // CRC-64/ECMA by MD5 (hex) of the content
	objects    map[string]*objectLock
}

// objectLock serializes the whole-object calls of one key (see ServeHTTP);
// users counts the calls holding or waiting for it.
type objectLock struct {
	sync.Mutex
	users int
}

// lockObject locks the object named bucket/key and returns its unlock, which
// may be called more than once.
func (s *Server) lockObject(name string) (unlock func()) {
	s.mu.Lock()
	l := s.objects[name]
	if l == nil {
		l = &objectLock{}
		s.objects[name] = l
	}
	l.users++
	s.mu.Unlock()
	l.Lock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.Unlock()
			s.mu.Lock()
			if l.users--; l.users == 0 {
				delete(s.objects, name)
			}
			s.mu.Unlock()
		})
	}
}

// New starts a server on a loopback port. Close it when done.
func New() *Server {
	s := &Server{
		backend: s3mem.New(),
		table:   crc64.MakeTable(crc64.ECMA),
		crcs:    make(map[string]uint64),
		objects: make(map[string]*objectLock),
	}
	s.s3 = gofakes3.New(s.backend, gofakes3.WithTimeSkewLimit(0)).Server()
	s.http = httptest.NewServer(s)
	return s
}

// URL is the server's root URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.http.URL }

// S3Endpoint is the endpoint for S3 clients (path-style addressing), e.g. for
// AWS_ENDPOINT_URL_S3.
func (s *Server) S3Endpoint() string { return s.http.URL }

// COSBucketURLTemplate is a bucket URL template for objstore.COSBucketURL:
// "http://127.0.0.1:PORT/{bucket}" (see the package documentation).
func (s *Server) COSBucketURLTemplate() string { return s.http.URL + "/{bucket}" }

// Close shuts the server down.
func (s *Server) Close() { s.http.Close() }

// CreateBucket creates an empty bucket.
func (s *Server) CreateBucket(name string) error {
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	if err := s.backend.CreateBucket(name); err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	return nil
}

// PutObject stores data under key in an existing bucket.
func (s *Server) PutObject(bucket, key string, data []byte) error {
	meta := map[string]string{
		"Content-Type":  "application/octet-stream",
		"Last-Modified": time.Now().UTC().Format(http.TimeFormat),
	}
	if _, err := s.backend.PutObject(bucket, key, meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// GetObject returns the content of an object.
func (s *Server) GetObject(bucket, key string) ([]byte, error) {
	obj, err := s.backend.GetObject(bucket, key, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	defer obj.Contents.Close()
	data, err := io.ReadAll(obj.Contents)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return data, nil
}

// List returns the keys in bucket that start with prefix, in order; none if
// the bucket does not exist.
func (s *Server) List(bucket, prefix string) []string {
	p := gofakes3.NewPrefix(&prefix, nil)
	objs, err := s.backend.ListBucket(bucket, &p, gofakes3.ListBucketPage{})
	if err != nil {
		return nil
	}
	keys := make([]string, 0, len(objs.Contents))
	for _, c := range objs.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

// EnableVersioning turns versioning on for a bucket. COS then ignores
// x-cos-forbid-overwrite, for good: suspending versioning later does not bring
// it back.
func (s *Server) EnableVersioning(bucket string) error {
	err := s.backend.SetVersioningConfiguration(bucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled})
	if err != nil {
		return fmt.Errorf("enable versioning of %s: %w", bucket, err)
	}
	return nil
}

// FailNext makes the next n requests, of any kind, fail with the HTTP status
// (an S3-style XML error body, none for HEAD). FailNext(0, 0) cancels what is
// left. SDKs retry some failures (5xx, 429) on their own, each retry being a
// request: to make an operation fail, pass an n above the client's attempts.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft, s.failStatus = n, status
}

// takeFault returns the status to fail the current request with, or 0.
func (s *Server) takeFault() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failLeft <= 0 {
		return 0
	}
	s.failLeft--
	return s.failStatus
}

// ServeHTTP serves S3 and COS requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if status := s.takeFault(); status != 0 {
		s.fail(w, r, status)
		return
	}
	if !isObjectCall(r) {
		s.s3.ServeHTTP(w, r)
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	// The CRC header is computed from a second read of the object: no other
	// write of it may land between the handler's own read or write and that
	// one, or a client checking the CRC (the COS SDK does) sees a mismatch
	// that no real COS would give. The object's lock is held until the
	// header is sent; a GET's body then streams without it.
	unlock := s.lockObject(bucket + "/" + key)
	defer unlock()
	hw := &headerHook{ResponseWriter: w, before: func(status int) {
		s.decorate(w.Header(), status, bucket, key)
		unlock()
	}}
	if r.Method == http.MethodPut && s.forbidsOverwrite(r, bucket) {
		// Checked by gofakes3 as an If-None-Match: *, atomically with the write.
		r = r.Clone(r.Context())
		r.Header.Set("If-None-Match", "*")
		s.s3.ServeHTTP(&conflictWriter{ResponseWriter: hw, s: s, r: r}, r)
	} else {
		s.s3.ServeHTTP(hw, r)
	}
	hw.finish()
}

// forbidsOverwrite reports whether a PUT carries x-cos-forbid-overwrite: true
// into a bucket that never had versioning enabled, where COS honours it.
func (s *Server) forbidsOverwrite(r *http.Request, bucket string) bool {
	if !strings.EqualFold(r.Header.Get("x-cos-forbid-overwrite"), "true") || r.Header.Get("x-amz-copy-source") != "" {
		return false
	}
	v, err := s.backend.VersioningConfiguration(bucket)
	return err == nil && v.Status == ""
}

// conflictWriter answers, in place of gofakes3's 412 to the If-None-Match a
// forbidden overwrite became, COS's 409 FileAlreadyExists.
type conflictWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	replace bool
}

func (c *conflictWriter) WriteHeader(status int) {
	if status == http.StatusPreconditionFailed {
		c.replace = true
		c.s.writeError(c.ResponseWriter, c.r, http.StatusConflict, "FileAlreadyExists",
			"the object exists and x-cos-forbid-overwrite forbids replacing it")
		return
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *conflictWriter) Write(p []byte) (int, error) {
	if c.replace {
		return len(p), nil // gofakes3's 412 body
	}
	return c.ResponseWriter.Write(p)
}

// isObjectCall reports whether r reads or writes a whole, current object: a
// GET, HEAD or PUT of /bucket/key, not of a version or upload part.
func isObjectCall(r *http.Request) bool {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" || key == "" {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut:
	default:
		return false
	}
	q := r.URL.Query()
	return !q.Has("uploadId") && !q.Has("uploads") && !q.Has("partNumber") && !q.Has("versionId")
}

// decorate adjusts the headers of a successful object response before they
// are sent.
func (s *Server) decorate(h http.Header, status int, bucket, key string) {
	if status/100 != 2 {
		return
	}
	if crc, ok := s.crc(bucket, key); ok {
		h.Set("x-cos-hash-crc64ecma", strconv.FormatUint(crc, 10))
	}
	if status == http.StatusPartialContent {
		for name := range h {
			if strings.HasPrefix(strings.ToLower(name), "x-amz-checksum-") {
				h.Del(name)
			}
		}
	}
}

// crc returns the CRC-64/ECMA of an object's content, computed once per
// content.
func (s *Server) crc(bucket, key string) (uint64, bool) {
	obj, err := s.backend.GetObject(bucket, key, nil)
	if err != nil {
		return 0, false
	}
	defer obj.Contents.Close()
	id := hex.EncodeToString(obj.Hash)
	s.mu.Lock()
	crc, ok := s.crcs[id]
	s.mu.Unlock()
	if ok {
		return crc, true
	}
	h := crc64.New(s.table)
	if _, err := io.Copy(h, obj.Contents); err != nil {
		return 0, false
	}
	crc = h.Sum64()
	s.mu.Lock()
	s.crcs[id] = crc
	s.mu.Unlock()
	return crc, true
}

// fail answers an injected fault.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int) {
	s.writeError(w, r, status, faultCode(status), "fault injected by memstore")
}

// writeError answers with an S3- and COS-style XML error (no body for HEAD).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	// Read the body so that the client sees the answer rather than a reset.
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	body := struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		Resource  string
		RequestID string `xml:"RequestId"`
	}{Code: code, Message: message, Resource: r.URL.Path, RequestID: "memstore"}
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(body)
}

// faultCode is the S3 error code that goes with an HTTP status.
func faultCode(status int) string {
	switch status {
	case http.StatusForbidden:
		return "AccessDenied"
	case http.StatusNotFound:
		return "NoSuchKey"
	case http.StatusPreconditionFailed:
		return "PreconditionFailed"
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return "SlowDown"
	case http.StatusInternalServerError:
		return "InternalError"
	}
	return "InjectedFault"
}

// headerHook calls before once, just before the response's header is sent.
type headerHook struct {
	http.ResponseWriter
	before func(status int)
	done   bool
}

func (h *headerHook) WriteHeader(status int) {
	if !h.done {
		h.done = true
		h.before(status)
	}
	h.ResponseWriter.WriteHeader(status)
}

func (h *headerHook) Write(p []byte) (int, error) {
	if !h.done {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(p)
}

// finish runs the hook for a handler that wrote nothing (an implicit 200).
func (h *headerHook) finish() {
	if !h.done {
		h.done = true
		h.before(http.StatusOK)
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (h *headerHook) Unwrap() http.ResponseWriter { return h.ResponseWriter }
