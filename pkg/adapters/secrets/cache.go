package secrets

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxAge is how long [Cache] uses values before it reads them again.
const DefaultMaxAge = 5 * time.Minute

// retryGap is how long a failed periodic read waits before the next.
const retryGap = time.Second

// CacheConfig configures a [Cache].
type CacheConfig struct {
	// MaxAge is how long values are used before they are read again; default DefaultMaxAge.
	MaxAge time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger gets a warning when a periodic read fails (the values read
	// before are kept); default: none.
	Logger *slog.Logger
	// OnRead, if set, is given the values of every successful read, rotated
	// ones too: to keep them out of log lines, which cannot find them in the
	// environment.
	OnRead func(Values)
	// TokenProblem, if set, says what is wrong with an HTTP token, or "" (it
	// never quotes the token): [Cache.HTTPToken] refuses a token it finds
	// wrong.
	TokenProblem func(token string) string
}

// Cache keeps a secret's values for an instance: read on first use, read
// again when they are older than MaxAge (if that read fails, the values
// read before are kept and a warning logged), and read at once by
// [Cache.Refresh] when IM refuses the key. It is the imapi.KeySource of the
// IM client and the token source of HTTP triggers ([Cache.HTTPToken]), and
// safe for concurrent use.
type Cache struct {
	r      Reader
	ref    Ref
	maxAge time.Duration
	now    func() time.Time
	logger *slog.Logger
	onRead func(Values)
	token  func(string) string

	reads atomic.Int64 // reads done, so that a Refresh that waited for one does not read again

	mu   sync.Mutex // held during a read: callers wait for it rather than read too
	vals Values
	read time.Time // when vals were read; zero: never
	err  error     // the last read's error
}

// NewCache returns a Cache of the secret ref, read through r.
func NewCache(r Reader, ref Ref, cfg CacheConfig) *Cache {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{r: r, ref: ref, maxAge: cfg.MaxAge, now: cfg.Now, logger: cfg.Logger, onRead: cfg.OnRead, token: cfg.TokenProblem}
}

// Secret returns the secret's reference.
func (c *Cache) Secret() Ref { return c.ref }

// Values returns the secret's values: cached ones while younger than MaxAge.
func (c *Cache) Values(ctx context.Context) (Values, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read.IsZero() && c.now().Sub(c.read) < c.maxAge {
		return c.vals, nil
	}
	v, err := c.readLocked(ctx)
	if err != nil && !c.read.IsZero() {
		c.logger.WarnContext(ctx, "secret: cannot read it again; the values read before are kept", "secret", c.ref.String(), "error", err.Error())
		c.read = c.now().Add(retryGap - c.maxAge) // try again in a second, not on every call
		return c.vals, nil
	}
	return v, err
}

// Key returns the IM key (imapi.KeySource).
func (c *Cache) Key(ctx context.Context) (string, error) {
	v, err := c.Values(ctx)
	return v.IMSecretKey, err
}

// HTTPToken returns the HTTP token (HTTP_TOKEN) as the cache has it now: a
// rotated token is taken when the cache reads the secret again. It is ""
// when the secret holds none (HTTP triggers are then off). A token that
// CacheConfig.TokenProblem finds wrong is an error naming the secret, never
// showing the token.
func (c *Cache) HTTPToken(ctx context.Context) (string, error) {
	v, err := c.Values(ctx)
	if err != nil {
		return "", err
	}
	if c.token != nil {
		if msg := c.token(v.HTTPToken); msg != "" {
			return "", fmt.Errorf("%s in secret %s %s", FieldToken, c.ref, msg)
		}
	}
	return v.HTTPToken, nil
}

// Refresh reads the secret now, since IM refused a UserSig made with
// rejected (imapi.KeySource), and returns the IM key it holds. If the key
// cached already differs from rejected, or another caller read the secret
// while this one waited for it (the calls in flight when a key is refused
// are all refused: one read serves them all), it returns the cached key.
func (c *Cache) Refresh(ctx context.Context, rejected string) (string, error) {
	before := c.reads.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.read.IsZero():
	case c.reads.Load() != before && c.err != nil:
		return "", c.err // the read this one waited for failed
	case c.vals.IMSecretKey != rejected || c.reads.Load() != before:
		return c.vals.IMSecretKey, nil
	}
	v, err := c.readLocked(ctx)
	return v.IMSecretKey, err
}

// readLocked reads the secret and keeps its values.
func (c *Cache) readLocked(ctx context.Context) (Values, error) {
	v, err := c.r.Read(ctx)
	c.reads.Add(1)
	c.err = err
	if err != nil {
		return Values{}, err
	}
	if c.onRead != nil {
		c.onRead(v)
	}
	if !c.read.IsZero() && v.IMSecretKey != c.vals.IMSecretKey {
		c.logger.InfoContext(ctx, "secret: the IM key changed; signing with the new one", "secret", c.ref.String())
	}
	c.vals, c.read = v, c.now()
	return v, nil
}
