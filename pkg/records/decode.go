package records

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Format is the layout of an input file.
type Format int

// The input formats. The zero Format is not one of them.
const (
	// FormatJSON is one JSON document: the API's own {"UserTags":[{"To_Account":"u1","Tags":["a"]},…]}
	// or the bulk form {"To_Account":["u1","u2",…],"Tags":["a","b"]} (the same tags for every account).
	// Both are streamed one array element at a time, except that the bulk form's account
	// names are held in memory until Tags is read when To_Account comes first.
	// The job form {"AllTags":true,"To_Account":["u1",…]} names accounts alone,
	// every tag of which is to be removed: it has no Tags (and no UserTags).
	FormatJSON Format = iota + 1
	// FormatJSONL is JSON Lines: one {"To_Account":"u1","Tags":["a"]} per line.
	FormatJSONL
	// FormatCSV is one account,tag[,tag…] row per line, with an optional To_Account header row.
	FormatCSV
)

// String returns the format's usual file extension without the dot: "json", "jsonl" or "csv".
func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatJSONL:
		return "jsonl"
	case FormatCSV:
		return "csv"
	default:
		return fmt.Sprintf("Format(%d)", int(f))
	}
}

// extensions maps the accepted file extensions to their formats.
var extensions = map[string]Format{
	".json":   FormatJSON,
	".jsonl":  FormatJSONL,
	".ndjson": FormatJSONL,
	".csv":    FormatCSV,
}

const acceptedExtensions = ".json, .jsonl, .ndjson or .csv, each optionally followed by .gz"

// FormatOf picks the format from a file or object name by its extension, ignoring case:
// .json, .jsonl or .ndjson, .csv, each optionally followed by .gz, which gz reports.
// NewDecoder recognizes gzip by its content, so gz is for information only.
func FormatOf(name string) (f Format, gz bool, err error) {
	lower := strings.ToLower(name)
	if strings.HasSuffix(lower, ".gz") {
		gz = true
		lower = strings.TrimSuffix(lower, ".gz")
	}
	ext := path.Ext(lower)
	if f, ok := extensions[ext]; ok {
		return f, gz, nil
	}
	if ext == "" {
		return 0, gz, fmt.Errorf("records: input name %q has no format extension: use %s", name, acceptedExtensions)
	}
	return 0, gz, fmt.Errorf("records: input name %q has the unknown extension %q: use %s", name, ext, acceptedExtensions)
}

// Defaults of DecoderOptions.
const (
	// DefaultMaxLineBytes is the default of DecoderOptions.MaxLineBytes.
	DefaultMaxLineBytes = 64 << 10
	// DefaultMaxBytes is the default of DecoderOptions.MaxBytes.
	DefaultMaxBytes int64 = 4 << 30
)

// ErrInputTooLarge is wrapped by the error a Decoder returns when its (decompressed)
// input exceeds DecoderOptions.MaxBytes.
var ErrInputTooLarge = errors.New("records: input too large")

// DecoderOptions configure NewDecoder.
type DecoderOptions struct {
	// Format is the input's layout; it is required (see FormatOf).
	Format Format
	// MaxLineBytes caps one line of CSV or JSON Lines, without its line break
	// (default DefaultMaxLineBytes). A longer line is a *Problem for that line,
	// skipped without being held in memory. In JSON documents it caps one value
	// (a UserTags element, a To_Account string, the Tags array), and a longer
	// value is a fatal error.
	MaxLineBytes int
	// MaxBytes caps the input, counted after decompression (default DefaultMaxBytes).
	// Past it, Next returns an error wrapping ErrInputTooLarge: a gzip bomb is refused, not inflated.
	MaxBytes int64
	// Start is where the reader starts, to resume an input part of which was done:
	// the Position (as returned by Pos or Resume) of the record at which r starts.
	// Positions then continue from it: Record, Line (0 means 1) and Offset, which
	// must be the byte offset at which r starts. Any format read without
	// compression can start elsewhere than at the beginning (the zero value); a
	// JSON document needs the position's JSON context for it. Resume gzip input
	// with SkipRecords. A CSV header row is only looked for when Start.Line is at
	// most 1.
	Start Position
	// Header says whether a CSV input's first row that is not blank is a
	// header: HeaderAuto (the zero value) skips it if its first cell is
	// To_Account and refuses it, as a Problem, if it looks like a header of
	// another name (UserID,Tag; Account,Tags; …) rather than send it as a
	// record; HeaderPresent skips it whatever it holds; HeaderAbsent reads it
	// as a record whatever it holds. Other formats have no header.
	Header HeaderMode
	// AccountsOnly says the input holds accounts alone, for a job that clears
	// every tag of each (never inferred from a record without tags, which is
	// invalid otherwise): CSV rows of one cell, JSON Lines {"To_Account":"u1"},
	// a JSON document {"To_Account":["u1",…]}. Each record is judged by
	// Record.ValidateAccount, so one that names tags is a *Problem. A JSON
	// document says it of itself with "AllTags": true (see FormatJSON).
	AccountsOnly bool
	// SkipRecords is how many records to read and discard before the first record
	// Next returns (invalid ones included), to resume where byte offsets cannot be
	// used (gzip input). The records returned keep their numbering.
	SkipRecords int64
}

// HeaderMode says how a CSV input's first row is read (DecoderOptions.Header).
type HeaderMode int

// The header modes.
const (
	// HeaderAuto skips a To_Account header and refuses one of another name.
	HeaderAuto HeaderMode = iota
	// HeaderPresent skips the first row.
	HeaderPresent
	// HeaderAbsent reads the first row as a record.
	HeaderAbsent
)

// recordDecoder is one format's reader behind a Decoder.
type recordDecoder interface {
	// next returns the next record, a *Problem, io.EOF or a fatal error.
	next() (Record, error)
	// skip reads past the next record without decoding it: nil, io.EOF or a fatal error.
	skip() error
	// pos is the Position of the record last returned or skipped.
	pos() Position
	// resume is the Position at which to resume after that record.
	resume() Position
}

// validSkipper is a recordDecoder that can read past valid records without
// decoding them (lineDecoder.skipValid).
type validSkipper interface {
	skipValid(limit int64) (int64, error)
}

// Decoder reads records from CSV, JSON Lines or JSON input, in a streaming way
// and strictly: every record is validated (Record.Validate, valid UTF-8), and an
// invalid one is returned as a *Problem naming its line (or JSON element) and what
// is wrong, so that Check can list them all. Tags are de-duplicated, keeping their order.
//
// The Tags of the records share backing arrays (each record's slice has its own
// elements, capped at its length): read them, sort them or append to them, but
// keep in mind that holding one record holds a few kilobytes.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	impl         recordDecoder
	skip         int64
	skipped      int64
	err          error
	gz           bool
	accountsOnly bool
}

// NewDecoder returns a Decoder that reads r. It recognizes gzip input by its
// first bytes (1f 8b), whatever the name of the input says, and reads through it.
// Memory stays bounded by opts.MaxLineBytes (for JSON documents: by one element),
// except for the bulk JSON form when To_Account comes before Tags: its account
// names are then held until Tags is read.
func NewDecoder(r io.Reader, opts DecoderOptions) (*Decoder, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	src, gz, err := decompress(r)
	if err != nil {
		return nil, err
	}
	if gz && !opts.atBeginning() {
		return nil, fmt.Errorf("records: gzip input must be read from its start (Start %+v): resume with SkipRecords", opts.Start)
	}
	src = &limitedReader{r: src, max: opts.MaxBytes}
	d := &Decoder{skip: opts.SkipRecords, gz: gz, accountsOnly: opts.AccountsOnly}
	switch opts.Format {
	case FormatJSON:
		d.impl = newJSONDecoder(src, opts)
	case FormatJSONL:
		jp := newJSONLParser()
		jp.rec.noTags = opts.AccountsOnly
		d.impl = newLineDecoder(src, opts, jp)
	case FormatCSV:
		d.impl = newLineDecoder(src, opts, newCSVParser())
	}
	return d, nil
}

// normalize checks the options and fills in the defaults.
func (o DecoderOptions) normalize() (DecoderOptions, error) {
	switch o.Format {
	case FormatJSON, FormatJSONL, FormatCSV:
	default:
		return o, fmt.Errorf("records: decoder: unknown input format %v", o.Format)
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	switch {
	case o.SkipRecords < 0:
		return o, fmt.Errorf("records: decoder: SkipRecords is negative (%d)", o.SkipRecords)
	case o.Start.Record < 0 || o.Start.Line < 0:
		return o, fmt.Errorf("records: decoder: Start %+v is not a position", o.Start)
	case o.Format == FormatJSON && !o.atBeginning() && (o.Start.JSON == nil || o.Start.Offset <= 0):
		return o, fmt.Errorf("records: decoder: Start %+v is not a place inside a JSON document's array of records: resume with SkipRecords", o.Start)
	case o.Format == FormatJSON && o.Start.JSON != nil && !validJSONContext(o.Start.JSON):
		return o, fmt.Errorf("records: decoder: Start has an unknown JSON context (array %q)", o.Start.JSON.Array)
	case !o.atBeginning() && o.Start.Offset < 0:
		return o, fmt.Errorf("records: decoder: Start %+v has no byte offset to start a %v input at", o.Start, o.Format)
	}
	if o.Start.Line == 0 {
		o.Start.Line = 1
	}
	return o, nil
}

// atBeginning reports whether Start is the beginning of the input.
func (o DecoderOptions) atBeginning() bool {
	return o.Start.Record == 0 && o.Start.Line <= 1 && o.Start.Offset <= 0 && o.Start.JSON == nil
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// decompress looks at the first bytes of r and, if they are gzip's, returns a reader of the decompressed stream.
func decompress(r io.Reader) (io.Reader, bool, error) {
	head := make([]byte, len(gzipMagic))
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, false, fmt.Errorf("records: decoder: reading the input: %w", err)
	}
	src := io.MultiReader(bytes.NewReader(head[:n]), r)
	if !bytes.Equal(head[:n], gzipMagic) {
		return src, false, nil
	}
	// klauspost/compress's inflate: compress/gzip's API and output, about
	// 30 % less CPU (72 against 52 ms a million CSV rows, -cpu 1), and a
	// file is inflated twice, to validate it and to send it.
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, true, fmt.Errorf("records: decoder: reading the gzip header: %w", err)
	}
	return gzipReader{zr}, true, nil
}

// gzipReader says that an error reading a gzip stream is one of the
// compression: a file cut short (unexpected EOF) or damaged (checksum,
// invalid data) otherwise reads as a problem of the text inside.
type gzipReader struct{ zr *gzip.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = &GzipError{Err: err}
	}
	return n, err
}

// GzipError is a gzip-compressed input that could not be decompressed to
// its end: cut short, or damaged. It wraps the decompressor's error.
type GzipError struct{ Err error }

// Error says that the gzip stream is at fault.
func (e *GzipError) Error() string {
	if errors.Is(e.Err, io.ErrUnexpectedEOF) {
		return "the gzip-compressed input is cut short (unexpected end of the gzip stream): the file is truncated"
	}
	return "the gzip-compressed input is damaged: " + e.Err.Error()
}

// Unwrap returns the decompressor's error.
func (e *GzipError) Unwrap() error { return e.Err }

// Next returns the next record, or io.EOF after the last one. A *Problem concerns
// one invalid record (which counts in the numbering), and reading may go on; with it
// comes what could be read of the record (often its account), for reports only.
// Any other error is fatal and returned again by later calls.
func (d *Decoder) Next() (Record, error) {
	if d.err != nil {
		return Record{}, d.err
	}
	if err := d.skipRecords(); err != nil {
		d.err = err
		return Record{}, err
	}
	rec, err := d.impl.next()
	if err != nil {
		if _, ok := err.(*Problem); !ok {
			d.err = err
		}
	}
	return rec, err
}

// SkipValid reads past up to limit valid records, without handing them out,
// and returns how many: a validation pass, which needs the records' count and
// problems, not their contents. A record the decoder tells at a glance is
// valid (the common CSV row: printable ASCII, no quotes) is not even decoded;
// any other is, and judged as Next would. It stops at an invalid record, whose
// *Problem it returns (the record counts as read, and Pos is its position),
// at the input's end (io.EOF) or at a fatal error, returned again by Next. Pos
// is otherwise the last record's, and Resume where to go on after it.
//
// Only CSV is read so far: for another format it reads nothing and returns 0
// and nil; read such an input with Next.
func (d *Decoder) SkipValid(limit int64) (int64, error) {
	if d.err != nil {
		return 0, d.err
	}
	if err := d.skipRecords(); err != nil {
		d.err = err
		return 0, err
	}
	vs, ok := d.impl.(validSkipper)
	if !ok {
		return 0, nil
	}
	n, err := vs.skipValid(limit)
	if _, problem := err.(*Problem); err != nil && err != io.EOF && !problem {
		d.err = err
	}
	return n, err
}

// SkipNow skips the records DecoderOptions.SkipRecords asks to skip, which Next
// otherwise does before it returns its first record, so that a caller can time
// the skip apart from the rest. An error is returned again by Next.
func (d *Decoder) SkipNow() error {
	if d.err != nil {
		return d.err
	}
	if err := d.skipRecords(); err != nil {
		d.err = err
	}
	return d.err
}

// skipRecords discards the records DecoderOptions.SkipRecords asks to skip.
func (d *Decoder) skipRecords() error {
	for ; d.skipped < d.skip; d.skipped++ {
		err := d.impl.skip()
		if err == io.EOF {
			return fmt.Errorf("records: decoder: cannot skip %d records: the input has only %d", d.skip, d.skipped)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// AllTags reports whether the input is accounts alone, every tag of which is
// to be removed: DecoderOptions.AccountsOnly, or a JSON document that said
// "AllTags": true (as far as it was read: a document whose AllTags comes
// after its accounts says so once they are read).
func (d *Decoder) AllTags() bool {
	if j, ok := d.impl.(*jsonDecoder); ok {
		return j.accountsOnly || j.allTags
	}
	return d.accountsOnly
}

// Pos returns the position of the record or problem last returned by Next
// (before the first call: undefined).
func (d *Decoder) Pos() Position { return d.impl.pos() }

// Resume returns where a later Decoder should start to go on after the record last
// returned by Next: for input read without compression, pass it as
// DecoderOptions.Start with the input opened at its Offset; for Compressed input,
// read the input from its start with SkipRecords set to its Record.
func (d *Decoder) Resume() Position { return d.impl.resume() }

// Compressed reports whether the input is gzip-compressed: offsets are then
// counted in the decompressed stream.
func (d *Decoder) Compressed() bool { return d.gz }

// limitedReader fails with ErrInputTooLarge once more than max bytes were read.
type limitedReader struct {
	r   io.Reader
	n   int64
	max int64
	err error
}

// Read reads from the underlying reader, up to one byte past the cap to see whether it is exceeded.
func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if rem := l.max - l.n + 1; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		l.err = fmt.Errorf("%w: more than %d bytes (after decompression)", ErrInputTooLarge, l.max)
		return n - int(l.n-l.max), l.err
	}
	return n, err
}
