package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The types of this file read the fields of platform events the function
// uses, and only those, as leniently as the platforms vary: the same field
// arrives as a string in one trigger's documentation and as a number in
// another's, headers as strings or lists, names in any case. A field the
// function does not use is never decoded, so it can never fail an event.

// Text is a JSON value read as text: a string as it is, null as "", and any
// other value (a number, a boolean, an object, an array) as its JSON text. A
// timer's Message ("a string or a JSON structure", says Tencent's timer
// trigger page), a COS bucket's appid and an HTTP body are read with it.
type Text string

// UnmarshalJSON reads any JSON value as text.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*t = Text(buf.String())
	}
	return nil
}

// Headers are an HTTP event's headers, read leniently: names are lower-cased
// (HTTP header names are case-insensitive, and the platforms send them in
// either case); a value may be a string, a list of strings (joined with ", ",
// as HTTP joins repeated headers), a number or a boolean (its JSON text);
// null and objects are dropped. Of two names that differ only in case, the
// first in byte order wins, so the choice never depends on map order.
type Headers map[string]string

// UnmarshalJSON reads a JSON object of headers; null is no headers.
func (h *Headers) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	out := make(Headers, len(raw))
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		key := strings.ToLower(name)
		if _, seen := out[key]; seen {
			continue
		}
		if v, ok := headerValue(raw[name]); ok {
			out[key] = v
		}
	}
	*h = out
	return nil
}

// headerValue reads one header's value; ok is false for null and objects.
func headerValue(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case 'n', '{':
		return "", false
	case '[':
		var list []Text
		if json.Unmarshal(v, &list) != nil {
			return "", false
		}
		parts := make([]string, 0, len(list))
		for _, s := range list {
			if s != "" {
				parts = append(parts, string(s))
			}
		}
		return strings.Join(parts, ", "), len(parts) > 0
	}
	var t Text
	if json.Unmarshal(v, &t) != nil {
		return "", false
	}
	return string(t), true
}

// With returns h with the headers of other that h does not have: the single
// headers of a REST API event come before its multiValueHeaders.
func (h Headers) With(other Headers) Headers { return merged(h, other) }

// merged returns first with the entries of then that first does not have.
func merged[M ~map[string]string](first, then M) M {
	out := make(M, len(first)+len(then))
	maps.Copy(out, then)
	maps.Copy(out, first)
	return out
}

// Query is an HTTP event's query string parameters, read leniently: a value
// may be a string, a list of strings (the first one is taken: each
// parameter the function reads has one value), a number or a boolean (its
// JSON text); null and objects are dropped. Names keep their case.
type Query map[string]string

// UnmarshalJSON reads a JSON object of parameters; null is none.
func (q *Query) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("query string parameters: %w", err)
	}
	out := make(Query, len(raw))
	for name, v := range raw {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '[' {
			var list []json.RawMessage
			if json.Unmarshal(v, &list) != nil || len(list) == 0 {
				continue
			}
			v = list[0]
		}
		if s, ok := headerValue(v); ok {
			out[name] = s
		}
	}
	*q = out
	return nil
}

// With returns q with the parameters of other that q does not have.
func (q Query) With(other Query) Query { return merged(q, other) }
