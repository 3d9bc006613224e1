package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// Codes answered where the API's document is silent; see the package documentation.
const (
	codeBadURL         = 60002 // HTTP parse error: a URL parameter is missing or malformed
	codeBadAppID       = 60006 // invalid SDKAppID
	codeNotAdmin       = 60010 // the request needs the app admin
	codeNoAppID        = 60012 // the request has no SDKAppID
	codeSigEmpty       = 70002 // UserSig is empty
	codeSigInvalid     = 70003 // UserSig is invalid
	codeSigWrongKey    = 70009 // UserSig does not verify with the app's key
	codeSigIdentifier  = 70013 // identifier does not match the UserSig
	codeSigAppID       = 70014 // SDKAppID does not match the UserSig
	codeUnknownAppID   = 70020 // SDKAppID not found
	codeFeatureOff     = 90045 // the push-to-all feature (all_member_push), or the Push service's tag push (timpush), is not enabled
	codeTooManyAddTags = 90032 // more than 10 tags for one account in an add (1047/74196)
	maxAddTags         = 10    // tags per account in an add without Replace (1047/60568, 67821)
	maxBodyBytes       = 4 << 20
	maxTagsPerAccount  = records.MaxTagsPerRecord
	maxAccountsPerCall = imapi.MaxAccountsPerCall
)

// answer is the JSON body of an HTTP 200 answer.
type answer struct {
	ActionStatus string
	ErrorInfo    string
	ErrorCode    int
	UserTags     []records.Record `json:",omitempty"`
	ErrorList    []listed         `json:",omitempty"`
}

// listed is an ErrorList element: an account the call was not applied to, in
// the form of the Push service's pages ({"ErrorCode":70107,"To_Account":"Mary"};
// ErrorInfo "may be empty").
type listed struct {
	ErrorCode int
	Account   string `json:"To_Account"`
	ErrorInfo string `json:",omitempty"`
}

// fail returns a FAIL answer.
func fail(code int, format string, args ...any) answer {
	return answer{ErrorCode: code, ErrorInfo: fmt.Sprintf(format, args...)}
}

// faultInfo returns the ErrorInfo of a code answered by a fault.
func faultInfo(code int) string {
	switch code {
	case CodeInternal:
		return "internal server error, please try again"
	case CodeSigExpired:
		return "UserSig expired, please regenerate it"
	case CodeRateLimited:
		// The text of the Chat error code table (server-side public error codes).
		return "REST API call frequency exceeds the limit."
	case CodeAppRateLimited, CodeTooManyRequests, CodeTooManyRequests2:
		return "request frequency over limit"
	case CodeNoAccount:
		return "the UserID does not exist"
	}
	return "injected fault"
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.arrive()
	which, ok := apiOf(r.URL.Path)
	if !ok {
		s.replyStatus(w, http.StatusNotFound)
		return
	}
	s.count(func(st *Stats) { st.Paths[which.info().path]++ })
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.replyStatus(w, http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tc tagCall
	switch {
	case err != nil:
		tc.fail = fail(CodeBadJSON, "cannot read the request body: %v", err)
	case which.accountsBody():
		tc = parseAccounts(body)
	default:
		tc = parseUserTags(body, which.info())
	}
	if which.removes() {
		s.observe(tc)
	}

	f, limited := s.admit(which)
	var a answer
	switch {
	case limited:
		a = fail(s.cfg.RateLimitCode, "%s", faultInfo(s.cfg.RateLimitCode))
	case f.Drop && !f.Apply, f.HTTPStatus != 0:
		// answered without looking at the request
	case f.Code != 0:
		a = fail(f.Code, "%s", faultInfo(f.Code))
	default:
		a = s.handle(which, r.URL.Query(), tc)
	}
	if !s.wait(r.Context(), f.Delay) {
		s.count(func(st *Stats) { st.Canceled++ })
		abort(w)
		return
	}
	switch {
	case f.Drop:
		s.drop(w)
	case f.HTTPStatus != 0:
		s.replyStatus(w, f.HTTPStatus)
	default:
		s.reply(w, a)
	}
}

// count changes the stats under the lock.
func (s *Server) count(change func(*Stats)) {
	s.mu.Lock()
	change(&s.stats)
	s.mu.Unlock()
}

// arrive counts a request.
func (s *Server) arrive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Since(s.start)
	s.stats.Requests++
	n := s.arrivals.len(now, time.Second) + 1
	s.arrivals.add(now)
	s.stats.MaxPerSecond = max(s.stats.MaxPerSecond, n)
}

// observe records what a removal's body carried.
func (s *Server) observe(tc tagCall) {
	s.count(func(st *Stats) {
		st.MaxAccountsPerCall = max(st.MaxAccountsPerCall, tc.elems)
		if tc.dup {
			st.DuplicateAccountCalls++
		}
	})
}

// admit applies the rate window and picks the call's fault. The fault's Delay is
// the call's whole latency.
func (s *Server) admit(which api) (f Fault, limited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Since(s.start)
	if s.cfg.Rate > 0 {
		w := &s.rate[which]
		if w.len(now, time.Second-s.cfg.RateSlack) >= s.cfg.Rate {
			limited = true
			s.stats.Refused++
		} else {
			w.add(now)
		}
	}
	if !limited && which.removes() {
		w := &s.accepted[which]
		n := w.len(now, time.Second) + 1
		w.add(now)
		s.stats.MaxAcceptedPerSecond = max(s.stats.MaxAcceptedPerSecond, n)
		if len(s.script) > 0 {
			f = s.script[0]
			s.script = s.script[1:]
		} else {
			f = s.randomFault()
		}
	}
	f.Delay += s.latency
	if s.jitter > 0 {
		f.Delay += time.Duration(s.rng.Int64N(int64(s.jitter)))
	}
	return f, limited
}

// randomFault draws the random faults of one call.
func (s *Server) randomFault() Fault {
	p := s.faults
	var d [7]float64
	for i := range d {
		d[i] = s.rng.Float64()
	}
	var f Fault
	switch {
	case d[0] < p.Drop:
		f.Drop = true
	case d[1] < p.DropAfterApply:
		f.Drop, f.Apply = true, true
	case d[2] < p.BadGateway:
		f.HTTPStatus = http.StatusBadGateway
	case d[3] < p.Internal:
		f.Code = CodeInternal
	case d[4] < p.RateLimit:
		f.Code = s.cfg.RateLimitCode
	case d[5] < p.Expired:
		f.Code = CodeSigExpired
	}
	if d[6] < p.Spike {
		f.Delay = p.SpikeLatency
	}
	return f
}

// handle validates a call and applies it to the accounts it may be applied
// to; the others are answered in the ErrorList (see accountFaults).
func (s *Server) handle(which api, q url.Values, tc tagCall) answer {
	info := which.info()
	if a := s.authorize(q, info.family); a.ErrorCode != 0 {
		return a
	}
	if tc.fail.ErrorCode != 0 {
		return tc.fail
	}
	recs, errs := s.accountFaults(which, tc.recs)
	a := answer{ErrorList: errs}
	switch info.verb {
	case verbGet:
		for _, r := range recs {
			tags := s.store.list(r.Account)
			if tags == nil {
				tags = []string{}
			}
			a.UserTags = append(a.UserTags, records.Record{Account: r.Account, Tags: tags})
		}
	case verbAdd:
		if fa := s.add(&a, info.family, recs, tc.replace); fa.ErrorCode != 0 {
			return fa
		}
	case verbRemove:
		s.store.remove(recs)
		s.count(func(st *Stats) {
			st.Applied++
			st.AccountsApplied += int64(len(recs))
		})
	case verbClear:
		s.store.clear(recs)
		s.count(func(st *Stats) {
			st.Cleared++
			st.AccountsCleared += int64(len(recs))
		})
	}
	return a
}

// add applies an add to recs, with the cap of MaxTagsPerAccount tags (see
// the package documentation): timpush names a capped account in a's
// ErrorList, all_member_push refuses the whole call (the answer returned).
func (s *Server) add(a *answer, family imapi.API, recs []records.Record, replace bool) answer {
	if replace {
		s.store.replace(recs)
		return answer{}
	}
	whole := family != imapi.TimPush
	capped := s.store.addCapped(recs, whole)
	if len(capped) > 0 && whole {
		return fail(CodeTagCap, "To_Account %q would hold more than %d tags: delete tags before adding new ones", capped[0].Account, MaxTagsPerAccount)
	}
	for _, r := range capped {
		a.ErrorList = append(a.ErrorList, listed{ErrorCode: CodeTagCap, Account: r.Account,
			ErrorInfo: fmt.Sprintf("the account would hold more than %d tags: delete tags before adding new ones", MaxTagsPerAccount)})
	}
	s.count(func(st *Stats) { st.AccountErrors += int64(len(capped)) })
	return answer{}
}

// accountFaults splits a call's records into those it is applied to and the
// ErrorList of the others: in a removal, an account with a fault of its own
// (FailAccount) gets its code; for timpush an account the app does not know
// gets 70107, as the Push service's pages show; all_member_push's pages show
// no ErrorList, so its unknown accounts are applied to (a no-op) as before.
func (s *Server) accountFaults(which api, recs []records.Record) (applied []records.Record, errs []listed) {
	family := which.info().family
	s.mu.Lock()
	defer s.mu.Unlock()
	applied = recs[:0:0]
	for _, r := range recs {
		switch f, ok := s.acctFaults[r.Account]; {
		case ok && f.times != 0 && which.removes():
			if f.times > 0 {
				f.times--
			}
			s.acctFaults[r.Account] = f
			errs = append(errs, listed{ErrorCode: f.code, Account: r.Account, ErrorInfo: faultInfo(f.code)})
		case family == imapi.TimPush && r.Account != s.cfg.Admin && !s.store.isKnown(r.Account):
			errs = append(errs, listed{ErrorCode: CodeNoAccount, Account: r.Account})
		default:
			applied = append(applied, r)
		}
	}
	s.stats.AccountErrors += int64(len(errs))
	return applied, errs
}

// authorize checks the URL parameters and the UserSig, then that the family's
// feature is on.
func (s *Server) authorize(q url.Values, family imapi.API) answer {
	appid := q.Get("sdkappid")
	if appid == "" {
		return fail(codeNoAppID, "sdkappid is missing in the URL")
	}
	n, err := strconv.ParseUint(appid, 10, 64)
	if err != nil {
		return fail(codeBadAppID, "sdkappid %q is invalid", appid)
	}
	if n != uint64(s.cfg.SDKAppID) {
		return fail(codeUnknownAppID, "sdkappid %d not found", n)
	}
	id := q.Get("identifier")
	if id == "" {
		return fail(codeBadURL, "identifier is missing in the URL")
	}
	if _, err := strconv.ParseUint(q.Get("random"), 10, 32); err != nil {
		return fail(codeBadURL, "random %q is not a 32-bit unsigned integer", q.Get("random"))
	}
	if ct := q.Get("contenttype"); ct != "json" {
		return fail(codeBadURL, "contenttype %q is not json", ct)
	}
	sig := q.Get("usersig")
	if sig == "" {
		return fail(codeSigEmpty, "usersig is missing in the URL")
	}
	if a := s.verifySig(id, sig); a.ErrorCode != 0 {
		return a
	}
	if id != s.cfg.Admin {
		return fail(codeNotAdmin, "identifier %q is not the app admin", id)
	}
	s.mu.Lock()
	off := s.featureOff[family]
	s.mu.Unlock()
	switch {
	case off && family == imapi.TimPush:
		// 1047/74196: "Push notification feature for all users/Tag/single push is not enabled."
		return fail(codeFeatureOff, "the Push service's tag push is not enabled for this app")
	case off:
		return fail(codeFeatureOff, "the push-to-all feature is not enabled for this app")
	}
	return answer{}
}

// wait sleeps for d, unless the client goes away or the server closes first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d): // collected once it fires or is unreachable (Go 1.23)
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

// reply writes a JSON answer.
func (s *Server) reply(w http.ResponseWriter, a answer) {
	s.count(func(st *Stats) { st.Codes[a.ErrorCode]++ })
	a.ActionStatus = "OK"
	if a.ErrorCode != 0 {
		a.ActionStatus = "FAIL"
	}
	b, err := json.Marshal(a)
	if err != nil {
		panic(err) // cannot happen: answer holds only strings and ints
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.Write(append(b, '\n'))
}

// replyStatus writes an HTTP error with an HTML body, as a gateway would.
func (s *Server) replyStatus(w http.ResponseWriter, status int) {
	s.count(func(st *Stats) { st.HTTPStatus[status]++ })
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", text, text)
}

// drop closes the connection without an answer.
func (s *Server) drop(w http.ResponseWriter) {
	s.count(func(st *Stats) { st.Dropped++ })
	abort(w)
}

// abort closes the connection without writing anything.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: the server resets the stream
	}
	conn.Close()
}
