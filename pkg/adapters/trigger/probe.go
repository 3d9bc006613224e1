package trigger

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Probe is the top level of an event payload, for telling its shape.
type Probe struct {
	// Fields are the payload's top-level fields.
	Fields map[string]json.RawMessage
}

// NewProbe reads the top level of payload. If payload is not a JSON object,
// it returns nil and says what arrived.
func NewProbe(payload []byte) (*Probe, string) {
	trimmed := bytes.TrimSpace(payload)
	if !json.Valid(trimmed) {
		return nil, "the event is not JSON: " + describe(payload)
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, "the event is not a JSON object: " + describe(payload)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, "the event cannot be read: " + err.Error() + ": " + describe(payload)
	}
	return &Probe{Fields: fields}, ""
}

// Has reports whether the field is present (with any value but null).
func (p *Probe) Has(name string) bool {
	v, ok := p.Fields[name]
	return ok && string(v) != "null"
}

// String returns the field's value if it is a JSON string, else "".
func (p *Probe) String(name string) string {
	var s string
	if v, ok := p.Fields[name]; ok {
		_ = json.Unmarshal(v, &s)
	}
	return s
}

// keys returns the field names, sorted.
func (p *Probe) keys() []string {
	keys := make([]string, 0, len(p.Fields))
	for k := range p.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// arrayLen returns the number of elements of the field's value if it is a JSON
// array, else -1. It decodes none of them: an adapter can refuse an event with
// too many records before it allocates anything for them.
func (p *Probe) arrayLen(name string) int {
	v := bytes.TrimSpace(p.Fields[name])
	if len(v) == 0 || v[0] != '[' {
		return -1
	}
	// v is valid JSON (NewProbe checked the payload): count the commas at
	// depth 1, outside strings.
	n, depth, inString, escaped, empty := 0, 0, false, false, true
	for _, c := range v {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth == 1 {
				continue
			}
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 1:
			n++
		}
		if depth >= 1 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			empty = false
		}
	}
	if empty {
		return 0
	}
	return n + 1
}
