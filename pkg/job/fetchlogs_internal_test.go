package job

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/job/storage"
)

// TestFetchLogsEndsWithItsContext: a merge whose invocation's time runs out
// while logs are still to be fetched ends with the context's error instead of
// waiting for logs nobody fetches any more (an invocation of TestCancelUndo
// waited so for nine minutes, past its deadline, in CI).
func TestFetchLogsEndsWithItsContext(t *testing.T) {
	srv := memstore.New()
	t.Cleanup(srv.Close)
	const bucket = "logs-1250000000"
	if err := srv.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	o, err := objstore.NewOpener(objstore.OpenerConfig{COSBucketURL: srv.COSBucketURLTemplate(), COSRegion: "ap-guangzhou"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := o.Open(t.Context(), storage.Location{Scheme: storage.SchemeCOS, Bucket: bucket}, "")
	if err != nil {
		t.Fatal(err)
	}
	var logs []storage.Info
	for i := range 3 * logsAhead {
		key := fmt.Sprintf("journal-parts/x/%02d", i)
		if err := srv.PutObject(bucket, key, []byte("{}\n")); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, storage.Info{Key: key, Size: 3})
	}
	j := &fileJob{store: store}
	for _, c := range []struct {
		name  string
		after int // logs read before the context ends
	}{{"ended before the first", 0}, {"ended mid-way", logsAhead + 1}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if c.after == 0 {
				cancel()
			}
			done := make(chan int)
			go func() {
				n := 0
				for _, err := range j.fetchLogs(ctx, logs) {
					if err == nil {
						n++
					}
					if n == c.after {
						cancel()
					}
				}
				done <- n
			}()
			select {
			case n := <-done:
				if n >= len(logs) {
					t.Errorf("read all %d logs after the context ended", n)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("fetchLogs still waiting 30 s after its context ended")
			}
		})
	}
}
