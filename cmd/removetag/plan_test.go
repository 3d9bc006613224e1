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

// planAndRun plans file on an app of emu (args before it), then runs it with
// the same args and --json: the plan, and the report of the run.
func planAndRun(t *testing.T, emu *emulator.Server, file string, args ...string) (planReport, runReport) {
	t.Helper()
	c := emu.Config()
	vars := map[string]string{"IM_SDKAPPID": fmt.Sprint(c.SDKAppID), "IM_SECRET_KEY": c.Key, "IM_ENDPOINT": emu.URL()}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append(append([]string{"plan", "--json"}, args...), file), nil, &out, &errOut, env(vars)); code != exitOK {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	var plan planReport
	if err := json.Unmarshal(out.Bytes(), &plan); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), append(append([]string{"run", "--json", "--out", t.TempDir()}, args...), file), nil, &out, &errOut, env(vars)); code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	var rep runReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	return plan, rep
}

// TestPlanCountsDistinct: an account on two lines, or in two batches, is
// counted once, and each of its tags once: the plan's Changed, TagsRemoved
// and per-tag counts are those of distinct accounts and pairs, and they are
// what the run of the same file then changes (its journal's counts).
func TestPlanCountsDistinct(t *testing.T) {
	// far lists every account of accounts twice, 150 lines apart: in two
	// batches of a run (100 accounts a call).
	far := func(n int, first, second string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "f%03d,%s\n", i, first)
		}
		for i := range n {
			fmt.Fprintf(&b, "f%03d,%s\n", i, second)
		}
		return b.String()
	}
	for _, tt := range []struct {
		name           string
		carry          map[string][]string // the store before, with "keep" on every account
		csv            string
		tags           []tagPlan
		changed, pairs int64
	}{
		{"overlapping lines", map[string][]string{"u1": {"a", "b", "c"}}, "u1,a,b\nu1,b,c\n",
			[]tagPlan{{"a", 1, 1}, {"b", 1, 1}, {"c", 1, 1}}, 1, 3},
		{"same line twice", map[string][]string{"u1": {"a"}, "u2": nil}, "u1,a\nu1,a\nu2,a\n",
			[]tagPlan{{"a", 2, 1}}, 1, 1},
		{"carried only on the second line", map[string][]string{"u3": {"y"}}, "u3,x\nu3,y\n",
			[]tagPlan{{"x", 1, 0}, {"y", 1, 1}}, 1, 1},
		{"lines far apart", nil, far(150, "vip", "vip,gold"),
			[]tagPlan{{"gold", 150, 150}, {"vip", 150, 150}}, 150, 300},
		{"no repeat", map[string][]string{"u1": {"a"}, "u2": {"a", "b"}}, "u1,a,b\nu2,a,b\n",
			[]tagPlan{{"a", 2, 2}, {"b", 2, 1}}, 2, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emu := emulator.NewServer(emulator.Config{})
			t.Cleanup(emu.Close)
			if tt.carry == nil {
				tt.carry = map[string][]string{}
				for i := range 150 {
					tt.carry[fmt.Sprintf("f%03d", i)] = []string{"vip", "gold"}
				}
			}
			for a, tags := range tt.carry {
				emu.SetTags(a, append([]string{"keep"}, tags...)...)
			}
			plan, rep := planAndRun(t, emu, writeFile(t, "in.csv", tt.csv))
			if fmt.Sprint(plan.Tags) != fmt.Sprint(tt.tags) || plan.Changed != tt.changed || plan.TagsRemoved != tt.pairs {
				t.Errorf("plan: tags %v, changed %d, pairs %d; want %v, %d, %d", plan.Tags, plan.Changed, plan.TagsRemoved, tt.tags, tt.changed, tt.pairs)
			}
			if rep.Changed != plan.Changed || rep.TagsRemoved != plan.TagsRemoved {
				t.Errorf("the run changed %d accounts, %d pairs; the plan said %d, %d", rep.Changed, rep.TagsRemoved, plan.Changed, plan.TagsRemoved)
			}
			for a := range tt.carry {
				if tags := emu.Tags(a); !slices.Equal(tags, []string{"keep"}) {
					t.Errorf("%s holds %v after the run", a, tags)
				}
			}
		})
	}
}

// TestPlanAllTags: plan --all-tags takes accounts alone, as run --all-tags
// does, and counts every tag each distinct account carries as going (an
// account on two lines once): what the run --all-tags then removes. A
// record naming tags, or a document saying "AllTags" without the flag, is
// refused as run refuses it.
func TestPlanAllTags(t *testing.T) {
	emu := emulator.NewServer(emulator.Config{})
	t.Cleanup(emu.Close)
	emu.SetTags("u1", "a", "b")
	emu.SetTags("u2", "b")
	emu.SetTags("u3")
	plan, rep := planAndRun(t, emu, writeFile(t, "accounts.csv", "u1\nu2\nu3\nu1\n"), "--all-tags")
	want := []tagPlan{{"b", 2, 2}, {"a", 1, 1}}
	if !plan.AllTags || fmt.Sprint(plan.Tags) != fmt.Sprint(want) || plan.Changed != 2 || plan.TagsRemoved != 3 || plan.Records != 4 || plan.Read != 4 {
		t.Errorf("plan: AllTags %v, tags %v (want %v), changed %d, pairs %d, records %d, read %d",
			plan.AllTags, plan.Tags, want, plan.Changed, plan.TagsRemoved, plan.Records, plan.Read)
	}
	if !strings.HasSuffix(plan.RemoveAPI, "im_remove_all_tags") {
		t.Errorf("RemoveAPI %s", plan.RemoveAPI)
	}
	if rep.Changed != plan.Changed || rep.TagsRemoved != plan.TagsRemoved || emu.TagCount() != 0 {
		t.Errorf("the run changed %d accounts, %d pairs (%d tags left); the plan said %d, %d", rep.Changed, rep.TagsRemoved, emu.TagCount(), plan.Changed, plan.TagsRemoved)
	}

	c := emu.Config()
	vars := map[string]string{"IM_SDKAPPID": fmt.Sprint(c.SDKAppID), "IM_SECRET_KEY": c.Key, "IM_ENDPOINT": emu.URL()}
	emu.SetTags("u1", "a", "b")
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"table", []string{"--all-tags", writeFile(t, "one.csv", "u1\n")}, exitOK, "every tag of the accounts read goes\n  tag    accounts\n  a             1\n  b             1\na run would change 1 accounts, removing 2 tags, in 1 im_remove_all_tags calls"},
		{"tags with --all-tags", []string{"--all-tags", writeFile(t, "tags.csv", "u1,a\n")}, exitInvalid, `account "u1" names 1 tag(s): this input takes accounts alone`},
		{"accounts without --all-tags", []string{writeFile(t, "accounts.csv", "u1\n")}, exitInvalid, `account "u1" has no tags`},
		{"AllTags document without --all-tags", []string{writeFile(t, "all.json", `{"AllTags":true,"To_Account":["u1"]}`)}, exitInvalid, "run it with --all-tags"},
		{"AllTags document", []string{"--all-tags", "--json", writeFile(t, "all.json", `{"AllTags":true,"To_Account":["u1"]}`)}, exitOK, `"TagsRemoved": 2`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"plan"}, tt.args...), nil, &out, &errOut, env(vars))
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s\n%s", code, tt.code, tt.want, out.String(), errOut.String())
			}
		})
	}
	if tags := emu.Tags("u1"); len(tags) != 2 {
		t.Errorf("the plans removed tags: u1 holds %v", tags)
	}
}
