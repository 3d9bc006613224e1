// Package wiring is the function's wiring root, apart from the adapters it
// wires: it assembles the function from its environment.
//
//   - [Load] reads and checks the configuration: every problem at once, each
//     naming its variable, never a secret's value.
//   - [Build] wires the core from it: the IM client and engine, the object
//     stores (S3 and COS), the self-invoker (Lambda or SCF), the quota shared
//     by every instance (package quota) and the application service of
//     package job, as the [trigger.App] the platform adapters run events
//     on. Clients that cost time to make are made on first use.
//   - [SecretVars] names the variables whose values must never be logged or
//     answered, for redact.Secrets.
//
// What both platform adapters share at run time is in package trigger (events
// and their dispatch) and package redact (secrets kept out of logs).
package wiring

import (
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/removetag/removetag/pkg/adapters/secrets"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Names of the environment variables the function reads.
const (
	EnvSDKAppID     = "IM_SDKAPPID"
	EnvSecretKey    = "IM_SECRET_KEY"
	EnvAdmin        = "IM_ADMIN"
	EnvRegion       = "IM_REGION"
	EnvEndpoint     = "IM_ENDPOINT"
	EnvRateLimit    = "IM_RATE_LIMIT"
	EnvTagAPI       = "IM_TAG_API"
	EnvHTTPToken    = "REMOVETAG_HTTP_TOKEN"
	EnvHTTPTimeout  = "REMOVETAG_HTTP_TIMEOUT"
	EnvOutputPrefix = "REMOVETAG_OUTPUT_PREFIX"
	EnvCOSBucketURL = "REMOVETAG_COS_BUCKET_URL"
	EnvBuckets      = "REMOVETAG_BUCKETS"
	EnvSCFEndpoint  = "REMOVETAG_SCF_ENDPOINT"
	EnvSweepAfter   = "REMOVETAG_SWEEP_AFTER"
	EnvMaxBodyBytes = "REMOVETAG_MAX_BODY_BYTES"
	EnvSecret       = "REMOVETAG_SECRET"
	EnvSSMEndpoint  = "REMOVETAG_SSM_ENDPOINT"
	EnvMetrics      = "REMOVETAG_METRICS"
	EnvMetricsNS    = "REMOVETAG_METRICS_NAMESPACE"
	EnvJournal      = "REMOVETAG_JOURNAL"

	// Set by Tencent SCF.
	EnvSCFFunctionName    = "SCF_FUNCTIONNAME"
	EnvSCFNamespace       = "SCF_NAMESPACE"
	EnvSCFFunctionVersion = "SCF_FUNCTIONVERSION"
	EnvTencentRegion      = "TENCENTCLOUD_REGION"
	EnvTencentSecretID    = "TENCENTCLOUD_SECRETID"
	EnvTencentSecretKey   = "TENCENTCLOUD_SECRETKEY"
	EnvTencentToken       = "TENCENTCLOUD_SESSIONTOKEN"

	// Set by AWS Lambda.
	EnvLambdaRuntimeAPI      = "AWS_LAMBDA_RUNTIME_API"
	EnvLambdaFunctionName    = "AWS_LAMBDA_FUNCTION_NAME"
	EnvLambdaFunctionVersion = "AWS_LAMBDA_FUNCTION_VERSION"
)

// secretVars are the variables whose values must never be logged or
// answered: the function's own secrets and the platforms' credentials.
var secretVars = []string{
	EnvSecretKey, EnvHTTPToken,
	EnvTencentSecretID, EnvTencentSecretKey, EnvTencentToken,
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
}

// SecretVars returns the names of the variables whose values must never be
// logged or answered, for redact.Secrets: IM_SECRET_KEY,
// REMOVETAG_HTTP_TOKEN, and the credentials SCF and Lambda set.
func SecretVars() []string { return slices.Clone(secretVars) }

// Defaults of [Config].
const (
	// DefaultHTTPTimeout bounds an HTTP job below the gateways' own limits (API
	// Gateway's HTTP APIs wait 30 s): the caller gets the report, with the
	// records not done, rather than a gateway timeout.
	DefaultHTTPTimeout = 25 * time.Second
	// DefaultSCFNamespace is SCF's namespace when SCF_NAMESPACE is not set.
	DefaultSCFNamespace = "default"
	// MinTokenBytes is the shortest REMOVETAG_HTTP_TOKEN accepted: a bearer token
	// guards a public endpoint and must not be guessable.
	MinTokenBytes = 16
	// MaxBodyLimit bounds REMOVETAG_MAX_BODY_BYTES: the larger of the two
	// platforms' synchronous event limits (Lambda's 6,291,456 bytes; SCF's
	// "6MB"). No larger body or payload can reach the function.
	MaxBodyLimit = 6 << 20
)

// Platform is the serverless platform the process runs on.
type Platform string

// The platforms.
const (
	PlatformLambda Platform = "lambda"
	PlatformSCF    Platform = "scf"
)

// DetectPlatform tells the platform from the environment: AWS Lambda sets
// AWS_LAMBDA_RUNTIME_API; anything else is taken for SCF's Go1 runtime.
func DetectPlatform(getenv func(string) string) Platform {
	if getenv(EnvLambdaRuntimeAPI) != "" {
		return PlatformLambda
	}
	return PlatformSCF
}

// Config is the function's configuration, read by [Load]. Secrets (SecretKey,
// HTTPToken) never appear in its String or LogValue.
type Config struct {
	// Platform is where the process runs.
	Platform Platform

	// SDKAppID is the Chat app's ID (IM_SDKAPPID). Required.
	SDKAppID int
	// SecretKey signs the admin UserSig (IM_SECRET_KEY). Required unless
	// Secret is set. Secret.
	SecretKey string
	// Secret names the secret holding the IM key and the HTTP token
	// (REMOVETAG_SECRET), read at run time (see package secrets); when set,
	// SecretKey and HTTPToken are empty.
	Secret *secrets.Ref
	// SSMEndpoint overrides Tencent Cloud SSM's URL (REMOVETAG_SSM_ENDPOINT).
	SSMEndpoint string
	// Admin is the app admin account (IM_ADMIN); default "administrator".
	Admin string
	// Region selects the API domain (IM_REGION); default China.
	Region imapi.Region
	// Endpoint overrides the API's base URL (IM_ENDPOINT), e.g. http://127.0.0.1:8080.
	Endpoint string
	// RateLimit is the app's quota of calls per second (IM_RATE_LIMIT), shared
	// by the jobs of every instance through the first of Buckets; without
	// Buckets each instance uses all of it. Default 100.
	RateLimit float64
	// TagAPI is the tag API family every call goes to (IM_TAG_API):
	// imapi.AllMemberPush ("all_member_push", the default) or imapi.TimPush
	// ("timpush", the Push service's v4/timpush/*); the removals, the reads
	// of the journal and of `removetag check` follow it.
	TagAPI imapi.API

	// HTTPToken is the bearer token HTTP triggers require
	// (REMOVETAG_HTTP_TOKEN). Empty: HTTP triggers answer 503. Secret.
	HTTPToken string
	// HTTPTimeout bounds an HTTP job (REMOVETAG_HTTP_TIMEOUT); default 25 s;
	// 0: the invocation's own deadline only.
	HTTPTimeout time.Duration
	// OutputPrefix is where reports, failed records and checkpoints go
	// (REMOVETAG_OUTPUT_PREFIX); default "removetag/", always ending in "/".
	OutputPrefix string
	// COSBucketURL is the COS bucket URL template (REMOVETAG_COS_BUCKET_URL);
	// empty: objstore.DefaultCOSBucketURLTemplate.
	COSBucketURL string
	// Buckets are where the timer sweep looks for checkpoints (REMOVETAG_BUCKETS);
	// the first also holds the leases on the shared quota.
	Buckets []storage.Location
	// SCFEndpoint overrides the SCF API's URL for self-invocation (REMOVETAG_SCF_ENDPOINT).
	SCFEndpoint string
	// MaxBodyBytes bounds an HTTP body or a direct payload
	// (REMOVETAG_MAX_BODY_BYTES); default job.DefaultMaxBodyBytes (4 MiB),
	// the largest body whose event, base64-encoded, fits the platforms' 6 MB
	// synchronous limit; at most MaxBodyLimit. Larger bodies are answered 413.
	MaxBodyBytes int64
	// SweepAfter is how long a checkpoint must have gone without an update
	// before the timer sweep takes its job over (REMOVETAG_SWEEP_AFTER);
	// default 20 minutes. It must exceed the function's timeout.
	SweepAfter time.Duration
	// NoJournal turns the journal off (REMOVETAG_JOURNAL=off): file jobs then
	// read no tags before removing them, and their reports have no Changed,
	// TagsRemoved or journal. On by default ("on").
	NoJournal bool

	// Metrics says whether the function writes each invocation's figures in
	// its platform's format (REMOVETAG_METRICS, "on" by default, or "off"):
	// CloudWatch EMF records on Lambda, CLS lines on SCF (package metrics).
	Metrics bool
	// MetricsNamespace is their CloudWatch namespace
	// (REMOVETAG_METRICS_NAMESPACE); default metrics.DefaultNamespace.
	MetricsNamespace string

	// SCFFunctionName, SCFNamespace and SCFFunctionVersion name the running
	// SCF function (SCF_FUNCTIONNAME, SCF_NAMESPACE, SCF_FUNCTIONVERSION).
	SCFFunctionName, SCFNamespace, SCFFunctionVersion string
	// TencentRegion is the SCF function's region (TENCENTCLOUD_REGION), e.g.
	// ap-guangzhou: the default region of COS buckets and of self-invocation.
	TencentRegion string

	// LambdaFunctionName and LambdaFunctionVersion name the running Lambda
	// function (AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION).
	LambdaFunctionName, LambdaFunctionVersion string

	// seen keeps every value read from Secret, for SecretValues.
	seen *seenValues

	// getenv reads credentials that the platform may renew while the process
	// lives (SCF role keys): they are looked up at each use, never kept.
	getenv func(string) string
}

// problems collects configuration errors, each naming its variable.
type problems []string

func (p *problems) add(name, format string, args ...any) {
	*p = append(*p, name+": "+fmt.Sprintf(format, args...))
}

// Error lists every problem, or is nil.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ConfigurationError{Problems: p}
}

// ConfigurationError is a configuration that cannot work: every problem found, each
// starting with the name of its variable. It never holds a secret's value.
type ConfigurationError struct {
	Problems []string
}

// Error lists the problems on one line.
func (e *ConfigurationError) Error() string {
	return "configuration: " + strings.Join(e.Problems, "; ")
}

// SecretValues returns every value read so far from the secret named by
// REMOVETAG_SECRET (keys and tokens, rotated ones too), for redact: they
// are not in the environment that redact.Secrets reads.
func (c Config) SecretValues() []string {
	if c.seen == nil {
		return nil
	}
	return c.seen.list()
}

// seenValues records secret values as they are read.
type seenValues struct {
	mu   sync.Mutex
	vals []string
}

func (s *seenValues) add(vals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vals {
		if v != "" && !slices.Contains(s.vals, v) {
			s.vals = append(s.vals, v)
		}
	}
}

// record notes the values of a read of the secret.
func (s *seenValues) record(v secrets.Values) { s.add(v.IMSecretKey, v.HTTPToken) }

func (s *seenValues) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.vals)
}

// tencentCredentials returns the SCF role's credentials of the moment: the
// platform renews them while the process lives, so they are read at each use
// (COS requests, SSM reads, self-invocations), never kept.
func (c Config) tencentCredentials() (secretID, secretKey, token string) {
	if c.getenv == nil {
		return "", "", ""
	}
	return c.getenv(EnvTencentSecretID), c.getenv(EnvTencentSecretKey), c.getenv(EnvTencentToken)
}

// checkToken says what is wrong with an HTTP token, or "".
func checkToken(t string) string {
	switch {
	case t == "":
	case strings.ContainsFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "contains white space or control characters (a pasted newline?); the token itself is not shown"
	case len(t) < MinTokenBytes:
		return fmt.Sprintf("too short (%d bytes): use at least %d random characters, e.g. openssl rand -hex 32", len(t), MinTokenBytes)
	}
	return ""
}

// Warnings lists configuration that works but probably not as meant: each
// names its variable.
func (c Config) Warnings() []string {
	var w []string
	if c.HTTPToken == "" && c.Secret == nil {
		w = append(w, EnvHTTPToken+": not set: HTTP triggers answer 503 and do nothing")
	}
	if len(c.Buckets) == 0 {
		w = append(w, EnvBuckets+": not set: the timer sweep has no bucket to look for checkpoints left behind, and instances do not share "+
			EnvRateLimit+" (each uses all of it and slows down on rate-limit answers)")
	}
	switch c.Platform {
	case PlatformSCF:
		if c.SCFFunctionName == "" {
			w = append(w, EnvSCFFunctionName+": not set: long files cannot continue by self-invocation, only by the timer sweep")
		} else if c.TencentRegion == "" {
			w = append(w, EnvTencentRegion+": not set: self-invocation and COS buckets have no default region")
		}
	case PlatformLambda:
		if c.LambdaFunctionName == "" {
			w = append(w, EnvLambdaFunctionName+": not set: long files cannot continue by self-invocation, only by the timer sweep")
		}
	}
	return w
}

// String describes the configuration for logs, secrets redacted.
func (c Config) String() string {
	var b strings.Builder
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Key + "=" + a.Value.String())
	}
	return b.String()
}

// LogValue describes the configuration for slog, secrets redacted.
func (c Config) LogValue() slog.Value { return slog.GroupValue(c.attrs()...) }

func (c Config) attrs() []slog.Attr {
	secret := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	buckets := make([]string, len(c.Buckets))
	for i, b := range c.Buckets {
		buckets[i] = b.String()
	}
	attrs := []slog.Attr{
		slog.String("platform", string(c.Platform)),
		slog.Int("sdkAppID", c.SDKAppID),
		slog.String("secretKey", secret(c.SecretKey)),
		slog.String("secret", secretRef(c.Secret)),
		slog.String("admin", c.Admin),
		slog.String("region", string(c.Region)),
		slog.String("endpoint", c.Endpoint),
		slog.Float64("rateLimit", c.RateLimit),
		slog.String("tagAPI", string(c.TagAPI)),
		slog.String("httpToken", secret(c.HTTPToken)),
		slog.String("httpTimeout", c.HTTPTimeout.String()),
		slog.String("outputPrefix", c.OutputPrefix),
		slog.String("cosBucketURL", c.COSBucketURL),
		slog.String("buckets", strings.Join(buckets, ",")),
		slog.Int64("maxBodyBytes", c.MaxBodyBytes),
		slog.String("sweepAfter", c.SweepAfter.String()),
		slog.Bool("metrics", c.Metrics),
		slog.String("metricsNamespace", c.MetricsNamespace),
		slog.Bool("journal", !c.NoJournal),
	}
	switch c.Platform {
	case PlatformSCF:
		attrs = append(attrs,
			slog.String("function", c.SCFFunctionName),
			slog.String("namespace", c.SCFNamespace),
			slog.String("tencentRegion", c.TencentRegion),
			slog.String("scfEndpoint", c.SCFEndpoint))
	case PlatformLambda:
		attrs = append(attrs, slog.String("function", c.LambdaFunctionName))
	}
	return attrs
}

// secretRef names the secret, or is empty.
func secretRef(r *secrets.Ref) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// checkURL accepts an absolute http(s) URL without query or fragment.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", clip(s))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want http(s)://host[:port][/path], without query", clip(s))
	}
	return nil
}

// parseDuration accepts a Go duration ("25s", "1m30s") or whole seconds ("25").
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.Atoi(s)
		if nerr != nil {
			return 0, fmt.Errorf("%q is not a duration: want e.g. 25s or 25 (seconds), 0 for none", clip(s))
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", clip(s))
	}
	return d, nil
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
