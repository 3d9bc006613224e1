package job

import (
	"context"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// Quota hands a run its share of the app's call rate, shared with every other
// job of every instance (package quota keeps the leases), for as long as the
// run lasts: release gives the share back. It never fails: without its storage
// a share is still given (see package quota).
type Quota func(ctx context.Context) (lim imapi.Limiter, release func())

// run runs the engine over src, removing tags: on the run's share of the quota
// when one is configured, else on the engine's own rate.
func (s *Service) run(ctx context.Context, src records.Source, opts ...imapi.RunOption) (*imapi.Report, error) {
	if s.cfg.Quota != nil {
		lim, release := s.cfg.Quota(ctx)
		defer release()
		opts = append(opts, imapi.WithLimiter(lim))
	}
	return s.cfg.Engine.Run(ctx, src, append(opts, imapi.WithOperation(imapi.RemoveTag))...)
}
