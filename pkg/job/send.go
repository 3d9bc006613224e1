package job

import (
	"context"
	"fmt"

	"github.com/removetag/removetag/pkg/imapi"

	"github.com/removetag/removetag/pkg/records"
)

// send runs the send phase: the engine over the file from the checkpoint's
// position, reading past the records that succeeded ahead of it. The failed
// records before the run's resume point are stored as a part; then the run's
// outcome goes into the checkpoint (in memory: the hand-on or the finish phase
// saves it): its resume point, and the records that succeeded after it, which
// the next invocation reads past in turn. done: every record of the file is
// resolved, and the finish phase is next; else the run's report is the link's
// stopped. A run cut short by a read error counts for nothing: its records are
// read and sent again (removal is idempotent), so no record is counted twice.
func (j *fileJob) send(ctx context.Context, cp *Checkpoint, l *link) (done bool, err error) {
	body, dec, err := j.open(ctx, cp)
	if err != nil {
		return false, err
	}
	defer body.Close()
	src := &trackingSource{dec: dec, after: cp.Position, ahead: cp.SucceededAhead}
	// The groups of the chain so far, copied: a run that counts for nothing leaves cp alone.
	groups := imapi.NewFailureGroups(cp.Failures, 0)
	fw := &failedWriter{}
	defer fw.close()
	jr, err := j.recorder(ctx, cp)
	if err != nil {
		return false, err
	}
	rep, err := j.s.run(ctx, src, journalOpts(jr, j.operation(cp), imapi.OnFailed(func(rec records.Record, reason error) {
		groups.Add(rec.Account, reason)
		fw.add(rec)
	}))...)
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if jerr := j.closeRecorder(bctx, jr); jerr != nil {
		return false, jerr // nothing moves on: the next invocation redoes the run, and the log holds what this one did
	}
	if err != nil {
		if body.err != nil {
			return false, fmt.Errorf("read the file: %w", body.err)
		}
		return false, fmt.Errorf("decode the file after it was validated: %w", err)
	}
	if fw.err != nil {
		return false, fw.err
	}

	done = rep.Done()
	cur := imapi.Cursor{Position: src.after, Succeeded: rep.Succeeded, Failed: rep.Failed}
	if !done && rep.Resume != nil {
		cur = *rep.Resume
	} // else done, or stopped between batches: every record read is resolved
	l.progress = l.progress || cur.Succeeded+cur.Failed > 0
	if fw.n != cur.Failed {
		j.log.Error("failed records handed over do not match the failed count", "records", fw.n, "failed", cur.Failed)
	}
	if err := j.putPart(bctx, cp, fw); err != nil {
		return false, err
	}
	cp.Calls, cp.Retries = cp.Calls+rep.Calls, cp.Retries+rep.Retries
	// The run's records that succeeded after its cursor are those ahead, and
	// those of calls left pending that an answer's ErrorList said succeeded
	// (they are sent again): never fewer.
	if ahead := cp.advance(cur); ahead > rep.Succeeded-cur.Succeeded {
		j.log.Error("more records ahead of the resume point than succeeded after it",
			"ahead", ahead, "succeeded", rep.Succeeded-cur.Succeeded)
	}
	cp.Failures = groups.List()
	if done {
		// Every record is resolved: any read past at the end count as before.
		cp.Succeeded, cp.SucceededAhead = cp.Succeeded+cp.SucceededAhead.Len(), nil
		cp.Phase = PhaseFinish
	} else {
		l.stopped = rep
	}
	j.log.Info("send pass", append(countAttrs(rep), "chain", cp.Chain, "resolved", cur.Succeeded+cur.Failed,
		"next_record", cp.Position.Record, "ahead", cp.SucceededAhead.Len(), "ahead_spans", len(cp.SucceededAhead), "read_past", src.passed)...)
	return done, nil
}

// trackingSource is the decoder the engine reads, noting where the input goes
// on after the last record read, and reading past the records in ahead (which
// succeeded already).
type trackingSource struct {
	dec    recordStream
	after  records.Position
	ahead  records.Spans // sorted: the spans before the record last read are dropped
	passed int64         // records read past
}

func (t *trackingSource) Next() (records.Record, error) {
	for {
		rec, err := t.dec.Next()
		_, problem := err.(*records.Problem)
		if err != nil && !problem {
			return rec, err
		}
		if t.skip(t.dec.Pos().Record) {
			t.passed++
			continue
		}
		t.after = t.dec.Resume()
		return rec, err
	}
}

// skip reports whether record i, of a series read in order, is ahead.
func (t *trackingSource) skip(i int64) bool {
	for len(t.ahead) > 0 && t.ahead[0].To <= i {
		t.ahead = t.ahead[1:]
	}
	return len(t.ahead) > 0 && t.ahead[0].From <= i
}

func (t *trackingSource) Pos() records.Position { return t.dec.Pos() }

// Resume is where to go on reading after the record last returned.
func (t *trackingSource) Resume() records.Position { return t.after }
