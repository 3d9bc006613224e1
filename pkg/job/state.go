package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/removetag/removetag/pkg/job/storage"
)

// state is a file job's durable state as one invocation holds it: the
// checkpoint it works on and the ETag of the version stored, the store's
// conditional writes, and the invocation's name as the job's owner; and the
// report, which marks a version of the file done. Every write of the
// checkpoint is conditional on the version this invocation last read or
// wrote, where the store honours the condition; claim.go has the protocol.
type state struct {
	store storage.Store
	keys  fileKeys
	owner string // this invocation's name in claims
	by    string // its trigger and owner, for UpdatedBy and FinishedBy
	log   *slog.Logger

	// cp is the checkpoint this invocation claimed: the phases of its link
	// are handed it and change it in memory; update and save write it.
	cp *Checkpoint
	// etag is the checkpoint's ETag as this invocation last read or wrote
	// it, empty if it found none: its next write is conditional on it.
	etag string
	// conds are the store's conditional writes, asked once (see conditions).
	conds *storage.Conditions
}

// load reads the checkpoint; nil if there is none. A checkpoint that cannot
// be used (damaged, or of another version of this program) counts as none: a
// new upload of the file starts over and replaces it.
//
// It notes the ETag of what it read (empty if there was nothing), unusable or
// not: the invocation's next write of the checkpoint is conditional on it.
func (st *state) load(ctx context.Context) (*Checkpoint, error) {
	var cp Checkpoint
	key := st.keys.checkpoint()
	etag, ok, err := readJSON(ctx, st.store, key, &cp)
	var bad *badObjectError
	if errors.As(err, &bad) {
		st.etag = etag
		st.log.Warn("checkpoint unusable: ignored", "checkpoint", key, "error", bad.Error())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st.etag = etag
	if !ok {
		return nil, nil
	}
	if cp.Version != checkpointVersion {
		st.log.Warn("checkpoint of another version: ignored", "checkpoint", key, "version", cp.Version)
		return nil, nil
	}
	if err := cp.checkAhead(); err != nil {
		// Succeeded does not count them: they are sent again.
		st.log.Warn("checkpoint's records done ahead unusable: forgotten", "checkpoint", key, "error", err.Error())
		cp.SucceededAhead = nil
	}
	return &cp, nil
}

// update applies change to the checkpoint this invocation holds and writes
// it (see save): a write over another invocation's claim is errClaimLost.
// A change that could not be written stays in memory.
func (st *state) update(ctx context.Context, change func(*Checkpoint)) error {
	change(st.cp)
	return st.save(ctx)
}

// save writes the checkpoint held, stamped now: conditionally where the store
// honours the condition (see condition), so that a write over another
// invocation's is errClaimLost; otherwise plainly.
func (st *state) save(ctx context.Context) error {
	cp := st.cp
	cp.Version = checkpointVersion
	cp.Pending = cp.counts().Pending
	cp.UpdatedAt, cp.UpdatedBy = time.Now().UTC(), st.by
	key := st.keys.checkpoint()
	c, ok := st.condition(ctx)
	if !ok {
		// The new ETag stays unknown; no write of this invocation will be
		// conditional on it (the store honours no condition that would be).
		if err := putJSON(ctx, st.store, key, cp); err != nil {
			return fmt.Errorf("write checkpoint: %w", err)
		}
		return nil
	}
	etag, err := putJSONIf(ctx, st.store, key, cp, c)
	if errors.Is(err, storage.ErrPreconditionFailed) {
		return fmt.Errorf("write checkpoint (%s): %w: %w", c, errClaimLost, err)
	}
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	st.etag = etag
	return nil
}

// conditions returns what the store's conditional writes can do, asked once
// per invocation so that all its writes follow one rule.
func (st *state) conditions(ctx context.Context) storage.Conditions {
	if st.conds == nil {
		c := st.store.Conditions(ctx)
		st.conds = &c
	}
	return *st.conds
}

// condition returns the condition of the next write of the checkpoint, and
// whether the store honours it: create-only when this invocation found no
// checkpoint, else replace-only-if-unchanged since it last read or wrote it.
func (st *state) condition(ctx context.Context) (storage.Condition, bool) {
	c := storage.IfAbsent()
	if st.etag != "" {
		c = storage.IfMatch(st.etag)
	}
	return c, st.conditions(ctx).Supports(c)
}

// guarded reports whether the next write of the checkpoint is conditional on
// a version this invocation read or wrote: whether it would learn
// (errClaimLost) that another invocation took the job over.
func (st *state) guarded(ctx context.Context) bool {
	_, ok := st.condition(ctx)
	return ok && st.etag != ""
}

// doneReport returns the file's report if it is for the version etag of the
// file, which is then done; nil if there is none, or it is for another
// version, or it is damaged (the file is then done again).
func (st *state) doneReport(ctx context.Context, etag string) (*FileReport, error) {
	var rep FileReport
	key := st.keys.report()
	_, ok, err := readJSON(ctx, st.store, key, &rep)
	var bad *badObjectError
	if errors.As(err, &bad) {
		st.log.Warn("report unusable: ignored", "report", key, "error", bad.Error())
		return nil, nil
	}
	if err != nil || !ok || rep.ETag != etag {
		return nil, err
	}
	return &rep, nil
}

// writeReport stores the report, stamped now: the version it names is done.
func (st *state) writeReport(ctx context.Context, rep *FileReport) error {
	rep.Finished, rep.FinishedBy = time.Now().UTC(), st.by
	if err := putJSON(ctx, st.store, st.keys.report(), rep); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}

// remove deletes the checkpoint and every part: the job is over.
func (st *state) remove(ctx context.Context) error {
	var errs []error
	if err := st.store.Delete(ctx, st.keys.checkpoint()); err != nil {
		errs = append(errs, err)
	}
	if err := st.deleteParts(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteParts removes every part of the file, listed or orphaned by an
// invocation that failed before its checkpoint was written.
func (st *state) deleteParts(ctx context.Context) error {
	infos, err := st.store.List(ctx, st.keys.partsDir())
	if err != nil {
		return err
	}
	var errs []error
	for _, info := range infos {
		if err := st.store.Delete(ctx, info.Key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
