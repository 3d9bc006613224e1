package wiring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/removetag/removetag/pkg/adapters/awslambda"
	"github.com/removetag/removetag/pkg/adapters/invoke"
	"github.com/removetag/removetag/pkg/adapters/metrics"
	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/scf"
	"github.com/removetag/removetag/pkg/adapters/secrets"
	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/journal"
	"github.com/removetag/removetag/pkg/quota"
)

// Build wires the function's core from cfg: the IM client and engine, the
// object stores, the self-invoker, the quota shared with every instance (leases
// in the first of cfg.Buckets, see [NewQuota]), the job service, and in front of
// it the HTTP semantics (the token, HTTP jobs bounded by cfg.HTTPTimeout; see
// [trigger.NewApp]). It makes no network call but one read of the secret
// (see [serviceConfig]): the adapters make their clients on first use.
func Build(cfg Config, logger *slog.Logger) (trigger.App, error) {
	return BuildMetered(cfg, logger, MetricsOutput{})
}

// MetricsOutput is where the function's metrics go.
type MetricsOutput struct {
	// Out receives them, a record a line: the process's standard output,
	// which each platform sends to its logs; nil: no metrics.
	Out io.Writer
	// Secrets, if set, lists values redacted from every line.
	Secrets func() []string
}

// BuildMetered is [Build] for the function's process: unless cfg.Metrics is
// off or out.Out is nil, the App's Meter (see [NewMeter]) is told of every
// call the engine makes and writes each invocation's figures to out.Out.
func BuildMetered(cfg Config, logger *slog.Logger, out MetricsOutput) (trigger.App, error) {
	meter, err := NewMeter(cfg, out)
	if err != nil {
		return trigger.App{}, err
	}
	var obs imapi.Observer
	if meter != nil {
		obs = meter
	}
	jc, hc, err := serviceConfig(cfg, logger, obs)
	if err != nil {
		return trigger.App{}, err
	}
	svc, err := job.New(jc)
	if err != nil {
		return trigger.App{}, fmt.Errorf("configuration: %w", err)
	}
	app := trigger.NewApp(svc, hc)
	if meter != nil {
		app.Meter = meter
	}
	return app, nil
}

// NewMeter returns the meter of cfg's platform writing to out.Out, or nil
// when cfg.Metrics is off or out.Out is nil: CloudWatch EMF records on
// Lambda, CLS lines on SCF, in cfg.MetricsNamespace, the FunctionName
// dimension the running function's name, each record with the platform's
// request id.
func NewMeter(cfg Config, out MetricsOutput) (*metrics.Meter, error) {
	if !cfg.Metrics || out.Out == nil {
		return nil, nil
	}
	mc := metrics.Config{Namespace: cfg.MetricsNamespace, Out: out.Out, Secrets: out.Secrets}
	switch cfg.Platform {
	case PlatformLambda:
		mc.Format, mc.FunctionName, mc.RequestID = metrics.FormatEMF, cfg.LambdaFunctionName, awslambda.RequestID
	default:
		mc.Format, mc.FunctionName, mc.RequestID = metrics.FormatCLS, cfg.SCFFunctionName, scf.RequestID
	}
	m, err := metrics.New(mc)
	if err != nil {
		return nil, fmt.Errorf("configuration: %s, %s: %w", EnvMetrics, EnvMetricsNS, err)
	}
	return m, nil
}

// secretReadTimeout bounds the first read of the secret.
const secretReadTimeout = 30 * time.Second

// serviceConfig makes the configuration of the job service and of its HTTP
// side from cfg, the engine telling obs (if not nil) of every call. With REMOVETAG_SECRET, it reads the secret once (a network
// call) for the HTTP token, and the IM client takes its key from the same
// cache, read again after a few minutes or when IM refuses the key; a secret
// that cannot be read is an error naming it (the function answers it and
// builds again at the next invocation).
func serviceConfig(cfg Config, logger *slog.Logger, obs imapi.Observer) (job.Config, trigger.HTTPConfig, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	keys, err := NewSecrets(cfg, logger)
	if err != nil {
		return job.Config{}, trigger.HTTPConfig{}, err
	}
	hc := trigger.HTTPConfig{Token: cfg.HTTPToken, Timeout: cfg.HTTPTimeout, Logger: logger}
	var ks imapi.KeySource
	if keys != nil {
		ctx, cancel := context.WithTimeout(context.Background(), secretReadTimeout)
		hc.Token, err = keys.HTTPToken(ctx)
		cancel()
		if err != nil {
			return job.Config{}, trigger.HTTPConfig{}, fmt.Errorf("configuration: %s: %w", EnvSecret, err)
		}
		ks, hc.Tokens = keys, keys
	}
	client, err := NewIMClient(cfg, ks)
	if err != nil {
		return job.Config{}, trigger.HTTPConfig{}, err
	}
	opener, err := NewStoreOpener(cfg)
	if err != nil {
		return job.Config{}, trigger.HTTPConfig{}, err
	}
	var shared job.Quota
	if len(cfg.Buckets) > 0 {
		// The first bucket coordinates: every instance's jobs share IM_RATE_LIMIT there.
		if shared, err = NewQuota(cfg, opener, cfg.Buckets[0], logger); err != nil {
			return job.Config{}, trigger.HTTPConfig{}, err
		}
	}
	var journal journalReader
	if !cfg.NoJournal {
		journal = client
	}
	return job.Config{
		API:          cfg.TagAPI,
		Journal:      journal,
		Engine:       imapi.NewEngine(client, imapi.EngineConfig{Rate: cfg.RateLimit, Logger: logger, Observer: obs}),
		Quota:        shared,
		OpenStore:    opener,
		Invoker:      newInvoker(cfg, logger),
		OutputPrefix: cfg.OutputPrefix,
		Buckets:      cfg.Buckets,
		SweepAfter:   cfg.SweepAfter,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Logger:       logger,
	}, hc, nil
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
// nil without one: the IM client's key and the HTTP token, checked as
// REMOVETAG_HTTP_TOKEN is, every value read noted for Config.SecretValues.
// Nothing is read until it is used. On AWS Secrets Manager the client is the
// SDK's default chain, made on first use (AWS_ENDPOINT_URL_SECRETS_MANAGER
// points it elsewhere); on Tencent SSM each read is signed with the SCF
// role's credentials of the moment, in TENCENTCLOUD_REGION, at
// REMOVETAG_SSM_ENDPOINT if set.
func NewSecrets(cfg Config, logger *slog.Logger) (*secrets.Cache, error) {
	if cfg.Secret == nil {
		return nil, nil
	}
	ref := *cfg.Secret
	var r secrets.Reader
	switch ref.Store {
	case secrets.StoreAWS:
		r = secrets.NewAWS(nil, ref)
	case secrets.StoreTencent:
		tr, err := secrets.NewTencent(secrets.TencentConfig{
			Region:      cfg.TencentRegion,
			Endpoint:    cfg.SSMEndpoint,
			Credentials: cfg.tencentCredentials,
		}, ref)
		if err != nil {
			return nil, fmt.Errorf("configuration: %s (%s, %s): %w", EnvSecret, EnvTencentRegion, EnvSSMEndpoint, err)
		}
		r = tr
	default:
		return nil, fmt.Errorf("configuration: %s: unknown store %q", EnvSecret, ref.Store)
	}
	cc := secrets.CacheConfig{Logger: logger, TokenProblem: checkToken}
	if cfg.seen != nil {
		cc.OnRead = cfg.seen.record
	}
	return secrets.NewCache(r, ref, cc), nil
}

// NewQuota returns the app's quota, cfg.RateLimit calls per second, shared by
// every job that joins it through leases in the bucket loc under
// {OutputPrefix}quota/ (see package quota), opened through open at each
// lease operation (objstore.LeasesIn).
func NewQuota(cfg Config, open objstore.BucketOpener, loc storage.Location, logger *slog.Logger) (job.Quota, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sharer, err := quota.New(quota.Config{
		Store:  objstore.LeasesIn(open, loc),
		Prefix: cfg.OutputPrefix + "quota/",
		Rate:   cfg.RateLimit,
		Logger: logger.With("coordination", loc.Scheme+"://"+loc.Bucket),
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: the shared quota (%s, %s, %s): %w", EnvBuckets, EnvOutputPrefix, EnvRateLimit, err)
	}
	return sharer, nil
}

// NewStoreOpener returns the opener of S3 buckets, through the AWS SDK's
// default chain (made once, on first use), and of COS buckets, through
// cfg.COSBucketURL, signed with the SCF role's credentials of the moment
// (the platform renews them). A COS bucket's region is the event's, or else
// TENCENTCLOUD_REGION.
func NewStoreOpener(cfg Config) (*objstore.Opener, error) {
	o, err := objstore.NewOpener(objstore.OpenerConfig{
		COSBucketURL:   cfg.COSBucketURL,
		COSRegion:      cfg.TencentRegion,
		COSCredentials: cfg.tencentCredentials,
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %s: %w", EnvCOSBucketURL, err)
	}
	return o, nil
}

// newInvoker returns the self-invoker of the platform, or nil when the
// function's name is not known (long jobs then rely on the timer sweep). On
// Lambda the client is made on first use; on SCF every invocation is signed
// with the role's credentials of the moment, and goes to the namespace of the
// invocation that hands it on (SCF_NAMESPACE, then "default", when none is
// known). The invoked version is the running one, so that a chain stays on
// one version of the code.
func newInvoker(cfg Config, logger *slog.Logger) job.Invoker {
	switch cfg.Platform {
	case PlatformLambda:
		if cfg.LambdaFunctionName == "" {
			return nil
		}
		name := cfg.LambdaFunctionName
		if v := cfg.LambdaFunctionVersion; v != "" && v != "$LATEST" {
			name += ":" + v
		}
		return invoke.NewLambda(nil, name)
	case PlatformSCF:
		if cfg.SCFFunctionName == "" {
			return nil
		}
		inv, err := invoke.NewSCF(invoke.SCFConfig{
			Credentials:  cfg.tencentCredentials,
			Region:       cfg.TencentRegion,
			Namespace:    cfg.SCFNamespace,
			FunctionName: cfg.SCFFunctionName,
			Qualifier:    cfg.SCFFunctionVersion,
			Endpoint:     cfg.SCFEndpoint,
		})
		if err != nil {
			logger.Warn("configuration: no self-invocation: long files continue by the timer sweep only",
				"error", fmt.Sprintf("%v (set by SCF: %s, %s)", err, EnvTencentRegion, EnvSCFFunctionName))
			return nil
		}
		return inv
	}
	return nil
}

// journalReader is job.Config.Journal's type: nil, not a nil *imapi.Client, when off.
type journalReader = journal.Reader
