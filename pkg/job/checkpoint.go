package job

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// Phase is where a file job is, as its [Checkpoint] stores it.
type Phase string

// Phases of a file job.
const (
	PhaseValidate Phase = "validate" // reading the whole file once, checking every record
	PhaseSend     Phase = "send"     // sending the records
	PhaseFinish   Phase = "finish"   // every record sent: the report is left to write
)

// Handoff is what the invocation that wrote a [Checkpoint] last expects to happen next.
type Handoff string

// Hand-offs of a file job.
const (
	HandoffInvoked Handoff = "invoked" // a continuation event for Chain is on its way
	HandoffSweep   Handoff = "sweep"   // no event was sent: the timer sweep takes it on
	HandoffError   Handoff = "error"   // the invocation failed; a platform retry (or the sweep) takes it on
)

// Checkpoint is the durable state of a file job between invocations, stored
// as JSON at {prefix}state/{key}.json in the file's bucket. Counts are of the
// records before Position, accumulated across the chain.
type Checkpoint struct {
	// Version is the checkpoint format's version, 1.
	Version int
	// Source is the file, "s3://bucket/key" or "cos://bucket-appid/key".
	Source string
	// Region is the region an upload event named, if any.
	Region string `json:",omitempty"`
	// ETag is the version of the file the job works on.
	ETag string
	// Format is the file's format: "csv", "jsonl" or "json".
	Format string
	// Compressed is set for gzip files, which are resumed by skipping records
	// rather than at a byte offset.
	Compressed bool `json:",omitempty"`
	// SkipRate is how many records per second reading a compressed file past
	// records went at, as last measured (a validation pass, which is slower, until
	// a skip is measured): what an invocation plans a resume with.
	SkipRate float64 `json:",omitempty"`
	// Phase is "validate", "send" or "finish".
	Phase Phase
	// Counts: Total counts the records of the file (in the validate phase:
	// those checked so far); Succeeded, Failed, Calls and Retries the work done
	// so far; Pending the rest of Total. Checkpoints written before Pending was
	// stored have none: it is worked out again (see counts).
	imapi.Counts
	// Position is where to go on reading: the first record not done.
	Position records.Position
	// Failures groups the failed records by error.
	Failures []imapi.Failure `json:",omitempty"`
	// Problems and ProblemCount are what the validate phase found so far.
	Problems     []records.Problem `json:",omitempty"`
	ProblemCount int               `json:",omitempty"`
	// Parts are the objects holding the failed records, in input order.
	Parts []string `json:",omitempty"`
	// PartSeq numbers the next part.
	PartSeq int `json:",omitempty"`
	// Chain is the place, in the file's chain, of the invocation that works on
	// the job or is to work on it next.
	Chain int
	// Invocations counts the invocations that worked on the job.
	Invocations int
	// Idle counts the invocations in a row that could do no record.
	Idle int `json:",omitempty"`
	// Restarted is set when the file changed during the job, which started over.
	Restarted bool `json:",omitempty"`
	// Owner identifies the invocation working on the job now; empty between invocations.
	Owner string `json:",omitempty"`
	// Handoff says what the last invocation expects next: "invoked", "sweep" or "error".
	Handoff Handoff `json:",omitempty"`
	// Note says why the job was left for the sweep, if it was.
	Note string `json:",omitempty"`
	// Started is when the job started; UpdatedAt when the checkpoint was written.
	Started   time.Time
	UpdatedAt time.Time
}

const checkpointVersion = 1

// counts returns the checkpoint's counts, Pending being the records of Total
// not yet resolved.
func (cp *Checkpoint) counts() imapi.Counts { return cp.Counts.Balanced() }

// format returns the checkpoint's records.Format.
func (cp *Checkpoint) format() (records.Format, error) {
	for _, f := range []records.Format{records.FormatCSV, records.FormatJSONL, records.FormatJSON} {
		if f.String() == cp.Format {
			return f, nil
		}
	}
	return 0, fmt.Errorf("checkpoint of %s: unknown format %q", cp.Source, cp.Format)
}

// fresh reports whether the checkpoint was written less than SweepAfter ago.
func (s *Service) fresh(cp *Checkpoint) bool {
	return time.Since(cp.UpdatedAt) < s.cfg.SweepAfter
}

// busy reports whether a live invocation works on the job or is about to: the
// checkpoint is fresh and has an owner or an event on its way.
func (s *Service) busy(cp *Checkpoint) bool {
	return s.fresh(cp) && (cp.Owner != "" || cp.Handoff == HandoffInvoked)
}

// checkpointKey is where the job's checkpoint is kept: {prefix}state/{key}.json.
func (j *fileJob) checkpointKey() string {
	return j.s.cfg.OutputPrefix + "state/" + j.loc.Key + ".json"
}

// reportKey is where the report goes: {prefix}reports/{key}.report.json.
func (j *fileJob) reportKey() string {
	return j.s.cfg.OutputPrefix + "reports/" + j.loc.Key + ".report.json"
}

// failedKey is where the failed records go: {prefix}failed/{key}.jsonl.
func (j *fileJob) failedKey() string {
	return j.s.cfg.OutputPrefix + "failed/" + j.loc.Key + ".jsonl"
}

// partsDir holds the parts of the failed records. Its name is a digest of the
// key: no listing of one file's parts can hold another file's.
func (j *fileJob) partsDir() string {
	sum := sha256.Sum256([]byte(j.loc.Key))
	return j.s.cfg.OutputPrefix + "parts/" + hex.EncodeToString(sum[:16]) + "/"
}

// partKey names one part of the failed records. The owner's name in it keeps
// apart the parts of two invocations that started from one checkpoint: the
// part of one that lost the job (see lost) never replaces the owner's.
func (j *fileJob) partKey(seq int) string {
	return fmt.Sprintf("%s%06d-%s.jsonl", j.partsDir(), seq, j.owner)
}

// loadCheckpoint reads the checkpoint; nil if there is none. A checkpoint that
// cannot be used (damaged, or of another version of this program) counts as
// none: a new upload of the file starts over and replaces it.
//
// It notes the ETag of what it read (empty if there was nothing), unusable or
// not: the invocation's next write of the checkpoint is conditional on it.
func (j *fileJob) loadCheckpoint(ctx context.Context) (*Checkpoint, error) {
	var cp Checkpoint
	etag, ok, err := j.readJSON(ctx, j.checkpointKey(), &cp)
	var bad *badObjectError
	if errors.As(err, &bad) {
		j.cpETag = etag
		j.log.Warn("checkpoint unusable: ignored", "checkpoint", j.checkpointKey(), "error", bad.Error())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	j.cpETag = etag
	if !ok {
		return nil, nil
	}
	if cp.Version != checkpointVersion {
		j.log.Warn("checkpoint of another version: ignored", "checkpoint", j.checkpointKey(), "version", cp.Version)
		return nil, nil
	}
	return &cp, nil
}

// saveCheckpoint writes the checkpoint, stamped now: conditionally where the
// store honours the condition (see condition), so that a write over another
// invocation's is errClaimLost; otherwise plainly.
func (j *fileJob) saveCheckpoint(ctx context.Context, cp *Checkpoint) error {
	cp.Version = checkpointVersion
	cp.Counts = cp.counts()
	cp.UpdatedAt = time.Now().UTC()
	c, ok := j.condition(ctx)
	if !ok {
		// The new ETag stays unknown; no write of this invocation will be
		// conditional on it (the store honours no condition that would be).
		if err := j.putJSON(ctx, j.checkpointKey(), cp); err != nil {
			return fmt.Errorf("write checkpoint: %w", err)
		}
		return nil
	}
	data, err := encodeJSON(j.checkpointKey(), cp)
	if err != nil {
		return err
	}
	etag, err := j.store.PutIf(ctx, j.checkpointKey(), bytes.NewReader(data), "application/json", c)
	if errors.Is(err, storage.ErrPreconditionFailed) {
		return fmt.Errorf("write checkpoint (%s): %w: %w", c, errClaimLost, err)
	}
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	j.cpETag = etag
	return nil
}

// errClaimLost is a conditional write of the checkpoint that found it changed
// since this invocation last read or wrote it: another invocation claimed the
// job.
var errClaimLost = errors.New("another invocation claimed the job")

// conditions returns what the store's conditional writes can do, asked once
// per invocation so that all its writes follow one rule.
func (j *fileJob) conditions(ctx context.Context) storage.Conditions {
	if j.conds == nil {
		c := j.store.Conditions(ctx)
		j.conds = &c
	}
	return *j.conds
}

// condition returns the condition of the next write of the checkpoint, and
// whether the store honours it: create-only when this invocation found no
// checkpoint, else replace-only-if-unchanged since it last read or wrote it.
func (j *fileJob) condition(ctx context.Context) (storage.Condition, bool) {
	c := storage.IfAbsent()
	if j.cpETag != "" {
		c = storage.IfMatch(j.cpETag)
	}
	return c, j.conditions(ctx).Supports(c)
}

// claim makes this invocation the checkpoint's owner: false if another
// invocation owns the job.
//
// Where the store honours the condition, the claim is a conditional write: a
// new job's checkpoint is created only if there is none, a job taken over or
// continued is claimed only if its checkpoint is still the version this
// invocation read. Of invocations claiming at once exactly one wins, and every
// later write of the winner's is conditional on its own last one, so that it
// learns at its next write if another took the job over after all (see lost).
//
// Elsewhere (COS, except for creating a checkpoint in a bucket that never had
// versioning) it writes its name and reads it back: of two invocations
// claiming at once, one that sees the other's name backs off; one that reads
// before the other writes cannot know, and both may work on the file.
func (j *fileJob) claim(ctx context.Context, cp *Checkpoint) (bool, error) {
	cp.Owner, cp.Handoff, cp.Note = j.owner, "", ""
	cp.Invocations++
	c, conditional := j.condition(ctx)
	if conditional {
		j.log.Debug("claim: conditional write", "condition", c.String())
		err := j.saveCheckpoint(ctx, cp)
		if errors.Is(err, errClaimLost) {
			return j.lostRace(ctx, cp)
		}
		return err == nil, err
	}
	j.log.Debug("claim: write, then read back", "store", j.conditions(ctx).Note)
	if err := j.saveCheckpoint(ctx, cp); err != nil {
		return false, err
	}
	back, err := j.loadCheckpoint(ctx)
	if err != nil {
		return false, err
	}
	return back != nil && back.Owner == j.owner, nil
}

// lostRace looks at the checkpoint after a conditional claim failed: another
// invocation's name there means it won; this invocation's own name means its
// write landed after all (an SDK retry of it then finds the condition gone);
// no checkpoint and no report means a conflict no invocation won, an error for
// the platform to retry rather than a skip that would leave the file undone.
func (j *fileJob) lostRace(ctx context.Context, cp *Checkpoint) (bool, error) {
	back, err := j.loadCheckpoint(ctx)
	switch {
	case err != nil:
		return false, err
	case back != nil:
		return back.Owner == j.owner, nil
	}
	rep, err := j.loadReport(ctx)
	switch {
	case err != nil:
		return false, err
	case rep != nil && rep.ETag == cp.ETag:
		return false, nil // the winner is done already
	}
	return false, errors.New("the claim conflicted with another write, and no invocation holds the job: a retry takes it on")
}

// finishOwned ends the job with end, which writes its report, if this
// invocation still owns it. Where checkpoint writes are conditional, the
// checkpoint is written once more first, so that an invocation that lost the
// job learns it (errClaimLost) before it writes a report.
func (j *fileJob) finishOwned(ctx context.Context, cp *Checkpoint, end func(context.Context, *Checkpoint) (*Result, error)) (*Result, error) {
	if _, ok := j.condition(ctx); ok && j.cpETag != "" {
		bctx, cancel := bookkeeping(ctx)
		defer cancel()
		if err := j.saveCheckpoint(bctx, cp); err != nil {
			return nil, err
		}
	}
	return end(ctx, cp)
}

// lost answers for an invocation that learnt, at a write of the checkpoint,
// that another invocation took the job over. It stops there: it writes no
// checkpoint, hands nothing on and writes no report, so the job's counts are
// the owner's alone. The records this invocation resolved since its claim are
// read and sent again by the owner (removal is idempotent) and counted once,
// there; the parts of failed records it wrote, which no checkpoint lists, are
// removed. The answer counts the job as this invocation claimed it.
func (j *fileJob) lost(ctx context.Context, claimed, cp *Checkpoint) *Result {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	for _, key := range cp.Parts {
		if !slices.Contains(claimed.Parts, key) {
			if err := j.store.Delete(bctx, key); err != nil {
				j.log.Warn("could not remove a part of failed records no checkpoint lists", "part", key, "error", err.Error())
			}
		}
	}
	j.log.Warn("job lost: another invocation took it over; this one stops, its work since the claim is redone and counted there",
		"chain", claimed.Chain)
	res := j.result(claimed, StatusSkipped)
	res.Message = "another invocation took the job over while this one worked on it: this one stopped; " +
		"the owner sends the records handled since then again and counts them once"
	return res
}

// release gives the job up after an error, so that a retry of the same event
// (or the sweep) takes it on. Best effort: storage may be what failed. A job
// another invocation took over meanwhile is left to it.
func (j *fileJob) release(ctx context.Context, cp *Checkpoint) {
	cp.Owner, cp.Handoff = "", HandoffError
	err := j.saveCheckpoint(ctx, cp)
	switch {
	case errors.Is(err, errClaimLost):
		j.log.Info("checkpoint not released: another invocation took the job over", "error", err.Error())
	case err != nil:
		j.log.Warn("could not release the checkpoint; the sweep will take it on when it is stale", "error", err.Error())
	}
}

// loadReport reads the file's report; nil if there is none (or it is damaged:
// the file is then done again).
func (j *fileJob) loadReport(ctx context.Context) (*FileReport, error) {
	var rep FileReport
	ok, err := j.getJSON(ctx, j.reportKey(), &rep)
	var bad *badObjectError
	if errors.As(err, &bad) {
		j.log.Warn("report unusable: ignored", "report", j.reportKey(), "error", bad.Error())
		return nil, nil
	}
	if err != nil || !ok {
		return nil, err
	}
	return &rep, nil
}

// badObjectError is a state object that was read but cannot be decoded.
type badObjectError struct{ err error }

func (e *badObjectError) Error() string { return e.err.Error() }
func (e *badObjectError) Unwrap() error { return e.err }

// maxStateBytes bounds the checkpoint and report objects read back.
const maxStateBytes = 16 << 20

// getJSON reads a small JSON object into v; false if it does not exist.
func (j *fileJob) getJSON(ctx context.Context, key string, v any) (bool, error) {
	_, ok, err := j.readJSON(ctx, key, v)
	return ok, err
}

// readJSON reads a small JSON object into v and returns its ETag; found is
// false if it does not exist. An object that cannot be decoded is a
// *badObjectError, with its ETag.
func (j *fileJob) readJSON(ctx context.Context, key string, v any) (etag string, found bool, err error) {
	rc, info, err := j.store.Open(ctx, key, 0, "")
	if errors.Is(err, storage.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxStateBytes))
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return info.ETag, true, &badObjectError{fmt.Errorf("decode %s: %w", key, err)}
	}
	return info.ETag, true, nil
}

// putJSON writes v as a JSON object.
func (j *fileJob) putJSON(ctx context.Context, key string, v any) error {
	data, err := encodeJSON(key, v)
	if err != nil {
		return err
	}
	return j.store.Put(ctx, key, bytes.NewReader(data), "application/json")
}

// encodeJSON is the stored form of a state object: indented JSON and a newline.
func encodeJSON(key string, v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	return append(data, '\n'), nil
}

// deleteState removes the checkpoint and every part: the job is over.
func (j *fileJob) deleteState(ctx context.Context) error {
	var errs []error
	if err := j.store.Delete(ctx, j.checkpointKey()); err != nil {
		errs = append(errs, err)
	}
	if err := j.deleteParts(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteParts removes every part of the file, listed or orphaned by an
// invocation that failed before its checkpoint was written.
func (j *fileJob) deleteParts(ctx context.Context) error {
	infos, err := j.store.List(ctx, j.partsDir())
	if err != nil {
		return err
	}
	var errs []error
	for _, info := range infos {
		if err := j.store.Delete(ctx, info.Key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newOwner returns a random name for this invocation's claims.
func newOwner() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sourceKey returns the key of the file a checkpoint key belongs to, or false.
func (s *Service) sourceKey(checkpointKey string) (string, bool) {
	rest, ok := strings.CutPrefix(checkpointKey, s.cfg.OutputPrefix+"state/")
	if !ok || !strings.HasSuffix(rest, ".json") {
		return "", false
	}
	return strings.TrimSuffix(rest, ".json"), true
}
