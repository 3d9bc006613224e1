package imapi

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/removetag/removetag/pkg/records"
)

// API is a family of the service's tag APIs: the same operations at paths of
// their own. Both take the same URL parameters, admin UserSig and regional
// domains, at most [MaxAccountsPerCall] accounts and [MaxCallsPerSecond] calls
// per second each; an answer of either may name failed accounts in an
// ErrorList (see [Client.Call]).
//
// Sources (tencentcloud.com, product 1047; looked up 2026-12-02, "last
// updated" as the pages said): all_member_push: 37174 "Deleting User Tags"
// (2024-06-11; Premium edition and the console's "Push to all users" switch),
// 37175 im_remove_all_tags; timpush, the Push service: 60567 and 67820 get_tag,
// 60568 and 67821 add_tag, 60569 and 67822 remove_tag (2024-07-16), 60570
// (2024-12-30) and 67823 clear_all_tags, 74196 the Push service's error codes
// (2026-03-10); cloud.tencent.com product 269 docs 45940 (get_tag), 111047 and
// 100633 list the same timpush APIs.
type API string

// The API families.
const (
	// AllMemberPush is v4/all_member_push/im_*: the seed's family, the default.
	AllMemberPush API = "all_member_push"
	// TimPush is v4/timpush/*: the Push service's tag API, Tencent's current
	// home for tags. To_Account may be a UserID or a Push RegistrationID.
	TimPush API = "timpush"
)

// ParseAPI accepts an API family's name: "all_member_push" or "timpush"
// (case-insensitive); "" means [AllMemberPush], the default.
func ParseAPI(s string) (API, error) {
	switch a := API(strings.ToLower(strings.TrimSpace(s))); a {
	case "":
		return AllMemberPush, nil
	case AllMemberPush, TimPush:
		return a, nil
	}
	return "", fmt.Errorf("unknown IM tag API %q (known: %s, %s)", s, AllMemberPush, TimPush)
}

// family returns a, with "" meaning AllMemberPush.
func (a API) family() API {
	if a == "" {
		return AllMemberPush
	}
	return a
}

// RemoveTag is the family's removal of tags, the engine's default operation:
// {"UserTags":[{"To_Account":"u1","Tags":["a"]},…]}, at most
// records.MaxTagsPerRecord tags per account.
func (a API) RemoveTag() Operation { return a.op(verbRemove) }

// AddTag is the family's addition of tags, in RemoveTag's body. Without
// replace it adds to the account's tags, at most [maxAddTags] (10) per account
// per call; with replace (timpush only: {"Replace":1,…}) the record's tags,
// at most 100, replace all of the account's. A user holds at most 100 tags, an
// app at most 1,000 distinct ones (1047/60568, 67821).
func (a API) AddTag(replace bool) Operation {
	if replace {
		return a.op(verbReplace)
	}
	return a.op(verbAdd)
}

// op is the family's operation of v. all_member_push's are stored with no
// family, so that the zero Operation is its removal.
func (a API) op(v verb) Operation {
	if a.family() == AllMemberPush {
		a = ""
	}
	return Operation{api: a, verb: v}
}

// GetTag reads accounts' tags: {"To_Account":["u1",…]}, answered with their
// UserTags (see [Client.GetTags]). Its records are accounts alone.
func (a API) GetTag() Operation { return a.op(verbGet) }

// ClearAllTags removes every tag of the accounts: {"To_Account":["u1",…]}
// (timpush clear_all_tags, all_member_push im_remove_all_tags). Its records
// are accounts alone.
func (a API) ClearAllTags() Operation { return a.op(verbClear) }

// Operation is one tag operation of one [API] family, such as
// TimPush.RemoveTag(). A [Client] makes one call of any of them; an [Engine]
// drives any of them over records, chosen per run with [WithOperation]. The
// zero Operation is AllMemberPush.RemoveTag(), the default.
//
// To add an operation: a verb and its row in verbs (body, tags per account),
// its path per family in paths, and the emulator serving it strictly.
type Operation struct {
	api  API
	verb verb
}

// verb is what an operation does, whatever its family.
type verb uint8

// The verbs. The zero verb is the default operation's.
const (
	verbRemove verb = iota
	verbAdd
	verbReplace
	verbGet
	verbClear
)

// body is the shape of a request body.
type body uint8

const (
	bodyUserTags body = iota // {"UserTags":[{"To_Account","Tags"},…]}
	bodyReplace              // {"Replace":1,"UserTags":[…]}
	bodyAccounts             // {"To_Account":["u1",…]}
)

// maxAddTags is the most tags an add without Replace takes per account and call:
// 10 (1047/60568, 67821; more is 90032 on the Push service's error page 74196).
const maxAddTags = 10

// verbInfo is what a verb sends: its body and how many tags of one account one
// call may carry (0: none, the records are accounts alone).
type verbInfo struct {
	body    body
	maxTags int
}

// verbs is the table of the verbs.
var verbs = map[verb]verbInfo{
	verbRemove:  {bodyUserTags, records.MaxTagsPerRecord},
	verbAdd:     {bodyUserTags, maxAddTags},
	verbReplace: {bodyReplace, records.MaxTagsPerRecord},
	verbGet:     {bodyAccounts, 0},
	verbClear:   {bodyAccounts, 0},
}

// paths is the table of the operations' paths, per family. all_member_push has
// no Replace; its siblings are im_add_tag (1212/45941: im_remove_tag's body, 10
// tags per account), im_get_tag and im_remove_all_tags (1047/37175).
var paths = map[API]map[verb]string{
	AllMemberPush: {
		verbRemove: "v4/all_member_push/im_remove_tag",
		verbAdd:    "v4/all_member_push/im_add_tag",
		verbGet:    "v4/all_member_push/im_get_tag",
		verbClear:  "v4/all_member_push/im_remove_all_tags",
	},
	TimPush: {
		verbRemove:  "v4/timpush/remove_tag",
		verbAdd:     "v4/timpush/add_tag",
		verbReplace: "v4/timpush/add_tag",
		verbGet:     "v4/timpush/get_tag",
		verbClear:   "v4/timpush/clear_all_tags",
	},
}

// Limits of one call and of the call rate, the same in both families.
const (
	// MaxAccountsPerCall is the most accounts one call may carry (more: error 90018).
	MaxAccountsPerCall = 100
	// MaxCallsPerSecond is the documented call rate limit of each tag API.
	MaxCallsPerSecond = 100
)

// family returns the operation's family.
func (o Operation) family() API { return o.api.family() }

// urlPath is the operation's path on the domain ("/v4/timpush/remove_tag"), or
// "" if its family has none (all_member_push's add with Replace).
func (o Operation) urlPath() string {
	p := paths[o.family()][o.verb]
	if p == "" {
		return ""
	}
	return "/" + p
}

// String names the operation as the documentation does, by its path:
// "v4/timpush/remove_tag"; an add with Replace says so.
func (o Operation) String() string {
	p := paths[o.family()][o.verb]
	if p == "" {
		p = fmt.Sprintf("v4/%s/(no operation %d)", o.family(), o.verb)
	}
	if o.verb == verbReplace {
		p += " (Replace 1)"
	}
	return p
}

// Name returns the API's name, the last element of its path: "im_remove_tag",
// "remove_tag".
func (o Operation) Name() string { return path.Base(strings.TrimSuffix(o.String(), " (Replace 1)")) }

// errorOp is the operation's name in errors' Op field: "" for im_remove_tag.
func (o Operation) errorOp() string {
	if o.family() == AllMemberPush && o.verb == verbRemove {
		return ""
	}
	return o.Name()
}

// maxTags is how many tags of one account one call may carry; 0: none.
func (o Operation) maxTags() int { return verbs[o.verb].maxTags }

// validate judges one record for the operation: records.Record.Validate for the
// operations that send tags, and at most maxTags of them; the account alone
// (no tags) for the others.
func (o Operation) validate(r records.Record) error {
	limit := o.maxTags()
	if limit == 0 {
		return r.ValidateAccount()
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if len(r.Tags) > limit {
		return fmt.Errorf("account %q has %d tags, %s takes at most %d per account and call", r.Account, len(r.Tags), o.Name(), limit)
	}
	return nil
}

// body encodes the records of one call as the operation's request body.
func (o Operation) body(recs []records.Record) ([]byte, error) {
	if o.urlPath() == "" {
		return nil, fmt.Errorf("imapi: %s has no %s", o.family(), o)
	}
	var v any
	switch verbs[o.verb].body {
	case bodyUserTags:
		// The hot path: by hand, as encoding/json would, without reflection.
		return appendUserTags(make([]byte, 0, userTagsSize(recs)), recs), nil
	case bodyAccounts:
		accounts := make([]string, len(recs))
		for i, r := range recs {
			accounts[i] = r.Account
		}
		v = struct {
			To []string `json:"To_Account"`
		}{accounts}
	case bodyReplace:
		v = struct {
			Replace  int              `json:"Replace"`
			UserTags []records.Record `json:"UserTags"`
		}{1, recs}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("imapi: encode %s request: %w", o.Name(), err)
	}
	return body, nil
}

// userTagsSize is the length of recs' UserTags body when no character needs an escape.
func userTagsSize(recs []records.Record) int {
	n := len(`{"UserTags":[]}`)
	for _, r := range recs {
		n += len(`{"To_Account":"","Tags":[]},`) + len(r.Account)
		for _, t := range r.Tags {
			n += len(`"",`) + len(t)
		}
	}
	return n
}

// appendUserTags appends {"UserTags":[{"To_Account":"u1","Tags":["a"]},…]}
// to dst, byte for byte as json.Marshal encodes the struct of one field
// UserTags []records.Record (nil slices as null, strings as appendJSONString).
func appendUserTags(dst []byte, recs []records.Record) []byte {
	dst = append(dst, `{"UserTags":`...)
	if recs == nil {
		return append(dst, "null}"...)
	}
	dst = append(dst, '[')
	for i, r := range recs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"To_Account":`...)
		dst = appendJSONString(dst, r.Account)
		dst = append(dst, `,"Tags":`...)
		if r.Tags == nil {
			dst = append(dst, "null}"...)
			continue
		}
		dst = append(dst, '[')
		for j, t := range r.Tags {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, t)
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
}

// appendJSONString appends s as a JSON string, escaped as json.Marshal
// escapes it: \" and \\, the short escapes \b \f \n \r \t, \u00XX for the
// other bytes below 0x20 and for < > & (HTML-safe), \u2028 and \u2029, and
// \ufffd for each byte that is not part of valid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	done := 0 // s[:done] is in dst
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			var esc string
			switch {
			case r == utf8.RuneError && size == 1:
				esc = `\ufffd`
			case r == '\u2028':
				esc = `\u2028`
			case r == '\u2029':
				esc = `\u2029`
			default:
				i += size
				continue
			}
			dst = append(append(dst, s[done:i]...), esc...)
			i += size
			done = i
			continue
		}
		if safeInJSON(c) {
			i++
			continue
		}
		dst = append(dst, s[done:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		done = i
	}
	return append(append(dst, s[done:]...), '"')
}

// safeInJSON reports whether the ASCII byte c stands for itself in a string
// json.Marshal encodes: not a control byte, a quote, a backslash, < > or &.
func safeInJSON(c byte) bool {
	const (
		below64 = ^uint64(0) &^ (1<<0x20 - 1) &^ (1<<'"' | 1<<'&' | 1<<'<' | 1<<'>') // bit c for c < 64
		from64  = ^uint64(0) &^ (1 << ('\\' - 64))                                   // bit c-64 for 64 <= c < 128
	)
	if c < 64 {
		return below64>>c&1 == 1
	}
	return from64>>(c-64)&1 == 1
}
