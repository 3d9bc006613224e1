package records

import (
	"encoding/json"
	"errors"
	"fmt"
)

// jsonlParser decodes JSON Lines: one {"To_Account":"u1","Tags":["a"]} per line.
type jsonlParser struct {
	rec jsonRecordParser
}

func newJSONLParser() *jsonlParser { return &jsonlParser{rec: newJSONRecordParser()} }

// parse decodes one line. When the line is not a valid record, a JSON syntax
// error, if there is one, is reported rather than what the record parser found.
func (p *jsonlParser) parse(line []byte) (Record, string) {
	rec, reason := p.rec.parseRecord(line)
	if reason != "" && !json.Valid(line) {
		reason = syntaxReason(line)
	}
	return rec, reason
}

// syntaxReason describes the JSON syntax error in data.
func syntaxReason(data []byte) string {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s at column %d: %v", reasonSyntax, se.Offset, se)
	case err != nil:
		return reasonSyntax + ": " + err.Error()
	}
	return reasonSyntax
}

// blank reports whether the line is only white space.
func (p *jsonlParser) blank(line []byte) bool { return isBlank(line) }

// header reports false: JSON Lines have no header.
func (p *jsonlParser) header([]byte) bool { return false }

// foreignHeader reports "": JSON Lines have no header.
func (p *jsonlParser) foreignHeader([]byte) string { return "" }
