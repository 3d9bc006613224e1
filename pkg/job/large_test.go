//go:build !race

package job_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// TestLargeFileMemory streams a file of a million records through a chain of
// invocations and checks that the heap stays far below what a 128 MB function
// has, whatever the file's size. (Not under the race detector: too slow.)
func TestLargeFileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million records")
	}
	const n = 1_000_000
	e := newEnv(t, envOptions{
		im:     &emulator.Config{Rate: -1},
		engine: imapiEngineConfig(5000),
	})
	e.budget = 1500 * time.Millisecond
	var file bytes.Buffer
	file.WriteString("To_Account,Tag\n")
	for i := range n {
		fmt.Fprintf(&file, "big%07d,a\n", i)
	}
	e.put(s3Bucket, "big.csv", file.Bytes())
	fileBytes := file.Len()
	file = bytes.Buffer{}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	})
	start := time.Now()
	res, err := e.service().Handle(e.budgetCtx(), job.Upload(storage.Location{Scheme: "s3", Bucket: s3Bucket, Key: "big.csv"}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != job.StatusDone {
		e.waitChain()
	}
	close(stop)
	wg.Wait()
	rep := e.report(s3Bucket, "big.csv")
	if rep.Status != job.StatusDone || rep.Total != n || rep.Succeeded != n {
		t.Fatalf("report: %+v", rep)
	}
	growth := int64(peak.Load()) - int64(base.HeapAlloc)
	t.Logf("%d records (%d MB) in %d invocations, %v; heap peak %d MB above the %d MB before (the fake store holds the file)",
		n, fileBytes>>20, rep.Invocations, time.Since(start).Round(time.Millisecond), growth>>20, base.HeapAlloc>>20)
	if growth > 48<<20 {
		t.Errorf("the heap grew by %d MB while streaming the file", growth>>20)
	}
}
