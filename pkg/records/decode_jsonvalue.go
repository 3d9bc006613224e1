// Why a hand-written scanner and not a maintained tokenizer (issue 11): the same
// parser written on github.com/go-json-experiment/json/jsontext v1.27.2 (the
// tokenizer of encoding/json/v2) passed the decode tests and 60 s of each fuzz
// target, with the same allocations (1.007 per record, 51.6 B), but decoded at 0.60×
// the records/s of this scanner for JSON Lines and 0.67× for a JSON document
// (geometric means of 8 interleaved runs of BenchmarkDecodeJSONL1M and
// BenchmarkDecodeJSON1M, on a loaded machine), past the 20 % the issue allows.
// Alone, the parser took 335 ns a record against 150 ns, which by itself costs JSON
// Lines about 0.71× at the scanner's median speed. Figures and how to rerun:
// docs/performance.md, "The JSON record parser: why hand-written".

package records

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Reasons given by the JSON record parser.
const (
	reasonSyntax     = "invalid JSON"
	reasonNotObject  = "must be a JSON object with To_Account and Tags"
	reasonAccountStr = "To_Account must be a string"
	reasonTagsArray  = "Tags must be an array of strings"
)

// jsonRecordParser decodes one {"To_Account":"u1","Tags":["a"]} object strictly:
// exactly these two fields (names matched exactly), of these types, once each.
// It allocates the account string and the record's share of a tag slab, nothing else.
type jsonRecordParser struct {
	s     jsonScanner
	cells [][]byte
	tags  tagBuilder
	// noTags: a record object may leave Tags out (an input of accounts alone).
	noTags bool
}

func newJSONRecordParser() jsonRecordParser {
	return jsonRecordParser{tags: newTagBuilder()}
}

// parseRecord decodes data, which must hold one object and nothing else but white
// space. It returns what it could read and, if data is not a valid record object, why.
func (p *jsonRecordParser) parseRecord(data []byte) (Record, string) {
	s := &p.s
	s.reset(data)
	if s.skipSpace() != '{' {
		return Record{}, reasonNotObject
	}
	s.i++
	var (
		rec                Record
		haveAcct, haveTags bool
	)
	p.cells = p.cells[:0]
	if s.skipSpace() == '}' {
		s.i++
	} else {
		for {
			key, ok := s.str()
			if !ok || s.skipSpace() != ':' {
				return rec, reasonSyntax
			}
			s.i++
			s.skipSpace()
			var reason string
			switch {
			case string(key) == "To_Account":
				if haveAcct {
					return rec, `To_Account appears twice`
				}
				haveAcct = true
				rec.Account, reason = p.account()
			case string(key) == "Tags":
				if haveTags {
					return rec, `Tags appears twice`
				}
				haveTags = true
				reason = p.tagCells()
			default:
				return rec, unknownField(key)
			}
			if reason != "" {
				return rec, reason
			}
			c := s.skipSpace()
			s.i++
			if c == '}' {
				break
			}
			if c != ',' {
				return rec, reasonSyntax
			}
			s.skipSpace()
		}
	}
	switch {
	case s.skipSpace() != 0 || s.i < len(s.data):
		return rec, reasonSyntax
	case !haveAcct:
		return rec, "To_Account is missing"
	case !haveTags && !p.noTags:
		return rec, "Tags is missing"
	case !haveTags:
		return rec, ""
	}
	rec.Tags = p.tags.build(p.cells)
	return rec, ""
}

// unknownField names a field that a record object may not have.
func unknownField(key []byte) string {
	for _, known := range []string{"To_Account", "Tags"} {
		if strings.EqualFold(string(key), known) {
			return fmt.Sprintf("unknown field %q (did you mean %q?)", key, known)
		}
	}
	return fmt.Sprintf("unknown field %q: a record has only To_Account and Tags", key)
}

// account reads the value of To_Account.
func (p *jsonRecordParser) account() (string, string) {
	if p.s.peek() != '"' {
		return "", reasonAccountStr
	}
	b, ok := p.s.str()
	if !ok {
		return "", reasonSyntax
	}
	return string(b), ""
}

// tagCells reads the value of Tags into p.cells.
func (p *jsonRecordParser) tagCells() string {
	s := &p.s
	if s.peek() != '[' {
		return reasonTagsArray
	}
	s.i++
	if s.skipSpace() == ']' {
		s.i++
		return ""
	}
	for {
		if s.peek() != '"' {
			return reasonTagsArray
		}
		b, ok := s.str()
		if !ok {
			return reasonSyntax
		}
		p.cells = append(p.cells, b)
		c := s.skipSpace()
		s.i++
		switch c {
		case ']':
			return ""
		case ',':
			s.skipSpace()
		default:
			return reasonSyntax
		}
	}
}

// parseTags decodes data, which must hold one array of strings, into tags
// (de-duplicated), or says why it cannot.
func (p *jsonRecordParser) parseTags(data []byte) ([]string, string) {
	p.s.reset(data)
	p.cells = p.cells[:0]
	p.s.skipSpace()
	if reason := p.tagCells(); reason != "" {
		return nil, reason
	}
	if p.s.skipSpace() != 0 || p.s.i < len(data) {
		return nil, reasonSyntax
	}
	tags := p.tags.build(p.cells)
	return tags, ""
}

// parseString decodes data, which must hold one JSON string.
func (p *jsonRecordParser) parseString(data []byte) (string, string) {
	p.s.reset(data)
	p.s.skipSpace()
	acct, reason := p.account()
	if reason == "" && (p.s.skipSpace() != 0 || p.s.i < len(data)) {
		reason = reasonSyntax
	}
	if reason == reasonAccountStr {
		reason = "must be a string"
	}
	return acct, reason
}

// jsonScanner reads JSON tokens from a byte slice.
type jsonScanner struct {
	data []byte
	i    int
	buf  []byte // unescaped strings
}

// reset starts reading data.
func (s *jsonScanner) reset(data []byte) {
	s.data, s.i = data, 0
	if cap(s.buf) < len(data) {
		s.buf = make([]byte, 0, len(data))
	}
	s.buf = s.buf[:0]
}

// peek returns the current byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

// skipSpace skips JSON white space and returns the byte after it (0 at the end).
func (s *jsonScanner) skipSpace() byte {
	for s.i < len(s.data) {
		switch c := s.data[s.i]; c {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return c
		}
	}
	return 0
}

// str reads the string that starts at the current byte and returns its contents,
// unescaped. The result stays valid until the next reset.
func (s *jsonScanner) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.i + 1
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.i = i + 1
			return s.data[start:i], true
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// escaped reads a string with escapes, which starts at data[start], into s.buf.
func (s *jsonScanner) escaped(start int) ([]byte, bool) {
	from := len(s.buf)
	i := start
	for i < len(s.data) {
		c := s.data[i]
		switch {
		case c == '"':
			s.i = i + 1
			return s.buf[from:len(s.buf):len(s.buf)], true
		case c < 0x20:
			return nil, false
		case c != '\\':
			s.buf = append(s.buf, c)
			i++
			continue
		}
		if i+1 >= len(s.data) {
			return nil, false
		}
		i += 2
		switch e := s.data[i-1]; e {
		case '"', '\\', '/':
			s.buf = append(s.buf, e)
		case 'b':
			s.buf = append(s.buf, '\b')
		case 'f':
			s.buf = append(s.buf, '\f')
		case 'n':
			s.buf = append(s.buf, '\n')
		case 'r':
			s.buf = append(s.buf, '\r')
		case 't':
			s.buf = append(s.buf, '\t')
		case 'u':
			r, n, ok := s.unicodeEscape(i)
			if !ok {
				return nil, false
			}
			i += n
			s.buf = utf8.AppendRune(s.buf, r)
		default:
			return nil, false
		}
	}
	return nil, false
}

// unicodeEscape decodes the XXXX of a \uXXXX at data[i:], joining a surrogate pair
// into one rune (a lone surrogate becomes U+FFFD, as encoding/json does).
// It returns the rune and how many bytes after data[i] it used.
func (s *jsonScanner) unicodeEscape(i int) (rune, int, bool) {
	r, ok := hex4(s.data, i)
	if !ok {
		return 0, 0, false
	}
	if !utf16.IsSurrogate(r) {
		return r, 4, true
	}
	if i+10 <= len(s.data) && s.data[i+4] == '\\' && s.data[i+5] == 'u' {
		if r2, ok := hex4(s.data, i+6); ok {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return dec, 10, true
			}
		}
	}
	return utf8.RuneError, 4, true
}

// hex4 decodes four hexadecimal digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
