package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/removetag/removetag/pkg/job/storage"
)

// minSweepLink is the least time left for which the sweep starts on another file.
const minSweepLink = 250 * time.Millisecond

// enoughFor reports whether the time left before ctx's deadline is worth
// starting another file on: after the first, a file needs at least a third of
// the sweep's budget, or it would get a few milliseconds, make no call and count
// as an idle invocation; it waits for the next sweep instead.
func enoughFor(ctx context.Context, budget time.Duration, first bool) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return true
	}
	need := minSweepLink
	if !first {
		need = max(need, budget/3)
	}
	return time.Until(deadline) >= need
}

// sweep continues, one after another within the budget, the file jobs (of
// every kind this version runs) whose checkpoints in the configured buckets
// went without an update for
// SweepAfter: their chain was lost (a self-invocation that never came, an
// invocation that died) or handed to the sweep. A fresh checkpoint belongs
// to a live chain and is left alone.
func (s *Service) sweep(ctx context.Context) (*Result, error) {
	log := s.cfg.Logger.With("job", "sweep")
	res := &Result{Status: StatusSwept}
	if s.cfg.OpenStore == nil || len(s.cfg.Buckets) == 0 {
		res.Message = "no buckets to sweep are configured"
		log.Info("sweep: nothing to do", "reason", res.Message)
		return res, nil
	}
	log.Info("sweep start", "buckets", len(s.cfg.Buckets))
	var budget time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		budget = time.Until(deadline)
	}
	var (
		errs                []error
		found, alive, later int
	)
	for _, b := range s.cfg.Buckets {
		store, err := s.cfg.OpenStore.Open(ctx, b, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: open the bucket: %w", b, err))
			continue
		}
		for _, kind := range runKinds() {
			infos, err := store.List(ctx, stateDir(s.cfg.OutputPrefix, kind))
			if err != nil {
				errs = append(errs, fmt.Errorf("sweep %s: list checkpoints: %w", b, err))
				continue
			}
			for _, info := range infos {
				k, key, ok := parseCheckpointKey(s.cfg.OutputPrefix, info.Key)
				if !ok || k != kind {
					continue
				}
				found++
				if !enoughFor(ctx, budget, len(res.Jobs) == 0) {
					later++
					continue
				}
				loc := storage.Location{Scheme: b.Scheme, Bucket: b.Bucket, Key: key}
				r, err := s.sweepOne(ctx, store, kind, loc)
				switch {
				case err != nil:
					errs = append(errs, err)
				case r == nil:
					alive++
				default:
					res.Jobs = append(res.Jobs, r)
					res.Invocation.Add(r.Invocation)
				}
			}
		}
	}
	res.Message = fmt.Sprintf("%d checkpoint(s): %d taken on, %d alive (fresh), %d left for the next sweep (time), %d error(s)",
		found, len(res.Jobs), alive, later, len(errs))
	log.Info("sweep end", "checkpoints", found, "taken_on", len(res.Jobs), "alive", alive, "later", later, "errors", len(errs))
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}

// sweepOne takes a stale checkpoint on; nil if it is fresh (its chain is alive) or gone.
func (s *Service) sweepOne(ctx context.Context, store storage.Store, kind Kind, loc storage.Location) (*Result, error) {
	j := s.fileJobIn(store, kind, loc, "", "sweep")
	cp, err := j.st.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", loc, err)
	}
	if cp == nil || s.fresh(cp) {
		return nil, nil
	}
	if cp.Source != loc.String() {
		// Written for another bucket name (e.g. copied): not this sweep's to run.
		j.log.Warn("sweep: checkpoint of another source left alone", "checkpoint_source", cp.Source)
		return nil, nil
	}
	if s.ownOutput(kind, loc.Key) {
		return nil, nil
	}
	j.region = cp.Region
	j.log.Info("sweep: taking on a stale checkpoint", "chain", cp.Chain, "handoff", cp.Handoff, "updated", cp.UpdatedAt, "note", cp.Note)
	r, err := j.claimAndRun(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", loc, err)
	}
	return r, nil
}
