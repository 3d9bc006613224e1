package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"

	"github.com/removetag/removetag/pkg/records"
)

// A file job runs in links, one an invocation, each in the same steps, each
// in a file of its own: the job is started or continued (this file), claimed
// (claim.go, on its state in state.go), then its link (link.go) works through
// the phases, validate (validate.go), send (send.go) and finish (finish.go),
// as far as the time allows, and hands the rest on (handon.go).

// fileJob is a stored file that this invocation works on.
type fileJob struct {
	s      *Service
	kind   Kind
	store  storage.Store
	loc    storage.Location
	region string
	log    *slog.Logger
	// started is when this invocation took the job on.
	started time.Time
	// st is the job's durable state: its checkpoint, the claim, its report.
	st state
	// dropParts: the parts of failed records of an older version of the file
	// are removed once the job is claimed.
	dropParts bool
	// watch is the link's watch on the job's cancel marker (cancel.go).
	watch *cancelWatch
	// ownLog is this invocation's log of the journal (journal.go).
	ownLog *logSink
}

// newFileJob opens the file's bucket.
func (s *Service) newFileJob(ctx context.Context, kind Kind, loc storage.Location, region, trigger string) (*fileJob, error) {
	store, err := s.cfg.OpenStore.Open(ctx, loc, region)
	if err != nil {
		return nil, fmt.Errorf("file job %s: open the bucket: %w", loc, err)
	}
	return s.fileJobIn(store, kind, loc, region, trigger), nil
}

// fileJobIn is a file job in a bucket already open.
func (s *Service) fileJobIn(store storage.Store, kind Kind, loc storage.Location, region, trigger string) *fileJob {
	owner := newOwner()
	log := s.cfg.Logger.With("job", "file", "kind", kind, "trigger", trigger, "source", loc.String(), "owner", owner)
	return &fileJob{
		s: s, kind: kind, store: store, loc: loc, region: region, log: log, started: time.Now(),
		st: state{store: store, keys: keysOf(s.cfg.OutputPrefix, kind, loc.Key), owner: owner, by: trigger + "/" + owner, log: log},
	}
}

// refuseFile returns the answer to a file job of the kind refused before its
// bucket is opened (nil if it is not refused). An undo's file is most often
// a journal, under the output prefix: it is run there (see ownOutput).
func (s *Service) refuseFile(kind Kind, loc storage.Location) *Result {
	if res := s.refuseKey(kind, loc); res != nil {
		return res
	}
	if s.cfg.OpenStore == nil {
		return invalidResult("file jobs are not configured: no object storage")
	}
	return nil
}

// refuseKey returns the answer to a location that names no file a job of the
// kind may be of (nil if it names one): a bucket, a folder, the function's own
// output.
func (s *Service) refuseKey(kind Kind, loc storage.Location) *Result {
	switch {
	case loc.Key == "" || strings.HasSuffix(loc.Key, "/"):
		return invalidResult(fmt.Sprintf("%s names a bucket or a folder, not a file", loc))
	case s.ownOutput(kind, loc.Key):
		s.cfg.Logger.Info("object ignored: it is under the output prefix", "source", loc.String(), "prefix", s.cfg.OutputPrefix)
		return &Result{Status: StatusIgnored, Source: loc.String(),
			Message: fmt.Sprintf("objects under the output prefix %q are the function's own output, never processed", s.cfg.OutputPrefix)}
	}
	return nil
}

// ownOutput reports whether a file job of the kind on key would read the
// function's own output, which it never does: any object under the output
// prefix for a removal (an upload of a report, a journal or failed records
// must not remove tags), and nothing for an undo, whose file is a journal.
func (s *Service) ownOutput(kind Kind, key string) bool {
	return kind == KindRemoval && strings.HasPrefix(key, s.cfg.OutputPrefix)
}

// startFile starts a job of the kind: a removal for an upload event or a
// {"Source":…} document, an undo for an {"Undo":…} one. Nothing is done for a
// version already done or a job in progress; a job left behind is taken over.
func (s *Service) startFile(ctx context.Context, kind Kind, loc storage.Location, region, trigger string) (*Result, error) {
	if res := s.refuseFile(kind, loc); res != nil {
		return res, nil
	}
	j, err := s.newFileJob(ctx, kind, loc, region, trigger)
	if err != nil {
		return nil, err
	}
	info, err := j.store.Stat(ctx, loc.Key)
	if errors.Is(err, storage.ErrNotFound) {
		res := invalidResult(fmt.Sprintf("%s: no such object", loc))
		res.Source = loc.String()
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", loc, err)
	}
	rep, err := j.st.doneReport(ctx, info.ETag)
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", loc, err)
	}
	if rep != nil && !rep.ends(info.Modified) {
		j.log.Info("a new upload of the version of a canceled job: a new job", "etag", info.ETag, "modified", info.Modified)
		rep = nil
	}
	if rep != nil {
		j.log.Info("job skipped: this version is done", "etag", info.ETag, "report", j.st.keys.report())
		return j.skippedDone(rep), nil
	}
	cp, err := j.st.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", loc, err)
	}
	switch {
	case cp != nil && s.busy(cp):
		j.log.Info("job skipped: in progress", "chain", cp.Chain, "etag", cp.ETag, "updated", cp.UpdatedAt)
		res := j.result(cp, StatusSkipped)
		res.Message = fmt.Sprintf("the file is in progress (chain %d, checkpoint updated %s)", cp.Chain, cp.UpdatedAt.Format(time.RFC3339))
		if cp.ETag != info.ETag {
			res.Message += "; the job will see that the file changed and start over"
		}
		return res, nil
	case cp != nil && cp.ETag == info.ETag:
		j.log.Info("taking over a job left behind", "chain", cp.Chain, "handoff", cp.Handoff, "updated", cp.UpdatedAt)
		return j.claimAndRun(ctx, cp)
	}
	restarted := cp != nil // a job left behind for an older version
	f, _, err := records.FormatOf(loc.Key)
	if err != nil {
		return j.rejectFormat(ctx, info, err, restarted)
	}
	cp = &Checkpoint{
		Version: checkpointVersion, Source: loc.String(), Region: region, ETag: info.ETag, Modified: info.Modified,
		Format: f.String(), Phase: PhaseValidate, Restarted: restarted, Started: time.Now().UTC(),
	}
	j.dropParts = restarted
	return j.claimAndRun(ctx, cp)
}

// continueFile runs a continuation event: the next invocation of a file's chain.
func (s *Service) continueFile(ctx context.Context, ev ContinueEvent) (*Result, error) {
	loc, err := storage.ParseLocation(ev.Source)
	if err != nil {
		return invalidResult("continuation event: " + err.Error()), nil
	}
	kind := eventKind(ev)
	if !kind.runs() {
		return invalidResult(fmt.Sprintf("continuation event: kind %q: this version runs %s jobs only", kind, runKinds())), nil
	}
	if res := s.refuseFile(kind, loc); res != nil {
		return res, nil
	}
	j, err := s.newFileJob(ctx, kind, loc, ev.Region, "continue")
	if err != nil {
		return nil, err
	}
	if ev.Checkpoint != "" && ev.Checkpoint != j.st.keys.checkpoint() {
		return invalidResult(fmt.Sprintf("continuation event: checkpoint %q is not the one of %s (%q)", ev.Checkpoint, loc, j.st.keys.checkpoint())), nil
	}
	cp, err := j.st.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", loc, err)
	}
	why := ""
	switch {
	case cp == nil:
		why = "no checkpoint: the job is over"
	case cp.ETag != ev.ETag:
		why = fmt.Sprintf("the event is for version %s, the job for %s", ev.ETag, cp.ETag)
	case cp.Chain != ev.Chain:
		why = fmt.Sprintf("stale or duplicate event: chain %d, the checkpoint is at %d", ev.Chain, cp.Chain)
	case cp.Owner != "" && s.fresh(cp):
		why = "another invocation works on it"
	default:
		return j.claimAndRun(ctx, cp)
	}
	j.log.Info("continuation skipped: "+why, "chain", ev.Chain)
	res := &Result{Status: StatusSkipped, Source: loc.String(), Chain: ev.Chain}
	if cp != nil {
		res = j.result(cp, StatusSkipped)
	}
	res.Message = "continuation event skipped: " + why
	return res, nil
}

// eventKind is the kind of a continuation event's job: removal when the
// event names none (as every event of removal does; see continueEvent).
func eventKind(ev ContinueEvent) Kind {
	if ev.Kind == "" {
		return KindRemoval
	}
	return ev.Kind
}

// continueEvent is the event that continues the job at its checkpoint, cp,
// in the invocation at place next of the chain. An event of removal names no
// kind: it is the event of the versions before kinds.
func (j *fileJob) continueEvent(cp *Checkpoint, next int) ContinueEvent {
	ev := ContinueEvent{Source: cp.Source, Region: cp.Region, Checkpoint: j.st.keys.checkpoint(), ETag: cp.ETag, Chain: next}
	if j.kind != KindRemoval {
		ev.Kind = j.kind
	}
	return ev
}

// result describes the job as the checkpoint has it.
func (j *fileJob) result(cp *Checkpoint, status Status) *Result {
	return &Result{
		Status: status, Source: j.loc.String(), Chain: cp.Chain, Restarted: cp.Restarted,
		Report:        imapi.Report{Counts: cp.counts(), Failures: cp.Failures},
		CheckpointKey: j.st.keys.checkpoint(),
	}
}

// bookkeeping returns a context for saving the job's state after the run: the
// run keeps back some time for it, but it must not be cut short by a
// cancellation that stopped the run.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
}
