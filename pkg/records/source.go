package records

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Source is a stream of records, read once from start to end.
type Source interface {
	// Next returns the next record, or io.EOF after the last one.
	// An error of type *Problem concerns one record only (it is counted as a record):
	// the caller may go on calling Next. Any other error ends the stream.
	Next() (Record, error)
}

// Position is where a record starts in its input.
type Position struct {
	// Record is the 0-based index of the record among the input's records
	// (header rows and blank lines are not records; invalid records are).
	Record int64 `json:"Record"`
	// Line is the 1-based line the record starts on, or 0 where lines mean nothing.
	Line int64 `json:"Line,omitempty"`
	// Offset is the byte offset of the record's first byte in the (decompressed) input,
	// or -1 where it is not known (records held in memory). A Position that a
	// Decoder's Resume returns may instead be the offset just after the record
	// before: reading can start there too.
	Offset int64 `json:"Offset"`
	// JSON is set for records of a JSON document: what a reader that starts at
	// Offset must know of the document before it.
	JSON *JSONContext `json:"JSON,omitempty"`
}

// JSONContext is what a Decoder started inside a JSON document needs of the part
// of the document before its start: which array holds the records and, for the
// bulk form, their tags. It is shared by the positions of one document.
type JSONContext struct {
	// Array is the field whose elements are the records: "UserTags" or "To_Account".
	Array string
	// Tags are the bulk form's tags (To_Account), as the document has them.
	Tags []string `json:",omitempty"`
	// TagsFirst says the bulk form's Tags come before To_Account, so the document
	// has no Tags field after the array.
	TagsFirst bool `json:",omitempty"`
	// AllTags says the document is the job form of accounts alone ("AllTags": true).
	AllTags bool `json:",omitempty"`
}

// Positioner is a Source that knows where the record (or problem) it returned last starts.
type Positioner interface {
	Source
	// Pos returns the position of the record or problem last returned by Next.
	Pos() Position
}

// Problem is one invalid record: where it is and what is wrong with it.
type Problem struct {
	Pos Position `json:"-"`
	// Where names the place for people: "line 12" or "UserTags[11]".
	Where string `json:"Where"`
	// Reason says what is wrong.
	Reason string `json:"Reason"`
}

// Error returns "where: reason".
func (p *Problem) Error() string {
	if p.Where == "" {
		return p.Reason
	}
	return p.Where + ": " + p.Reason
}

// MaxProblems is how many problems an [InvalidInputError] lists; it counts them all.
const MaxProblems = 20

// InvalidInputError rejects an input as a whole: it lists the first [MaxProblems]
// problems and counts all of them.
type InvalidInputError struct {
	// Problems are the first problems found, in input order.
	Problems []Problem
	// Count is the number of problems found in all.
	Count int
	// Records is the number of records read, valid or not.
	Records int64
}

// Error lists the problems on one line each.
func (e *InvalidInputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid input: %d problem(s) in %d record(s)", e.Count, e.Records)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	if e.Count > len(e.Problems) {
		fmt.Fprintf(&b, "\n  … and %d more", e.Count-len(e.Problems))
	}
	return b.String()
}

// add records one problem.
func (e *InvalidInputError) add(p *Problem) {
	e.Count++
	if len(e.Problems) < MaxProblems {
		e.Problems = append(e.Problems, *p)
	}
}

// Check reads src to its end and returns the number of records in it. If any record
// is invalid it returns an *InvalidInputError; if reading fails it returns that error.
// Sources made by this package validate every record; Check also validates records
// of other sources with [Record.Validate]. A source with a SkipValid method (a
// [Decoder], or one that wraps one and passes it on) is read with it as far
// as it goes, so that valid records are not handed out, nor even decoded: a
// Source that wraps a Decoder to see each record must not embed it, or its
// Next is not called for them.
func Check(src Source) (int64, error) {
	if sk, ok := src.(skimmer); ok {
		var bad InvalidInputError
		if n, skimmed, err := skim(sk, &bad); skimmed {
			return checked(n, &bad, err)
		}
	}
	return scan(src, 0, nil)
}

// skimmer is a Source that can read past valid records without handing them
// out: a Decoder (Decoder.SkipValid), or a Source passing one's on.
type skimmer interface {
	SkipValid(limit int64) (int64, error)
}

// skim reads src to its end for Check with SkipValid, gathering the problems
// in bad; skimmed is false, nothing read, if src reads nothing so (a format
// SkipValid does not read), and Check reads it with Next.
func skim(src skimmer, bad *InvalidInputError) (n int64, skimmed bool, err error) {
	for {
		k, err := src.SkipValid(math.MaxInt64)
		n += k
		var p *Problem
		switch {
		case err == io.EOF:
			return n, true, nil
		case errors.As(err, &p):
			bad.add(p)
			n++
		case err != nil:
			return n, true, err
		case k == 0 && n == 0:
			return 0, false, nil
		}
	}
}

// checked is what Check returns for n records read, the problems in bad and
// the error that ended the reading, if any.
func checked(n int64, bad *InvalidInputError, err error) (int64, error) {
	switch {
	case err != nil:
		return n, err
	case bad.Count > 0:
		bad.Records = n
		return n, bad
	}
	return n, nil
}

// Errors of [ReadJob] for documents that cannot be a job.
var (
	// ErrTooManyRecords is wrapped by the error for a document with more than
	// JobLimits.MaxRecords records.
	ErrTooManyRecords = errors.New("too many records for one request")
	// ErrNoRecords is the error for a document whose records array is empty.
	ErrNoRecords = errors.New("the job has no records: its UserTags (or To_Account) array is empty")
)

// JobLimits bound what [ReadJob] holds in memory.
type JobLimits struct {
	// MaxBytes caps the document once decompressed; default [DefaultMaxBytes].
	// Past it the error wraps [ErrInputTooLarge].
	MaxBytes int64
	// MaxRecords caps the records; 0: no cap. Past it the error wraps [ErrTooManyRecords].
	MaxRecords int64
}

// Job is a job document read whole by [ReadJob].
type Job struct {
	// Records are the document's records, in order.
	Records []Record
	// AllTags says the document is the job form of accounts alone
	// ({"AllTags":true,"To_Account":[…]}): every tag of each account is to be
	// removed, and Records have no tags.
	AllTags bool
}

// ReadJob reads a whole job document held in memory, such as the body of an
// HTTP request: a JSON document in any form (see FormatJSON), gzip-compressed
// or not. Every record is validated; if any is invalid, the error is an
// *InvalidInputError listing the first MaxProblems problems, each with its element
// ("UserTags[3]"), and counting them all. A document without records is
// [ErrNoRecords]; one past a limit is an error wrapping [ErrInputTooLarge] or
// [ErrTooManyRecords]. Nothing is returned with an error.
func ReadJob(r io.Reader, lim JobLimits) (*Job, error) {
	dec, err := NewDecoder(r, DecoderOptions{Format: FormatJSON, MaxBytes: lim.MaxBytes})
	if err != nil {
		return nil, err
	}
	var recs []Record
	n, err := scan(dec, lim.MaxRecords, func(rec Record) { recs = append(recs, rec) })
	switch {
	case err != nil:
		return nil, err
	case n == 0:
		return nil, ErrNoRecords
	}
	return &Job{Records: recs, AllTags: dec.AllTags()}, nil
}

// scan reads src to its end, for Check and ReadJob: it counts the records, valid
// or not, passes each valid one to keep (if set) and gathers the invalid ones in
// an *InvalidInputError, returned at the end. A reading error ends it at once;
// so does a record past limit (if limit > 0), with an error wrapping
// ErrTooManyRecords.
func scan(src Source, limit int64, keep func(Record)) (int64, error) {
	var (
		n   int64
		bad InvalidInputError
	)
	pos, _ := src.(Positioner)
	for ; ; n++ {
		rec, err := src.Next()
		if err == io.EOF {
			break
		}
		if limit > 0 && n >= limit {
			return n, fmt.Errorf("%w: the job has more than %d records", ErrTooManyRecords, limit)
		}
		p, fatal := ProblemBy(pos, n, rec, err, ruleOf(src))
		switch {
		case fatal != nil:
			return n, fatal
		case p != nil:
			bad.add(p)
		case keep != nil:
			keep(rec)
		}
	}
	return checked(n, &bad, nil)
}

// ruleOf is the rule the records src returns now are judged by: a source of
// accounts alone (a Decoder, or one passing its AllTags on, with AccountsOnly
// or a document that said AllTags) has Record.ValidateAccount's; any other
// source Record.Validate's.
func ruleOf(src Source) func(Record) error {
	if a, ok := src.(interface{ AllTags() bool }); ok {
		return validator(a.AllTags())
	}
	return Record.Validate
}

// ProblemOf looks at what src.Next returned for record n (0-based): a problem
// the source found or that Record.Validate finds (with its position, where src
// knows it), or a fatal error that ends the input; both nil for a valid record.
// src may be nil (a Source that knows no positions). Check, ReadJob and the
// engine of package imapi judge records with it, so that they agree.
func ProblemOf(src Positioner, n int64, rec Record, err error) (problem *Problem, fatal error) {
	return ProblemBy(src, n, rec, err, Record.Validate)
}

// ProblemBy is ProblemOf with another rule than Record.Validate: valid judges
// the record when the source found no problem, such as Record.ValidateAccount
// for an input of accounts alone, or a stricter rule of one operation.
func ProblemBy(src Positioner, n int64, rec Record, err error, valid func(Record) error) (problem *Problem, fatal error) {
	if err != nil {
		// A variable of this block: its address taken, it is on the heap, and
		// so only for an error (named results are allocated at every call).
		var p *Problem
		if errors.As(err, &p) {
			return p, nil
		}
		return nil, err
	}
	verr := valid(rec)
	if verr == nil {
		return nil, nil
	}
	at := PositionOf(src, n)
	return &Problem{Pos: at, Where: whereOf(at), Reason: verr.Error()}, nil
}

// PositionOf is where record n (0-based) of src starts, as far as src says:
// src's Pos, or for a nil src the record's index with no offset.
func PositionOf(src Positioner, n int64) Position {
	if src == nil {
		return Position{Record: n, Offset: -1}
	}
	return src.Pos()
}

// whereOf names a position for people.
func whereOf(p Position) string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d", p.Line)
	}
	return fmt.Sprintf("record %d", p.Record+1)
}

// SliceSource is a Source over records held in memory.
type SliceSource struct {
	recs []Record
	next int
}

// NewSliceSource returns a Source that yields recs in order.
func NewSliceSource(recs []Record) *SliceSource { return &SliceSource{recs: recs} }

// Next returns the next record or io.EOF.
func (s *SliceSource) Next() (Record, error) {
	if s.next >= len(s.recs) {
		return Record{}, io.EOF
	}
	s.next++
	return s.recs[s.next-1], nil
}

// Pos returns the index of the record last returned.
func (s *SliceSource) Pos() Position { return Position{Record: int64(s.next - 1), Offset: -1} }

// Resume returns the position of the next record.
func (s *SliceSource) Resume() Position { return Position{Record: int64(s.next), Offset: -1} }

// Rest returns the records not yet returned by Next.
func (s *SliceSource) Rest() []Record { return s.recs[s.next:] }
