package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// jsonForms describes the two accepted forms of a JSON document, for error messages.
const jsonForms = `{"UserTags":[{"To_Account":"u1","Tags":["a"]},…]} or {"To_Account":["u1",…],"Tags":["a",…]} (or {"AllTags":true,"To_Account":["u1",…]}: every tag of the accounts)`

// jsonState is where a jsonDecoder is in its document.
type jsonState int

const (
	jsOpen     jsonState = iota // before the document's opening brace
	jsEnter                     // started inside an array: before the synthetic start of the document
	jsFields                    // between the document's fields
	jsUserTags                  // in the UserTags array
	jsAccounts                  // in the To_Account array, Tags known: streaming
	jsBuffered                  // returning the accounts read before Tags
	jsDone                      // after the document
)

// pendingAccount is an element of To_Account, read before Tags is known or just read.
type pendingAccount struct {
	account string
	reason  string
	index   int64
	at      Position // just before the element (after the one before it)
	end     Position // just after the element
}

// jsonDecoder reads a JSON document in either form, one array element at a time.
//
// The API's form {"UserTags":[…]} is streamed element by element. The bulk form
// {"To_Account":[…],"Tags":[…]} is streamed too when Tags comes first; when
// To_Account comes first, its account names are held until Tags is read (and
// records come out then), since every record needs the tags.
//
// Problems are per element ("UserTags[3]: Tags must be an array of strings");
// anything wrong with the document's structure (syntax, unknown or repeated
// fields, a mix of both forms, a Tags that is not an array of strings, data
// after the document) is a fatal error naming its line and byte offset.
//
// A record's Position is where a reader starts to read it next: just after the
// element before it (or the array's opening bracket), with the JSON context it
// needs there (Position.JSON). A decoder started at such a position goes on as
// if it had read the document from its start (see enter).
type jsonDecoder struct {
	dec   *json.Decoder
	t     *lineTracker
	p     jsonRecordParser
	raw   json.RawMessage
	shift int64 // the input's offset of the byte at the JSON decoder's offset 0
	state jsonState
	at    int64 // the JSON decoder's offset of the token or value read last, for errors

	sawUserTags, sawAccounts, sawTags, sawAllTags bool
	// accountsOnly: DecoderOptions.AccountsOnly; allTags: the document said
	// "AllTags": true. Either way its records are accounts alone.
	accountsOnly, allTags bool

	tags     []string     // the bulk form's Tags
	ctx      *JSONContext // of the array being read, for positions
	start    Position     // where a decoder started inside an array
	index    int64        // index of the next element of the current array
	elemEnd  Position     // just after the element read last (or the array's opening bracket)
	buffered []pendingAccount
	cur      Position
	after    Position // just after the record last returned or skipped
	done     int64    // records returned or skipped
}

func newJSONDecoder(r io.Reader, opts DecoderOptions) *jsonDecoder {
	br := bufio.NewReader(r)
	j := &jsonDecoder{
		p:            newJSONRecordParser(),
		cur:          Position{Record: -1, Offset: -1},
		accountsOnly: opts.AccountsOnly,
	}
	j.p.noTags = opts.AccountsOnly
	line := int64(1)
	var src io.Reader = br
	if opts.Start.JSON != nil {
		j.start, j.after = opts.Start, opts.Start
		j.index, j.done = opts.Start.Record, opts.Start.Record
		j.state = jsEnter
		prefix := enterPrefix(opts.Start)
		j.shift, line = opts.Start.Offset-int64(len(prefix)), max(opts.Start.Line, 1)
		src = io.MultiReader(strings.NewReader(prefix), br)
	} else if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		br.Discard(len(utf8BOM))
		j.shift = int64(len(utf8BOM))
	}
	j.t = &lineTracker{r: src, line: line, max: opts.MaxLineBytes}
	j.dec = json.NewDecoder(j.t)
	return j
}

// enterPrefix returns the text that puts a JSON decoder where start is in its
// document, just after an element of the array of records (or its opening
// bracket): the start of a document up to the array's opening bracket, then,
// past the array's first element, a placeholder element.
func enterPrefix(start Position) string {
	prefix := `{"` + start.JSON.Array + `":[`
	if start.Record > 0 {
		prefix += "0"
	}
	return prefix
}

// validJSONContext reports whether a decoder can start in the context c.
func validJSONContext(c *JSONContext) bool {
	return c.Array == "UserTags" || c.Array == "To_Account"
}

// enter reads the prefix that enterPrefix put before the input, and sets the
// state the document had at the start position.
func (j *jsonDecoder) enter() error {
	c := j.start.JSON
	for range 3 { // {, the field's name, [
		if _, err := j.token(); err != nil {
			return j.readErr(err, false)
		}
	}
	if j.start.Record > 0 {
		if err := j.dec.Decode(&j.raw); err != nil {
			return j.readErr(err, true)
		}
	}
	j.ctx = c
	j.allTags = c.AllTags
	j.elemEnd = j.position(j.dec.InputOffset())
	if c.Array == "UserTags" {
		j.sawUserTags = true
		j.state = jsUserTags
		return nil
	}
	j.sawAccounts, j.sawTags = true, c.TagsFirst
	j.tags = j.p.tags.copyOf(c.Tags)
	j.state = jsAccounts
	return nil
}

func (j *jsonDecoder) pos() Position { return j.cur }

func (j *jsonDecoder) resume() Position {
	if j.after.JSON == nil { // no record yet: start over
		return Position{}
	}
	r := j.after
	r.Record = j.done
	return r
}

// position returns the Position of the JSON decoder's offset off.
func (j *jsonDecoder) position(off int64) Position {
	return Position{Line: j.t.lineAt(off), Offset: off + j.shift, JSON: j.ctx}
}

// skip reads past the next record.
func (j *jsonDecoder) skip() error {
	_, err := j.next()
	if _, ok := err.(*Problem); ok {
		return nil
	}
	return err
}

// next returns the next record of the document.
func (j *jsonDecoder) next() (Record, error) {
	for {
		j.t.lineAt(j.dec.InputOffset())
		var err error
		switch j.state {
		case jsOpen:
			err = j.open()
		case jsEnter:
			err = j.enter()
		case jsFields:
			err = j.field()
		case jsUserTags:
			if j.dec.More() {
				return j.userTag()
			}
			err = j.closeArray()
		case jsAccounts:
			if j.dec.More() {
				return j.streamedAccount()
			}
			err = j.closeArray()
		case jsBuffered:
			if len(j.buffered) > 0 {
				pa := j.buffered[0]
				j.buffered[0] = pendingAccount{}
				j.buffered = j.buffered[1:]
				return j.bulkRecord(pa)
			}
			j.buffered = nil
			j.state = jsFields
		case jsDone:
			return Record{}, io.EOF
		}
		if err != nil {
			j.state = jsDone
			return Record{}, err
		}
	}
}

// open reads the document's opening brace.
func (j *jsonDecoder) open() error {
	tok, err := j.token()
	switch {
	case err == io.EOF:
		return fmt.Errorf("records: decode json: the document is empty: expected %s", jsonForms)
	case err != nil:
		return j.readErr(err, false)
	case tok != json.Delim('{'):
		return j.errorf("the document must be a JSON object: %s", jsonForms)
	}
	j.state = jsFields
	return nil
}

// field reads the next field of the document, or its end.
func (j *jsonDecoder) field() error {
	tok, err := j.token()
	if err != nil {
		return j.readErr(err, false)
	}
	if tok == json.Delim('}') {
		return j.finish()
	}
	key, _ := tok.(string)
	switch key {
	case "UserTags":
		if err := j.checkField(key, j.sawUserTags, j.sawAccounts || j.sawTags || j.allTags); err != nil {
			return err
		}
		j.sawUserTags = true
		j.state = jsUserTags
		j.ctx = &JSONContext{Array: key}
		return j.openArray(key)
	case "To_Account":
		if err := j.checkField(key, j.sawAccounts, j.sawUserTags); err != nil {
			return err
		}
		j.sawAccounts = true
		if err := j.openArray(key); err != nil {
			return err
		}
		switch {
		case j.sawTags:
			j.ctx = &JSONContext{Array: key, Tags: slices.Clone(j.tags), TagsFirst: true}
			j.state = jsAccounts
			return nil
		case j.allTags || j.accountsOnly: // no tags to wait for
			j.ctx = &JSONContext{Array: key, AllTags: j.allTags}
			j.state = jsAccounts
			return nil
		}
		return j.bufferAccounts()
	case "Tags":
		if err := j.checkField(key, j.sawTags, j.sawUserTags); err != nil {
			return err
		}
		if j.allTags || j.accountsOnly {
			return j.errorf("Tags in a document of accounts alone (AllTags, or --all-tags): every tag of each account is removed; leave Tags out")
		}
		j.sawTags = true
		return j.readTags()
	case "AllTags":
		return j.readAllTags()
	}
	return j.errorf("unknown field %q: the document is %s", key, jsonForms)
}

// checkField refuses a field seen before or one of the other form.
func (j *jsonDecoder) checkField(key string, seen, otherForm bool) error {
	switch {
	case seen:
		return j.errorf("the field %s appears twice", key)
	case otherForm:
		return j.errorf("the field %s mixes both forms of the document: use %s", key, jsonForms)
	}
	return nil
}

// openArray reads the opening bracket of the array value of the field key.
func (j *jsonDecoder) openArray(key string) error {
	tok, err := j.token()
	if err != nil {
		return j.readErr(err, false)
	}
	if tok != json.Delim('[') {
		return j.errorf("%s must be an array", key)
	}
	j.index = 0
	j.elemEnd = j.position(j.dec.InputOffset())
	return nil
}

// closeArray reads the closing bracket of an array.
func (j *jsonDecoder) closeArray() error {
	tok, err := j.token()
	if err != nil {
		return j.readErr(err, false)
	}
	if tok != json.Delim(']') {
		return j.errorf("expected the end of the array, found %v", tok)
	}
	j.state = jsFields
	return nil
}

// token reads the next token and notes where it starts.
func (j *jsonDecoder) token() (json.Token, error) {
	before := j.dec.InputOffset()
	tok, err := j.dec.Token()
	j.at = j.tokenStart(before)
	return tok, err
}

// element reads the next element of an array and returns the positions before
// and after it.
func (j *jsonDecoder) element() (before, after Position, err error) {
	if err := j.dec.Decode(&j.raw); err != nil {
		return before, after, j.readErr(err, true)
	}
	off := j.dec.InputOffset()
	j.at = off - int64(len(j.raw))
	before, j.elemEnd = j.elemEnd, j.position(off)
	return before, j.elemEnd, nil
}

// userTag reads the next element of UserTags.
func (j *jsonDecoder) userTag() (Record, error) {
	at, end, err := j.element()
	if err != nil {
		j.state = jsDone
		return Record{}, err
	}
	j.cur, j.after = at, end
	j.cur.Record = j.index
	j.index++
	j.done++
	if !utf8.Valid(j.raw) {
		return Record{}, j.problem("UserTags", "not valid UTF-8")
	}
	rec, reason := j.p.parseRecord(j.raw)
	if reason == "" {
		if err := validator(j.accountsOnly)(rec); err != nil {
			reason = err.Error()
		}
	}
	if reason != "" {
		return rec, j.problem("UserTags", reason)
	}
	return rec, nil
}

// account reads the next element of To_Account.
func (j *jsonDecoder) account() (pendingAccount, error) {
	at, end, err := j.element()
	if err != nil {
		return pendingAccount{}, err
	}
	pa := pendingAccount{index: j.index, at: at, end: end}
	j.index++
	if !utf8.Valid(j.raw) {
		pa.reason = "not valid UTF-8"
		return pa, nil
	}
	pa.account, pa.reason = j.p.parseString(j.raw)
	return pa, nil
}

// bufferAccounts reads the whole To_Account array, before Tags is known.
func (j *jsonDecoder) bufferAccounts() error {
	for j.dec.More() {
		pa, err := j.account()
		if err != nil {
			return err
		}
		j.buffered = append(j.buffered, pa)
	}
	return j.closeArray()
}

// streamedAccount reads the next element of To_Account, after Tags.
func (j *jsonDecoder) streamedAccount() (Record, error) {
	pa, err := j.account()
	if err != nil {
		j.state = jsDone
		return Record{}, err
	}
	return j.bulkRecord(pa)
}

// bulkRecord makes the record of an account of the bulk form.
func (j *jsonDecoder) bulkRecord(pa pendingAccount) (Record, error) {
	// The bulk form's context is known only once Tags is read.
	j.cur, j.after = pa.at, pa.end
	j.cur.JSON, j.after.JSON = j.ctx, j.ctx
	j.cur.Record = pa.index
	j.done++
	rec := Record{Account: pa.account}
	if pa.reason != "" {
		return rec, j.problem("To_Account", pa.reason)
	}
	alone := j.allTags || j.accountsOnly
	if !alone {
		rec.Tags = j.p.tags.copyOf(j.tags)
	}
	if err := validator(alone)(rec); err != nil {
		return rec, j.problem("To_Account", err.Error())
	}
	return rec, nil
}

// readAllTags reads the job form's "AllTags": true says the accounts of
// To_Account are to lose every tag (false says nothing). Accounts read before
// it come out now.
func (j *jsonDecoder) readAllTags() error {
	if err := j.checkField("AllTags", j.sawAllTags, false); err != nil {
		return err
	}
	j.sawAllTags = true
	if err := j.dec.Decode(&j.raw); err != nil {
		return j.readErr(err, true)
	}
	j.at = j.dec.InputOffset() - int64(len(j.raw))
	var all bool
	if err := json.Unmarshal(j.raw, &all); err != nil {
		return j.errorf("AllTags must be true or false")
	}
	switch {
	case !all:
		return nil
	case j.sawUserTags:
		return j.errorf("AllTags takes the accounts alone, in To_Account: not UserTags")
	case j.sawTags:
		return j.errorf("Tags in a document of accounts alone (AllTags, or --all-tags): every tag of each account is removed; leave Tags out")
	}
	j.allTags, j.p.noTags = true, true
	if len(j.buffered) > 0 {
		j.ctx = &JSONContext{Array: "To_Account", AllTags: true}
		j.state = jsBuffered
	}
	return nil
}

// readTags reads the bulk form's Tags.
func (j *jsonDecoder) readTags() error {
	if err := j.dec.Decode(&j.raw); err != nil {
		return j.readErr(err, true)
	}
	j.at = j.dec.InputOffset() - int64(len(j.raw))
	if !utf8.Valid(j.raw) {
		return j.errorf("Tags is not valid UTF-8")
	}
	tags, reason := j.p.parseTags(j.raw)
	if reason != "" {
		return j.errorf("%s", reasonTagsArray)
	}
	j.tags = tags
	if len(j.buffered) > 0 {
		j.ctx = &JSONContext{Array: "To_Account", Tags: slices.Clone(tags)}
		j.state = jsBuffered
	}
	return nil
}

// finish checks the document after its closing brace.
func (j *jsonDecoder) finish() error {
	switch {
	case j.sawAccounts && !j.sawTags && !j.allTags && !j.accountsOnly:
		return j.errorf(`To_Account comes without Tags (to remove every tag of the accounts, say "AllTags": true)`)
	case j.sawTags && !j.sawAccounts:
		return j.errorf("Tags comes without To_Account")
	case !j.sawUserTags && !j.sawAccounts:
		return j.errorf("the document has no records: expected %s", jsonForms)
	}
	_, err := j.token()
	switch {
	case err == io.EOF:
		j.state = jsDone
		return nil
	case err == nil, isSyntax(err):
		return j.errorf("unexpected data after the end of the document")
	}
	return j.readErr(err, false)
}

// problem returns a Problem at the current element of the array key.
func (j *jsonDecoder) problem(key, reason string) *Problem {
	return &Problem{Pos: j.cur, Where: fmt.Sprintf("%s[%d]", key, j.cur.Record), Reason: reason}
}

// errorf returns a fatal error at the token or value read last.
func (j *jsonDecoder) errorf(format string, args ...any) error {
	return j.errorAt(j.at, format, args...)
}

// errorAt returns a fatal error at the offset off of the decoder's input.
func (j *jsonDecoder) errorAt(off int64, format string, args ...any) error {
	return fmt.Errorf("records: decode json: at line %d (byte offset %d): %s", j.t.lineAt(off), off+j.shift, fmt.Sprintf(format, args...))
}

// readErr turns an error of the JSON decoder into a fatal error with its position.
// inValue says the error happened while reading a whole value (Decode, not Token).
func (j *jsonDecoder) readErr(err error, inValue bool) error {
	off := j.dec.InputOffset()
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off = j.tokenStart(off)
		if inValue {
			off = j.syntaxOffset(off)
		}
		return j.errorAt(off, "invalid JSON: %v", se)
	case err == io.EOF, err == io.ErrUnexpectedEOF:
		return j.errorAt(j.t.end(), "the document ends before it is complete (truncated?)")
	case errors.Is(err, errValueTooLarge):
		return j.errorAt(j.tokenStart(off), "a JSON value (or a run of white space) is longer than %d bytes", j.t.max)
	}
	return fmt.Errorf("records: decode json: reading after byte offset %d: %w", off+j.shift, err)
}

// tokenStart returns the offset of the token that follows off, past white space
// and a separator (comma or colon), among the bytes read.
func (j *jsonDecoder) tokenStart(off int64) int64 {
	held := j.t.from(off)
	n := skipJSONSpace(held, 0)
	if n < len(held) && (held[n] == ',' || held[n] == ':') {
		n = skipJSONSpace(held, n+1)
	}
	return off + int64(n)
}

// skipJSONSpace returns the index of the first byte at or after i that is not JSON white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// syntaxOffset finds the offset of the syntax error in the value that starts at off.
func (j *jsonDecoder) syntaxOffset(off int64) int64 {
	var v any
	var se *json.SyntaxError
	if err := json.Unmarshal(j.t.from(off), &v); errors.As(err, &se) && se.Offset > 0 {
		return off + se.Offset - 1
	}
	return off
}

// isSyntax reports whether err is a JSON syntax error.
func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// errValueTooLarge stops a JSON value longer than the cap.
var errValueTooLarge = errors.New("JSON value too large")

// trackerChunk caps one read of a lineTracker.
const trackerChunk = 32 << 10

// lineTracker sits between a json.Decoder and its input to tell the line of an
// offset. It holds the bytes read past the last offset asked about (one value and
// a read-ahead), and refuses to hold more than max bytes beyond a read.
type lineTracker struct {
	r    io.Reader
	buf  []byte
	head int   // buf[head] is the byte at offset base
	base int64 // offset of the byte at buf[head]
	line int64 // line of that byte
	max  int
	err  error
}

// Read reads from the input, keeping what it read.
func (t *lineTracker) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if len(p) > trackerChunk {
		p = p[:trackerChunk]
	}
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	if len(t.buf)-t.head > t.max+trackerChunk {
		t.err = errValueTooLarge
		return n, t.err
	}
	return n, err
}

// lineAt returns the line of offset off, at or after the last offset asked about,
// and forgets the bytes before it.
func (t *lineTracker) lineAt(off int64) int64 {
	k := min(off-t.base, int64(len(t.buf)-t.head))
	if k <= 0 {
		return t.line
	}
	t.line += int64(bytes.Count(t.buf[t.head:t.head+int(k)], []byte{'\n'}))
	t.head += int(k)
	t.base += k
	if t.head > len(t.buf)/2 {
		n := copy(t.buf, t.buf[t.head:])
		t.buf = t.buf[:n]
		t.head = 0
	}
	return t.line
}

// from returns the bytes read from offset off on.
func (t *lineTracker) from(off int64) []byte {
	k := min(max(off-t.base, 0), int64(len(t.buf)-t.head))
	return t.buf[t.head+int(k):]
}

// end returns the offset after the last byte read.
func (t *lineTracker) end() int64 { return t.base + int64(len(t.buf)-t.head) }
