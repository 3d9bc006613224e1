package job_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
)

// TestKindsApart: a checkpoint of another kind of job on the same file (a
// kind this version does not run) is never taken for removal's: the sweep
// leaves it alone, an upload of the file runs a removal job of its own from
// the start, and a continuation event of that kind is refused; the
// checkpoint stays as it was.
func TestKindsApart(t *testing.T) {
	e := newEnv(t, envOptions{})
	key := "in/kinds.csv"
	recs := e.records("k", 300)
	loc, _, etag := e.putS3(key, encode(t, "csv", recs))
	// A stale checkpoint of the file's version, which removal would take over
	// (chain 1, 100 records done) were it at removal's key.
	otherKey := prefix + "clear-all-tags/state/" + key + ".json"
	other := fmt.Appendf(nil, checkpointOfMain, etag)
	e.put(s3Bucket, otherKey, bytes.ReplaceAll(other, []byte("in/older.csv"), []byte(key)))

	sw, err := e.service().Handle(e.roomyCtx(), job.Timer(""))
	if err != nil || len(sw.Jobs) != 0 || !strings.HasPrefix(sw.Message, "0 checkpoint(s)") {
		t.Fatalf("sweep: %v, %+v", err, sw)
	}
	if n := e.calls(); n != 0 {
		t.Fatalf("%d calls after the sweep", n)
	}

	for _, tt := range []struct {
		name string
		ev   job.ContinueEvent
		want string
	}{
		{"a kind this version does not run", job.ContinueEvent{Kind: "clear-all-tags", Source: loc.String(), Checkpoint: otherKey, ETag: etag, Chain: 1}, `kind "clear-all-tags"`},
		{"a kind named as a layout segment", job.ContinueEvent{Kind: "state", Source: loc.String(), ETag: etag, Chain: 1}, `kind "state"`},
	} {
		res, err := e.service().Handle(e.roomyCtx(), job.Direct(tt.ev.Payload()))
		if err != nil || res.Status != job.StatusInvalid || !strings.Contains(res.Message, tt.want) {
			t.Errorf("%s: %v, %+v", tt.name, err, res)
		}
	}
	// Removal named outright is removal: here, a job not begun yet.
	res, err := e.service().Handle(e.roomyCtx(), job.Direct(job.ContinueEvent{Kind: job.KindRemoval, Source: loc.String(), ETag: etag}.Payload()))
	if err != nil || res.Status != job.StatusSkipped || !strings.Contains(res.Message, "no checkpoint") {
		t.Errorf("a removal event naming its kind: %v, %+v", err, res)
	}

	res, err = e.service().Handle(e.roomyCtx(), job.Upload(loc, ""))
	want := imapi.Counts{Total: 300, Succeeded: 300, Calls: 3}
	if err != nil || res.Status != job.StatusDone || res.Chain != 0 || res.Counts != want {
		t.Fatalf("removal job: %v, %s chain %d %+v (%s); want done at chain 0, %+v", err, res.Status, res.Chain, res.Counts, res.Message, want)
	}
	e.checkDone(s3Bucket, key, recs)
	got, err := e.fs.GetObject(s3Bucket, otherKey)
	if err != nil || !bytes.Equal(got, bytes.ReplaceAll(other, []byte("in/older.csv"), []byte(key))) {
		t.Errorf("the other kind's checkpoint was changed or removed: %v\n%s", err, got)
	}
}
