package job

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// A job canceled: an admin's cancel request (see Jobs.Cancel) writes the
// job's cancel marker, {root}cancel/{key}, naming the upload it stops. The
// invocation that works on the job looks for it when it claims the job and
// then every cancelPoll; on seeing it, it stops sending (the engine's run is
// canceled: calls in flight end, every record not resolved stays pending),
// writes the pending records as a file ready to run again, the failed records
// and the report (status canceled), and removes the checkpoint: no
// continuation, no sweep and no repeated event of that upload takes the job
// on again. A new upload of the file is another version and starts a new job.

// cancelPoll is how often a link looks for its cancel marker: the job sees a
// cancel within about this, plus a read of the marker, plus the end of the
// calls in flight.
const cancelPoll = time.Second

// Cancellation is an admin's request to stop a file job: what its cancel
// marker holds, and, in the report of the job it stopped, when the job saw it
// and stopped.
type Cancellation struct {
	// Source is the file; ETag and Modified name the upload to stop (a job on
	// any other version of the file, a new upload, is not stopped).
	Source   string
	ETag     string
	Modified time.Time `json:",omitzero"`
	// RequestedAt is when the marker was written; By says who asked.
	RequestedAt time.Time
	By          string `json:",omitempty"`
	// SeenAt is when the job saw the marker; StoppedAt when it had stopped
	// sending, its last call over (both in the report only).
	SeenAt    time.Time `json:",omitzero"`
	StoppedAt time.Time `json:",omitzero"`
}

// stops reports whether the marker stops the job on the version etag,
// modified of its file. A Last-Modified either side does not know is no
// difference.
func (c *Cancellation) stops(etag string, modified time.Time) bool {
	if c == nil || c.ETag != etag {
		return false
	}
	return c.Modified.IsZero() || modified.IsZero() || c.Modified.Equal(modified)
}

// readCancel reads the job's cancel marker; nil if there is none (or it is
// damaged: it is then ignored).
func readCancel(ctx context.Context, store storage.Store, key string) (*Cancellation, error) {
	var c Cancellation
	_, ok, err := readJSON(ctx, store, key, &c)
	var bad *badObjectError
	switch {
	case errors.As(err, &bad):
		return nil, nil
	case err != nil || !ok:
		return nil, err
	}
	return &c, nil
}

// cancelWatch is a link's watch on its job's cancel marker.
type cancelWatch struct {
	seen atomic.Pointer[Cancellation] // the marker, once seen
}

// watchCancel looks for the job's cancel marker now, then every cancelPoll
// until stop is called. On seeing a marker that stops the job's version (as
// the link claimed it), it notes the marker (see canceled) and cancels the
// returned context: the link stops sending and ends the job canceled.
func (j *fileJob) watchCancel(ctx context.Context, cp *Checkpoint) (context.Context, func()) {
	j.watch = &cancelWatch{}
	etag, modified := cp.ETag, cp.Modified
	if j.checkCancel(ctx, etag, modified) {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancelCause(ctx)
	watch, stopWatch := context.WithCancel(ctx) // ends the watch, and a read of the marker under way
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(cancelPoll)
		defer tick.Stop()
		for {
			select {
			case <-watch.Done():
				return
			case <-tick.C:
				if j.checkCancel(watch, etag, modified) {
					cancel(errCanceled)
					return
				}
			}
		}
	}()
	return wctx, func() {
		stopWatch()
		<-done
		cancel(errLinkOver)
	}
}

// errCanceled is the cause of a link's context canceled by its marker;
// errLinkOver the cause once the link is over.
var (
	errCanceled = errors.New("the job was canceled")
	errLinkOver = errors.New("the link is over")
)

// checkCancel reads the marker once, and notes it if it stops the version.
// A read that fails is tried again at the next poll.
func (j *fileJob) checkCancel(ctx context.Context, etag string, modified time.Time) bool {
	rctx, cancel := context.WithTimeout(ctx, 5*cancelPoll)
	defer cancel()
	c, err := readCancel(rctx, j.store, j.st.keys.cancel())
	if err != nil {
		if ctx.Err() == nil {
			j.log.Debug("could not look for the cancel marker; looking again", "error", err.Error())
		}
		return false
	}
	if !c.stops(etag, modified) {
		return false
	}
	c.SeenAt = time.Now().UTC()
	j.watch.seen.Store(c)
	j.log.Warn("cancel marker seen: the job stops", "marker", j.st.keys.cancel(), "by", c.By, "requested", c.RequestedAt)
	return true
}

// canceled returns the cancel marker the link saw, if it saw one that stops
// the job on the version cp is for.
func (j *fileJob) canceled(cp *Checkpoint) *Cancellation {
	if j.watch == nil {
		return nil
	}
	if c := j.watch.seen.Load(); c.stops(cp.ETag, cp.Modified) {
		return c
	}
	return nil
}

// workWatched runs the link's work watching for the job's cancel marker: a
// job canceled before or during the work ends canceled (see endCanceled),
// unless it finished first.
func (j *fileJob) workWatched(ctx context.Context, cp *Checkpoint, l *link) (*Result, error) {
	wctx, stop := j.watchCancel(ctx, cp)
	defer stop()
	if j.canceled(cp) == nil {
		res, err := j.work(wctx, cp, l)
		if err == nil || errors.Is(err, errClaimLost) || j.canceled(cp) == nil {
			return res, err
		}
		j.log.Warn("the link failed as it stopped for the cancel: ending the job canceled", "error", err.Error())
	}
	return j.endCanceled(ctx, cp)
}

// endCanceled ends a job canceled: its journal (what it removed; a merge that
// does not fit in the invocation is passed on), its pending records in a file
// ready to run again, its failed records, its report (status canceled), and
// its state removed. Like finish, it writes the report
// only while it owns the job.
func (j *fileJob) endCanceled(ctx context.Context, cp *Checkpoint) (*Result, error) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	c := *j.canceled(cp)
	c.StoppedAt = time.Now().UTC()
	if err := j.st.confirm(bctx); err != nil {
		return nil, err
	}
	// The journal first, as in finish: a merge that does not fit is passed
	// on, and the next invocation, seeing the marker, ends the job.
	l := &link{chain: cp.Chain}
	journalKey, changes, logs, err := j.mergeJournal(ctx, l)
	if errors.Is(err, errMergeUnfinished) {
		return j.passOn(ctx, cp, l, "")
	}
	if err != nil {
		return nil, err
	}
	bctx, cancel = bookkeeping(ctx)
	defer cancel()
	pending, why, err := j.putPending(bctx, cp)
	if err != nil {
		return nil, err
	}
	rep := &FileReport{
		Kind:   j.reportKind(),
		Status: StatusCanceled, Source: cp.Source, ETag: cp.ETag, Modified: cp.Modified, Format: cp.Format, API: j.op(cp).String(),
		Counts: cp.counts(), Failures: cp.Failures, Restarted: cp.Restarted,
		Chain: cp.Chain, Invocations: cp.Invocations, Started: cp.Started, Canceled: &c,
	}
	rep.Message = fmt.Sprintf("canceled by %s: %d record(s) pending", c.By, rep.Pending)
	switch {
	case pending && j.kind == KindUndo:
		// Uploaded, these lines would be removed: they are run as an undo.
		rep.PendingKey = j.pendingKey(cp)
		rep.Message += fmt.Sprintf(`; send {"Undo":"%s"} to finish the undo`, storage.Location{Scheme: j.loc.Scheme, Bucket: j.loc.Bucket, Key: rep.PendingKey})
	case pending:
		rep.PendingKey = j.pendingKey(cp)
		rep.Message += "; upload the pending records (" + rep.PendingKey + ") outside the output prefix to finish the job"
	case why != "":
		rep.Message += "; " + why
	}
	if len(cp.Parts) > 0 {
		if err := j.putFailed(bctx, cp); err != nil {
			return nil, err
		}
		rep.FailedKey = j.st.keys.failed()
	}
	rep.JournalKey, rep.Changes = journalKey, changes
	if err := j.st.writeReport(bctx, rep); err != nil {
		return nil, err
	}
	j.dropLogs(bctx, logs)
	if err := j.st.remove(bctx); err != nil {
		j.log.Warn("could not remove the job's state; the sweep removes it", "error", err.Error())
	}
	j.log.Warn("job canceled", append(countAttrs(&imapi.Report{Counts: rep.Counts}), "chain", cp.Chain, "by", c.By,
		"seen_after_s", c.SeenAt.Sub(c.RequestedAt).Seconds(), "stopped_after_s", c.StoppedAt.Sub(c.RequestedAt).Seconds())...)
	res := j.reportResult(rep, StatusCanceled)
	res.Chain = cp.Chain
	return res, nil
}

// putPending writes the records of the file not resolved, from the
// checkpoint's position to the end, past those that succeeded ahead of it (in
// the validate phase, from the start: none was sent), as the job's pending
// file: pending is false when there were
// none (an older pending file is removed), or, with why, when the file is
// gone or replaced and they cannot be read. In the validate phase a record the
// decoder refuses counts as failed (invalid), as the engine fails it; the
// checkpoint's counts then cover the whole file.
func (j *fileJob) putPending(ctx context.Context, cp *Checkpoint) (pending bool, why string, err error) {
	from := *cp
	validating := cp.Phase == PhaseValidate
	if validating {
		from.Position, from.SucceededAhead = records.Position{}, nil
	}
	body, dec, err := j.open(ctx, &from)
	switch {
	case errors.Is(err, errGone):
		return false, "the file was deleted: its pending records cannot be read", nil
	case errors.Is(err, storage.ErrChanged):
		return false, "the file was replaced: the pending records of the version canceled cannot be read", nil
	case err != nil:
		return false, "", fmt.Errorf("read the pending records: %w", err)
	}
	defer body.Close()
	src := &trackingSource{dec: dec, after: from.Position, ahead: from.SucceededAhead}
	pw, failed := &failedWriter{}, &failedWriter{}
	defer pw.close()
	defer failed.close()
	groups := imapi.NewFailureGroups(cp.Failures, 0)
	for {
		rec, err := src.Next()
		var bad *records.Problem
		switch {
		case err == io.EOF:
			cp.AllTags = cp.AllTags || dec.AllTags()
			return j.keepPending(ctx, cp, pw, failed, groups, validating)
		case errors.As(err, &bad) && validating:
			groups.Add(rec.Account, bad)
			failed.add(rec)
		case err != nil && body.err != nil:
			return false, "", fmt.Errorf("read the pending records: %w", body.err)
		case err != nil:
			return false, "", fmt.Errorf("read the pending records: %w", err)
		default:
			pw.add(rec)
		}
		if pw.err != nil || failed.err != nil {
			return false, "", errors.Join(pw.err, failed.err)
		}
	}
}

// keepPending stores what putPending read: the pending records, and, for a job
// canceled while it was validated, its counts over the whole file and the
// records refused as a part of failed records.
func (j *fileJob) keepPending(ctx context.Context, cp *Checkpoint, pw, failed *failedWriter, groups *imapi.FailureGroups, validating bool) (bool, string, error) {
	if validating {
		if err := j.putPart(ctx, cp, failed); err != nil {
			return false, "", err
		}
		cp.Failures = groups.List()
		cp.Total, cp.Succeeded, cp.Failed = pw.n+failed.n, 0, failed.n
	}
	if want := cp.counts().Pending; pw.n != want {
		j.log.Error("pending records read do not match the pending count", "records", pw.n, "pending", want)
	}
	body, err := pw.body()
	if err != nil {
		return false, "", err
	}
	if body == nil {
		for _, key := range []string{j.st.keys.pending(), j.st.keys.pendingDoc()} {
			if err := j.store.Delete(ctx, key); err != nil {
				return false, "", fmt.Errorf("remove the pending records of an older job: %w", err)
			}
		}
		return false, "", nil
	}
	contentType := "application/x-ndjson"
	if cp.AllTags {
		if body, err = allTagsDocument(body); err != nil {
			return false, "", err
		}
		defer body.(*os.File).Close()
		defer os.Remove(body.(*os.File).Name())
		contentType = "application/json"
	}
	if err := j.store.Put(ctx, j.pendingKey(cp), body, contentType); err != nil {
		return false, "", fmt.Errorf("write the pending records: %w", err)
	}
	return true, "", nil
}

// pendingKey is where a canceled job's pending records go: JSON lines, or,
// for a job of the form of accounts alone, a document of that form (lines
// without tags would be records of nothing to remove).
func (j *fileJob) pendingKey(cp *Checkpoint) string {
	if cp.AllTags {
		return j.st.keys.pendingDoc()
	}
	return j.st.keys.pending()
}

// allTagsDocument rewrites pending records, one a line, as the job document
// of accounts alone, {"AllTags":true,"To_Account":[…]}, in a temporary file
// read from its start.
func allTagsDocument(lines io.Reader) (io.ReadSeeker, error) {
	out, err := os.CreateTemp("", "removetag-pending-*.json")
	if err != nil {
		return nil, fmt.Errorf("write the pending document: %w", err)
	}
	fail := func(err error) (io.ReadSeeker, error) {
		out.Close()
		os.Remove(out.Name())
		return nil, fmt.Errorf("write the pending document: %w", err)
	}
	w := bufio.NewWriter(out)
	w.WriteString(`{"AllTags":true,"To_Account":[`)
	dec := json.NewDecoder(lines)
	for n := 0; dec.More(); n++ {
		var rec records.Record
		if err := dec.Decode(&rec); err != nil {
			return fail(err)
		}
		if n > 0 {
			w.WriteByte(',')
		}
		account, _ := json.Marshal(rec.Account)
		w.Write(account)
	}
	w.WriteString("]}\n")
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return out, nil
}
