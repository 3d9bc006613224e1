package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/job/storage"
)

// Jobs is what an admin does with the file jobs of one bucket: see them
// ([Jobs.List], [Jobs.Get]) and stop one ([Jobs.Cancel]). The service answers
// its status and cancel requests with it; the command line uses it on a
// bucket it opens itself. A Jobs kept between reads (a watch) reads again only
// the objects that changed. It is safe for concurrent use.
type Jobs struct {
	s      *Service
	store  storage.Store
	bucket storage.Location // the scheme and bucket
	r      *reader
}

// NewJobs returns the Jobs of the bucket store, opened at bucket, as the
// service of cfg sees them: cfg's OutputPrefix, SweepAfter and Logger are
// used (no Engine is needed: Jobs sends no record).
func NewJobs(store storage.Store, bucket storage.Location, cfg Config) (*Jobs, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return (&Service{cfg: cfg}).jobsIn(store, bucket), nil
}

// jobsIn is the Jobs of a bucket open.
func (s *Service) jobsIn(store storage.Store, bucket storage.Location) *Jobs {
	bucket.Key = ""
	return &Jobs{s: s, store: store, bucket: bucket, r: &reader{store: store}}
}

// List tells of every job whose file's key starts with keyPrefix ("": every
// job of the bucket), kind by kind, in key order. The undos of journals are
// the jobs of files under the output prefix.
func (js *Jobs) List(ctx context.Context, keyPrefix string) ([]Summary, error) {
	var all []Summary
	for _, kind := range runKinds() {
		found, err := js.list(ctx, kind, keyPrefix)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", js.bucket, err)
		}
		list, err := js.summaries(ctx, kind, found)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	return all, nil
}

// Status is the answer to a status request on the jobs whose files' keys
// start with keyPrefix, as the service gives it: Status "listed", the jobs
// in Summaries.
func (js *Jobs) Status(ctx context.Context, keyPrefix string) (*Result, error) {
	list, err := js.List(ctx, keyPrefix)
	if err != nil {
		return nil, err
	}
	loc := js.bucket
	loc.Key = keyPrefix
	return listed(loc.String(), list), nil
}

// listed is the answer of a status request on source that found list.
func listed(source string, list []Summary) *Result {
	return &Result{Status: StatusListed, Source: source, Summaries: list, Message: fmt.Sprintf("%d job(s)", len(list))}
}

// Get tells of the job of the file at key; nil if it has none.
func (js *Jobs) Get(ctx context.Context, key string) (*Summary, error) {
	list, err := js.List(ctx, key)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].Key == key {
			return &list[i], nil
		}
	}
	return nil, nil
}

// Cancel stops the job of the file at key: its removal, or, for a file under
// the output prefix (a journal), its undo; by says who asks (in the marker
// and the report). It writes the job's cancel marker, naming the upload the
// job is for (the file's, if no job has started yet): the invocation that
// works on the job sees it within about a second and ends the job canceled.
// A job that no invocation works on (handed on, left for the sweep) is ended
// here at once, as the invocation would: this reads the rest of the file to
// write its pending records.
//
// The result's Status: "canceled" (ended here), "pending" (the invocation
// working on the job stops it), "skipped" (nothing to cancel: the job is
// over, or canceled already), "invalid" (no such file and no job); its
// Summaries hold the job as it is after the request.
func (js *Jobs) Cancel(ctx context.Context, key, by string) (*Result, error) {
	loc := storage.Location{Scheme: js.bucket.Scheme, Bucket: js.bucket.Bucket, Key: key}
	kind := js.kindOf(key)
	if res := js.s.refuseKey(kind, loc); res != nil {
		return res, nil
	}
	j := js.s.fileJobIn(js.store, kind, loc, "", "cancel")
	cp, err := j.st.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("cancel %s: %w", loc, err)
	}
	c := &Cancellation{Source: loc.String(), RequestedAt: time.Now().UTC(), By: by}
	switch {
	case cp != nil:
		c.ETag, c.Modified = cp.ETag, cp.Modified
	case kind == KindUndo:
		// An undo starts only when asked for: none to stop before it starts.
		res := invalidResult(fmt.Sprintf("%s: no undo of it runs (a file under the output prefix %q is canceled as an undo's journal)", loc, js.s.cfg.OutputPrefix))
		res.Source = loc.String()
		return res, nil
	default:
		if res, err := js.versionToCancel(ctx, j, c); res != nil || err != nil {
			return res, err
		}
	}
	if err := putJSON(ctx, js.store, j.st.keys.cancel(), c); err != nil {
		return nil, fmt.Errorf("cancel %s: write the cancel marker: %w", loc, err)
	}
	j.log.Warn("cancel requested", "marker", j.st.keys.cancel(), "by", by, "etag", c.ETag)
	res, err := js.endResting(ctx, j, cp, c)
	if err != nil {
		return nil, fmt.Errorf("cancel %s: %w", loc, err)
	}
	if sum, err := js.Get(ctx, key); err == nil && sum != nil {
		res.Summaries = []Summary{*sum}
	}
	return res, nil
}

// kindOf is the kind of the job a cancel of the file at key stops: an undo
// for a file under the output prefix (a journal, which only an undo reads),
// a removal for any other.
func (js *Jobs) kindOf(key string) Kind {
	if strings.HasPrefix(key, js.s.cfg.OutputPrefix) {
		return KindUndo
	}
	return KindRemoval
}

// versionToCancel names in c the upload to stop of a file no job works on:
// the file's version, unless the job of that version is over (the answer).
func (js *Jobs) versionToCancel(ctx context.Context, j *fileJob, c *Cancellation) (*Result, error) {
	info, err := js.store.Stat(ctx, j.loc.Key)
	if errors.Is(err, storage.ErrNotFound) {
		res := invalidResult(fmt.Sprintf("%s: no such file, and no job of it runs", j.loc))
		res.Source = j.loc.String()
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cancel %s: %w", j.loc, err)
	}
	c.ETag, c.Modified = info.ETag, info.Modified
	rep, err := j.st.doneReport(ctx, info.ETag)
	if err != nil || rep == nil || !rep.ends(info.Modified) {
		return nil, err
	}
	res := j.reportResult(rep, StatusSkipped)
	res.Message = fmt.Sprintf("nothing to cancel: the job of this version (ETag %s) is over (%s, %s)", rep.ETag, rep.Status, rep.Finished.Format(time.RFC3339))
	if sum, err := js.Get(ctx, j.loc.Key); err == nil && sum != nil {
		res.Summaries = []Summary{*sum}
	}
	return res, nil
}

// endResting ends the job canceled here if no invocation works on it (it is
// handed on, left for the sweep, or its checkpoint went stale): claimed like
// any link, so that a continuation or the sweep arriving meanwhile finds it
// over. A job an invocation works on, or one not started, is left to stop.
func (js *Jobs) endResting(ctx context.Context, j *fileJob, cp *Checkpoint, c *Cancellation) (*Result, error) {
	pending := &Result{Status: StatusPending, Source: j.loc.String(),
		Message: "cancel requested: the invocation working on the job stops within about 2 s, then writes the report (status canceled) and the pending records"}
	switch {
	case cp == nil:
		pending.Message = "cancel requested: no job of this upload has started; it stops as it starts"
		return pending, nil
	case cp.Owner != "" && js.s.fresh(cp):
		return pending, nil
	}
	ok, err := j.st.claim(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("claim the job to end it: %w", err)
	}
	if !ok {
		return pending, nil // the invocation that claimed it sees the marker
	}
	c.SeenAt = time.Now().UTC()
	j.watch = &cancelWatch{}
	j.watch.seen.Store(c)
	res, err := j.endCanceled(ctx, cp)
	if errors.Is(err, errClaimLost) {
		return pending, nil
	}
	if err != nil {
		bctx, cancel := bookkeeping(ctx)
		defer cancel()
		j.st.release(bctx)
		return nil, err
	}
	return res, nil
}

// status answers a RequestStatus (see Inspect).
func (s *Service) status(ctx context.Context, loc storage.Location) (*Result, error) {
	if s.cfg.OpenStore == nil {
		return invalidResult("status: no object storage is configured"), nil
	}
	buckets := []storage.Location{loc}
	if loc.Bucket == "" {
		if len(s.cfg.Buckets) == 0 {
			return invalidResult("status: name a file, folder or bucket (s3://bucket[/key], cos://bucket-appid[/key]): no buckets are configured (REMOVETAG_BUCKETS)"), nil
		}
		buckets = s.cfg.Buckets
	}
	var all []Summary
	for _, b := range buckets {
		store, err := s.cfg.OpenStore.Open(ctx, b, "")
		if err != nil {
			return nil, fmt.Errorf("status of %s: open the bucket: %w", b, err)
		}
		js := s.jobsIn(store, b)
		if b.Key == "" || strings.HasSuffix(b.Key, "/") {
			list, err := js.List(ctx, b.Key)
			if err != nil {
				return nil, err
			}
			all = append(all, list...)
			continue
		}
		sum, err := js.Get(ctx, b.Key)
		if err != nil {
			return nil, err
		}
		if sum != nil {
			all = append(all, *sum)
		}
	}
	res := listed(loc.String(), all)
	if loc.Bucket == "" {
		res.Source = ""
	}
	if len(res.Summaries) == 0 && loc.Key != "" && !strings.HasSuffix(loc.Key, "/") {
		res.Message = fmt.Sprintf("%s has no job: no checkpoint, report or cancel marker under %q", loc, s.cfg.OutputPrefix)
	}
	return res, nil
}

// cancel answers a RequestCancel (see Jobs.Cancel).
func (s *Service) cancel(ctx context.Context, loc storage.Location, by string) (*Result, error) {
	if s.cfg.OpenStore == nil {
		return invalidResult("cancel: no object storage is configured"), nil
	}
	store, err := s.cfg.OpenStore.Open(ctx, loc, "")
	if err != nil {
		return nil, fmt.Errorf("cancel %s: open the bucket: %w", loc, err)
	}
	return s.jobsIn(store, loc).Cancel(ctx, loc.Key, by)
}
