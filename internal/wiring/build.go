package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/removetag/removetag/pkg/adapters/invoke"
	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/objstore/leasestore"
	"github.com/removetag/removetag/pkg/adapters/secrets"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/quota"
)

// Build wires the function's core from cfg: the IM client and engine, the
// object stores, the self-invoker, the quota shared with every instance (leases
// in the first of cfg.Buckets, see [NewQuota]), the job service, and in front of
// it the HTTP semantics (the token, HTTP jobs bounded by cfg.HTTPTimeout; see
// [trigger.NewService]). It makes no network call but one read of the secret
// (see [serviceConfig]): the AWS clients are made on first use.
func Build(cfg Config, logger *slog.Logger) (trigger.Service, error) {
	jc, hc, err := serviceConfig(cfg, logger)
	if err != nil {
		return nil, err
	}
	svc, err := job.New(jc)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return trigger.NewService(svc, hc), nil
}

// secretReadTimeout bounds the first read of the secret.
const secretReadTimeout = 30 * time.Second

// serviceConfig makes the configuration of the job service and of its HTTP
// side from cfg. With REMOVETAG_SECRET, it reads the secret once (a network
// call) for the HTTP token, and the IM client takes its key from the same
// cache, read again after a few minutes or when IM refuses the key; a secret
// that cannot be read is an error naming it (the function answers it and
// builds again at the next invocation).
func serviceConfig(cfg Config, logger *slog.Logger) (job.Config, trigger.HTTPConfig, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	keys, err := NewSecrets(cfg, logger)
	if err != nil {
		return job.Config{}, trigger.HTTPConfig{}, err
	}
	token := cfg.HTTPToken
	if keys != nil {
		ctx, cancel := context.WithTimeout(context.Background(), secretReadTimeout)
		v, err := keys.Values(ctx)
		cancel()
		if err != nil {
			return job.Config{}, trigger.HTTPConfig{}, fmt.Errorf("configuration: %s: %w", EnvSecret, err)
		}
		if msg := checkToken(v.HTTPToken); msg != "" {
			return job.Config{}, trigger.HTTPConfig{}, fmt.Errorf("configuration: %s: %s in secret %s %s", EnvSecret, secrets.FieldToken, keys.Secret(), msg)
		}
		token = v.HTTPToken
	}
	var (
		ks     imapi.KeySource
		tokens trigger.TokenSource
	)
	if keys != nil {
		ks, tokens = keys, secretToken{keys}
	}
	client, err := NewIMClient(cfg, ks)
	if err != nil {
		return job.Config{}, trigger.HTTPConfig{}, err
	}
	engine := imapi.NewEngine(client, imapi.EngineConfig{Rate: cfg.RateLimit, Logger: logger})
	var shared job.Quota
	if len(cfg.Buckets) > 0 {
		// The first bucket coordinates: every instance's jobs share IM_RATE_LIMIT there.
		if shared, err = NewQuota(cfg, cfg.Buckets[0], logger); err != nil {
			return job.Config{}, trigger.HTTPConfig{}, err
		}
	}
	return job.Config{
		Engine:       engine,
		Quota:        shared,
		OpenStore:    NewStoreOpener(cfg),
		Invoker:      newInvoker(cfg),
		OutputPrefix: cfg.OutputPrefix,
		Buckets:      cfg.Buckets,
		SweepAfter:   cfg.SweepAfter,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Logger:       logger,
	}, trigger.HTTPConfig{Token: token, Tokens: tokens, Timeout: cfg.HTTPTimeout, Logger: logger}, nil
}

// NewIMClient returns the IM client of cfg, signing with keys if not nil
// (see [NewSecrets]), else with cfg.SecretKey.
func NewIMClient(cfg Config, keys imapi.KeySource) (*imapi.Client, error) {
	ic := imapi.Config{
		SDKAppID:  cfg.SDKAppID,
		SecretKey: cfg.SecretKey,
		Admin:     cfg.Admin,
		Region:    cfg.Region,
		BaseURL:   cfg.Endpoint,
	}
	if keys != nil {
		ic.SecretKey, ic.Keys = "", keys
	}
	client, err := imapi.NewClient(ic)
	if err != nil {
		// imapi's errors name its fields, never the key's value.
		return nil, fmt.Errorf("configuration: IM client (%s, %s, %s, %s): %w", EnvSDKAppID, EnvSecretKey, EnvRegion, EnvEndpoint, err)
	}
	return client, nil
}

// NewSecrets returns the cache of the secret named by REMOVETAG_SECRET, or
// nil without one. Nothing is read until it is used. On AWS Secrets Manager
// the client is the SDK's default chain, made on first use
// (AWS_ENDPOINT_URL_SECRETS_MANAGER points it elsewhere); on Tencent SSM
// each read is signed with the SCF role's credentials of the moment, in
// TENCENTCLOUD_REGION, at REMOVETAG_SSM_ENDPOINT if set.
func NewSecrets(cfg Config, logger *slog.Logger) (*secrets.Cache, error) {
	if cfg.Secret == nil {
		return nil, nil
	}
	ref := *cfg.Secret
	var r secrets.Reader
	switch ref.Store {
	case secrets.StoreAWS:
		r = &lazyAWSSecret{ref: ref, client: &lazy[*secretsmanager.Client]{make: secrets.NewAWSClient}}
	case secrets.StoreTencent:
		getenv := cfg.getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		tr, err := secrets.NewTencent(secrets.TencentConfig{
			Region:   cfg.TencentRegion,
			Endpoint: cfg.SSMEndpoint,
			Credentials: func() (string, string, string) {
				return getenv(EnvTencentSecretID), getenv(EnvTencentSecretKey), getenv(EnvTencentToken)
			},
		}, ref)
		if err != nil {
			return nil, fmt.Errorf("configuration: %s (%s, %s): %w", EnvSecret, EnvTencentRegion, EnvSSMEndpoint, err)
		}
		r = tr
	default:
		return nil, fmt.Errorf("configuration: %s: unknown store %q", EnvSecret, ref.Store)
	}
	if cfg.seen != nil {
		r = recordingReader{next: r, seen: cfg.seen}
	}
	return secrets.NewCache(r, ref, secrets.CacheConfig{Logger: logger}), nil
}

// lazyAWSSecret makes its Secrets Manager client on first use.
type lazyAWSSecret struct {
	ref    secrets.Ref
	client *lazy[*secretsmanager.Client]
}

// Read reads the secret.
func (l *lazyAWSSecret) Read(ctx context.Context) (secrets.Values, error) {
	c, err := l.client.get(ctx)
	if err != nil {
		return secrets.Values{}, &secrets.Error{Secret: l.ref, Err: err}
	}
	return secrets.NewAWS(c, l.ref).Read(ctx)
}

// secretToken gives the HTTP token from the secret as it is now: a rotated
// token is taken when the cache reads the secret again (every few minutes).
type secretToken struct{ c *secrets.Cache }

// HTTPToken returns the secret's HTTP_TOKEN.
func (t secretToken) HTTPToken(ctx context.Context) (string, error) {
	v, err := t.c.Values(ctx)
	if err != nil {
		return "", err
	}
	if msg := checkToken(v.HTTPToken); msg != "" {
		return "", fmt.Errorf("%s in secret %s %s", secrets.FieldToken, t.c.Secret(), msg)
	}
	return v.HTTPToken, nil
}

// recordingReader notes every value read, for Config.SecretValues.
type recordingReader struct {
	next secrets.Reader
	seen *seenValues
}

// Read reads the secret and notes its values.
func (r recordingReader) Read(ctx context.Context) (secrets.Values, error) {
	v, err := r.next.Read(ctx)
	if err == nil {
		r.seen.add(v.IMSecretKey, v.HTTPToken)
	}
	return v, err
}

// NewQuota returns the app's quota, cfg.RateLimit calls per second, shared by
// every job that joins it through leases in the bucket loc under
// {OutputPrefix}quota/ (see package quota). The bucket is opened on first use.
func NewQuota(cfg Config, loc storage.Location, logger *slog.Logger) (job.Quota, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	open := NewStoreOpener(cfg)
	st := &lazy[quota.Store]{make: func(ctx context.Context) (quota.Store, error) {
		s, err := open(ctx, storage.Location{Scheme: loc.Scheme, Bucket: loc.Bucket}, "")
		if err != nil {
			return nil, err
		}
		return leasestore.New(s), nil
	}}
	sharer, err := quota.New(quota.Config{
		Store:  lazyLeaseStore{st},
		Prefix: cfg.OutputPrefix + "quota/",
		Rate:   cfg.RateLimit,
		Logger: logger.With("coordination", loc.Scheme+"://"+loc.Bucket),
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: the shared quota (%s, %s, %s): %w", EnvBuckets, EnvOutputPrefix, EnvRateLimit, err)
	}
	return func(ctx context.Context) (imapi.Limiter, func()) {
		l := sharer.Join(ctx)
		return l, l.Release
	}, nil
}

// lazyLeaseStore is the quota's storage, opened on first use (a failure is
// tried again next time, as any storage error).
type lazyLeaseStore struct{ st *lazy[quota.Store] }

func (l lazyLeaseStore) Put(ctx context.Context, key string, data []byte) error {
	s, err := l.st.get(ctx)
	if err != nil {
		return err
	}
	return s.Put(ctx, key, data)
}

func (l lazyLeaseStore) List(ctx context.Context, prefix string) ([]quota.Object, error) {
	s, err := l.st.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.List(ctx, prefix)
}

func (l lazyLeaseStore) Get(ctx context.Context, key string) ([]byte, string, error) {
	s, err := l.st.get(ctx)
	if err != nil {
		return nil, "", err
	}
	return s.Get(ctx, key)
}

func (l lazyLeaseStore) Delete(ctx context.Context, key string) error {
	s, err := l.st.get(ctx)
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}

// NewStoreOpener opens S3 buckets through the AWS SDK's default chain (made
// once, on first use) and COS buckets through cfg.COSBucketURL, signed with the
// SCF role's credentials as they are at the time (the platform renews them).
// A COS bucket's region is the event's, or else TENCENTCLOUD_REGION.
func NewStoreOpener(cfg Config) job.StoreOpener {
	s3c := &lazy[*s3.Client]{make: objstore.NewS3Client}
	// One HTTP client, one connection pool, for every COS store. No overall timeout:
	// objects stream for as long as the invocation's context allows.
	cosHTTP := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	getenv := cfg.getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return func(ctx context.Context, loc storage.Location, region string) (storage.Store, error) {
		switch loc.Scheme {
		case storage.SchemeS3:
			c, err := s3c.get(ctx)
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", loc, err)
			}
			return objstore.NewS3(c, loc.Bucket), nil
		case storage.SchemeCOS:
			if region == "" {
				region = cfg.TencentRegion
			}
			u, err := objstore.COSBucketURL(cfg.COSBucketURL, loc.Bucket, region)
			if err != nil {
				if region == "" {
					return nil, fmt.Errorf("open cos://%s: no region: the event named none and %s is not set: %w", loc.Bucket, EnvTencentRegion, err)
				}
				return nil, fmt.Errorf("open cos://%s (%s): %w", loc.Bucket, EnvCOSBucketURL, err)
			}
			return objstore.NewCOS(u, objstore.COSCredentials{
				SecretID:     getenv(EnvTencentSecretID),
				SecretKey:    getenv(EnvTencentSecretKey),
				SessionToken: getenv(EnvTencentToken),
			}, cosHTTP)
		}
		return nil, fmt.Errorf("open %s: unknown scheme %q", loc, loc.Scheme)
	}
}

// newInvoker returns the self-invoker of the platform, or nil when the
// function's name is not known (long jobs then rely on the timer sweep). On
// Lambda the client is made on first use; on SCF every invocation is signed
// with the role's credentials as they are at the time. The invoked version is
// the running one, so that a chain stays on one version of the code.
func newInvoker(cfg Config) job.Invoker {
	switch cfg.Platform {
	case PlatformLambda:
		if cfg.LambdaFunctionName == "" {
			return nil
		}
		name := cfg.LambdaFunctionName
		if v := cfg.LambdaFunctionVersion; v != "" && v != "$LATEST" {
			name += ":" + v
		}
		return &lambdaInvoker{name: name, client: &lazy[*lambda.Client]{make: invoke.NewLambdaClient}}
	case PlatformSCF:
		if cfg.SCFFunctionName == "" {
			return nil
		}
		return &scfInvoker{cfg: cfg}
	}
	return nil
}

// Both self-invokers implement the service's port.
var (
	_ job.Invoker = (*lambdaInvoker)(nil)
	_ job.Invoker = (*scfInvoker)(nil)
)

// lambdaInvoker makes its Lambda client on first use.
type lambdaInvoker struct {
	name   string
	client *lazy[*lambda.Client]
}

// InvokeAsync invokes the function with payload, without waiting for it.
func (l *lambdaInvoker) InvokeAsync(ctx context.Context, payload []byte) error {
	c, err := l.client.get(ctx)
	if err != nil {
		return fmt.Errorf("invoke Lambda function %s: %w", l.name, err)
	}
	return invoke.NewLambda(c, l.name).InvokeAsync(ctx, payload)
}

// scfInvoker signs each invocation with the credentials of the moment.
type scfInvoker struct{ cfg Config }

// InvokeAsync invokes the function with payload, without waiting for it,
// signed with the credentials of the moment.
func (s *scfInvoker) InvokeAsync(ctx context.Context, payload []byte) error {
	getenv := s.cfg.getenv
	if getenv == nil {
		return errors.New("invoke SCF function: no credentials")
	}
	inv, err := invoke.NewSCF(invoke.SCFConfig{
		SecretID:     getenv(EnvTencentSecretID),
		SecretKey:    getenv(EnvTencentSecretKey),
		SessionToken: getenv(EnvTencentToken),
		Region:       s.cfg.TencentRegion,
		Namespace:    s.cfg.SCFNamespace,
		FunctionName: s.cfg.SCFFunctionName,
		Qualifier:    s.cfg.SCFFunctionVersion,
		Endpoint:     s.cfg.SCFEndpoint,
	})
	if err != nil {
		return fmt.Errorf("%w (set by SCF: %s, %s, %s, %s)", err, EnvTencentSecretID, EnvTencentSecretKey, EnvTencentRegion, EnvSCFFunctionName)
	}
	return inv.InvokeAsync(ctx, payload)
}

// lazy makes a value on first use and keeps it once made; a failure is
// returned and tried again next time.
type lazy[T any] struct {
	make func(context.Context) (T, error)

	mu   sync.Mutex
	val  T
	done bool
}

func (l *lazy[T]) get(ctx context.Context) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return l.val, nil
	}
	v, err := l.make(ctx)
	if err != nil {
		return v, err
	}
	l.val, l.done = v, true
	return v, nil
}
