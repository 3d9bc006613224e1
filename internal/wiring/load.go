package wiring

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/removetag/removetag/pkg/adapters/metrics"
	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/secrets"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// Load reads the function's configuration through getenv (os.Getenv in
// production) and checks it. It reports every problem at once, each naming
// its variable, as a *[ConfigurationError]; secrets' values are never quoted.
func Load(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		Platform:              DetectPlatform(getenv),
		Admin:                 l.get(EnvAdmin),
		Endpoint:              l.get(EnvEndpoint),
		COSBucketURL:          l.get(EnvCOSBucketURL),
		SCFEndpoint:           l.get(EnvSCFEndpoint),
		SCFFunctionName:       l.get(EnvSCFFunctionName),
		SCFNamespace:          l.get(EnvSCFNamespace),
		SCFFunctionVersion:    l.get(EnvSCFFunctionVersion),
		TencentRegion:         l.get(EnvTencentRegion),
		LambdaFunctionName:    l.get(EnvLambdaFunctionName),
		LambdaFunctionVersion: l.get(EnvLambdaFunctionVersion),
		getenv:                getenv,
	}
	l.app(&c)
	l.credentials(&c)
	l.http(&c)
	l.storage(&c)
	l.platform(&c)
	l.metrics(&c)
	return c, l.bad.err()
}

// LoadStorage reads, through getenv, only what reaching the buckets and
// naming a job's objects need (REMOVETAG_OUTPUT_PREFIX, REMOVETAG_BUCKETS,
// REMOVETAG_SWEEP_AFTER, REMOVETAG_COS_BUCKET_URL, TENCENTCLOUD_REGION and
// the Tencent Cloud credentials, read at each use; the AWS SDK's own
// variables for S3), and checks it as Load does: for the command line's
// status and cancel, which make no IM call and need no app.
func LoadStorage(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		Platform:      DetectPlatform(getenv),
		COSBucketURL:  l.get(EnvCOSBucketURL),
		TencentRegion: l.get(EnvTencentRegion),
		getenv:        getenv,
	}
	l.storage(&c)
	return c, l.bad.err()
}

// loader reads variables and collects the problems of their values.
type loader struct {
	getenv func(string) string
	bad    problems
}

// get returns a variable's value without surrounding white space.
func (l *loader) get(name string) string { return strings.TrimSpace(l.getenv(name)) }

// app reads what names the Chat app and where its API is: SDKAppID, admin,
// region, endpoint and the call rate.
func (l *loader) app(c *Config) {
	switch s := l.get(EnvSDKAppID); {
	case s == "":
		l.bad.add(EnvSDKAppID, "required: the Chat app's SDKAppID, e.g. 1400000000")
	default:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n == 0 {
			l.bad.add(EnvSDKAppID, "%q is not an SDKAppID: want a positive whole number, e.g. 1400000000", clip(s))
		}
		c.SDKAppID = int(n)
	}
	if c.Admin == "" {
		c.Admin = imapi.DefaultAdmin
	} else if len(c.Admin) > records.MaxAccountBytes || strings.ContainsFunc(c.Admin, unicode.IsSpace) {
		l.bad.add(EnvAdmin, "%q is not a UserID: at most %d bytes, no spaces", clip(c.Admin), records.MaxAccountBytes)
	}
	if r, err := imapi.ParseRegion(l.get(EnvRegion)); err != nil {
		l.bad.add(EnvRegion, "%q is not a region; known: %s", clip(l.get(EnvRegion)), strings.Join(imapi.RegionNames(), ", "))
	} else {
		c.Region = r
	}
	if c.Endpoint != "" {
		l.checkURL(EnvEndpoint, c.Endpoint)
		c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	}
	if a, err := imapi.ParseAPI(l.get(EnvTagAPI)); err != nil {
		l.bad.add(EnvTagAPI, "%q is not a tag API: want %s (the default) or %s (the Push service's v4/timpush/*); `removetag check` says which the app can use", clip(l.get(EnvTagAPI)), imapi.AllMemberPush, imapi.TimPush)
	} else {
		c.TagAPI = a
	}
	c.RateLimit = imapi.MaxCallsPerSecond
	if s := l.get(EnvRateLimit); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0 && f <= imapi.MaxCallsPerSecond) {
			l.bad.add(EnvRateLimit, "%q: want calls per second, a number above 0 and at most %d (the API's limit)", clip(s), imapi.MaxCallsPerSecond)
		} else {
			c.RateLimit = f
		}
	}
}

// credentials reads the key and the HTTP token: from the environment, or the
// name of the secret that holds both (never both ways at once).
func (l *loader) credentials(c *Config) {
	c.SSMEndpoint = l.get(EnvSSMEndpoint)
	if c.SSMEndpoint != "" {
		l.checkURL(EnvSSMEndpoint, c.SSMEndpoint)
	}
	c.SecretKey = l.getenv(EnvSecretKey)
	switch ref := l.get(EnvSecret); {
	case ref != "":
		r, err := secrets.ParseRef(ref)
		if err != nil {
			l.bad.add(EnvSecret, "%v", err)
		} else {
			c.Secret, c.seen = &r, &seenValues{}
		}
		if c.SecretKey != "" || l.getenv(EnvHTTPToken) != "" {
			l.bad.add(EnvSecret, "is set, so %s and %s must not be: the secret holds both (as IM_SECRET_KEY and HTTP_TOKEN); unset them", EnvSecretKey, EnvHTTPToken)
		}
		c.SecretKey = ""
	case strings.TrimSpace(c.SecretKey) == "":
		l.bad.add(EnvSecretKey, "required: the Chat app's secret key (or name a secret holding it in %s)", EnvSecret)
	case c.SecretKey != strings.TrimSpace(c.SecretKey):
		l.bad.add(EnvSecretKey, "has white space before or after the key (a pasted newline?); the key itself is not shown")
	}
	if c.Secret == nil {
		c.HTTPToken = l.getenv(EnvHTTPToken)
		if msg := checkToken(c.HTTPToken); msg != "" {
			l.bad.add(EnvHTTPToken, "%s", msg)
		}
	}
}

// http reads the bounds of HTTP requests: the time a job may take and the
// size of a body.
func (l *loader) http(c *Config) {
	c.HTTPTimeout = l.duration(EnvHTTPTimeout, DefaultHTTPTimeout, false)
	c.MaxBodyBytes = job.DefaultMaxBodyBytes
	switch s := strings.ToLower(l.get(EnvJournal)); s {
	case "", "on":
	case "off":
		c.NoJournal = true
	default:
		l.bad.add(EnvJournal, "%q: want on (the default) or off", clip(s))
	}
	if s := l.get(EnvMaxBodyBytes); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 || n > MaxBodyLimit {
			l.bad.add(EnvMaxBodyBytes, "%q: want a number of bytes from 1 to %d (no platform delivers a larger synchronous event)", clip(s), MaxBodyLimit)
		} else {
			c.MaxBodyBytes = n
		}
	}
}

// storage reads where file jobs keep their state and which buckets the sweep
// looks in.
func (l *loader) storage(c *Config) {
	c.OutputPrefix = job.DefaultOutputPrefix
	if s := l.get(EnvOutputPrefix); s != "" {
		switch {
		case strings.HasPrefix(s, "/"):
			l.bad.add(EnvOutputPrefix, "%q must not start with a slash: it is a key prefix, e.g. removetag/", clip(s))
		case strings.Trim(s, "/") == "":
			l.bad.add(EnvOutputPrefix, "%q names no folder: want a key prefix such as removetag/", clip(s))
		default:
			if !strings.HasSuffix(s, "/") {
				s += "/"
			}
			c.OutputPrefix = s
		}
	}
	if c.COSBucketURL != "" {
		if _, err := objstore.COSBucketURL(c.COSBucketURL, "example-1250000000", "ap-guangzhou"); err != nil {
			l.bad.add(EnvCOSBucketURL, "%v; want e.g. https://{bucket}.cos.{region}.myqcloud.com", err)
		}
	}
	for _, item := range strings.Split(l.get(EnvBuckets), ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		loc, err := storage.ParseLocation(strings.TrimSuffix(item, "/"))
		switch {
		case err != nil:
			l.bad.add(EnvBuckets, "%v", err)
		case loc.Key != "":
			l.bad.add(EnvBuckets, "%q names an object: want buckets only, e.g. s3://my-bucket,cos://files-1250000000", clip(item))
		default:
			c.Buckets = append(c.Buckets, loc)
		}
	}
	c.SweepAfter = l.duration(EnvSweepAfter, job.DefaultSweepAfter, true)
}

// platform reads what the function needs to know of SCF beyond the runtime's
// own variables.
func (l *loader) platform(c *Config) {
	if c.SCFEndpoint != "" {
		l.checkURL(EnvSCFEndpoint, c.SCFEndpoint)
	}
	if c.SCFNamespace == "" {
		c.SCFNamespace = DefaultSCFNamespace
	}
}

// metrics reads whether the function writes its metrics, and their namespace.
func (l *loader) metrics(c *Config) {
	switch s := strings.ToLower(l.get(EnvMetrics)); s {
	case "", "on":
		c.Metrics = true
	case "off":
	default:
		l.bad.add(EnvMetrics, "%q: want on (the default) or off", clip(s))
	}
	c.MetricsNamespace = metrics.DefaultNamespace
	if s := l.get(EnvMetricsNS); s != "" {
		if err := metrics.CheckNamespace(s); err != nil {
			l.bad.add(EnvMetricsNS, "%v", err)
		} else {
			c.MetricsNamespace = s
		}
	}
}

// duration reads a duration variable, def when unset. With positive, 0 is a
// problem too.
func (l *loader) duration(name string, def time.Duration, positive bool) time.Duration {
	s := l.get(name)
	if s == "" {
		return def
	}
	d, err := parseDuration(s)
	switch {
	case err != nil:
		l.bad.add(name, "%v", err)
	case positive && d == 0:
		l.bad.add(name, "must be above 0 (and above the function's timeout), e.g. 20m")
	default:
		return d
	}
	return def
}

// checkURL adds a problem when value is not a usable endpoint URL.
func (l *loader) checkURL(name, value string) {
	if err := checkURL(value); err != nil {
		l.bad.add(name, "%v", err)
	}
}
