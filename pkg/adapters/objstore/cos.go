package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/tencentyun/cos-go-sdk-v5"
)

// DefaultCOSBucketURLTemplate is the public endpoint of a COS bucket:
// {bucket} is the full bucket name with its appid, {region} the long region
// name (ap-guangzhou).
const DefaultCOSBucketURLTemplate = "https://{bucket}.cos.{region}.myqcloud.com"

// listPageSize is the number of keys asked for per listing request (the
// services' maximum).
const listPageSize = 1000

// COSCredentials are the keys that sign COS requests. On SCF the function's
// role gives them in TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY and
// TENCENTCLOUD_SESSIONTOKEN. An empty SecretID sends unsigned requests.
type COSCredentials struct {
	SecretID     string
	SecretKey    string
	SessionToken string
}

// COSBucketURL fills a bucket URL template: {bucket} becomes the bucket name
// (with its appid), {region} the region, which may be a short code as COS
// events carry it ([COSRegion] converts it). An empty template means
// [DefaultCOSBucketURLTemplate].
func COSBucketURL(template, bucket, region string) (string, error) {
	if template == "" {
		template = DefaultCOSBucketURLTemplate
	}
	if !strings.Contains(template, "{bucket}") {
		return "", fmt.Errorf("COS bucket URL template %q has no {bucket}", template)
	}
	if err := (storage.Location{Scheme: storage.SchemeCOS, Bucket: bucket}).Validate(); err != nil {
		return "", err
	}
	if strings.Contains(template, "{region}") {
		if region == "" {
			return "", fmt.Errorf("COS bucket URL template %q needs a region", template)
		}
		template = strings.ReplaceAll(template, "{region}", COSRegion(region))
	}
	s := strings.ReplaceAll(template, "{bucket}", bucket)
	if _, err := parseBucketURL(s); err != nil {
		return "", err
	}
	return s, nil
}

// COSRegion returns the long name of a COS region ("ap-guangzhou") for the
// short code that COS events and older APIs use ("gz"). Long names, and codes
// it does not know, come back unchanged.
func COSRegion(code string) string {
	if long, ok := cosRegions[strings.ToLower(code)]; ok {
		return long
	}
	return code
}

// cosRegions maps short region codes to long region names. Sources: the
// region abbreviations of Tencent Cloud's API documentation (Cloud Monitor's
// "地域缩写" table, which COS trigger events use: gz, sh, cd, ...), and COS's
// legacy region names (XML API v4: tj, sgp, ca, ger, cn-south, ...).
var cosRegions = map[string]string{
	// Mainland China
	"gz":      "ap-guangzhou",
	"gzopen":  "ap-guangzhou-open",
	"sh":      "ap-shanghai",
	"bj":      "ap-beijing",
	"tj":      "ap-beijing-1", // legacy COS "North China" (Tianjin)
	"tsn":     "ap-tianjin",
	"cd":      "ap-chengdu",
	"cq":      "ap-chongqing",
	"nj":      "ap-nanjing",
	"szx":     "ap-shenzhen",
	"qy":      "ap-qingyuan",
	"szjr":    "ap-shenzhen-fsi",
	"shjr":    "ap-shanghai-fsi",
	"bjjr":    "ap-beijing-fsi",
	"hzec":    "ap-hangzhou-ec",
	"jnec":    "ap-jinan-ec",
	"fzec":    "ap-fuzhou-ec",
	"whec":    "ap-wuhan-ec",
	"csec":    "ap-changsha-ec",
	"sjwec":   "ap-shijiazhuang-ec",
	"hfeec":   "ap-hefei-ec",
	"sheec":   "ap-shenyang-ec",
	"xiyec":   "ap-xian-ec",
	"xbec":    "ap-xibei-ec",
	"cgoec":   "ap-zhengzhou-ec",
	"szsycft": "ap-shenzhen-sycft",
	"qyxa":    "ap-qingyuan-xinan",
	// legacy COS names of mainland regions
	"cn-south":     "ap-guangzhou",
	"cn-south-2":   "ap-guangzhou-2",
	"cn-east":      "ap-shanghai",
	"cn-north":     "ap-beijing-1",
	"cn-southwest": "ap-chengdu",
	// Hong Kong, Macao, Taiwan and abroad
	"hk":  "ap-hongkong",
	"tpe": "ap-taipei",
	"sg":  "ap-singapore",
	"sgp": "ap-singapore", // legacy COS
	"jkt": "ap-jakarta",
	"th":  "ap-bangkok",
	"bkk": "ap-bangkok",
	"kr":  "ap-seoul",
	"jp":  "ap-tokyo",
	"tyo": "ap-tokyo",
	"osa": "ap-osaka",
	"in":  "ap-mumbai",
	"usw": "na-siliconvalley",
	"use": "na-ashburn",
	"ca":  "na-toronto", // legacy COS
	"tor": "na-toronto",
	"de":  "eu-frankfurt",
	"ger": "eu-frankfurt", // legacy COS
	"ru":  "eu-moscow",
	"sao": "sa-saopaulo",
}

// parseBucketURL checks a COS bucket URL: http or https, with a host.
func parseBucketURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("COS bucket URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("COS bucket URL %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("COS bucket URL %q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("COS bucket URL %q: query or fragment not allowed", s)
	}
	return u, nil
}

// NewCOS returns the Store of the COS bucket at bucketURL, usually
// "https://{bucket}.cos.{region}.myqcloud.com" (see [COSBucketURL]). Requests
// are signed with cred; hc, if not nil, gives the transport and timeout.
//
// The SDK keeps only the scheme and host of a bucket URL. A URL with a path
// ("http://127.0.0.1:9000/accounts-1250000000") is honoured too: the path is
// put in front of every request's path after signing, so the signature is the
// one COS itself would check. That serves gateways and the path-style local
// stand-in of package memstore; the bucket name is then the path's last
// segment rather than the host's first label.
func NewCOS(bucketURL string, cred COSCredentials, hc *http.Client) (storage.Store, error) {
	return newCOS(bucketURL, hc, func(next http.RoundTripper) http.RoundTripper {
		return &cos.AuthorizationTransport{
			SecretID:     cred.SecretID,
			SecretKey:    cred.SecretKey,
			SessionToken: cred.SessionToken,
			Transport:    next,
		}
	})
}

// newCOS is [NewCOS] with sign, which puts the transport that signs each
// request in front of next (nil: the SDK's choice of transport).
func newCOS(bucketURL string, hc *http.Client, sign func(next http.RoundTripper) http.RoundTripper) (storage.Store, error) {
	u, err := parseBucketURL(bucketURL)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(u.EscapedPath(), "/")
	name, _, _ := strings.Cut(u.Hostname(), ".")
	if prefix != "" {
		name = prefix[strings.LastIndex(prefix, "/")+1:]
	}
	if name == "" {
		return nil, fmt.Errorf("COS bucket URL %q: no bucket name in it", bucketURL)
	}

	var transport http.RoundTripper
	client := &http.Client{}
	if hc != nil {
		transport = hc.Transport
		client.Timeout = hc.Timeout
		client.CheckRedirect = hc.CheckRedirect
	}
	if prefix != "" {
		if transport == nil {
			transport = http.DefaultTransport
		}
		transport = &pathPrefixTransport{prefix: prefix, next: transport}
	}
	client.Transport = sign(transport)
	root := &url.URL{Scheme: u.Scheme, Host: u.Host}
	return &cosStore{client: cos.NewClient(&cos.BaseURL{BucketURL: root}, client), name: name}, nil
}

// pathPrefixTransport puts an escaped path prefix in front of each request's
// path.
type pathPrefixTransport struct {
	prefix string
	next   http.RoundTripper
}

func (t *pathPrefixTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u, err := url.Parse(t.prefix + req.URL.EscapedPath())
	if err != nil {
		return nil, fmt.Errorf("prefix the request path: %w", err)
	}
	r := req.Clone(req.Context())
	r.URL.Path, r.URL.RawPath = u.Path, u.RawPath
	return t.next.RoundTrip(r)
}

// cosStore is the storage port on one COS bucket.
type cosStore struct {
	client *cos.Client
	name   string

	condMu sync.Mutex
	conds  *storage.Conditions // nil until the service answered
}

var _ storage.Store = (*cosStore)(nil)

func (s *cosStore) Name() string { return storage.SchemeCOS + "://" + s.name }

func (s *cosStore) Open(ctx context.Context, key string, off int64, etag string) (io.ReadCloser, storage.Info, error) {
	if err := checkOffset(off); err != nil {
		return nil, storage.Info{}, fmt.Errorf("open %s/%s: %w", s.Name(), key, err)
	}
	// Ask for the bytes as stored: Go's transport would otherwise ask for gzip
	// and inflate objects stored with Content-Encoding: gzip.
	header := http.Header{"Accept-Encoding": {"identity"}}
	if etag != "" {
		header.Set("If-Match", quoteETag(etag))
	}
	opt := &cos.ObjectGetOptions{XOptionHeader: &header}
	if off > 0 {
		opt.Range = fmt.Sprintf("bytes=%d-", off)
	}
	resp, err := s.client.Object.Get(ctx, key, opt)
	if err != nil {
		if cosStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			return openAtEnd(ctx, s, key, off, etag)
		}
		return nil, storage.Info{}, s.fail("open", key, err)
	}
	info := storage.Info{Key: key, ETag: storage.TrimETag(resp.Header.Get("ETag")), Size: resp.ContentLength, Modified: lastModified(resp.Header)}
	if n, ok := sizeFromContentRange(resp.Header.Get("Content-Range")); ok {
		info.Size = n
	}
	if etag != "" && info.ETag != storage.TrimETag(etag) {
		resp.Body.Close()
		return nil, storage.Info{}, fmt.Errorf("open %s/%s: etag %s, want %s: %w", s.Name(), key, info.ETag, storage.TrimETag(etag), storage.ErrChanged)
	}
	return resp.Body, info, nil
}

func (s *cosStore) Stat(ctx context.Context, key string) (storage.Info, error) {
	resp, err := s.client.Object.Head(ctx, key, nil)
	if err != nil {
		return storage.Info{}, s.fail("stat", key, err)
	}
	return storage.Info{Key: key, Size: resp.ContentLength, ETag: storage.TrimETag(resp.Header.Get("ETag")), Modified: lastModified(resp.Header)}, nil
}

func (s *cosStore) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error {
	if _, err := s.put(ctx, key, body, contentType, nil); err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

// put sends a PUT Object with the extra header, if any.
func (s *cosStore) put(ctx context.Context, key string, body io.ReadSeeker, contentType string, header http.Header) (*cos.Response, error) {
	size, err := remaining(body)
	if err != nil {
		return nil, err
	}
	var r io.Reader = body
	if size == 0 {
		// The SDK sends a known-empty body only for the bytes/strings readers.
		r = strings.NewReader("")
	}
	opt := &cos.ObjectPutOptions{ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{
		ContentType:   contentType,
		ContentLength: size,
	}}
	if header != nil {
		opt.XOptionHeader = &header
	}
	return s.client.Object.Put(ctx, key, r, opt)
}

// Conditions: COS's PUT Object documents one precondition,
// x-cos-forbid-overwrite: true, which refuses to overwrite an object of the
// same name in a bucket that has never had versioning enabled (Tencent Cloud
// COS API: PUT Object, https://cloud.tencent.com/document/product/436/7749,
// and Initiate Multipart Upload, https://www.tencentcloud.com/document/product/436/7746,
// request headers). It documents neither If-Match nor If-None-Match on PUT.
// So Create is honoured when GET Bucket versioning answers an empty
// VersioningConfiguration, which it does for a bucket whose versioning was
// never enabled or suspended (COS API: GET Bucket versioning); IfMatch never.
// The answer is kept for the store's life, a refusal (4xx) too; a question
// that failed otherwise is asked again.
func (s *cosStore) Conditions(ctx context.Context) storage.Conditions {
	s.condMu.Lock()
	defer s.condMu.Unlock()
	if s.conds != nil {
		return *s.conds
	}
	res, _, err := s.client.Bucket.GetVersioning(ctx)
	var c storage.Conditions
	switch {
	case err == nil && res.Status == "":
		c = storage.Conditions{Create: true, Note: "COS: x-cos-forbid-overwrite to create (the bucket never had versioning); no If-Match on PUT"}
	case err == nil:
		c = storage.Conditions{Note: fmt.Sprintf("COS: the bucket's versioning is %s, so x-cos-forbid-overwrite is not honoured; no If-Match on PUT", res.Status)}
	case cosStatus(err)/100 == 4: // refused for good, e.g. 403: the role lacks cos:GetBucketVersioning
		c = storage.Conditions{Note: fmt.Sprintf("COS: the bucket's versioning state could not be read (HTTP %d): no conditional writes", cosStatus(err))}
	default:
		return storage.Conditions{Note: "COS: the bucket's versioning state could not be read now: " + err.Error()}
	}
	s.conds = &c
	return c
}

func (s *cosStore) PutIf(ctx context.Context, key string, body io.ReadSeeker, contentType string, cond storage.Condition) (string, error) {
	if err := cond.Validate(); err != nil {
		return "", fmt.Errorf("put %s/%s: %w", s.Name(), key, err)
	}
	if c := s.Conditions(ctx); !c.Supports(cond) {
		return "", fmt.Errorf("put %s/%s (%s): %w (%s)", s.Name(), key, cond, storage.ErrConditionUnsupported, c.Note)
	}
	resp, err := s.put(ctx, key, body, contentType, http.Header{"X-Cos-Forbid-Overwrite": {"true"}})
	if err != nil {
		// A refused overwrite comes back as 409 Conflict (FileAlreadyExists,
		// as other COS clients handle it); a 412 is taken the same way.
		if status := cosStatus(err); status == http.StatusConflict || status == http.StatusPreconditionFailed {
			return "", fmt.Errorf("put %s/%s (%s): %w: %w", s.Name(), key, cond, storage.ErrPreconditionFailed, err)
		}
		return "", s.fail("put", key, err)
	}
	return storage.TrimETag(resp.Header.Get("ETag")), nil
}

// remaining returns the number of bytes from the reader's position to its end.
func remaining(r io.Seeker) (int64, error) {
	cur, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("measure the body: %w", err)
	}
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("measure the body: %w", err)
	}
	if _, err := r.Seek(cur, io.SeekStart); err != nil {
		return 0, fmt.Errorf("measure the body: %w", err)
	}
	return end - cur, nil
}

func (s *cosStore) List(ctx context.Context, prefix string) ([]storage.Info, error) {
	var infos []storage.Info
	opt := &cos.BucketGetOptions{Prefix: prefix, MaxKeys: listPageSize}
	for {
		page, _, err := s.client.Bucket.Get(ctx, opt)
		if err != nil {
			return nil, s.fail("list", prefix, err)
		}
		for _, o := range page.Contents {
			infos = append(infos, storage.Info{Key: o.Key, Size: o.Size, ETag: storage.TrimETag(o.ETag)})
		}
		if !page.IsTruncated {
			return infos, nil
		}
		// Services answer NextMarker only with a delimiter; else the last key
		// is the marker.
		next := page.NextMarker
		if next == "" && len(page.Contents) > 0 {
			next = page.Contents[len(page.Contents)-1].Key
		}
		if next == "" || next == opt.Marker {
			return nil, fmt.Errorf("list %s/%s: truncated listing without a next marker", s.Name(), prefix)
		}
		opt.Marker = next
	}
}

func (s *cosStore) Delete(ctx context.Context, key string) error {
	if _, err := s.client.Object.Delete(ctx, key); err != nil && cosStatus(err) != http.StatusNotFound {
		return s.fail("delete", key, err)
	}
	return nil
}

// fail wraps an SDK error, adding ErrNotFound or ErrChanged where they apply.
func (s *cosStore) fail(op, key string, err error) error {
	var cerr *cos.ErrorResponse
	noBucket := errors.As(err, &cerr) && cerr.Code == "NoSuchBucket"
	return storeError(op, s.Name()+"/"+key, cosStatus(err), noBucket, err)
}

// lastModified reads an answer's Last-Modified header; zero if it has none.
func lastModified(h http.Header) time.Time {
	t, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// cosStatus returns the HTTP status of a COS error response, or 0.
func cosStatus(err error) int {
	var cerr *cos.ErrorResponse
	if errors.As(err, &cerr) && cerr.Response != nil {
		return cerr.Response.StatusCode
	}
	return 0
}
