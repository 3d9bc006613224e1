package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// errClaimLost is a conditional write of the checkpoint that found it changed
// since this invocation last read or wrote it: another invocation claimed the
// job.
var errClaimLost = errors.New("another invocation claimed the job")

// claim makes this invocation the owner of cp, the checkpoint it found (or a
// new job's), which it holds from then on: false if another invocation owns
// the job.
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
func (st *state) claim(ctx context.Context, cp *Checkpoint) (bool, error) {
	st.cp = cp
	take := func(cp *Checkpoint) {
		cp.Owner, cp.Handoff, cp.Note = st.owner, "", ""
		cp.Invocations++
	}
	c, conditional := st.condition(ctx)
	if conditional {
		st.log.Debug("claim: conditional write", "condition", c.String())
		err := st.update(ctx, take)
		if errors.Is(err, errClaimLost) {
			return st.lostRace(ctx)
		}
		return err == nil, err
	}
	st.log.Debug("claim: write, then read back", "store", st.conditions(ctx).Note)
	if err := st.update(ctx, take); err != nil {
		return false, err
	}
	back, err := st.load(ctx)
	if err != nil {
		return false, err
	}
	return back != nil && back.Owner == st.owner, nil
}

// lostRace looks at the checkpoint after a conditional claim failed: another
// invocation's name there means it won; this invocation's own name means its
// write landed after all (an SDK retry of it then finds the condition gone);
// no checkpoint and no report means a conflict no invocation won, an error for
// the platform to retry rather than a skip that would leave the file undone.
func (st *state) lostRace(ctx context.Context) (bool, error) {
	back, err := st.load(ctx)
	switch {
	case err != nil:
		return false, err
	case back != nil:
		return back.Owner == st.owner, nil
	}
	rep, err := st.doneReport(ctx, st.cp.ETag)
	switch {
	case err != nil:
		return false, err
	case rep != nil:
		return false, nil // the winner is done already
	}
	return false, errors.New("the claim conflicted with another write, and no invocation holds the job: a retry takes it on")
}

// confirm makes sure, before the job's report is written, that this
// invocation still owns the job: where checkpoint writes are conditional, the
// checkpoint is written once more, so that an invocation that lost the job
// learns it (errClaimLost) before it writes a report. Elsewhere there is
// nothing to learn it by.
func (st *state) confirm(ctx context.Context) error {
	if !st.guarded(ctx) {
		return nil
	}
	return st.save(ctx)
}

// release gives the job up after an error, so that a retry of the same event
// (or the sweep) takes it on. Best effort: storage may be what failed. A job
// another invocation took over meanwhile is left to it.
func (st *state) release(ctx context.Context) {
	err := st.update(ctx, func(cp *Checkpoint) { cp.Owner, cp.Handoff = "", HandoffError })
	switch {
	case errors.Is(err, errClaimLost):
		st.log.Info("checkpoint not released: another invocation took the job over", "error", err.Error())
	case err != nil:
		st.log.Warn("could not release the checkpoint; the sweep will take it on when it is stale", "error", err.Error())
	}
}

// newOwner returns a random name for this invocation's claims.
func newOwner() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
