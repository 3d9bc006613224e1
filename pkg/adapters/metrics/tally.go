package metrics

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
)

// tally counts an invocation's calls as its engine's workers report them,
// several at once: atomic counters and a histogram of latencies whose
// buckets grow by 5 %, so that a quantile is known within 5 % in constant
// space, however many calls.
type tally struct {
	calls, rateRefusals atomic.Int64
	sumNanos, maxNanos  atomic.Int64
	buckets             [latencyBuckets]atomic.Int64
}

const (
	// latencyBase is the upper bound of the first bucket.
	latencyBase = 100 * time.Microsecond
	// latencyGrowth is each bucket's bound over the one before.
	latencyGrowth = 1.05
	// latencyBuckets reach latencyBase·1.05^339 ≈ 1.6·10⁷ s: past any invocation.
	latencyBuckets = 340
)

// observe counts one call.
func (t *tally) observe(c imapi.CallOutcome) {
	t.calls.Add(1)
	if c.RateLimited {
		t.rateRefusals.Add(1)
	}
	d := max(c.Latency, 0)
	t.sumNanos.Add(int64(d))
	for {
		m := t.maxNanos.Load()
		if int64(d) <= m || t.maxNanos.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	t.buckets[bucketOf(d)].Add(1)
}

// bucketOf is the bucket of a latency: the first whose bound is not below it.
func bucketOf(d time.Duration) int {
	if d <= latencyBase {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(latencyBase)) / math.Log(latencyGrowth)))
	return min(i, latencyBuckets-1)
}

// bound is the upper bound of bucket i.
func bound(i int) time.Duration {
	return time.Duration(float64(latencyBase) * math.Pow(latencyGrowth, float64(i)))
}

// calls is what a tally counted, at the end of the invocation.
type calls struct {
	// Count is the calls observed; RateRefusals those refused for the rate.
	Count, RateRefusals int64
	// Average, P50, P99 and Max describe their latency (zero without calls);
	// P50 and P99 are the bounds of their buckets, at most Max.
	Average, P50, P99, Max time.Duration
}

// summary sums the tally up.
func (t *tally) summary() calls {
	c := calls{Count: t.calls.Load(), RateRefusals: t.rateRefusals.Load(), Max: time.Duration(t.maxNanos.Load())}
	var counts [latencyBuckets]int64
	n := int64(0)
	for i := range t.buckets {
		counts[i] = t.buckets[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return c
	}
	c.Average = time.Duration(t.sumNanos.Load() / n)
	c.P50, c.P99 = min(quantile(counts[:], n, 0.50), c.Max), min(quantile(counts[:], n, 0.99), c.Max)
	return c
}

// quantile is the bound of the bucket that holds the q-th quantile of n
// latencies counted in counts.
func quantile(counts []int64, n int64, q float64) time.Duration {
	rank := max(int64(math.Ceil(q*float64(n))), 1)
	seen := int64(0)
	for i, k := range counts {
		if seen += k; seen >= rank {
			return bound(i)
		}
	}
	return bound(len(counts) - 1)
}
