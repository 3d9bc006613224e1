package journal

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/removetag/removetag/pkg/records"
)

// The log's lines are written by hand, byte for byte as encoding/json writes
// the intent and outcome types (TestLinesAreEncodingJSONs): a batch's intent
// is on the path of every removal, and reflection cost more than the rest of
// the recorder.

// appendIntent appends the intent line of id with pairs (no newline).
func appendIntent(dst []byte, id string, pairs []records.Record) []byte {
	dst = append(dst, `{"I":`...)
	dst = appendString(dst, id)
	if len(pairs) > 0 {
		dst = append(dst, `,"UserTags":`...)
		dst = appendRecords(dst, pairs)
	}
	return append(dst, '}')
}

// appendRecords appends recs as encoding/json writes a []records.Record.
func appendRecords(dst []byte, recs []records.Record) []byte {
	dst = append(dst, '[')
	for i, p := range recs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRecord(dst, p)
	}
	return append(dst, ']')
}

// appendRecord appends rec as encoding/json writes a records.Record.
func appendRecord(dst []byte, rec records.Record) []byte {
	dst = append(dst, `{"To_Account":`...)
	dst = appendString(dst, rec.Account)
	dst = append(dst, `,"Tags":`...)
	dst = appendStrings(dst, rec.Tags)
	return append(dst, '}')
}

// appendStrings appends ss as encoding/json writes a []string (nil as null).
func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, t := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, t)
	}
	return append(dst, ']')
}

// appendOutcome appends the outcome line o (no newline).
func appendOutcome(dst []byte, o outcome) []byte {
	dst = append(dst, `{"O":`...)
	dst = appendString(dst, o.O)
	if o.S != "" {
		dst = append(dst, `,"S":`...)
		dst = appendString(dst, o.S)
	}
	if len(o.Ok) > 0 {
		dst = append(dst, `,"Ok":`...)
		dst = appendStrings(dst, o.Ok)
	}
	if len(o.No) > 0 {
		dst = append(dst, `,"No":`...)
		dst = appendStrings(dst, o.No)
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string, as encoding/json writes it: plain
// text as it is, anything that needs an escape (a quote, a backslash, a
// control character, <, > and &, a byte beyond ASCII) through json.Marshal.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
