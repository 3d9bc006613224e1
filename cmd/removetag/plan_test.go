package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/imapi/emulator"
)

// seedListed gives n accounts {prefix}0000000… of emu keep and two of the
// three listed tags (vip, gold, club; a different one absent in turn), writes
// a CSV line listing the three for each to csv, and returns the pairs a run
// removes: account → tags, sorted.
func seedListed(emu *emulator.Server, prefix string, n int, csv io.Writer) map[string][]string {
	want := make(map[string][]string, n)
	for i := range n {
		acct := fmt.Sprintf("%s%07d", prefix, i)
		tags := []string{"keep"}
		for k, tg := range []string{"vip", "gold", "club"} {
			if k != i%3 {
				tags = append(tags, tg)
			}
		}
		emu.SetTags(acct, tags...)
		want[acct] = slices.Sorted(slices.Values(tags[1:]))
		fmt.Fprintf(csv, "%s,vip,gold,club\n", acct)
	}
	return want
}

// storeEnv points this process's AWS SDK at fs's S3 (the SDK reads the
// process environment) and returns the variables that reach its COS.
func storeEnv(t *testing.T, fs *memstore.Server) map[string]string {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_S3", fs.S3Endpoint())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-test-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	return map[string]string{
		"REMOVETAG_COS_BUCKET_URL": fs.COSBucketURLTemplate(),
		"TENCENTCLOUD_REGION":      "ap-guangzhou",
		"TENCENTCLOUD_SECRETID":    "AKIDtencent",
		"TENCENTCLOUD_SECRETKEY":   "tencent-secret",
	}
}

// planWorld is an app on the emulator of the test process whose n accounts
// hold two of their three listed tags (seedListed), the CSV in a folder, and
// the same CSV in an S3 and a COS bucket of the in-memory store (also without
// its extension); env reaches all of it.
func planWorld(t *testing.T, n int) (emu *emulator.Server, env map[string]string, path string) {
	t.Helper()
	emu = emulator.NewServer(emulator.Config{})
	t.Cleanup(emu.Close)
	var b bytes.Buffer
	seedListed(emu, "pl-", n, &b)
	path = filepath.Join(t.TempDir(), "accounts.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := memstore.New()
	t.Cleanup(fs.Close)
	for _, bucket := range []string{"plans", "plans-1250000000"} {
		if err := fs.CreateBucket(bucket); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"in/accounts.csv", "in/accounts"} {
			if err := fs.PutObject(bucket, key, b.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
	env = storeEnv(t, fs)
	c := emu.Config()
	env["IM_SDKAPPID"], env["IM_SECRET_KEY"], env["IM_ENDPOINT"] = fmt.Sprint(c.SDKAppID), c.Key, emu.URL()
	return emu, env, path
}

// TestPlan: plan reads a file's accounts, local or in a bucket, and tells per
// listed tag how many accounts carry it, what a run would change and its
// calls and time, exactly, and removes nothing.
func TestPlan(t *testing.T) {
	emu, vars, path := planWorld(t, 3000)
	before := emu.TagCount()
	for _, tt := range []struct{ name, file string }{
		{"local", path}, {"s3", "s3://plans/in/accounts.csv"}, {"cos", "cos://plans-1250000000/in/accounts.csv"},
	} {
		file := tt.file
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), []string{"plan", "--json", file}, nil, &out, &errOut, env(vars)); code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			var rep planReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			want := []tagPlan{{"club", 3000, 2000}, {"gold", 3000, 2000}, {"vip", 3000, 2000}}
			if rep.Records != 3000 || rep.Read != 3000 || rep.Unread != 0 || fmt.Sprint(rep.Tags) != fmt.Sprint(want) {
				t.Errorf("records %d, read %d, unread %d, tags %v", rep.Records, rep.Read, rep.Unread, rep.Tags)
			}
			if rep.Changed != 3000 || rep.TagsRemoved != 6000 || rep.Calls != 30 || rep.RunSeconds != 0.3 || rep.JournalReads != 30 || rep.ReadCalls != 30 {
				t.Errorf("changed %d, tags removed %d, calls %d in %gs, journal reads %d, read calls %d",
					rep.Changed, rep.TagsRemoved, rep.Calls, rep.RunSeconds, rep.JournalReads, rep.ReadCalls)
			}
		})
	}
	if st := emu.Stats(); st.Applied != 0 || emu.TagCount() != before {
		t.Errorf("the plans removed tags: %d calls applied, %d tags of %d left", st.Applied, emu.TagCount(), before)
	}

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"plan", "--rate", "50", path}, nil, &out, &errOut, env(vars)); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, w := range []string{"3000 records, 3000 read with im_get_tag in 30 calls", "nothing was removed", "  vip         3000        2000    66.7%",
		"a run would change 3000 accounts, removing 6000 tags, in 30 im_remove_tag calls: 0.6s at 50 calls/s", "its journal's 30 reads"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("the table lacks %q:\n%s", w, out.String())
		}
	}
}

// TestPlanRefusals: what plan refuses, and with which exit status.
func TestPlanRefusals(t *testing.T) {
	emu, vars, path := planWorld(t, 300)
	bad := writeFile(t, "bad.csv", "u1,a\n,b\n")
	wrongKey := map[string]string{}
	for k, v := range vars {
		wrongKey[k] = v
	}
	wrongKey["IM_SECRET_KEY"] = "another-key-0123456789"
	for _, tt := range []struct {
		name string
		args []string
		vars map[string]string
		code int
		want string // in stdout+stderr
	}{
		{"no credentials", []string{"plan", path}, nil, exitConfig, "--emulator"},
		{"emulator", []string{"plan", "--emulator", path}, nil, exitOK, "300 read"},
		{"timpush", []string{"plan", "--emulator", "--api", "timpush", path}, nil, exitOK, "300 read with get_tag in 3 calls"},
		{"bad api", []string{"plan", "--api", "push", path}, vars, exitInvalid, "--api"},
		{"two files", []string{"plan", path, path}, vars, exitInvalid, "one FILE"},
		{"invalid input", []string{"plan", bad}, vars, exitInvalid, "line 2"},
		{"a bucket, no key", []string{"plan", "s3://plans"}, vars, exitInvalid, "s3://BUCKET/KEY"},
		{"no such object", []string{"plan", "s3://plans/in/none.csv"}, vars, exitFailed, "in/none.csv"},
		{"no format", []string{"plan", "s3://plans/in/accounts"}, vars, exitInvalid, "--format"},
		{"format given", []string{"plan", "--format", "csv", "s3://plans/in/accounts"}, vars, exitOK, "300 read"},
		{"wrong key", []string{"plan", "--json", path}, wrongKey, exitConfig, `"Status": "configuration"`},
		{"bad rate", []string{"plan", "--rate", "0", path}, vars, exitInvalid, "--rate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, nil, &out, &errOut, env(tt.vars))
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s\n%s", code, tt.code, tt.want, out.String(), errOut.String())
			}
		})
	}
	if st := emu.Stats(); st.Applied != 0 {
		t.Errorf("%d removals applied", st.Applied)
	}
}
