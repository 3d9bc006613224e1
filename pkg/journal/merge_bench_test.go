package journal_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/removetag/removetag/pkg/journal"
)

// BenchmarkMerge merges the log of a job of 100,000 and of 1,000,000
// accounts in batches of 100, in no order, two of them listed tags each,
// every intent's outcome known applied (the common case: nothing to read
// again). Metrics: ns/pair and allocs/pair of the merge's CPU, as the finish
// phase spends it.
func BenchmarkMerge(b *testing.B) {
	for _, accounts := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			perm := rng.Perm(accounts)
			var log bytes.Buffer
			for batch := 0; batch < accounts/100; batch++ {
				fmt.Fprintf(&log, `{"I":"000001-owner/%d","UserTags":[`, batch)
				for i := range 100 {
					if i > 0 {
						log.WriteByte(',')
					}
					fmt.Fprintf(&log, `{"To_Account":"user-%07d","Tags":["vip","campaign-2026"]}`, perm[batch*100+i])
				}
				log.WriteString("]}\n")
				fmt.Fprintf(&log, `{"O":"000001-owner/%d","S":"ok"}`+"\n", batch)
			}
			data := log.Bytes()
			b.ReportAllocs()
			var out bytes.Buffer
			for b.Loop() {
				out.Reset()
				st, err := journal.Merge(context.Background(), bytes.NewReader(data), int64(len(data)), nil, "", nil, &out)
				if err != nil || st.TagsRemoved != 2*int64(accounts) {
					b.Fatalf("merge: %v, %+v", err, st)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*accounts), "ns/pair")
		})
	}
}
