package records

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// utf8BOM may start a text file; it is not part of the first line.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// lineParser decodes one line-based format.
type lineParser interface {
	// parse decodes one line (without its line break, valid UTF-8, not blank).
	// It returns what it could read of the record and, if the line is invalid, why.
	parse(line []byte) (Record, string)
	// blank reports whether a line holds no record.
	blank(line []byte) bool
	// header reports whether the first line that is not blank is a header row.
	header(line []byte) bool
	// foreignHeader says why the first line that is not blank looks like a
	// header row of another name than header knows; "" if it does not.
	foreignHeader(line []byte) string
}

// lineDecoder reads one record per line: CSV and JSON Lines.
type lineDecoder struct {
	br     *bufio.Reader
	max    int
	format Format
	parser lineParser

	cur      Position // the record last returned
	nextRec  int64    // index of the next record
	line     int64    // number of the line last read
	off      int64    // offset of the next line
	bom      bool     // a BOM may come first
	inHeader bool     // the next line that is not blank may be a header row
	headers  HeaderMode
	refused  string     // why the current line, the first, looks like a header row
	alone    bool       // records are judged by Record.ValidateAccount, else Record.Validate
	fast     fastParser // the parser's fast path, if it has one
}

// fastParser is a lineParser with a fast path for the common line.
type fastParser interface {
	// common reports whether the line is in the format's common form, whose
	// record can be told at a glance to be valid by the rule of the input
	// (Record.Validate, or Record.ValidateAccount if alone). false decides
	// nothing: the line goes to parse and the rule.
	common(line []byte, alone bool) bool
	// build returns the record of the line common last said true of.
	build() Record
}

func newLineDecoder(r io.Reader, opts DecoderOptions, p lineParser) *lineDecoder {
	atStart := opts.Start.Offset == 0 && opts.Start.Line <= 1
	return &lineDecoder{
		// The buffer holds the longest line allowed, its CR LF, and one byte to
		// tell that a line is longer.
		br:       bufio.NewReaderSize(r, opts.MaxLineBytes+3),
		max:      opts.MaxLineBytes,
		format:   opts.Format,
		parser:   p,
		cur:      Position{Record: opts.Start.Record - 1, Line: opts.Start.Line - 1, Offset: opts.Start.Offset},
		nextRec:  opts.Start.Record,
		line:     opts.Start.Line - 1,
		off:      opts.Start.Offset,
		bom:      atStart,
		inHeader: opts.Start.Line <= 1,
		headers:  opts.Header,
		alone:    opts.AccountsOnly,
		fast:     fastOf(p),
	}
}

// fastOf returns p's fast path, or nil.
func fastOf(p lineParser) fastParser {
	f, _ := p.(fastParser)
	return f
}

// next decodes the next record.
func (d *lineDecoder) next() (Record, error) {
	line, tooLong, err := d.advance()
	if err != nil {
		return Record{}, err
	}
	return d.decode(line, tooLong)
}

// decode decodes the current record, whose line advance read.
func (d *lineDecoder) decode(line []byte, tooLong bool) (Record, error) {
	if tooLong {
		return Record{}, d.problem(fmt.Sprintf("the line is longer than %d bytes", d.max))
	}
	if d.refused != "" {
		return Record{}, d.problem(d.refused)
	}
	if d.fast != nil && d.fast.common(line, d.alone) {
		return d.fast.build(), nil
	}
	if !utf8.Valid(line) {
		return Record{}, d.problem("the line is not valid UTF-8")
	}
	rec, reason := d.parser.parse(line)
	if reason == "" {
		if err := validator(d.alone)(rec); err != nil {
			reason = err.Error()
		}
	}
	if reason != "" {
		return rec, d.problem(reason)
	}
	return rec, nil
}

// skip reads past the next record.
func (d *lineDecoder) skip() error {
	_, _, err := d.advance()
	return err
}

// skipValid reads past up to limit valid records and returns how many. A
// line that the fast path tells at a glance is valid is not decoded; any other
// is, and judged. It stops at a record's *Problem (counted as read, as next's
// would be), the input's end (io.EOF) or a fatal error. Without a fast path it
// reads nothing (0, nil).
func (d *lineDecoder) skipValid(limit int64) (int64, error) {
	if d.fast == nil {
		return 0, nil
	}
	var n int64
	for ; n < limit; n++ {
		line, tooLong, err := d.advance()
		if err != nil {
			return n, err
		}
		if !tooLong && d.refused == "" && d.fast.common(line, d.alone) {
			continue
		}
		if _, err := d.decode(line, tooLong); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (d *lineDecoder) pos() Position { return d.cur }

func (d *lineDecoder) resume() Position {
	return Position{Record: d.nextRec, Line: d.line + 1, Offset: d.off}
}

// problem returns a Problem at the current record.
func (d *lineDecoder) problem(reason string) *Problem {
	return &Problem{Pos: d.cur, Where: fmt.Sprintf("line %d", d.cur.Line), Reason: reason}
}

// advance reads up to the next line that holds a record, skipping blank lines and
// the header row, and makes it the current record.
func (d *lineDecoder) advance() (line []byte, tooLong bool, err error) {
	for {
		var start int64
		line, start, tooLong, err = d.readLine()
		if err != nil {
			return nil, false, err
		}
		if !tooLong && d.parser.blank(line) {
			continue
		}
		d.refused = ""
		if d.inHeader {
			d.inHeader = false
			if !tooLong && d.isHeader(line) {
				continue
			}
		}
		d.cur = Position{Record: d.nextRec, Line: d.line, Offset: start}
		d.nextRec++
		return line, tooLong, nil
	}
}

// isHeader reports whether the first line that is not blank is a header row
// to skip; one that looks like a header of another name is noted in d.refused.
func (d *lineDecoder) isHeader(line []byte) bool {
	switch {
	case d.format != FormatCSV:
		return d.parser.header(line)
	case d.headers == HeaderPresent:
		return true
	case d.headers == HeaderAbsent:
		return false
	}
	if d.parser.header(line) {
		return true
	}
	d.refused = d.parser.foreignHeader(line)
	return false
}

// readLine reads one line and returns it without its line break (LF or CR LF),
// and its offset. A line longer than the cap is read past, not returned: tooLong says so.
func (d *lineDecoder) readLine() (line []byte, start int64, tooLong bool, err error) {
	if d.bom {
		d.bom = false
		if head, _ := d.br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
			d.br.Discard(len(utf8BOM))
			d.off += int64(len(utf8BOM))
		}
	}
	start = d.off
	line, err = d.br.ReadSlice('\n')
	d.off += int64(len(line))
	for err == bufio.ErrBufferFull {
		tooLong = true
		line, err = d.br.ReadSlice('\n')
		d.off += int64(len(line))
	}
	switch {
	case err == io.EOF && len(line) == 0 && !tooLong:
		return nil, start, false, io.EOF
	case err != nil && err != io.EOF:
		return nil, start, false, fmt.Errorf("records: decode %v: reading line %d: %w", d.format, d.line+1, err)
	}
	d.line++
	if tooLong {
		return nil, start, true, nil
	}
	line = trimEOL(line)
	return line, start, len(line) > d.max, nil
}

// trimEOL removes a final LF or CR LF.
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n > 1 && line[n-2] == '\r' {
			line = line[:n-2]
		}
	}
	return line
}

// isSpace reports whether c is ASCII white space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// isBlank reports whether line is only white space.
func isBlank(line []byte) bool {
	for _, c := range line {
		if !isSpace(c) {
			return false
		}
	}
	return true
}
