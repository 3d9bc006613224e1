package imapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/removetag/removetag/pkg/records"
)

// Defaults of [Config].
const (
	DefaultAdmin       = "administrator"
	defaultCallTimeout = 6 * time.Second // the server gives up after 3 s; wait for its answer
	defaultSigTTL      = 24 * time.Hour
	defaultMaxConns    = 64
)

// Config configures a [Client].
type Config struct {
	// SDKAppID is the app's ID from the Chat console. Required.
	SDKAppID int
	// SecretKey is the app's key, used to sign the admin UserSig. Required
	// unless Keys is set.
	SecretKey string
	// Keys, if set, gives the key instead of SecretKey, asked before each
	// signature and again when the service refuses the key in use (70009 and
	// its kin 70003 and 70005): a key rotated in its store is then used
	// without a failed record. See [KeySource].
	Keys KeySource
	// Admin is the app admin account the calls are made as; default "administrator".
	Admin string
	// Region selects the API domain; default China. Ignored when BaseURL is set.
	Region Region
	// BaseURL overrides the domain for private endpoints and tests, e.g. "http://127.0.0.1:8080":
	// calls then go to {BaseURL}/v4/all_member_push/im_remove_tag (or another [Operation]'s path).
	BaseURL string
	// CallTimeout bounds one call (never past the caller's deadline); default 6 s.
	CallTimeout time.Duration
	// SigTTL is how long a generated UserSig is valid; default 24 h. It is renewed when
	// less than a tenth of it is left (and at least a minute).
	SigTTL time.Duration
	// MaxConns sizes the keep-alive connection pool: set it to the number of calls in flight; default 64.
	MaxConns int
	// HTTPClient replaces the client's own HTTP client (its pool and timeouts are then the caller's).
	HTTPClient *http.Client
}

// Client calls the tag APIs of either family ([Operation]: im_remove_tag,
// timpush's remove_tag and their siblings). It is safe for concurrent use;
// make one and reuse it.
type Client struct {
	base    string // base URL, without a path
	fixedQS string // identifier, sdkappid: the same for every call
	timeout time.Duration
	http    *http.Client
	sig     *signer

	requests atomic.Int64
}

// NewClient checks cfg and returns a Client. With a SecretKey it signs the
// first UserSig at once, so a bad key is reported here rather than on the
// first call; with Keys, the key is first asked for by the first call.
func NewClient(cfg Config) (*Client, error) {
	if cfg.SDKAppID <= 0 {
		return nil, errors.New("imapi: SDKAppID is required")
	}
	if cfg.SecretKey == "" && cfg.Keys == nil {
		return nil, errors.New("imapi: SecretKey (or Keys) is required")
	}
	cfg.Admin = cmp.Or(cfg.Admin, DefaultAdmin)
	cfg.CallTimeout = positiveOr(cfg.CallTimeout, defaultCallTimeout)
	cfg.SigTTL = positiveOr(cfg.SigTTL, defaultSigTTL)
	cfg.MaxConns = positiveOr(cfg.MaxConns, defaultMaxConns)
	base, err := baseURL(cfg)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: newConnPool(cfg.MaxConns)}
	}
	c := &Client{
		base:    base,
		fixedQS: "&identifier=" + url.QueryEscape(cfg.Admin) + "&sdkappid=" + strconv.Itoa(cfg.SDKAppID),
		timeout: cfg.CallTimeout,
		http:    hc,
		sig:     &signer{appID: cfg.SDKAppID, key: cfg.SecretKey, keys: cfg.Keys, admin: cfg.Admin, ttl: cfg.SigTTL, now: time.Now},
	}
	if cfg.Keys == nil {
		if _, _, err := c.sig.get(context.Background()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// BaseURL returns the URL the client calls the API at: Config.BaseURL, or the
// region's domain; for showing where the calls go.
func (c *Client) BaseURL() string { return c.base }

func baseURL(cfg Config) (string, error) {
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("imapi: BaseURL %q is not an http(s) URL", cfg.BaseURL)
		}
		return strings.TrimRight(cfg.BaseURL, "/"), nil
	}
	r := cfg.Region
	if r == "" {
		r = RegionChina
	}
	d := r.domain()
	if d == "" {
		return "", fmt.Errorf("imapi: unknown region %q (known: %s)", cfg.Region, strings.Join(RegionNames(), ", "))
	}
	return "https://" + d, nil
}

func newTransport(maxConns int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Room for the request line, the headers and a call's body (4.5 kB for
		// 100 short accounts of one tag) in one buffer: one write per call, not
		// the headers and the body's start, then the rest (4 kB, the default).
		WriteBufferSize: writeBufferSize,
	}
}

// writeBufferSize is the size of each connection's write buffer.
const writeBufferSize = 16 << 10

// clientStats counts what a Client did.
type clientStats struct {
	// Requests is the number of HTTP requests sent.
	Requests int64
	// Renewals is the number of UserSigs signed after the first (expiry, 70001
	// answers, or a new key).
	Renewals int64
	// KeyChanges is the number of times the key from Config.Keys changed.
	KeyChanges int64
}

// stats returns the client's counters.
func (c *Client) stats() clientStats {
	return clientStats{Requests: c.requests.Load(), Renewals: max(c.sig.signed.Load()-1, 0), KeyChanges: c.sig.changes.Load()}
}

// Call makes one call of op with the records. It refuses more than
// [MaxAccountsPerCall] records or an account given twice (the engine merges those);
// it does not validate the records otherwise. If the service says the UserSig
// expired (70001) it signs a new one and sends the call once more; with
// Config.Keys, if it says the key is wrong (70009, 70003, 70005) and the source now
// has another key, it signs with that one and sends the call once more.
//
// The error, if any, is an *APIError, an error for an HTTP status, a transport error (the outcome
// is unknown) or a *KeySourceError (nothing sent); [Classify] says what to do about it.
// An answer with ActionStatus OK and an ErrorList is an error that wraps one
// *APIError per listed account (Account set, its own code): the call was
// applied to every other account. An [Engine] fails or retries the listed
// accounts' records by their codes and counts the others as succeeded.
func (c *Client) Call(ctx context.Context, op Operation, recs []records.Record) error {
	if len(recs) == 0 {
		return nil
	}
	_, err := c.callRecords(ctx, op, recs)
	return err
}

// callRecords checks the number of records, makes the call and returns the answer's body.
func (c *Client) callRecords(ctx context.Context, op Operation, recs []records.Record) ([]byte, error) {
	if len(recs) > MaxAccountsPerCall {
		return nil, fmt.Errorf("imapi: %d accounts in one call, the limit is %d", len(recs), MaxAccountsPerCall)
	}
	body, err := op.body(recs)
	if err != nil {
		return nil, err
	}
	raw, err := c.send(ctx, op, body)
	if partial, ok := err.(accountErrors); ok {
		if stray := partial.outside(recs); stray != "" {
			// An ErrorList of accounts the call did not carry says nothing
			// trustworthy of those it did: the outcome is unknown.
			return nil, &transportError{Op: op.errorOp(), Err: fmt.Errorf("the answer's ErrorList names %q, an account the call did not carry", stray)}
		}
	}
	return raw, err
}

// GetTags lists the tags of at most [MaxAccountsPerCall] accounts through the
// family's get operation (api.GetTag(): v4/all_member_push/im_get_tag or
// v4/timpush/get_tag), signed as [Client.Call] signs (and re-signed on the same
// answers). It changes nothing: `removetag check` asks it to learn whether the
// configuration works, a journal what a removal will take away.
//
// tags holds each account the service answered for, with its tags (none:
// an empty Tags). failed holds the accounts of the answer's ErrorList, each
// an *APIError with Account set and its own code (the Push service answers
// 70107 for an account it does not know): [Classify] says whether asking
// again may help. err is a failure of the whole call, as Call's errors.
func (c *Client) GetTags(ctx context.Context, api API, accounts []string) (tags []records.Record, failed []*APIError, err error) {
	op := api.GetTag()
	if len(accounts) == 0 || len(accounts) > MaxAccountsPerCall {
		return nil, nil, fmt.Errorf("imapi: %s takes 1 to %d accounts, not %d", op.Name(), MaxAccountsPerCall, len(accounts))
	}
	recs := make([]records.Record, len(accounts))
	for i, a := range accounts {
		recs[i].Account = a
	}
	raw, err := c.callRecords(ctx, op, recs)
	var partial accountErrors
	if errors.As(err, &partial) {
		failed, err = partial, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var out struct {
		UserTags []records.Record
	}
	var ok bool
	if out.UserTags, ok = readUserTags(raw); !ok { // by hand, else by reflection
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, nil, &transportError{Op: op.errorOp(), Err: fmt.Errorf("undecodable answer %q: %w", snippet(raw), err)}
		}
	}
	for i := range out.UserTags {
		if out.UserTags[i].Tags == nil {
			out.UserTags[i].Tags = []string{}
		}
	}
	return out.UserTags, failed, nil
}

// send makes one call of op with a current UserSig, and sends it once more
// with a new one if the service refused the one used (see Call). It returns
// the answer's body.
func (c *Client) send(ctx context.Context, op Operation, body []byte) ([]byte, error) {
	sig, key, err := c.sig.get(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := c.call(ctx, op, sig, body)
	if _, partial := err.(accountErrors); partial {
		return raw, err // applied to the call's other accounts: never sent again
	}
	switch {
	case Classify(err) == RenewSignature:
		if sig, rerr := c.sig.renew(sig); rerr == nil {
			raw, err = c.call(ctx, op, sig, body)
		}
	case c.sig.keys != nil && keyRejected(err):
		sig, changed, rerr := c.sig.rekey(ctx, key, err)
		if rerr != nil {
			return nil, rerr
		}
		if changed {
			raw, err = c.call(ctx, op, sig, body)
		}
	}
	return raw, err
}

// answer is the service's reply.
type answer struct {
	ActionStatus string
	ErrorCode    int
	ErrorInfo    string
	// ErrorList names the accounts an answer OK did not apply to.
	ErrorList []struct {
		Account   string `json:"To_Account"`
		ErrorCode int
		ErrorInfo string
	}
}

func (c *Client) call(ctx context.Context, operation Operation, sig string, body []byte) ([]byte, error) {
	op := operation.errorOp()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	path := operation.urlPath()
	if path == "" {
		return nil, fmt.Errorf("imapi: %s has no %s", operation.family(), operation)
	}
	u := c.base + path + "?usersig=" + sig + c.fixedQS + "&random=" + strconv.FormatUint(uint64(rand.Uint32()), 10) + "&contenttype=json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("imapi: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &transportError{Op: op, Err: redactURL(err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &transportError{Op: op, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &httpError{Op: op, StatusCode: resp.StatusCode, Body: snippet(raw)}
	}
	var a answer
	if err := decodeAnswer(raw, &a); err != nil {
		return nil, &transportError{Op: op, Err: fmt.Errorf("undecodable answer %q: %w", snippet(raw), err)}
	}
	if a.ErrorCode != 0 || a.ActionStatus != "OK" {
		return nil, &APIError{Op: op, ActionStatus: a.ActionStatus, ErrorCode: a.ErrorCode, ErrorInfo: a.ErrorInfo}
	}
	if len(a.ErrorList) > 0 {
		errs := make(accountErrors, len(a.ErrorList))
		for i, e := range a.ErrorList {
			errs[i] = &APIError{Op: op, ActionStatus: a.ActionStatus, ErrorCode: e.ErrorCode, ErrorInfo: e.ErrorInfo, Account: e.Account}
		}
		return raw, errs
	}
	return raw, nil
}

// redactURL strips the request URL's query, which carries the UserSig, from a transport error.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		path := AllMemberPush.RemoveTag().urlPath()
		if u, perr := url.Parse(ue.URL); perr == nil {
			path = u.Path
		}
		return fmt.Errorf("%s %s: %w", ue.Op, path, ue.Err)
	}
	return err
}

func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// signer keeps the admin UserSig: signed once, reused, renewed before it
// expires, and signed anew when the key changes.
type signer struct {
	appID int
	keys  KeySource // nil: key is fixed
	admin string
	ttl   time.Duration
	now   func() time.Time

	signed  atomic.Int64 // UserSigs signed so far
	changes atomic.Int64 // keys from keys that differed from the one before

	mu      sync.Mutex
	key     string // the key sig was signed with
	sig     string
	expires time.Time
}

// margin is how long before expiry a UserSig is renewed.
func (s *signer) margin() time.Duration {
	return min(max(s.ttl/10, time.Minute), s.ttl/2)
}

// get returns the cached UserSig and the key it was made with, signing a new
// one when it is near expiry or the key source has another key.
func (s *signer) get(ctx context.Context) (sig, key string, err error) {
	if s.keys != nil {
		if key, err = s.keys.Key(ctx); err != nil {
			return "", "", &KeySourceError{Err: err}
		}
		if key == "" {
			return "", "", &KeySourceError{Err: errors.New("the key source gave an empty key")}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys != nil && key != s.key {
		s.setKeyLocked(key)
	} else if s.sig != "" && s.now().Add(s.margin()).Before(s.expires) {
		return s.sig, s.key, nil
	}
	sig, err = s.signLocked()
	return sig, s.key, err
}

// rekey is called when the service refused a UserSig made with rejected
// because of refusal: it asks the key source again, and signs with the key it
// gives if that is another one (changed), unless another caller did already.
func (s *signer) rekey(ctx context.Context, rejected string, refusal error) (sig string, changed bool, err error) {
	key, err := s.keys.Refresh(ctx, rejected)
	if err != nil {
		return "", false, &KeySourceError{Err: err, Rejected: refusal}
	}
	if key == rejected || key == "" {
		return "", false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == s.key && s.sig != "" {
		return s.sig, true, nil
	}
	s.setKeyLocked(key)
	sig, err = s.signLocked()
	return sig, err == nil, err
}

// setKeyLocked takes key as the key to sign with, forgetting the UserSig.
func (s *signer) setKeyLocked(key string) {
	if s.key != "" {
		s.changes.Add(1)
	}
	s.key, s.sig = key, ""
}

// renew signs a new UserSig unless another caller already replaced old.
func (s *signer) renew(old string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sig != old && s.sig != "" {
		return s.sig, nil
	}
	return s.signLocked()
}

func (s *signer) signLocked() (string, error) {
	now := s.now()
	sig, err := tencentyun.GenUserSig(s.appID, s.key, s.admin, int(s.ttl/time.Second))
	if err != nil {
		return "", fmt.Errorf("imapi: sign UserSig: %w", err)
	}
	s.sig, s.expires = sig, now.Add(s.ttl)
	s.signed.Add(1)
	return sig, nil
}
