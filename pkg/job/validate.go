package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/removetag/removetag/pkg/records"
)

// verdict is what the validate phase found of the file so far.
type verdict int

const (
	verdictUnfinished verdict = iota // the pass ran out of time: the next link goes on checking
	verdictInvalid                   // the file has problems, or no record: nothing is sent
	verdictValid                     // every record is valid: the send phase is next
)

// validate runs the validate phase: it reads the file from the checkpoint's
// position, checking every record, until its end or the time is up (the
// counts and problems go to the checkpoint), and says what it found. A valid
// file moves on to the send phase.
func (j *fileJob) validate(ctx context.Context, cp *Checkpoint, l *link) (verdict, error) {
	body, dec, err := j.open(ctx, cp)
	var de *dataError
	if errors.As(err, &de) { // e.g. a corrupt gzip header
		cp.addProblems(inputProblem(de.Error()))
		return conclude(cp, l), nil
	}
	if err != nil {
		return verdictUnfinished, err
	}
	defer body.Close()
	src := &cutSource{dec: dec, stopAt: workEnd(ctx), done: ctx.Done()}
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
		return verdictUnfinished, fmt.Errorf("read the file: %w", body.err)
	case cerr != nil: // the document's structure is broken: nothing after it can be read
		cp.addProblems(inputProblem(cerr.Error()))
		cp.Total += n
		return conclude(cp, l), nil
	}
	cp.Compressed = dec.Compressed()
	cp.AllTags = cp.AllTags || dec.AllTags()
	cp.Total += n
	if src.cut {
		cp.Position = dec.Resume()
		l.progress = l.progress || n > 0
		return verdictUnfinished, nil
	}
	return conclude(cp, l), nil
}

// conclude ends a validation that read the file to its end with a verdict:
// invalid if the file has problems or no record; else valid, and the send
// phase is next.
func conclude(cp *Checkpoint, l *link) verdict {
	l.progress = true
	if cp.ProblemCount == 0 && cp.Total == 0 {
		cp.addProblems(inputProblem("the file has no records"))
	}
	if cp.ProblemCount > 0 {
		return verdictInvalid
	}
	cp.Phase, cp.Position = PhaseSend, records.Position{}
	return verdictValid
}

// addProblems adds a validation pass's problems to the checkpoint's.
func (cp *Checkpoint) addProblems(bad *records.InvalidInputError) {
	cp.ProblemCount += bad.Count
	room := records.MaxProblems - len(cp.Problems)
	cp.Problems = append(cp.Problems, bad.Problems[:min(room, len(bad.Problems))]...)
}

// inputProblem is the one problem of a file that cannot be read as a whole.
func inputProblem(reason string) *records.InvalidInputError {
	return &records.InvalidInputError{Problems: []records.Problem{{Where: "input", Reason: reason}}, Count: 1}
}

// cutSource ends a validation pass early, as if at the end of the input, when
// its time is up or its context is done (the job was canceled).
type cutSource struct {
	dec    recordStream
	stopAt time.Time // zero: no limit
	done   <-chan struct{}
	n      int
	cut    bool
}

func (c *cutSource) Next() (records.Record, error) {
	if c.n%64 == 0 && (!c.stopAt.IsZero() && time.Now().After(c.stopAt) || c.isDone()) {
		c.cut = true
		return records.Record{}, io.EOF
	}
	c.n++
	return c.dec.Next()
}

func (c *cutSource) Pos() records.Position { return c.dec.Pos() }

// skimChunk is how many records cutSource.SkipValid reads past between looks
// at the clock: some 50 µs of CPU at 128 MB.
const skimChunk = 1024

// SkipValid passes on the decoder's (records.Decoder.SkipValid), a chunk at a
// time, ending as Next does when the time is up or the job was canceled.
func (c *cutSource) SkipValid(limit int64) (int64, error) {
	sk, ok := c.dec.(interface {
		SkipValid(limit int64) (int64, error)
	})
	if !ok {
		return 0, nil
	}
	if !c.stopAt.IsZero() && time.Now().After(c.stopAt) || c.isDone() {
		c.cut = true
		return 0, io.EOF
	}
	return sk.SkipValid(min(limit, skimChunk))
}

// AllTags passes on the decoder's: records.Check judges the records of a
// document of accounts alone as such.
func (c *cutSource) AllTags() bool { return c.dec.AllTags() }

func (c *cutSource) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
