package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
)

// The status of file jobs, read from their objects: the checkpoint of a job
// that runs, the report of one that ended, the cancel marker of one an admin
// stops. Nothing here writes.

// JobState is where a file job is, as status tells it.
type JobState string

// The states of a file job.
const (
	// JobRunning: an invocation works on the job (its checkpoint has an
	// owner and is fresh).
	JobRunning JobState = "running"
	// JobHandedOn: the last invocation handed the rest to a new one, whose
	// event is on its way.
	JobHandedOn JobState = "handed-on"
	// JobSweep: no invocation works on the job nor is on its way: it was
	// left for the timer sweep (see Note), an invocation failed, or the
	// checkpoint went without an update for SweepAfter. The sweep takes it on.
	JobSweep JobState = "waiting-for-sweep"
	// JobCanceling: an admin asked to cancel the job; the invocation that
	// works on it, or the next one, stops it.
	JobCanceling JobState = "canceling"
	// JobCanceled: the job was stopped; its records left are pending (PendingKey).
	JobCanceled JobState = "canceled"
	// JobDone: every record succeeded.
	JobDone JobState = "done"
	// JobFailed: the job ended with records failed for good (FailedKey), or
	// the file was rejected as invalid (nothing was sent; see Note).
	JobFailed JobState = "failed"
)

// Summary is what status tells of one file job.
type Summary struct {
	// Source is the file; Key its key in the bucket; Kind the job's kind,
	// omitted for removal.
	Source string
	Key    string
	Kind   Kind `json:",omitempty"`
	// State is where the job is; Phase, for a job not over, its phase.
	State JobState
	Phase Phase `json:",omitempty"`
	// ETag is the version of the file the job is for.
	ETag string `json:",omitempty"`
	// Counts are the job's, as its checkpoint (written at the start and end
	// of every invocation) or its report has them: records done
	// (Succeeded+Failed) of Total, calls made. In the validate phase, Total
	// counts the records checked so far.
	imapi.Counts
	// Changed counts the accounts that lost a tag and TagsRemoved the
	// account–tag pairs removed, for a job over that kept a journal
	// (JournalKey); absent otherwise (a job not over has not counted them).
	Changed     *int64 `json:",omitempty"`
	TagsRemoved *int64 `json:",omitempty"`
	// RecordsPerSecond is the records done over the job's time so far
	// (Started to UpdatedAt), waits between invocations included; ETA is
	// when the pending records would be done at that rate, for a job that
	// runs or was handed on.
	RecordsPerSecond float64   `json:",omitempty"`
	ETA              time.Time `json:",omitzero"`
	// Chain is the place in the file's chain of the invocation that works on
	// the job or is next to (of the last one, for a job over); Invocations
	// counts those that worked on it.
	Chain       int
	Invocations int
	// Started is when the job started; UpdatedAt when its checkpoint or
	// report was last written, UpdatedBy by which invocation (its trigger and
	// name, as its log lines say them).
	Started   time.Time `json:",omitzero"`
	UpdatedAt time.Time `json:",omitzero"`
	UpdatedBy string    `json:",omitempty"`
	// Note says why a job waits for the sweep, or what the report says.
	Note string `json:",omitempty"`
	// Cancel is the admin's cancel request, for a job canceling or canceled.
	Cancel *Cancellation `json:",omitempty"`
	// The job's objects in the bucket, those that exist.
	CheckpointKey string `json:",omitempty"`
	ReportKey     string `json:",omitempty"`
	FailedKey     string `json:",omitempty"`
	PendingKey    string `json:",omitempty"`
	JournalKey    string `json:",omitempty"`
}

// Done returns the records resolved: succeeded or failed.
func (s Summary) Done() int64 { return s.Succeeded + s.Failed }

// jobObjects are the objects of one job, as read.
type jobObjects struct {
	cp     *Checkpoint
	rep    *FileReport
	cancel *Cancellation
}

// reader reads the small objects of jobs, keeping what it read by key and
// ETag: a watch that reads a bucket again reads only the objects that changed.
type reader struct {
	store storage.Store
	mu    sync.Mutex
	seen  map[string]readObject
}

// readObject is an object read, by the ETag its listing gave.
type readObject struct {
	etag string
	data []byte
}

// read returns the object's content (nil if it is gone), from what was read
// before when the listing's ETag is the same.
func (r *reader) read(ctx context.Context, info storage.Info) ([]byte, error) {
	r.mu.Lock()
	o, ok := r.seen[info.Key]
	r.mu.Unlock()
	if ok && info.ETag != "" && o.etag == info.ETag {
		return o.data, nil
	}
	rc, got, err := r.store.Open(ctx, info.Key, 0, "")
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxStateBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", info.Key, err)
	}
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]readObject{}
	}
	r.seen[info.Key] = readObject{etag: got.ETag, data: data}
	r.mu.Unlock()
	return data, nil
}

// listing is what the listings of one kind's objects found, by source key.
type listing map[string]*[3]storage.Info // checkpoint, report, cancel marker

// list lists the kind's checkpoints, reports and cancel markers of the files
// whose keys start with keyPrefix.
func (js *Jobs) list(ctx context.Context, kind Kind, keyPrefix string) (listing, error) {
	root := kindRoot(js.s.cfg.OutputPrefix, kind)
	found := listing{}
	for i, dir := range []string{"state/", "reports/", "cancel/"} {
		infos, err := js.store.List(ctx, root+dir+keyPrefix)
		if err != nil {
			return nil, fmt.Errorf("list %s%s: %w", root, dir, err)
		}
		for _, info := range infos {
			key := strings.TrimPrefix(info.Key, root+dir)
			switch i {
			case 0:
				k, src, ok := parseCheckpointKey(js.s.cfg.OutputPrefix, info.Key)
				if !ok || k != kind {
					continue
				}
				key = src
			case 1:
				var ok bool
				if key, ok = strings.CutSuffix(key, ".report.json"); !ok {
					continue
				}
			}
			if found[key] == nil {
				found[key] = &[3]storage.Info{}
			}
			found[key][i] = info
		}
	}
	return found, nil
}

// readJob reads the objects the listing found of one job.
func (js *Jobs) readJob(ctx context.Context, infos *[3]storage.Info) (jobObjects, error) {
	var o jobObjects
	for i, info := range infos {
		if info.Key == "" {
			continue
		}
		data, err := js.r.read(ctx, info)
		if err != nil || data == nil {
			return o, err
		}
		var target any
		switch i {
		case 0:
			o.cp = &Checkpoint{}
			target = o.cp
		case 1:
			o.rep = &FileReport{}
			target = o.rep
		default:
			o.cancel = &Cancellation{}
			target = o.cancel
		}
		if json.Unmarshal(data, target) != nil {
			js.s.cfg.Logger.Warn("status: an object that cannot be read is left out", "object", info.Key)
			o.clear(i)
		}
	}
	if o.cp != nil && o.cp.Version != checkpointVersion {
		o.clear(0)
	}
	return o, nil
}

// clear drops the object of place i, unreadable.
func (o *jobObjects) clear(i int) {
	switch i {
	case 0:
		o.cp = nil
	case 1:
		o.rep = nil
	default:
		o.cancel = nil
	}
}

// summaries reads the jobs listed, a few at a time, in key order.
func (js *Jobs) summaries(ctx context.Context, kind Kind, found listing) ([]Summary, error) {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range found {
			if !yield(k) {
				return
			}
		}
	})
	out := make([]*Summary, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			o, err := js.readJob(ctx, found[key])
			if err != nil {
				errs[i] = fmt.Errorf("status of %s: %w", key, err)
				return
			}
			out[i] = js.summarize(kind, key, o)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	list := make([]Summary, 0, len(out))
	for _, s := range out {
		if s != nil {
			list = append(list, *s)
		}
	}
	return list, nil
}

// summarize tells of one job from its objects; nil if they tell of none.
func (js *Jobs) summarize(kind Kind, key string, o jobObjects) *Summary {
	loc := storage.Location{Scheme: js.bucket.Scheme, Bucket: js.bucket.Bucket, Key: key}
	fk := keysOf(js.s.cfg.OutputPrefix, kind, key)
	s := &Summary{Source: loc.String(), Key: key}
	if kind != KindRemoval {
		s.Kind = kind
	}
	switch {
	case o.cp != nil && (o.rep == nil || o.rep.ETag != o.cp.ETag || !o.rep.ends(o.cp.Modified)):
		js.fromCheckpoint(s, o.cp, o.cancel)
		s.CheckpointKey = fk.checkpoint()
	case o.cancel != nil && (o.rep == nil || o.cancel.RequestedAt.After(o.rep.Finished) && !o.cancel.stops(o.rep.ETag, o.rep.Modified)):
		// A marker whose upload no invocation has started on yet.
		s.State, s.ETag, s.Cancel, s.UpdatedAt, s.UpdatedBy = JobCanceling, o.cancel.ETag, o.cancel, o.cancel.RequestedAt, o.cancel.By
		s.Note = "cancel requested before any invocation started on this upload: its job stops as it starts"
	case o.rep != nil:
		fromReport(s, o.rep)
		s.ReportKey = fk.report()
	default:
		return nil
	}
	return s
}

// fromCheckpoint tells of a job not over.
func (js *Jobs) fromCheckpoint(s *Summary, cp *Checkpoint, c *Cancellation) {
	s.Phase, s.ETag, s.Counts = cp.Phase, cp.ETag, cp.counts()
	s.Chain, s.Invocations, s.Started, s.UpdatedAt, s.UpdatedBy, s.Note = cp.Chain, cp.Invocations, cp.Started, cp.UpdatedAt, cp.UpdatedBy, cp.Note
	fresh := time.Since(cp.UpdatedAt) < js.s.cfg.SweepAfter
	switch {
	case c.stops(cp.ETag, cp.Modified):
		s.State, s.Cancel = JobCanceling, c
		s.Note = "cancel requested: the invocation working on the job, or the next one, stops it"
	case cp.Owner != "" && fresh:
		s.State = JobRunning
	case cp.Handoff == HandoffInvoked && fresh:
		s.State = JobHandedOn
	default:
		s.State = JobSweep
		switch {
		case s.Note != "":
		case cp.Handoff == HandoffError:
			s.Note = "an invocation failed; a retry or the sweep takes the job on"
		default:
			s.Note = fmt.Sprintf("no update for %s: the sweep takes the job on", time.Since(cp.UpdatedAt).Round(time.Second))
		}
	}
	s.RecordsPerSecond = perSecond(s.Done(), cp.Started, cp.UpdatedAt)
	if (s.State == JobRunning || s.State == JobHandedOn) && cp.Phase == PhaseSend && s.RecordsPerSecond > 0 {
		s.ETA = eta(cp.UpdatedAt, s.Pending, s.RecordsPerSecond)
	}
}

// eta is when pending records are done at perSecond from updated, in whole
// seconds rounded up: an estimate is never before the update it is made
// from.
func eta(updated time.Time, pending int64, perSecond float64) time.Time {
	at := updated.Add(time.Duration(float64(pending) / perSecond * float64(time.Second))).UTC()
	if t := at.Truncate(time.Second); t.Before(at) {
		at = t.Add(time.Second)
	}
	return at
}

// fromReport tells of a job over.
func fromReport(s *Summary, rep *FileReport) {
	s.ETag, s.Counts = rep.ETag, rep.Counts
	if rep.JournalKey != "" {
		changed, removed := rep.Changed, rep.TagsRemoved
		s.Changed, s.TagsRemoved, s.JournalKey = &changed, &removed, rep.JournalKey
	}
	s.Chain, s.Invocations, s.Started, s.UpdatedAt, s.UpdatedBy = rep.Chain, rep.Invocations, rep.Started, rep.Finished, rep.FinishedBy
	s.FailedKey, s.PendingKey, s.Cancel, s.Note = rep.FailedKey, rep.PendingKey, rep.Canceled, rep.Message
	switch {
	case rep.Status == StatusCanceled:
		s.State = JobCanceled
	case rep.Status == StatusInvalid || rep.Failed > 0:
		s.State = JobFailed
	default:
		s.State = JobDone
	}
	s.RecordsPerSecond = perSecond(s.Done(), rep.Started, rep.Finished)
}

// perSecond is n over the time from start to end; 0 without either.
func perSecond(n int64, start, end time.Time) float64 {
	d := end.Sub(start).Seconds()
	if n <= 0 || start.IsZero() || d <= 0 {
		return 0
	}
	return float64(n) / d
}
