package main

// status and cancel as an admin runs them: the built binary on a bucket of
// the in-memory store (S3 and COS), holding the objects of jobs in the
// states a deployed function leaves them in. pkg/job's own tests and the
// function's end-to-end tests make those objects with real jobs; here the
// command's reading, drawing and exit statuses are what is tested.

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/job"
)

const (
	jobsS3Bucket  = "jobs-inbox"
	jobsCOSBucket = "jobs-inbox-1250000000"
)

// jobsWorld is a store with a bucket of each kind, and the environment that
// reaches it.
type jobsWorld struct {
	t  *testing.T
	fs *memstore.Server
}

func newJobsWorld(t *testing.T) *jobsWorld {
	fs := memstore.New()
	t.Cleanup(fs.Close)
	for _, b := range []string{jobsS3Bucket, jobsCOSBucket} {
		if err := fs.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	return &jobsWorld{t: t, fs: fs}
}

// env is the admin's environment: the store's S3 endpoint and COS bucket
// URL, credentials of the kind each SDK wants, and no app.
func (w *jobsWorld) env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_S3": w.fs.S3Endpoint(), "AWS_ACCESS_KEY_ID": "AKIDCLITEST", "AWS_SECRET_ACCESS_KEY": "cli-test-secret",
		"AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
		"REMOVETAG_COS_BUCKET_URL": w.fs.COSBucketURLTemplate(), "TENCENTCLOUD_REGION": "ap-guangzhou",
		"TENCENTCLOUD_SECRETID": "AKIDcli", "TENCENTCLOUD_SECRETKEY": "cli-test-cos-key", "USER": "admin",
	}
}

// put stores an object; a value not []byte is stored as JSON.
func (w *jobsWorld) put(bucket, key string, v any) {
	w.t.Helper()
	data, ok := v.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := w.fs.PutObject(bucket, key, data); err != nil {
		w.t.Fatal(err)
	}
}

// seed puts the objects of five jobs in bucket, as a function leaves them:
// one running (its checkpoint fresh and owned), one handed on, one waiting
// for the sweep (with its file, 300 records not sent), one done (its report
// counting changed accounts), one failed.
func (w *jobsWorld) seed(bucket string) {
	now := time.Now().UTC()
	src := func(key string) string {
		if bucket == jobsCOSBucket {
			return "cos://" + bucket + "/" + key
		}
		return "s3://" + bucket + "/" + key
	}
	cp := func(key string, change func(*job.Checkpoint)) {
		c := &job.Checkpoint{Version: 1, Source: src(key), ETag: "e-" + key, Format: "csv", Phase: job.PhaseSend,
			Started: now.Add(-100 * time.Second), UpdatedAt: now.Add(-time.Second)}
		change(c)
		w.put(bucket, "removetag/state/"+key+".json", c)
	}
	cp("big/run.csv", func(c *job.Checkpoint) {
		c.Counts.Total, c.Counts.Succeeded, c.Counts.Calls = 100000, 40000, 400
		c.Chain, c.Invocations, c.Owner, c.UpdatedBy = 3, 4, "0123abcd", "continue/0123abcd"
		c.UpdatedAt = now.Add(-99 * time.Second / 10)
		c.Started = c.UpdatedAt.Add(-10 * time.Second)
	})
	cp("big/next.csv", func(c *job.Checkpoint) {
		c.Counts.Total, c.Counts.Succeeded = 5000, 2000
		c.Chain, c.Handoff, c.UpdatedBy = 1, job.HandoffInvoked, "upload/4567cdef"
	})
	var file strings.Builder
	file.WriteString("To_Account,Tag\n")
	for i := range 300 {
		fmt.Fprintf(&file, "left-%03d,vip\n", i)
	}
	w.put(bucket, "left.csv", []byte(file.String()))
	cp("left.csv", func(c *job.Checkpoint) {
		c.ETag = etagOf(file.String()) // the file's own: its records are read at the cancel
		c.Counts.Total, c.Chain, c.Handoff, c.UpdatedBy = 300, 2, job.HandoffSweep, "continue/89abcdef"
		c.Note = "3 invocations in a row could do no record"
	})
	done := "To_Account,Tag\ndone-1,vip\n"
	w.put(bucket, "done.csv", []byte(done))
	w.put(bucket, "removetag/reports/done.csv.report.json", map[string]any{"Status": "done", "Source": src("done.csv"), "ETag": etagOf(done),
		"Total": 2500, "Succeeded": 2500, "Calls": 25, "Changed": 1800, "TagsRemoved": 2000, "JournalKey": "removetag/journal/done.csv.jsonl", "Chain": 0, "Invocations": 1,
		"Started": now.Add(-time.Hour), "Finished": now.Add(-time.Hour + 5*time.Second), "FinishedBy": "upload/aaaa0000"})
	w.put(bucket, "removetag/reports/refused.csv.report.json", map[string]any{"Status": "done", "Source": src("refused.csv"), "ETag": "e2",
		"Total": 200, "Succeeded": 100, "Failed": 100, "Calls": 2, "FailedKey": "removetag/failed/refused.csv.jsonl",
		"Started": now.Add(-time.Hour), "Finished": now.Add(-time.Hour + time.Second), "FinishedBy": "upload/bbbb1111"})
}

// etagOf is the ETag the store gives content: its MD5, in hex.
func etagOf(content string) string {
	sum := md5.Sum([]byte(content))
	return hex.EncodeToString(sum[:])
}

// statusOf decodes status --json.
func statusOf(t *testing.T, stdout string) map[string]job.Summary {
	t.Helper()
	var res job.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Status != job.StatusListed {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	out := map[string]job.Summary{}
	for _, s := range res.Summaries {
		out[s.Key] = s
	}
	return out
}

// TestStatusCommand: the table and --json of a bucket's jobs, on S3 and COS;
// a prefix; the refusals.
func TestStatusCommand(t *testing.T) {
	w := newJobsWorld(t)
	for _, b := range []string{jobsS3Bucket, jobsCOSBucket} {
		w.seed(b)
	}
	u := newUser(t, w.env())
	for _, bucket := range []string{"s3://" + jobsS3Bucket, "cos://" + jobsCOSBucket} {
		t.Run(bucket, func(t *testing.T) {
			code, out, errOut := u.run(nil, "status", bucket)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			for _, row := range []string{
				`(?m)^KEY +STATE +DONE/TOTAL +FAILED +CHANGED +CALLS +RECORDS/S +ETA +CHAIN +UPDATED +BY$`,
				`(?m)^big/next\.csv +handed-on +2,000/5,000 \(40%\) +0 +- +0 +20 +\S+ +1 +\d+s ago +upload/4567cdef$`,
				`(?m)^big/run\.csv +running +40,000/100,000 \(40%\) +0 +- +400 +4,000 +(\d+s|any time) +3 +\d+s ago +continue/0123abcd$`,
				`(?m)^done\.csv +done +2,500/2,500 \(100%\) +0 +1,800 +25 +500 +- +0 +\S+ ago +upload/aaaa0000$`,
				`(?m)^left\.csv +waiting-for-sweep +0/300 \(0%\) +0 +- +0 +- +- +2 +\d+s ago +continue/89abcdef$`,
				`(?m)^refused\.csv +failed +200/200 \(100%\) +100 +- +2 +200 +- +0 +\S+ ago +upload/bbbb1111$`,
				`(?m)^left\.csv: 3 invocations in a row could do no record$`,
				`(?m)^refused\.csv: failed records: removetag/failed/refused\.csv\.jsonl$`,
			} {
				if !regexp.MustCompile(row).MatchString(out) {
					t.Errorf("the table lacks %s:\n%s", row, out)
				}
			}
			code, out, _ = u.run(nil, "status", "--json", bucket+"/big/")
			got := statusOf(t, out)
			if code != 0 || len(got) != 2 || got["big/run.csv"].State != job.JobRunning || got["big/run.csv"].ETA.IsZero() {
				t.Errorf("status --json of big/: exit %d, %+v", code, got)
			}
		})
	}
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"status", "inbox"}, exitInvalid, "want s3://bucket/key"},
		{[]string{"status", "--watch", "s3://" + jobsS3Bucket}, exitInvalid, "standard output is not one"},
		{[]string{"status", "--watch", "--json", "s3://" + jobsS3Bucket}, exitInvalid, "does not go with --json"},
		{[]string{"status", "s3://no-such-bucket"}, exitFailed, "no-such-bucket"},
	} {
		code, out, errOut := u.run(nil, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tt.args, code, tt.code, tt.msg, out, errOut)
		}
	}
}

// TestStatusWatch: --watch redraws the table in place on a terminal, shows
// a job's progress as its checkpoint moves, and ends at Ctrl-C with the
// last table on the screen.
func TestStatusWatch(t *testing.T) {
	w := newJobsWorld(t)
	w.seed(jobsS3Bucket)
	u := newUser(t, w.env())
	p := u.startPTY(160, "status", "--watch", "--interval", "200ms", "s3://"+jobsS3Bucket)
	p.waitOutput(`(?s)\x1b\[H\x1b\[2J.*big/run\.csv +running +40,000/100,000.*\x1b\[H\x1b\[2J.*big/run\.csv +running +40,000/100,000`, 30*time.Second)

	// The job goes on: its next checkpoint.
	now := time.Now().UTC()
	w.put(jobsS3Bucket, "removetag/state/big/run.csv.json", map[string]any{"Version": 1, "Source": "s3://" + jobsS3Bucket + "/big/run.csv",
		"ETag": "e-big/run.csv", "Format": "csv", "Phase": "send", "Total": 100000, "Succeeded": 80000, "Calls": 800, "Chain": 4,
		"Invocations": 5, "Owner": "fedc9876", "UpdatedBy": "continue/fedc9876", "Started": now.Add(-20 * time.Second), "UpdatedAt": now})
	p.waitOutput(`big/run\.csv +running +80,000/100,000 \(80%\) +0 +- +800 +4,000 +\d+s +4 .*continue/fedc9876`, 30*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d after Ctrl-C:\n%s", code, p.output())
	}
	if n := strings.Count(p.output(), "\x1b[H\x1b[2J"); n < 3 {
		t.Errorf("%d redraws, want 3 or more", n)
	}
}

// TestCancelCommand: a job waiting for the sweep is ended by the command
// (report canceled, every record pending in a file ready to run again), a
// running one is asked to stop (its marker written; --wait runs out while
// nobody ends it), a job over has nothing to cancel, a file with no job is
// refused.
func TestCancelCommand(t *testing.T) {
	w := newJobsWorld(t)
	w.seed(jobsCOSBucket)
	u := newUser(t, w.env())
	bucket := "cos://" + jobsCOSBucket

	code, out, errOut := u.run(nil, "cancel", bucket+"/left.csv")
	if code != 0 || !strings.Contains(out, "canceled: "+bucket+"/left.csv: 0 done, 0 failed, 300 pending\n") ||
		!regexp.MustCompile(`(?m)^left\.csv: canceled by cli admin@\S+: 300 record\(s\) pending; upload the pending records \(removetag/pending/left\.csv\.jsonl\)`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^left\.csv +canceled +0/300 \(0%\) +0 +- +0 +- +- +2 +\d+s ago +cancel/[0-9a-f]+$`).MatchString(out) {
		t.Errorf("cancel of a job waiting for the sweep: exit %d\n%s%s", code, out, errOut)
	}
	pending, err := w.fs.GetObject(jobsCOSBucket, "removetag/pending/left.csv.jsonl")
	if err != nil || strings.Count(string(pending), "\n") != 300 || !strings.HasPrefix(string(pending), `{"To_Account":"left-000","Tags":["vip"]}`) {
		t.Errorf("pending records: %v\n%.200s", err, pending)
	}
	if left := w.fs.List(jobsCOSBucket, "removetag/state/left.csv"); len(left) != 0 {
		t.Errorf("the checkpoint is left: %v", left)
	}

	code, out, errOut = u.run(nil, "cancel", "--wait", "--timeout", "1s", bucket+"/big/run.csv")
	if code != exitFailed || !strings.Contains(out, "cancel requested: the invocation working on the job stops within about 2 s") ||
		!regexp.MustCompile(`(?m)^big/run\.csv +canceling `).MatchString(out) || !strings.Contains(errOut, "did not say canceled within 1s") {
		t.Errorf("cancel --wait of a running job nobody ends: exit %d\n%s%s", code, out, errOut)
	}
	marker, err := w.fs.GetObject(jobsCOSBucket, "removetag/cancel/big/run.csv")
	var c job.Cancellation
	if err != nil || json.Unmarshal(marker, &c) != nil || c.ETag != "e-big/run.csv" || !strings.HasPrefix(c.By, "cli admin@") {
		t.Errorf("marker %s: %v", marker, err)
	}

	code, out, _ = u.run(nil, "cancel", "--json", bucket+"/done.csv")
	var res job.Result
	if code != exitFailed || json.Unmarshal([]byte(out), &res) != nil || res.Status != job.StatusSkipped || !strings.Contains(res.Message, "nothing to cancel") {
		t.Errorf("cancel of a job over: exit %d\n%s", code, out)
	}
	code, out, _ = u.run(nil, "cancel", bucket+"/nothing.csv")
	if code != exitInvalid || !strings.Contains(out, "no such file") {
		t.Errorf("cancel of no such file: exit %d\n%s", code, out)
	}
	if code, _, errOut := u.run(nil, "cancel", bucket); code != exitInvalid || !strings.Contains(errOut, "names a bucket") {
		t.Errorf("cancel of a bucket: exit %d: %s", code, errOut)
	}
}
