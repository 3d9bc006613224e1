package job

import (
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// An undo job ([KindUndo]) adds a file's tags back: the file is the journal
// of a removal job, {"To_Account":"u1","Tags":["a","b"]} a line, named by an
// {"Undo":"s3://bucket/key"} document. It is a file job like a removal's
// (validated, then sent, checkpointed, handed on, swept), with objects of its
// own under {prefix}undo/ and its own report, and it calls the add operation
// instead of the removal. Adding a tag an account carries changes nothing, so
// an undo sent twice (a retry, a hand-off, a takeover) restores the same tags.
//
// The add takes at most UndoTagsPerCall tags of one account per call, where a
// journal line holds every tag the account lost (up to
// records.MaxTagsPerRecord): the job reads each line as parts of at most
// UndoTagsPerCall tags, in the line's order, and each part is one of its
// records (counted, failed, left pending as such). A line of ten tags or
// fewer is one record; the failed records are parts, each a journal line.

// UndoTagsPerCall is the most tags of one account an add takes in one call
// (an undo reads a journal's lines as parts of at most this many tags):
// 10 (tencentcloud.com 1047/37173 im_add_tag and 1047/60568, 67821 timpush
// add_tag: "a maximum of 10 tags can be added per user in the request body";
// looked up 2026-12-02).
const UndoTagsPerCall = 10

// op is the operation the job calls: the configured family's add for an
// undo (without Replace: the tags join the account's), its removal otherwise
// (its clearing of every tag for a file of the form of accounts alone).
func (j *fileJob) op(cp *Checkpoint) imapi.Operation {
	if j.kind == KindUndo {
		return j.s.cfg.API.AddTag(false)
	}
	return j.s.operation(cp.AllTags)
}

// operation is the run option of the job's calls (see op).
func (j *fileJob) operation(cp *Checkpoint) imapi.RunOption { return imapi.WithOperation(j.op(cp)) }

// recordStream is the records of a file as the phases read them: its
// decoder's, or an undo's parts of them (partStream).
type recordStream interface {
	records.Positioner
	// Resume is where to go on reading after the record last returned.
	Resume() records.Position
	// Compressed reports whether the file is gzip.
	Compressed() bool
	// SkipNow reads past the records the stream starts after.
	SkipNow() error
	// AllTags reports whether the records are accounts alone, every tag of
	// which goes (a document that says "AllTags": true).
	AllTags() bool
}

// undoStream is an undo's records over dec, which reads the file from its
// start, or from pos's byte offset (atOffset); pos is where the records go on.
func undoStream(dec *records.Decoder, pos records.Position, atOffset bool) *partStream {
	if atOffset {
		return &partStream{dec: dec, start: pos, next: pos.Record}
	}
	return &partStream{dec: dec, start: pos, skip: pos.Record}
}

// partStream reads each record of dec as parts of at most UndoTagsPerCall
// tags, in the order of its tags; an invalid record is one part, as it is.
// The parts are numbered from the file's first, as its records are by a
// decoder: a part's position is its record's, with the part's index, but for
// a part after a record's first, whose byte offset is unknown (-1): a job
// resumed there reads the file from its start, past the parts before it.
type partStream struct {
	dec   *records.Decoder
	start records.Position // where the stream starts, until a record is read
	next  int64            // the index of the next part
	skip  int64            // parts to read past before the first returned

	read  bool
	rec   records.Record   // the record read last
	err   error            // its problem, if it is invalid
	pos   records.Position // where it starts
	cur   int64            // the index of the part returned last
	part  int              // its place in rec
	parts int              // rec's parts
}

// Next returns the next part.
func (p *partStream) Next() (records.Record, error) {
	if err := p.SkipNow(); err != nil {
		return records.Record{}, err
	}
	if err := p.advance(); err != nil {
		return records.Record{}, err
	}
	if p.err != nil {
		return p.rec, p.err
	}
	from := p.part * UndoTagsPerCall
	to := min(from+UndoTagsPerCall, len(p.rec.Tags))
	return records.Record{Account: p.rec.Account, Tags: p.rec.Tags[from:to:to]}, nil
}

// SkipNow reads past the parts the stream starts after.
func (p *partStream) SkipNow() error {
	for ; p.skip > 0; p.skip-- {
		if err := p.advance(); err != nil {
			return err
		}
	}
	return nil
}

// advance moves on to the next part, reading the next record when the last
// one's parts are done; the error is the decoder's, but for a record's problem.
func (p *partStream) advance() error {
	if p.part+1 >= p.parts {
		rec, err := p.dec.Next()
		if _, problem := err.(*records.Problem); err != nil && !problem {
			return err
		}
		p.rec, p.err, p.pos, p.part, p.parts, p.read = rec, err, p.dec.Pos(), -1, 1, true
		if err == nil {
			p.parts = max(1, (len(rec.Tags)+UndoTagsPerCall-1)/UndoTagsPerCall)
		}
	}
	p.part++
	p.cur, p.next = p.next, p.next+1
	return nil
}

// Pos is where the part returned last starts.
func (p *partStream) Pos() records.Position { return p.at(p.cur, p.part) }

// at is the position of the part of index i, part of the record read last.
func (p *partStream) at(i int64, part int) records.Position {
	pos := p.pos
	pos.Record = i
	if part > 0 {
		pos.Offset = -1
	}
	return pos
}

// Resume is where to go on reading after the part returned last: the next
// part of its record, if it has one, else after the record.
func (p *partStream) Resume() records.Position {
	switch {
	case !p.read:
		return p.start
	case p.part+1 < p.parts:
		return p.at(p.next, p.part+1)
	}
	pos := p.dec.Resume()
	pos.Record = p.next
	return pos
}

// Compressed reports whether the file is gzip.
func (p *partStream) Compressed() bool { return p.dec.Compressed() }

// AllTags is false: an undo adds the tags its journal lines name.
func (p *partStream) AllTags() bool { return false }
