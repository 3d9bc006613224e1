package emulator

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// tagCall is a parsed body: UserTags (remove, add), or To_Account (get,
// clear: records without tags).
type tagCall struct {
	recs    []records.Record
	elems   int    // elements of UserTags or To_Account
	dup     bool   // one To_Account appears twice
	replace bool   // an add with "Replace":1 (timpush)
	fail    answer // why the body is refused, if fail.ErrorCode != 0
}

// userTagsBody is the body of im_remove_tag and im_add_tag. Pointers tell
// missing members and null from empty ones.
type userTagsBody struct {
	UserTags *[]struct {
		Account *string   `json:"To_Account"`
		Tags    *[]string `json:"Tags"`
	} `json:"UserTags"`
}

// parseUserTags parses the UserTags body of api (remove, add) strictly: see
// userTagsOf; an add takes at most 10 tags per account (timpush without
// Replace: 90032, 1047/74196; all_member_push's page 37173 states the 10 but no
// code, so the emulator answers the Push service's), and timpush's add an
// optional "Replace": 0 or 1 (1047/67821: with 1, at most 100 tags per
// account, and they replace all of the account's).
func parseUserTags(body []byte, api apiInfo) tagCall {
	tc := userTagsOf(body, "UserTags", "To_Account", "Tags")
	if api.verb != verbAdd || tc.fail.ErrorCode != 0 {
		return tc
	}
	if api.family == imapi.TimPush {
		var r struct {
			Replace *int
		}
		err := json.Unmarshal(body, &r)
		switch k := miscasedKey(body, "Replace"); {
		case k != "":
			return tagCall{fail: fail(CodeBadJSON, "unknown key %q: keys are case-sensitive", k)}
		case err != nil:
			return tagCall{fail: badBody(err, "")}
		case r.Replace != nil && *r.Replace != 0 && *r.Replace != 1:
			return tagCall{fail: fail(CodeBadJSON, "Replace is %d: 0 or 1", *r.Replace)}
		case r.Replace != nil && *r.Replace == 1:
			tc.replace = true
			return tc
		}
	}
	for i, r := range tc.recs {
		if len(r.Tags) > maxAddTags {
			return tagCall{fail: fail(codeTooManyAddTags, "UserTags[%d]: %d tags to add, the limit is %d", i, len(r.Tags), maxAddTags)}
		}
	}
	return tc
}

// userTagsOf parses {"UserTags":[{"To_Account":"u1","Tags":["a"]},...]} strictly.
// It reads all elements even after a bad one, so that elems and dup describe the whole body.
func userTagsOf(body []byte, keys ...string) (tc tagCall) {
	var b userTagsBody
	err := json.Unmarshal(body, &b)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || b.UserTags == nil {
		// A type error leaves the rest decoded: look at it first.
		return tagCall{fail: badBody(err, "UserTags is missing")}
	}
	tc.elems = len(*b.UserTags)
	seen := make(map[string]struct{}, tc.elems)
	for i, e := range *b.UserTags {
		var rec records.Record
		if e.Account != nil {
			rec.Account = *e.Account
			if _, ok := seen[rec.Account]; ok && rec.Account != "" {
				tc.dup = true
				tc.refuse(CodeBadJSON, "UserTags[%d]: To_Account %q appears twice", i, rec.Account)
			}
			seen[rec.Account] = struct{}{}
		}
		if e.Tags != nil {
			rec.Tags = *e.Tags
		}
		if p := checkUserTag(e.Account, e.Tags); p != "" {
			tc.refuse(CodeBadJSON, "UserTags[%d]: %s", i, p)
		}
		tc.recs = append(tc.recs, rec)
	}
	switch {
	case tc.elems > maxAccountsPerCall:
		tc.fail = fail(CodeTooManyAccounts, "UserTags has %d accounts, the limit is %d", tc.elems, maxAccountsPerCall)
	case err != nil:
		tc.fail = badBody(err, "")
	case tc.elems == 0:
		tc.fail = fail(CodeBadJSON, "UserTags is empty")
	case tc.fail.ErrorCode == 0:
		if k := miscasedKey(body, keys...); k != "" {
			tc.fail = fail(CodeBadJSON, "unknown key %q: keys are case-sensitive", k)
		}
	}
	return tc
}

// refuse sets the call's failure unless it has one already.
func (tc *tagCall) refuse(code int, format string, args ...any) {
	if tc.fail.ErrorCode == 0 {
		tc.fail = fail(code, format, args...)
	}
}

// checkUserTag says what is wrong with an element of UserTags, or "".
func checkUserTag(account *string, tags *[]string) string {
	switch {
	case account == nil:
		return "To_Account is missing or null"
	case checkAccount(*account) != "":
		return checkAccount(*account)
	case tags == nil:
		return "Tags is missing or null"
	case len(*tags) == 0:
		return "Tags is empty"
	case len(*tags) > maxTagsPerAccount:
		return fmt.Sprintf("Tags has %d tags, the limit is %d", len(*tags), maxTagsPerAccount)
	}
	for _, t := range *tags {
		if t == "" || len(t) > records.MaxTagBytes {
			return "a tag is empty, null, or over 50 bytes" // null decodes as ""
		}
	}
	return ""
}

// parseAccounts parses the body of get and clear: {"To_Account":["u1",...]},
// 1 to 100 distinct accounts; the records it returns have no tags.
func parseAccounts(body []byte) tagCall {
	var b struct {
		Accounts *[]string `json:"To_Account"`
	}
	err := json.Unmarshal(body, &b)
	switch {
	case err != nil:
		return tagCall{fail: badBody(err, "")}
	case b.Accounts == nil:
		return tagCall{fail: fail(CodeBadJSON, "To_Account is missing or null")}
	}
	tc := tagCall{elems: len(*b.Accounts)}
	seen := make(map[string]struct{}, tc.elems)
	for i, acc := range *b.Accounts {
		if _, ok := seen[acc]; ok && acc != "" {
			tc.dup = true
			tc.refuse(CodeBadJSON, "To_Account[%d]: %q appears twice", i, acc)
		}
		seen[acc] = struct{}{}
		if p := checkAccount(acc); p != "" {
			tc.refuse(CodeBadJSON, "To_Account[%d]: %s", i, p)
		}
		tc.recs = append(tc.recs, records.Record{Account: acc})
	}
	switch {
	case tc.elems == 0:
		tc.fail = fail(CodeBadJSON, "To_Account is empty")
	case tc.elems > maxAccountsPerCall:
		tc.fail = fail(CodeTooManyAccounts, "To_Account has %d accounts, the limit is %d", tc.elems, maxAccountsPerCall)
	case tc.fail.ErrorCode == 0:
		if k := miscasedKey(body, "To_Account"); k != "" {
			tc.fail = fail(CodeBadJSON, "unknown key %q: keys are case-sensitive", k)
		}
	}
	return tc
}

// badBody returns the 90001 answer for a decoding error, or for the problem
// if there was no error.
func badBody(err error, problem string) answer {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return fail(CodeBadJSON, "the body is a JSON %s, not an object", te.Value)
	case errors.As(err, &te):
		return fail(CodeBadJSON, "%s: unexpected JSON %s", te.Field, te.Value)
	case err != nil:
		return fail(CodeBadJSON, "the body is not valid JSON: %v", err)
	}
	return fail(CodeBadJSON, "%s", problem)
}

// checkAccount says what is wrong with a To_Account, or "".
func checkAccount(acc string) string {
	switch {
	case acc == "":
		return "To_Account is empty"
	case len(acc) > records.MaxAccountBytes:
		return fmt.Sprintf("To_Account is %d bytes, the limit is %d", len(acc), records.MaxAccountBytes)
	}
	return ""
}

// miscasedKey returns the first key of the valid JSON text body that differs from
// one of names only in ASCII case, or "". Go's decoder matches keys regardless of
// case; the service is assumed not to.
func miscasedKey(body []byte, names ...string) string {
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		j := i + 1
		for ; j < len(body) && body[j] != '"'; j++ {
			if body[j] == '\\' {
				j++
			}
		}
		s := body[i+1 : min(j, len(body))]
		for i = j + 1; i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'); i++ {
		}
		if i >= len(body) || body[i] != ':' {
			i--
			continue
		}
		for _, n := range names {
			if string(s) != n && foldEqual(s, n) {
				return string(s)
			}
		}
	}
	return ""
}

// foldEqual reports whether b and s are equal regardless of ASCII case.
func foldEqual(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
