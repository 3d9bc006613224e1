package imapi

import "encoding/json"

// decodeAnswer decodes the service's answer into a, as json.Unmarshal does.
// The common answer, a flat object of ActionStatus, ErrorCode and ErrorInfo
// ({"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}), is read by hand,
// without reflection; any other (an ErrorList, another key, an escape, a
// byte outside ASCII, a null, a number that is not a small integer) goes to
// json.Unmarshal.
func decodeAnswer(raw []byte, a *answer) error {
	if readFlatAnswer(raw, a) {
		return nil
	}
	*a = answer{}
	return json.Unmarshal(raw, a)
}

// readFlatAnswer reads raw into a if it is an object whose keys are exactly
// ActionStatus, ErrorInfo (plain ASCII strings) and ErrorCode (an integer of
// at most nine digits), each any number of times, with JSON white space
// between the tokens; false for anything else, a then holding any part.
func readFlatAnswer(raw []byte, a *answer) bool {
	s := flatScanner{b: raw}
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		switch string(key) {
		case "ActionStatus":
			a.ActionStatus, ok = s.text()
		case "ErrorInfo":
			a.ErrorInfo, ok = s.text()
		case "ErrorCode":
			a.ErrorCode, ok = s.int()
		default:
			return false // json.Unmarshal matches keys without regard to case
		}
		if !ok {
			return false
		}
		if s.byte('}') {
			return s.end()
		}
		if !s.byte(',') {
			return false
		}
	}
}

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

// str reads a string of printable ASCII without escapes, and returns its bytes.
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
		case c < 0x20 || c == '\\' || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// text reads a string as str does, as a string.
func (s *flatScanner) text() (string, bool) {
	v, ok := s.str()
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
