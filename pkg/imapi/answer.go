package imapi

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/removetag/removetag/pkg/records"
)

// decodeAnswer decodes the service's answer into a, as json.Unmarshal does.
// The common answer, a flat object of ActionStatus, ErrorCode and ErrorInfo
// ({"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}), is read by hand,
// without reflection; any other (an ErrorList, another key, an escape,
// invalid UTF-8, a null, a number that is not a small integer) goes to
// json.Unmarshal.
func decodeAnswer(raw []byte, a *answer) error {
	if readFlatAnswer(raw, a) {
		return nil
	}
	*a = answer{}
	return json.Unmarshal(raw, a)
}

// readFlatAnswer reads raw into a if it is an object whose keys are exactly
// ActionStatus, ErrorInfo (strings of valid UTF-8 without escapes), ErrorCode (an integer of at
// most nine digits) and UserTags (the get operation's, skipped: see
// readUserTags), each any number of times, with JSON white space between the
// tokens; false for anything else, a then holding any part.
func readFlatAnswer(raw []byte, a *answer) bool {
	s := flatScanner{b: raw}
	ok := s.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "ActionStatus":
			a.ActionStatus, ok = s.text()
		case "ErrorInfo":
			a.ErrorInfo, ok = s.text()
		case "ErrorCode":
			a.ErrorCode, ok = s.int()
		case "UserTags":
			ok = s.skip(0)
		default:
			return false // json.Unmarshal matches keys without regard to case
		}
		return ok
	})
	return ok && s.end()
}

// readUserTags reads the UserTags of a get operation's answer as
// json.Unmarshal reads them into []records.Record, if raw is an object whose
// UserTags is an array of objects of To_Account (a string) and Tags (an
// array of strings), the strings valid UTF-8 without escapes; the answer's
// other keys are skipped (any key but one that json.Unmarshal would take for
// UserTags, To_Account or Tags regardless of case). false for anything else.
func readUserTags(raw []byte) ([]records.Record, bool) {
	s := flatScanner{b: raw}
	// The records' tags are carved out of one array, and each tag's text is
	// made once: answers repeat a few tags for many accounts.
	u := userTagsReader{s: &s, tags: make([]string, 0, 2*MaxAccountsPerCall), interned: map[string]string{}}
	recs := make([]records.Record, 0, MaxAccountsPerCall)
	seen := false
	ok := s.object(func(key []byte) bool {
		switch {
		case string(key) == "UserTags":
			if seen {
				return false // json.Unmarshal would decode into the elements read before
			}
			seen = true
			return s.array(func() bool {
				rec, ok := u.record()
				recs = append(recs, rec)
				return ok
			})
		case bytes.EqualFold(key, []byte("UserTags")):
			return false
		}
		return s.skip(0)
	})
	if !ok || !s.end() || !seen {
		return nil, false
	}
	return recs, true
}

// userTagsReader reads the elements of UserTags.
type userTagsReader struct {
	s        *flatScanner
	tags     []string          // every record's tags, one after another
	interned map[string]string // the tags read so far
}

// record reads one element of UserTags.
func (u *userTagsReader) record() (records.Record, bool) {
	s := u.s
	var rec records.Record
	ok := s.object(func(key []byte) bool {
		var ok bool
		switch {
		case string(key) == "To_Account":
			rec.Account, ok = s.utf8()
		case string(key) == "Tags":
			start := len(u.tags)
			ok = s.array(func() bool {
				t, ok := s.utf8Bytes()
				u.tags = append(u.tags, u.intern(t))
				return ok
			})
			rec.Tags = u.tags[start:len(u.tags):len(u.tags)] // never nil, as json.Unmarshal makes [] []string{}
		case bytes.EqualFold(key, []byte("To_Account")), bytes.EqualFold(key, []byte("Tags")):
			return false
		default:
			ok = s.skip(0)
		}
		return ok
	})
	return rec, ok
}

// intern returns t as a string, the same one for the same bytes.
func (u *userTagsReader) intern(t []byte) string {
	if v, ok := u.interned[string(t)]; ok {
		return v
	}
	v := string(t)
	if len(u.interned) < maxInternedTags {
		u.interned[v] = v
	}
	return v
}

// maxInternedTags caps the tags interned per answer.
const maxInternedTags = 64

// flatScanner reads the tokens of readFlatAnswer.
type flatScanner struct {
	b []byte
	i int
}

// space skips JSON white space.
func (s *flatScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// byte reads c after white space, if it is next.
func (s *flatScanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *flatScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// object reads an object, calling value with each key to read its value.
func (s *flatScanner) object(value func(key []byte) bool) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.byte(':') || !value(key) {
			return false
		}
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// array reads an array, calling elem to read each element.
func (s *flatScanner) array(elem func() bool) bool {
	if !s.byte('[') {
		return false
	}
	if s.byte(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.byte(']') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// maxSkipDepth bounds the nesting skip follows; deeper goes to json.Unmarshal.
const maxSkipDepth = 32

// skip reads past one value, checking its syntax (strings as str reads them).
func (s *flatScanner) skip(depth int) bool {
	s.space()
	if s.i >= len(s.b) || depth > maxSkipDepth {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case '[':
		return s.array(func() bool { return s.skip(depth + 1) })
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// literal reads the word w.
func (s *flatScanner) literal(w string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		return false
	}
	s.i += len(w)
	return true
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *flatScanner) number() bool {
	digits := func() int {
		start := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		return s.i - start
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	start := s.i
	if n := digits(); n == 0 || (n > 1 && s.b[start] == '0') {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// utf8 reads a string of valid UTF-8 without escapes or control bytes, as a string.
func (s *flatScanner) utf8() (string, bool) {
	v, ok := s.utf8Bytes()
	return string(v), ok
}

// utf8Bytes reads a string as utf8 does, and returns its bytes.
func (s *flatScanner) utf8Bytes() ([]byte, bool) {
	v, ok := s.str()
	return v, ok && utf8.Valid(v)
}

// str reads a string without escapes or control bytes, and returns its
// bytes (which need not be UTF-8: json.Unmarshal would replace what is not).
func (s *flatScanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c < 0x20 || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// text reads a string as utf8 does.
func (s *flatScanner) text() (string, bool) {
	v, ok := s.utf8Bytes()
	if ok && string(v) == "OK" {
		return "OK", true // the common value, without an allocation
	}
	return string(v), ok
}

// int reads an integer of one to nine digits, perhaps negative, without
// leading zeros (JSON's form).
func (s *flatScanner) int() (int, bool) {
	s.space()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start, n := s.i, 0
	for ; s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9'; s.i++ {
		n = n*10 + int(s.b[s.i]-'0')
	}
	digits := s.i - start
	if digits == 0 || digits > 9 || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
