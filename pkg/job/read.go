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

// Reading the file: open is where the validate and send phases start.

// open streams the file's records from the checkpoint's position, pinned to
// its ETag: with a ranged GET at the position's byte offset (line numbers go
// on from it; a JSON document's position has what the decoder needs to start
// inside it), or, for gzip files, from their start, skipping the records
// done. An object replaced since is storage.ErrChanged.
func (j *fileJob) open(ctx context.Context, cp *Checkpoint) (*trackedBody, recordStream, error) {
	f, err := cp.format()
	if err != nil {
		return nil, nil, err
	}
	pos := cp.Position
	opts := records.DecoderOptions{Format: f}
	var off int64
	if pos.Offset > 0 && !cp.Compressed && (f != records.FormatJSON || pos.JSON != nil) {
		off, opts.Start = pos.Offset, pos
	} else if j.kind != KindUndo {
		opts.SkipRecords = pos.Record
	} // an undo reads past its records itself (partStream)
	rc, _, err := j.store.Open(ctx, j.loc.Key, off, cp.ETag)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, errGone
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open the file at byte %d: %w", off, err)
	}
	body := &trackedBody{rc: rc}
	dec, err := records.NewDecoder(body, opts)
	var st recordStream = dec
	skip := opts.SkipRecords
	if err == nil && j.kind == KindUndo {
		ps := undoStream(dec, pos, off > 0)
		st, skip = ps, ps.skip
	}
	if err == nil && skip > 0 {
		began := time.Now()
		if err = st.SkipNow(); err == nil && skip >= minSkipMeasure {
			cp.SkipRate = float64(skip) / max(time.Since(began).Seconds(), 1e-6)
		}
	}
	if err != nil {
		body.Close()
		if body.err != nil {
			return nil, nil, fmt.Errorf("read the file: %w", body.err)
		}
		return nil, nil, &dataError{err}
	}
	return body, st, nil
}

// format returns the checkpoint's records.Format.
func (cp *Checkpoint) format() (records.Format, error) {
	for _, f := range []records.Format{records.FormatCSV, records.FormatJSONL, records.FormatJSON} {
		if f.String() == cp.Format {
			return f, nil
		}
	}
	return 0, fmt.Errorf("checkpoint of %s: unknown format %q", cp.Source, cp.Format)
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
	pos := cp.Position
	// A gzip file is read from its start; so is an undo's at a position inside a record.
	bySkip := cp.Compressed || (j.kind == KindUndo && pos.Offset <= 0)
	if !bySkip || pos.Record == 0 || cp.SkipRate <= 0 || !ok || cp.Phase == PhaseFinish {
		return "", false // the finish phase reads no record
	}
	need := time.Duration(float64(pos.Record) / cp.SkipRate * skipMargin * float64(time.Second))
	left := time.Until(workEnd(ctx))
	if need < left {
		return "", false
	}
	whole := deadline.Sub(j.started)
	whole -= imapi.DefaultReserve(whole)
	why = fmt.Sprintf("the compressed file must be read past %d records to resume (gzip cannot be seeked): about %s at the %.0f records/s measured, more than the %s left",
		pos.Record, need.Round(time.Millisecond), cp.SkipRate, max(left, 0).Round(time.Millisecond))
	return why, need >= whole
}

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
