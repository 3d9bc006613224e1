package objstore

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tencentyun/cos-go-sdk-v5"

	"github.com/removetag/removetag/internal/lazy"
	"github.com/removetag/removetag/pkg/job/storage"
)

// OpenerConfig says how an [Opener] reaches buckets.
type OpenerConfig struct {
	// COSBucketURL is the template of COS bucket URLs (see [COSBucketURL]);
	// empty: [DefaultCOSBucketURLTemplate].
	COSBucketURL string
	// COSRegion is the region of a COS bucket whose event names none: the
	// function's own (TENCENTCLOUD_REGION on SCF).
	COSRegion string
	// COSCredentials gives the credentials of the moment, read for each COS
	// request: SCF renews the role's while the process lives (see
	// [COSCredentials] for where it puts them). Nil, or an empty SecretID:
	// unsigned requests.
	COSCredentials func() (secretID, secretKey, token string)
	// S3Client, if set, serves every S3 bucket; nil: a client of the SDK's
	// default chain ([NewS3Client]), made when the first S3 bucket is opened
	// (a failure is tried again at the next).
	S3Client *s3.Client
}

// Opener opens buckets by location: S3 buckets through one client, COS buckets
// through the bucket URL template, all of them over one connection pool. It
// is the job service's store-opening port (job.StoreOpener), and safe for
// concurrent use.
type Opener struct {
	cfg     OpenerConfig
	s3      *lazy.Value[*s3.Client]
	cosHTTP *http.Client
}

// NewOpener checks cfg's COS bucket URL template and returns the Opener of cfg.
// It makes no network call.
func NewOpener(cfg OpenerConfig) (*Opener, error) {
	if _, err := COSBucketURL(cfg.COSBucketURL, "example-1250000000", "ap-guangzhou"); err != nil {
		return nil, err
	}
	return &Opener{
		cfg: cfg,
		s3: lazy.New(func(ctx context.Context) (*s3.Client, error) {
			if cfg.S3Client != nil {
				return cfg.S3Client, nil
			}
			return NewS3Client(ctx)
		}),
		// No overall timeout: objects stream for as long as the invocation's
		// context allows.
		cosHTTP: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}, nil
}

// Open returns the Store of loc's bucket (its key is ignored). region is the
// region an event named (COS events carry a short code such as "gz"), or ""
// for OpenerConfig.COSRegion. It makes no network call but, for the first S3
// bucket, what the SDK's default chain needs.
func (o *Opener) Open(ctx context.Context, loc storage.Location, region string) (storage.Store, error) {
	switch loc.Scheme {
	case storage.SchemeS3:
		c, err := o.s3.Get(ctx)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", loc, err)
		}
		return NewS3(c, loc.Bucket), nil
	case storage.SchemeCOS:
		if region == "" {
			region = o.cfg.COSRegion
		}
		u, err := COSBucketURL(o.cfg.COSBucketURL, loc.Bucket, region)
		if err != nil {
			if region == "" {
				return nil, fmt.Errorf("open cos://%s: no region: the event named none and the function has none (TENCENTCLOUD_REGION): %w", loc.Bucket, err)
			}
			return nil, fmt.Errorf("open cos://%s: %w", loc.Bucket, err)
		}
		return newCOS(u, o.cosHTTP, func(next http.RoundTripper) http.RoundTripper {
			return &signer{creds: o.cfg.COSCredentials, next: next}
		})
	}
	return nil, fmt.Errorf("open %s: unknown scheme %q", loc, loc.Scheme)
}

// signer signs each request with the credentials of the moment.
type signer struct {
	creds func() (secretID, secretKey, token string)
	next  http.RoundTripper // nil: the SDK's choice
}

// RoundTrip signs req with the credentials creds gives now, and sends it.
func (s *signer) RoundTrip(req *http.Request) (*http.Response, error) {
	t := &cos.AuthorizationTransport{Transport: s.next}
	if s.creds != nil {
		t.SecretID, t.SecretKey, t.SessionToken = s.creds()
	}
	return t.RoundTrip(req)
}
