// Package emulator emulates the Tencent Cloud Chat REST API's tag APIs, both
// families of them: v4/all_member_push/im_remove_tag and its siblings
// im_add_tag, im_get_tag and im_remove_all_tags, and the Push service's
// v4/timpush/remove_tag, add_tag, get_tag and clear_all_tags; for tests,
// benchmarks and local demos. It works in any binary, not only under go test.
//
// The emulator is as strict as the real service is known to be, and stricter where
// a request could only come from a faulty client: it checks every URL parameter,
// verifies the UserSig, enforces each API's call rate and the limits on the body,
// and can inject faults, scripted or random, per call or per account, and latency.
//
// # Handling of a request
//
// Every request goes through these steps, in this order:
//
//  1. It is counted in [Stats.Requests] and [Stats.MaxPerSecond]. A path other than
//     the eight APIs is answered HTTP 404, a method other than POST HTTP 405, at once.
//  2. The body is read (at most 4 MiB). A removal's body (remove or clear, either
//     family) is inspected for [Stats.MaxAccountsPerCall] and
//     [Stats.DuplicateAccountCalls] whatever the answer: those describe what the
//     client sent.
//  3. Rate: each API (each path: the families do not share) accepts at most
//     [Config.Rate] calls in any sliding second; a call over it is refused:
//     answered [Config.RateLimitCode] (60007, "REST API call frequency exceeds the
//     limit", by default) and goes no further. Only accepted calls count toward
//     the rate; refusals are counted in [Stats.Refused], so that clients sharing
//     the quota see their collisions.
//  4. Faults, for the removals only (remove and clear of either family): the next
//     scripted [Fault] if any, else the random [Faults]. A fault that answers (a
//     code, an HTTP status, a dropped connection) does so whether the request is
//     valid or not; it is decided before validation.
//  5. Validation: URL parameters and UserSig first, then the family's feature
//     switch ([Server.SetAPI]), then the body (see the codes below).
//  6. Accounts: in a removal, an account with a fault of its own
//     ([Server.FailAccount]), and for every timpush API an account the app does
//     not know (70107), is left out of the call and named in the answer's
//     ErrorList; the answer is still ActionStatus OK.
//  7. The call is applied to the tag store for the other accounts (a [Fault] with
//     Drop and Apply applies it too, if the request is valid).
//  8. The latency passes (Latency, jitter, the fault's Delay, a spike), then the answer
//     is written or the connection closed. The call is applied before the wait: a client
//     that gives up waiting does not know whether it was applied, as with the real
//     service. A wait cut short by the client or by [Server.Close] ends with the
//     connection closed and nothing answered ([Stats.Canceled]).
//
// # Error codes
//
// The API's documents list 90001, 90009, 90018 and 91000 (the Push service's
// error page, 1047/74196, also 90032 and 90045); for the rest the emulator
// answers the public code whose documented meaning fits best:
//
//	60002  identifier missing; random missing or not a 32-bit unsigned integer; contenttype not "json"
//	60006  sdkappid is not a number
//	60010  identifier is not the app admin (the sig is valid for it); the API's table also has 90009
//	60012  sdkappid missing
//	70001  UserSig expired (checked before its HMAC, as tencentyun.VerifyUserSig does)
//	70002  usersig missing
//	70003  UserSig cannot be decoded, or fails otherwise
//	70009  UserSig HMAC does not match: made with another key
//	70013  UserSig made for another identifier
//	70014  UserSig made for another SDKAppID
//	70020  sdkappid is not the configured one
//	70107  (in the ErrorList, timpush) the account is not known to the app
//	90001  body unreadable or not JSON; UserTags missing, not an array or empty; an element
//	       not an object; To_Account missing, not a string, empty or over 32 bytes; Tags
//	       missing, not an array of strings, empty or over 100 tags; a tag empty or over
//	       50 bytes; the same To_Account twice in one call; a key that differs from
//	       UserTags, To_Account, Tags or Replace only in case; Replace not 0 or 1.
//	       Unknown keys are ignored. The To_Account body of get and clear likewise:
//	       an array of 1 to 100 distinct valid accounts.
//	90018  more than 100 elements in UserTags or To_Account (checked before the elements)
//	90032  an add (without Replace) of more than 10 tags for one account; an add that
//	       would take an account past 100 tags (see "The cap of 100 tags" below)
//	90045  the family's feature is off ([Server.SetAPI]), after the URL and UserSig checks
//
// [Server.SetKey] rotates the app's key, as the console does: UserSigs signed
// with the old key are answered 70009 from then on.
//
// Answers are HTTP 200 with {"ActionStatus":"OK"|"FAIL","ErrorInfo":"…","ErrorCode":N},
// and an "ErrorList":[{"ErrorCode":N,"To_Account":"u1","ErrorInfo":"…"}] when
// accounts were left out (ErrorInfo omitted for 70107, as the pages' example
// has it); except for HTTP faults and the 404 and 405 above, which have an
// HTML-ish body.
//
// # Operations
//
// Remove and add take {"UserTags":[{"To_Account":"u1","Tags":[…]},…]}; an add
// takes at most 10 tags per account, and timpush's add an optional
// "Replace":1, with which the tags (at most 100) replace all of the account's.
// Get and clear take {"To_Account":["u1",…]}; get answers
// {"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"UserTags":[{"To_Account":"u1","Tags":[...]}]},
// tags sorted, [] for an account without tags (an account of the ErrorList is
// not in UserTags); clear removes every tag of the accounts. All check the URL
// and the UserSig alike and have their own rate window and latency; faults
// (scripted and random) touch the removals only, so that a demo can seed and
// inspect the store through HTTP; an account's own faults too.
//
// # The cap of 100 tags
//
// An account holds at most 100 tags (1047/37173, 1047/60568, 67821: "if a user
// has more than 100 tags, you need to delete old tags before adding new ones"):
// an add that would take an account past them is refused for that account;
// adding a tag an account holds changes nothing, so an add of held tags never
// is. No page names the code of that refusal (the add pages list 90001, 90009,
// 90018, 91000; the Push service's table, 1047/74196, has 90032 for more than 10
// tags in an add request and nothing for an account's total; looked up
// 2026-12-02): [CodeTagCap], 90032, the tag APIs' one code of a tag count, is the
// emulator's choice. timpush's add names the account in the ErrorList and adds
// the others' tags; all_member_push's page shows no per-account results, so its
// im_add_tag is refused whole with the code, nothing applied.
//
// The accounts the app knows are those given tags by [Server.Seed],
// [Server.SetTags] or an add, and the admin; removing tags does not make an
// account unknown, SetTags with no tags does.
package emulator

import (
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// Defaults of [Config].
const (
	DefaultSDKAppID = 1400000000
	DefaultKey      = "emulator-secret-key"
	DefaultAdmin    = "administrator"
	// DefaultRateSlack is the default Config.RateSlack.
	DefaultRateSlack = 5 * time.Millisecond
)

// Error codes the emulator answers: the service's, as the API's pages and its
// table of error codes give them. Package imapi classifies codes in a table of
// its own (imapi.Classify); these are the emulator's, so that tests hold one
// against the other.
const (
	CodeBadJSON          = 90001 // the request body is not valid JSON, or not the API's
	CodeTooManyAccounts  = 90018 // more than 100 accounts in one call
	CodeInternal         = 91000 // internal service error
	CodeRateLimited      = 60007 // REST call frequency over limit
	CodeAppRateLimited   = 60011 // SDKAppID call frequency over limit
	CodeTooManyRequests  = 60018 // too many requests
	CodeTooManyRequests2 = 60019 // too many requests
	CodeSigExpired       = 70001 // the UserSig expired
	CodeNoAccount        = 70107 // the UserID does not exist: an ErrorList element (1047/60567)
	// CodeTagCap refuses an add that would take an account past
	// MaxTagsPerAccount tags: no page names this code (see the package
	// documentation); 90032 is the emulator's choice.
	CodeTagCap = 90032
)

// MaxTagsPerAccount is the most tags an account holds (1047/37173, 1047/60568).
const MaxTagsPerAccount = 100

// Config sets up a [Server]. The zero value is usable: every field has a default.
type Config struct {
	// SDKAppID is the app's ID; default DefaultSDKAppID.
	SDKAppID int
	// Key is the secret key UserSigs are signed with; default DefaultKey.
	Key string
	// Admin is the app admin's identifier; default DefaultAdmin.
	Admin string
	// Rate is the number of calls each API accepts in any sliding second:
	// 0 means imapi.MaxCallsPerSecond, a negative value no limit.
	Rate int
	// RateLimitCode is the ErrorCode answered over the rate; default CodeRateLimited.
	RateLimitCode int
	// RateSlack is how early a call may arrive and still be accepted: a call is
	// refused when Rate calls were accepted within the last second less RateSlack.
	// Network and scheduling jitter move arrivals by a millisecond or so, and no
	// real service measures its rate to the microsecond; a client that paces its
	// calls at exactly Rate per second must not be refused for that jitter, while one
	// sending faster is. Default 5 ms (0.5 %); negative: no slack.
	RateSlack time.Duration
	// Latency is added to every API call before answering.
	Latency time.Duration
	// Jitter adds a uniform random latency in [0, Jitter) to every API call.
	Jitter time.Duration
	// Faults are random faults injected into removal calls (remove and clear, either family).
	Faults Faults
	// Seed seeds the random source of faults and jitter; 0 means a fixed default (1),
	// so runs are reproducible when calls arrive one after another.
	Seed int64
	// Now is the clock UserSigs are verified against; default time.Now.
	// Tests move it forward to expire signatures. Rate and latency use the real clock.
	Now func() time.Time
}

// Faults are random faults of removal calls (remove and clear, either family). Each is a probability in [0,1];
// all are drawn independently for every call (so the draws of a call do not depend
// on the outcome), and the first that hits, in field order, decides the answer.
// Spike is independent of the others: it adds latency to whatever the answer is.
type Faults struct {
	// Drop closes the connection without an answer; tags are not removed.
	Drop float64
	// DropAfterApply removes the tags (if the request is valid), then closes the
	// connection without an answer: the client cannot know the outcome.
	DropAfterApply float64
	// BadGateway answers HTTP 502 with an HTML body; tags are not removed.
	BadGateway float64
	// Internal answers ErrorCode 91000; tags are not removed.
	Internal float64
	// RateLimit answers Config.RateLimitCode; tags are not removed.
	RateLimit float64
	// Expired answers ErrorCode 70001 (UserSig expired); tags are not removed.
	Expired float64
	// Spike adds SpikeLatency to the call.
	Spike float64
	// SpikeLatency is the latency a spike adds.
	SpikeLatency time.Duration
}

// Fault is one scripted answer (see [Server.Script]). The zero Fault answers normally.
// Drop wins over HTTPStatus, which wins over Code.
type Fault struct {
	// Code is a service ErrorCode to answer, without removing tags; 0 for none.
	Code int
	// HTTPStatus is an HTTP status to answer (e.g. 502) with an HTML body; 0 for none.
	HTTPStatus int
	// Drop closes the connection without answering.
	Drop bool
	// Apply, with Drop, removes the tags first (if the request is valid).
	Apply bool
	// Delay is latency added to this call.
	Delay time.Duration
}

// Stats counts what the server saw and answered.
type Stats struct {
	// Requests counts every HTTP request that reached the handler.
	Requests int64
	// Paths counts the requests of each served API by its path (RemoveTagPath,
	// PushRemoveTagPath, …): which family a client called.
	Paths map[string]int64
	// Applied counts remove calls (either family) that removed tags (answered
	// OK, or dropped after applying).
	Applied int64
	// AccountsApplied counts the accounts of the applied calls (not those of their ErrorLists).
	AccountsApplied int64
	// Cleared counts clear calls (either family) applied, AccountsCleared their accounts.
	Cleared, AccountsCleared int64
	// AccountErrors counts the ErrorList elements answered: accounts left out of a call.
	AccountErrors int64
	// Codes counts JSON answers by ErrorCode (0 is OK).
	Codes map[int]int64
	// HTTPStatus counts non-200 answers by HTTP status.
	HTTPStatus map[int]int64
	// Dropped counts connections closed without an answer.
	Dropped int64
	// Canceled counts calls whose client went away (or whose server closed) during the
	// latency wait: nothing was answered. Such a call may have been applied.
	Canceled int64
	// MaxPerSecond is the largest number of requests that arrived within one sliding second.
	MaxPerSecond int
	// Refused counts the calls, of any API, refused because the rate window was full
	// (answered Config.RateLimitCode; a scripted or random rate-limit fault is not counted).
	Refused int64
	// MaxAcceptedPerSecond is the largest number of calls of one removal API
	// (each family's remove and clear: each has its own window) accepted within
	// one sliding second.
	MaxAcceptedPerSecond int
	// MaxAccountsPerCall is the largest number of UserTags (or To_Account) elements in one removal's body.
	MaxAccountsPerCall int
	// DuplicateAccountCalls counts removal bodies that carried one To_Account twice.
	DuplicateAccountCalls int64
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg   Config // with defaults; Faults, Latency and Jitter live in the guarded fields
	ts    *httptest.Server
	start time.Time // origin of the rate windows' times
	done  chan struct{}
	close sync.Once
	store store
	sigs  sigCache

	mu         sync.Mutex           // guards the fields below; held only briefly
	key        string               // the app's key now (SetKey rotates it)
	featureOff map[imapi.API]bool   // a family switched off: its every API answers 90045
	acctFaults map[string]acctFault // faults of one account (FailAccount)
	faults     Faults
	latency    time.Duration
	jitter     time.Duration
	script     []Fault
	rng        *rand.Rand
	rate       []window // accepted calls of the last second (less the slack), per API
	accepted   []window // accepted calls of the last second, per API (the removals' only)
	arrivals   window   // requests of the last second
	stats      Stats
}

// NewServer starts an emulator on a loopback port. The caller must Close it.
func NewServer(cfg Config) *Server {
	s := newServer(cfg)
	s.ts = httptest.NewServer(s.Handler())
	return s
}

func newServer(cfg Config) *Server {
	if cfg.SDKAppID == 0 {
		cfg.SDKAppID = DefaultSDKAppID
	}
	if cfg.Key == "" {
		cfg.Key = DefaultKey
	}
	if cfg.Admin == "" {
		cfg.Admin = DefaultAdmin
	}
	if cfg.Rate == 0 {
		cfg.Rate = imapi.MaxCallsPerSecond
	}
	switch {
	case cfg.RateSlack == 0:
		cfg.RateSlack = DefaultRateSlack
	case cfg.RateSlack < 0:
		cfg.RateSlack = 0
	}
	if cfg.RateLimitCode == 0 {
		cfg.RateLimitCode = CodeRateLimited
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{
		cfg:     cfg,
		start:   time.Now(),
		done:    make(chan struct{}),
		key:     cfg.Key,
		faults:  cfg.Faults,
		latency: cfg.Latency,
		jitter:  cfg.Jitter,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		stats:   Stats{Codes: map[int]int64{}, HTTPStatus: map[int]int64{}, Paths: map[string]int64{}},

		featureOff: map[imapi.API]bool{},
		acctFaults: map[string]acctFault{},
		rate:       make([]window, len(served)),
		accepted:   make([]window, len(served)),
	}
}

// URL returns the server's base URL, such as http://127.0.0.1:34567;
// im_remove_tag is at URL()+RemoveTagPath.
func (s *Server) URL() string { return s.ts.URL }

// Handler returns the emulator's HTTP handler, to serve it some other way.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Close cuts the latency waits short and stops the server. It may be called more than once.
func (s *Server) Close() {
	s.close.Do(func() {
		close(s.done)
		s.ts.Close()
	})
}

// Config returns the configuration with defaults filled in and the current
// key, faults and latency.
func (s *Server) Config() Config {
	c := s.cfg
	s.mu.Lock()
	c.Key, c.Faults, c.Latency, c.Jitter = s.key, s.faults, s.latency, s.jitter
	s.mu.Unlock()
	return c
}

// Key returns the app's key as it is now.
func (s *Server) Key() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// SetKey rotates the app's key, as the console's key rotation does: from now
// on only UserSigs signed with key verify; one signed with the old key is
// answered 70009, even if it verified before.
func (s *Server) SetKey(key string) {
	s.mu.Lock()
	s.key = key
	s.mu.Unlock()
	s.sigs.reset()
}

// SetPushToAll switches the app's push-to-all (tag) feature, which the
// all_member_push family needs, on or off: SetAPI(imapi.AllMemberPush, on).
func (s *Server) SetPushToAll(on bool) { s.SetAPI(imapi.AllMemberPush, on) }

// SetAPI switches a family's tag APIs on or off for the app: all_member_push
// needs the console's "Push to all users" (Premium edition, 1047/37174),
// timpush the Push service. Off, every call of the family whose URL and
// UserSig are valid is answered 90045, as the service answers when the feature
// is not enabled (the Push service's error page 1047/74196 gives 90045 for
// it). Both are on by default.
func (s *Server) SetAPI(family imapi.API, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.featureOff[family] = !on
}

// acctFault is the fault of one account: times calls left to answer code for it.
type acctFault struct {
	code, times int
}

// FailAccount makes the next times removal calls (remove or clear, either
// family, as faults touch the removals only) that name account leave it out
// and answer it in the ErrorList with code (91000, say, which a client
// retries, or 70107); the call is applied to its other accounts. times < 0:
// every such call from now on; 0: none (clears the fault).
func (s *Server) FailAccount(account string, code, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if times == 0 {
		delete(s.acctFaults, account)
		return
	}
	s.acctFaults[account] = acctFault{code: code, times: times}
}

// Script queues faults: the next len(faults) removal calls that pass the rate
// window get them, in arrival order, instead of random faults.
func (s *Server) Script(faults ...Fault) {
	s.mu.Lock()
	s.script = append(s.script, faults...)
	s.mu.Unlock()
}

// SetFaults replaces the random faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// SetLatency replaces the latency and jitter of API calls.
func (s *Server) SetLatency(latency, jitter time.Duration) {
	s.mu.Lock()
	s.latency, s.jitter = latency, jitter
	s.mu.Unlock()
}

// Seed adds each record's tags to its account, and makes the account known (a
// record without tags only does that).
func (s *Server) Seed(recs []records.Record) { s.store.add(recs) }

// SetTags replaces an account's tags; with no tags it deletes the account.
func (s *Server) SetTags(account string, tags ...string) { s.store.set(account, tags) }

// Tags returns a sorted copy of an account's tags (nil if it has none).
func (s *Server) Tags(account string) []string { return s.store.list(account) }

// TagCount returns the number of tags held by all accounts together.
func (s *Server) TagCount() int { return s.store.count() }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Codes = maps.Clone(st.Codes)
	st.HTTPStatus = maps.Clone(st.HTTPStatus)
	st.Paths = maps.Clone(st.Paths)
	return st
}

// store maps accounts to their sets of tags, and knows the accounts of the app.
type store struct {
	mu    sync.RWMutex
	tags  map[string]map[string]struct{}
	known map[string]struct{} // accounts of the app, with tags or not
	n     int                 // tags held by all accounts
}

func (st *store) add(recs []records.Record) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.addLocked(recs)
}

func (st *store) addLocked(recs []records.Record) {
	if st.tags == nil {
		st.tags = map[string]map[string]struct{}{}
		st.known = map[string]struct{}{}
	}
	for _, r := range recs {
		st.known[r.Account] = struct{}{}
		if len(r.Tags) == 0 {
			continue
		}
		set := st.tags[r.Account]
		if set == nil {
			set = make(map[string]struct{}, len(r.Tags))
			st.tags[r.Account] = set
		}
		for _, t := range r.Tags {
			if _, ok := set[t]; !ok {
				set[t] = struct{}{}
				st.n++
			}
		}
	}
}

// addCapped adds recs' tags but where that would take an account past
// MaxTagsPerAccount: those records are returned, and added nothing; with
// whole, nothing is added if any is. The check and the add are one step.
func (st *store) addCapped(recs []records.Record, whole bool) (capped []records.Record) {
	st.mu.Lock()
	defer st.mu.Unlock()
	ok := recs[:0:0]
	for _, r := range recs {
		set, n := st.tags[r.Account], 0
		for _, t := range r.Tags {
			if _, held := set[t]; !held {
				n++
			}
		}
		if n > 0 && len(set)+n > MaxTagsPerAccount {
			capped = append(capped, r)
		} else {
			ok = append(ok, r)
		}
	}
	if len(capped) == 0 || !whole {
		st.addLocked(ok)
	}
	return capped
}

func (st *store) remove(recs []records.Record) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range recs {
		set := st.tags[r.Account]
		if set == nil {
			continue
		}
		for _, t := range r.Tags {
			if _, ok := set[t]; ok {
				delete(set, t)
				st.n--
			}
		}
		if len(set) == 0 {
			delete(st.tags, r.Account)
		}
	}
}

func (st *store) set(account string, tags []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.clearLocked(account)
	if len(tags) == 0 {
		delete(st.known, account)
		return
	}
	st.addLocked([]records.Record{{Account: account, Tags: tags}})
}

// replace makes each record's tags all of its account's (an add with Replace).
func (st *store) replace(recs []records.Record) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range recs {
		st.clearLocked(r.Account)
	}
	st.addLocked(recs)
}

// clear removes every tag of the records' accounts; they stay known.
func (st *store) clear(recs []records.Record) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range recs {
		st.clearLocked(r.Account)
	}
}

func (st *store) clearLocked(account string) {
	if set, ok := st.tags[account]; ok {
		st.n -= len(set)
		delete(st.tags, account)
	}
}

// isKnown reports whether the app knows account.
func (st *store) isKnown(account string) bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	_, ok := st.known[account]
	return ok
}

func (st *store) list(account string) []string {
	st.mu.RLock()
	tags := slices.Collect(maps.Keys(st.tags[account]))
	st.mu.RUnlock()
	slices.Sort(tags)
	return tags
}

func (st *store) count() int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.n
}

// window holds the times of the events of the last second, oldest first,
// as durations since the server's start.
type window struct {
	times []time.Duration
	head  int
}

// len drops the events older than span before now and returns how many remain.
func (w *window) len(now, span time.Duration) int {
	cut := now - span
	for w.head < len(w.times) && w.times[w.head] <= cut {
		w.head++
	}
	switch {
	case w.head == len(w.times):
		w.times, w.head = w.times[:0], 0
	case w.head >= 1024 && 2*w.head >= len(w.times):
		n := copy(w.times, w.times[w.head:])
		w.times, w.head = w.times[:n], 0
	}
	return len(w.times) - w.head
}

// add records an event at now, which is no earlier than the last one.
func (w *window) add(now time.Duration) { w.times = append(w.times, now) }
