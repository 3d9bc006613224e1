package job

import (
	"context"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// Quota hands runs their share of the app's call rate, shared with every other
// job of every instance; package quota implements it with leases in a bucket.
type Quota interface {
	// Share returns a run's share, for as long as the run lasts: the Limiter
	// it runs on; beside, a limiter of its own at the same rate, changed with
	// it (waits queued on it included), for the calls the run makes beside
	// its removals to an API with a quota of its own (the journal's reads:
	// the get API's 100 calls/s); and release, which gives the share back. It
	// never fails: without its storage a share is still given (see package quota).
	Share(ctx context.Context) (lim, beside imapi.Limiter, release func())
}

// run runs the engine over src, removing tags unless opts choose another
// operation: on the run's share of the quota when one is configured, else on
// the engine's own rate. The share's limiter for other calls rides in the
// run's context, for the journal's reads (readPace).
func (s *Service) run(ctx context.Context, src records.Source, opts ...imapi.RunOption) (*imapi.Report, error) {
	opts = append([]imapi.RunOption{imapi.WithOperation(s.removal())}, opts...)
	if s.cfg.Quota != nil {
		lim, beside, release := s.cfg.Quota.Share(ctx)
		defer release()
		opts = append(opts, imapi.WithLimiter(lim))
		ctx = context.WithValue(ctx, shareKey{}, beside)
	}
	return s.cfg.Engine.Run(ctx, src, opts...)
}

// removal is what a removal job calls by default: the configured family's
// removal of the listed tags.
func (s *Service) removal() imapi.Operation { return s.operation(false) }

// operation is what a removal job calls: the configured family's removal of
// the listed tags, or for the explicit job form of accounts alone (allTags:
// "AllTags": true) its clearing of every tag.
func (s *Service) operation(allTags bool) imapi.Operation {
	if allTags {
		return s.cfg.API.ClearAllTags()
	}
	return s.cfg.API.RemoveTag()
}
