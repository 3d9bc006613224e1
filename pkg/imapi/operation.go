package imapi

import (
	"encoding/json"
	"fmt"
	"path"
	"unicode/utf8"

	"github.com/removetag/removetag/pkg/records"
)

// Operation is an API of the service's all_member_push family, named by its
// path under the base URL. A [Client] makes one call of any of them; an
// [Engine] drives any that takes records in im_remove_tag's form, chosen per
// run with [WithOperation].
//
// To add an operation: a constant here, its request body in body if it is not
// {"UserTags":[…]}, and the emulator's strict version in package emulator.
type Operation string

// The operations this package knows. Sources: the Chat REST API's pages of the
// all_member_push family, e.g. "添加用户标签" (cloud.tencent.com/document/product/1212/45941:
// im_add_tag takes im_remove_tag's body, 100 accounts and 100 calls/s, and at most
// 10 tags per account) and "获取用户标签" for im_get_tag.
const (
	// RemoveTag removes tags: {"UserTags":[{"To_Account":"u1","Tags":["a"]},…]}. The engine's default.
	RemoveTag Operation = "/v4/all_member_push/im_remove_tag"
	// AddTag adds tags; its body is RemoveTag's. The decoders check records
	// against im_remove_tag's limits; the service refuses more than 10 tags per
	// account in an add, which a caller adding tags must check itself.
	AddTag Operation = "/v4/all_member_push/im_add_tag"
	// GetTag lists accounts' tags: {"To_Account":["u1",…]} (the records' Tags are not sent),
	// answered with their UserTags (see [Client.GetTags]).
	GetTag Operation = "/v4/all_member_push/im_get_tag"
)

// Limits of one call and of the call rate.
const (
	// MaxAccountsPerCall is the most accounts one im_remove_tag call may carry (more: error 90018).
	MaxAccountsPerCall = 100
	// MaxCallsPerSecond is the documented call rate limit of im_remove_tag.
	MaxCallsPerSecond = 100
)

// Name returns the API's name, the last element of its path: "im_remove_tag".
func (o Operation) Name() string { return path.Base(string(o)) }

// errorOp is the operation's name in errors' Op field: "" for im_remove_tag.
func (o Operation) errorOp() string {
	if o == RemoveTag {
		return ""
	}
	return o.Name()
}

// body encodes the records of one call as the operation's request body.
func (o Operation) body(recs []records.Record) ([]byte, error) {
	if o != GetTag {
		// The hot path: by hand, as encoding/json would, without reflection.
		return appendUserTags(make([]byte, 0, userTagsSize(recs)), recs), nil
	}
	accounts := make([]string, len(recs))
	for i, r := range recs {
		accounts[i] = r.Account
	}
	body, err := json.Marshal(struct {
		To []string `json:"To_Account"`
	}{accounts})
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
