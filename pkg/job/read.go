package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// trackedBody is an object's stream that remembers a read error, to tell a
// storage failure from bad data when the decoder gives up.
type trackedBody struct {
	rc  io.ReadCloser
	err error
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *trackedBody) Close() error { return b.rc.Close() }

// dataError is a file that cannot be decoded where the checkpoint says it can be.
type dataError struct{ err error }

func (e *dataError) Error() string { return e.err.Error() }
func (e *dataError) Unwrap() error { return e.err }

// open streams the file from the checkpoint's position, pinned to its ETag:
// with a ranged GET at the position's byte offset (line numbers go on from it;
// a JSON document's position has what the decoder needs to start inside it),
// or, for gzip files, from their start, skipping the records done. An object
// replaced since is storage.ErrChanged.
func (j *fileJob) open(ctx context.Context, cp *Checkpoint) (*trackedBody, *records.Decoder, error) {
	f, err := cp.format()
	if err != nil {
		return nil, nil, err
	}
	pos := cp.Position
	opts := records.DecoderOptions{Format: f}
	var off int64
	if pos.Offset > 0 && !cp.Compressed && (f != records.FormatJSON || pos.JSON != nil) {
		off, opts.Start = pos.Offset, pos
	} else {
		opts.SkipRecords = pos.Record
	}
	rc, _, err := j.store.Open(ctx, j.loc.Key, off, cp.ETag)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, errGone
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open the file at byte %d: %w", off, err)
	}
	body := &trackedBody{rc: rc}
	dec, err := records.NewDecoder(body, opts)
	if err == nil && opts.SkipRecords > 0 {
		began := time.Now()
		if err = dec.SkipNow(); err == nil && opts.SkipRecords >= minSkipMeasure {
			cp.SkipRate = float64(opts.SkipRecords) / max(time.Since(began).Seconds(), 1e-6)
		}
	}
	if err != nil {
		body.Close()
		if body.err != nil {
			return nil, nil, fmt.Errorf("read the file: %w", body.err)
		}
		return nil, nil, &dataError{err}
	}
	return body, dec, nil
}

// minSkipMeasure is the fewest records whose reading is timed to measure the
// rate of a skip: fewer take too little time to tell.
const minSkipMeasure = 10_000

// skipMargin allows for a skip slower than the rate measured before (another
// machine, more load).
const skipMargin = 1.5

// skipFits checks, before a compressed file is opened past its start, that
// reading up to the checkpoint's position (gzip cannot be seeked) leaves time to
// work before the run must stop. If it does not, why says so, and never says
// that not even a whole invocation of this length would do.
func (j *fileJob) skipFits(ctx context.Context, cp *Checkpoint) (why string, never bool) {
	deadline, ok := ctx.Deadline()
	if !cp.Compressed || cp.Position.Record == 0 || cp.SkipRate <= 0 || !ok {
		return "", false
	}
	need := time.Duration(float64(cp.Position.Record) / cp.SkipRate * skipMargin * float64(time.Second))
	left := time.Until(workEnd(ctx))
	if need < left {
		return "", false
	}
	whole := deadline.Sub(j.started)
	whole -= imapi.DefaultReserve(whole)
	why = fmt.Sprintf("the compressed file must be read past %d records to resume (gzip cannot be seeked): about %s at the %.0f records/s measured, more than the %s left",
		cp.Position.Record, need.Round(time.Millisecond), cp.SkipRate, max(left, 0).Round(time.Millisecond))
	return why, need >= whole
}

// cutSource ends a validation pass early, as if at the end of the input, when
// its time is up.
type cutSource struct {
	dec    *records.Decoder
	stopAt time.Time // zero: no limit
	n      int
	cut    bool
}

func (c *cutSource) Next() (records.Record, error) {
	if !c.stopAt.IsZero() && c.n%64 == 0 && time.Now().After(c.stopAt) {
		c.cut = true
		return records.Record{}, io.EOF
	}
	c.n++
	return c.dec.Next()
}

func (c *cutSource) Pos() records.Position { return c.dec.Pos() }

// workEnd is when work (a validation pass, a skip) must be over to leave time
// for the rest: the engine's reserve, a tenth of the time left (between 100 ms
// and 10 s), before ctx's deadline; zero without a deadline.
func workEnd(ctx context.Context) time.Time {
	deadline, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	return deadline.Add(-imapi.DefaultReserve(time.Until(deadline)))
}

// validate reads the file from the checkpoint's position, checking every
// record, until its end or the time is up; the counts and problems go to the
// checkpoint. advanced: some records were checked, or the pass finished.
func (j *fileJob) validate(ctx context.Context, cp *Checkpoint) (advanced, finished bool, err error) {
	body, dec, err := j.open(ctx, cp)
	var de *dataError
	if errors.As(err, &de) { // e.g. a corrupt gzip header
		cp.addProblems(&records.InvalidInputError{Problems: []records.Problem{{Where: "input", Reason: de.Error()}}, Count: 1})
		return true, true, nil
	}
	if err != nil {
		return false, false, err
	}
	defer body.Close()
	src := &cutSource{dec: dec, stopAt: workEnd(ctx)}
	began := time.Now()
	n, cerr := records.Check(src)
	if dec.Compressed() && cp.SkipRate == 0 && n >= minSkipMeasure {
		// Validating is slower than skipping: a safe rate until a skip is timed.
		cp.SkipRate = float64(n) / max(time.Since(began).Seconds(), 1e-6)
	}
	var bad *records.InvalidInputError
	switch {
	case errors.As(cerr, &bad):
		cp.addProblems(bad)
	case cerr != nil && body.err != nil:
		return false, false, fmt.Errorf("read the file: %w", body.err)
	case cerr != nil: // the document's structure is broken: nothing after it can be read
		cp.addProblems(&records.InvalidInputError{Problems: []records.Problem{{Where: "input", Reason: cerr.Error()}}, Count: 1})
		cp.Total += n
		return true, true, nil
	}
	cp.Compressed = dec.Compressed()
	cp.Total += n
	if src.cut {
		cp.Position = dec.Resume()
		return n > 0, false, nil
	}
	return true, true, nil
}

// addProblems adds a validation pass's problems to the checkpoint's.
func (cp *Checkpoint) addProblems(bad *records.InvalidInputError) {
	cp.ProblemCount += bad.Count
	room := records.MaxProblems - len(cp.Problems)
	cp.Problems = append(cp.Problems, bad.Problems[:min(room, len(bad.Problems))]...)
}

// trackingSource is the decoder the engine reads, noting where the input goes
// on after the last record read.
type trackingSource struct {
	dec   *records.Decoder
	after records.Position
}

func (t *trackingSource) Next() (records.Record, error) {
	rec, err := t.dec.Next()
	if err == nil {
		t.after = t.dec.Resume()
	} else if _, ok := err.(*records.Problem); ok {
		t.after = t.dec.Resume()
	}
	return rec, err
}

func (t *trackingSource) Pos() records.Position { return t.dec.Pos() }

// sendOutcome is what a send pass did.
type sendOutcome struct {
	rep      *imapi.Report
	done     bool // every record of the file is resolved
	progress bool // some records were resolved
}

// send runs the engine over the file from the checkpoint's position. The
// failed records before the run's resume point are stored as a part; then
// the run's outcome goes into the checkpoint (in memory: the caller saves it).
// A run cut short by a read error counts for nothing: its records are read and
// sent again (removal is idempotent), so no record is counted twice.
func (j *fileJob) send(ctx context.Context, cp *Checkpoint) (*sendOutcome, error) {
	body, dec, err := j.open(ctx, cp)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	src := &trackingSource{dec: dec, after: cp.Position}
	// The groups of the chain so far, copied: a run that counts for nothing leaves cp alone.
	groups := imapi.NewFailureGroups(cp.Failures, imapi.DefaultMaxFailureAccounts)
	fw := &failedWriter{}
	defer fw.close()
	rep, err := j.s.run(ctx, src, imapi.OnFailed(func(rec records.Record, reason error) {
		groups.Add(rec.Account, reason)
		fw.add(rec)
	}))
	if err != nil {
		if body.err != nil {
			return nil, fmt.Errorf("read the file: %w", body.err)
		}
		return nil, fmt.Errorf("decode the file after it was validated: %w", err)
	}
	if fw.err != nil {
		return nil, fw.err
	}

	out := &sendOutcome{rep: rep, done: rep.Done()}
	var cur imapi.Cursor
	switch {
	case out.done:
		cur = imapi.Cursor{Position: src.after, Succeeded: rep.Succeeded, Failed: rep.Failed}
	case rep.Resume != nil:
		cur = *rep.Resume
	default: // stopped between batches: every record read is resolved
		cur = imapi.Cursor{Position: src.after, Succeeded: rep.Succeeded, Failed: rep.Failed}
	}
	out.progress = cur.Succeeded+cur.Failed > 0
	if fw.n != cur.Failed {
		j.log.Error("failed records handed over do not match the failed count", "records", fw.n, "failed", cur.Failed)
	}
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := j.putPart(bctx, cp, fw); err != nil {
		return nil, err
	}
	cp.Add(imapi.Counts{Succeeded: cur.Succeeded, Failed: cur.Failed, Calls: rep.Calls, Retries: rep.Retries})
	cp.Failures = groups.List()
	cp.Position = cur.Position
	if out.done {
		cp.Phase = PhaseFinish
	}
	j.log.Info("send pass", append(countAttrs(rep), "chain", cp.Chain, "resolved", cur.Succeeded+cur.Failed, "next_record", cp.Position.Record)...)
	return out, nil
}
