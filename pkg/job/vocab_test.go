package job_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
)

// checkpointOfMain is a checkpoint as the version before imapi.Counts wrote it:
// no Pending, counts between Phase and Position. Its failure groups include a
// class this version does not know, as a later version might write.
const checkpointOfMain = `{
  "Version": 1,
  "Source": "s3://data/in/older.csv",
  "ETag": %q,
  "Format": "csv",
  "Phase": "send",
  "Total": 300,
  "Position": {"Record": 100, "Offset": -1},
  "Succeeded": 97,
  "Failed": 3,
  "Calls": 4,
  "Retries": 1,
  "Failures": [
    {"ErrorCode": 70107, "ErrorInfo": "no such account", "Class": "permanent", "Records": 1, "Accounts": ["o000000"]},
    {"ErrorCode": 0, "ErrorInfo": "from a later version", "Class": "quota-exceeded", "Records": 2, "Accounts": ["o000001", "o000002"]}
  ],
  "Chain": 1,
  "Invocations": 1,
  "Handoff": "invoked",
  "Started": "2025-01-01T00:00:00Z",
  "UpdatedAt": "2025-01-01T00:00:00Z"
}`

// TestCheckpointOfMainIsContinued: a checkpoint written before the counts had
// one type is read and continued to the end, its failure groups carried as
// they were, the unknown class kept as its text; the report and the answer
// keep their field names.
func TestCheckpointOfMainIsContinued(t *testing.T) {
	e := newEnv(t, envOptions{})
	key := "in/older.csv"
	recs := e.records("o", 300)
	loc, _, etag := e.putS3(key, encode(t, "csv", recs))
	cpKey := prefix + "state/" + key + ".json"
	e.put(s3Bucket, cpKey, fmt.Appendf(nil, checkpointOfMain, etag))

	res, err := e.service().Handle(e.roomyCtx(), job.Direct(job.ContinueEvent{Source: loc.String(), Checkpoint: cpKey, ETag: etag, Chain: 1}.Payload()))
	if err != nil {
		t.Fatal(err)
	}
	want := imapi.Counts{Total: 300, Succeeded: 297, Failed: 3, Pending: 0, Calls: 4 + 2, Retries: 1}
	if res.Status != job.StatusDone || res.Counts != want {
		t.Fatalf("answer: %s %+v (%s); want done %+v", res.Status, res.Counts, res.Message, want)
	}
	rep := e.report(s3Bucket, key)
	if rep.Counts != want {
		t.Errorf("report counts %+v, want %+v", rep.Counts, want)
	}
	i := slices.IndexFunc(rep.Failures, func(f imapi.Failure) bool { return f.Class == "quota-exceeded" })
	if len(rep.Failures) != 2 || i < 0 || rep.Failures[i].Records != 2 || !slices.Equal(rep.Failures[i].Accounts, []string{"o000001", "o000002"}) {
		t.Errorf("failure groups %+v; want both carried, the unknown class as it was", rep.Failures)
	}
	for _, f := range recs[100:] {
		if tags := e.im.Tags(f.Account); !slices.Equal(tags, []string{"keep"}) {
			t.Fatalf("%s holds %v after the run", f.Account, tags)
		}
	}

	stored, err := e.fs.GetObject(s3Bucket, prefix+"reports/"+key+".report.json")
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := json.Marshal(res)
	for name, data := range map[string][]byte{"report": stored, "answer": answer} {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"Status", "Total", "Succeeded", "Failed", "Pending", "Calls", "Retries", "Failures"} {
			if _, ok := fields[k]; !ok {
				t.Errorf("%s has no top-level %s: %s", name, k, data)
			}
		}
		if _, ok := fields["Counts"]; ok {
			t.Errorf("%s nests its counts: %s", name, data)
		}
	}
}
