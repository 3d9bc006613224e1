package records

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// csvParser decodes CSV rows: account,tag[,tag…].
//
// Cells are split on commas; a cell may be quoted (RFC 4180) to hold commas, with
// "" standing for one quote, but it must end on its line: accounts and tags cannot
// hold line breaks. White space around cells is ignored (inside quotes it is kept).
// Empty cells at the end of a row are ignored (spreadsheets pad ragged rows), and a
// row of nothing but commas and white space is blank; an empty cell before a
// non-empty one is a problem. The first row that is not blank is a header, skipped,
// if its first cell is To_Account (in any case).
type csvParser struct {
	cells    [][]byte
	unquoted []byte // the contents of quoted cells, without their quotes
	tags     tagBuilder
	accounts stringArena
}

func newCSVParser() *csvParser { return &csvParser{tags: newTagBuilder()} }

// parse decodes one row.
func (p *csvParser) parse(line []byte) (Record, string) {
	if reason := p.split(line); reason != "" {
		return Record{}, reason
	}
	cells := p.cells
	for len(cells) > 1 && len(cells[len(cells)-1]) == 0 {
		cells = cells[:len(cells)-1]
	}
	rec := Record{Account: p.accounts.make(cells[0])}
	for i, c := range cells[1:] {
		if len(c) == 0 {
			return rec, fmt.Sprintf("cell %d is empty: only the cells after the last tag may be", i+2)
		}
	}
	rec.Tags = p.tags.build(cells[1:])
	return rec, ""
}

// common reports whether a row is of printable ASCII without quotes or
// white space, with no empty cell and its cells within the limits of
// Record.Validate (Record.ValidateAccount if alone: one cell): such a row is
// valid, and build makes of it what parse would. One pass over the row,
// without the checks of UTF-8 and control characters that ASCII makes
// needless: nine rows in ten of a real input. Its cells are kept for build.
func (p *csvParser) common(line []byte, alone bool) bool {
	p.cells = p.cells[:0]
	start := 0
	for i, c := range line {
		switch {
		case c == ',':
			p.cells = append(p.cells, line[start:i])
			start = i + 1
		case c <= ' ' || c >= 0x7f || c == '"':
			return false
		}
	}
	p.cells = append(p.cells, line[start:])
	account, tags := p.cells[0], p.cells[1:]
	switch {
	case len(account) == 0 || len(account) > MaxAccountBytes:
		return false
	case alone:
		return len(tags) == 0
	case len(tags) == 0 || len(tags) > MaxTagsPerRecord:
		return false
	}
	for _, t := range tags {
		if len(t) == 0 || len(t) > MaxTagBytes {
			return false
		}
	}
	return true
}

// build returns the record of the row common last took.
func (p *csvParser) build() Record {
	return Record{Account: p.accounts.make(p.cells[0]), Tags: p.tags.build(p.cells[1:])}
}

// split cuts line into p.cells, or says why it cannot.
func (p *csvParser) split(line []byte) string {
	p.cells = p.cells[:0]
	if cap(p.unquoted) < len(line) {
		p.unquoted = make([]byte, 0, len(line))
	}
	p.unquoted = p.unquoted[:0]
	for i := 0; ; i++ {
		var (
			cell   []byte
			reason string
		)
		i = skipSpace(line, i)
		if i < len(line) && line[i] == '"' {
			cell, i, reason = p.quoted(line, i, len(p.cells)+1)
		} else {
			cell, i, reason = unquoted(line, i, len(p.cells)+1)
		}
		if reason != "" {
			return reason
		}
		p.cells = append(p.cells, cell)
		if i >= len(line) {
			return ""
		}
	}
}

// quoted reads the quoted cell n that starts at line[i] and returns it and the
// index of the comma that ends it (or len(line)).
func (p *csvParser) quoted(line []byte, i, n int) (cell []byte, end int, reason string) {
	start := len(p.unquoted)
	i++
	for {
		j := bytes.IndexByte(line[i:], '"')
		if j < 0 {
			return nil, 0, fmt.Sprintf("the quoted cell %d does not end on its line (accounts and tags cannot contain line breaks)", n)
		}
		p.unquoted = append(p.unquoted, line[i:i+j]...)
		i += j + 1
		if i < len(line) && line[i] == '"' {
			p.unquoted = append(p.unquoted, '"')
			i++
			continue
		}
		break
	}
	cell = p.unquoted[start:len(p.unquoted):len(p.unquoted)]
	i = skipSpace(line, i)
	if i < len(line) && line[i] != ',' {
		return nil, 0, fmt.Sprintf("cell %d has %q after its closing quote", n, line[i])
	}
	return cell, i, ""
}

// unquoted reads the unquoted cell n that starts at line[i] and returns it and the
// index of the comma that ends it (or len(line)).
func unquoted(line []byte, i, n int) (cell []byte, end int, reason string) {
	// Cells are short: one pass beats searching for the comma and then the quote.
	start := i
	for ; i < len(line) && line[i] != ','; i++ {
		if line[i] == '"' {
			return nil, 0, fmt.Sprintf(`cell %d has a quote inside it: quote the whole cell and double the quote ("a""b")`, n)
		}
	}
	return trimSpaceRight(line[start:i]), i, ""
}

// blank reports whether the row has nothing but commas and white space.
func (p *csvParser) blank(line []byte) bool {
	for _, c := range line {
		if c != ',' && !isSpace(c) {
			return false
		}
	}
	return true
}

// headerCell is the first cell of a header row, compared ignoring case.
var headerCell = []byte("To_Account")

// header reports whether the row's first cell is To_Account.
func (p *csvParser) header(line []byte) bool {
	s := line[skipSpace(line, 0):]
	quoted := len(s) > 0 && s[0] == '"'
	if quoted {
		s = s[1:]
	}
	if len(s) < len(headerCell) || !bytes.EqualFold(s[:len(headerCell)], headerCell) {
		return false
	}
	s = s[len(headerCell):]
	if quoted {
		if len(s) == 0 || s[0] != '"' {
			return false
		}
		s = s[1:]
	}
	s = s[skipSpace(s, 0):]
	return len(s) == 0 || s[0] == ','
}

// headerWords are the names a header row of another program gives the
// account column and the tag columns, lower case, without spaces,
// underscores or hyphens (for a tag column, a number of one or two digits
// may follow: Tag1, Tag2).
var (
	accountWords = []string{"account", "accounts", "accountid", "toaccount", "user", "users", "userid", "userids", "username", "uid", "id", "identifier", "member", "memberid", "imuserid"}
	tagWords     = []string{"tag", "tags", "tagname", "tagnames", "tagstoremove", "label", "labels"}
)

// foreignHeader says why a first row looks like a header of another name:
// its first cell names the account column (UserID, Account, …) or a later
// cell names a tag column (Tag, Tags, Tag1, …). "" if it does not.
func (p *csvParser) foreignHeader(line []byte) string {
	if p.split(line) != "" || len(p.cells) == 0 {
		return ""
	}
	word := func(c []byte) string {
		return strings.Map(func(r rune) rune {
			if r == ' ' || r == '_' || r == '-' {
				return -1
			}
			return unicode.ToLower(r)
		}, string(c))
	}
	var named []string
	if slices.Contains(accountWords, word(p.cells[0])) {
		named = append(named, strconv.Quote(string(p.cells[0])))
	}
	for _, c := range p.cells[1:] {
		if w := word(c); slices.Contains(tagWords, w) || slices.Contains(tagWords, strings.TrimRightFunc(w, unicode.IsDigit)) && len(w) <= len("tag")+2 {
			named = append(named, strconv.Quote(string(c)))
		}
	}
	if len(named) == 0 {
		return ""
	}
	return fmt.Sprintf("the first row looks like a header (%s), not an account and its tags: it is not sent; say whether the input has a header row", strings.Join(named, ", "))
}

// skipSpace returns the index of the first byte at or after i that is not a space or tab.
func skipSpace(line []byte, i int) int {
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i
}

// trimSpaceRight removes the spaces and tabs at the end of b.
func trimSpaceRight(b []byte) []byte {
	n := len(b)
	for n > 0 && (b[n-1] == ' ' || b[n-1] == '\t') {
		n--
	}
	return b[:n]
}
