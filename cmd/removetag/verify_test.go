package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// TestVerify reads accounts back through the emulator's im_get_tag: accounts
// that still carry a tag their records removed are counted and listed (other
// tags do not count), those of failed or pending records are left out, and a
// limit reads only the first accounts.
func TestVerify(t *testing.T) {
	emu := emulator.NewServer(emulator.Config{})
	defer emu.Close()
	client, err := imapi.NewClient(imapi.Config{SDKAppID: emulator.DefaultSDKAppID, SecretKey: emulator.DefaultKey, BaseURL: emu.URL()})
	if err != nil {
		t.Fatal(err)
	}
	var recs []records.Record
	for i := range 250 {
		acct := fmt.Sprintf("v%03d", i)
		recs = append(recs, records.Record{Account: acct, Tags: []string{"a"}})
		if i%2 == 0 {
			emu.SetTags(acct, "a", "keep") // the removal did not happen
		} else {
			emu.SetTags(acct, "keep")
		}
	}
	// A second record of an account, far from its first: read back again, and
	// the tag it removes is still there.
	recs = append(recs, records.Record{Account: "v001", Tags: []string{"keep"}})
	rep := &imapi.Report{
		Failures:       []imapi.Failure{{ErrorCode: 70107, Accounts: []string{"v000"}}},
		PendingRecords: []records.Record{{Account: "v002", Tags: []string{"a"}}},
	}
	tests := []struct {
		name                     string
		limit                    int64
		checked, skipped, tagged int64
		listed                   int
	}{
		{"all", verifyAll, 249, 2, 124, maxListed},
		{"the first 10", 10, 10, 2, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify(context.Background(), client, imapi.AllMemberPush, records.NewSliceSource(recs), rep, tt.limit, 100)
			if err != nil {
				t.Fatal(err)
			}
			if v.Checked != tt.checked || v.Skipped != tt.skipped || v.StillTagged != tt.tagged || len(v.Accounts) != tt.listed {
				t.Fatalf("verify = %+v; want %d checked, %d skipped, %d still tagged, %d listed", v, tt.checked, tt.skipped, tt.tagged, tt.listed)
			}
			if a := v.Accounts[0]; a.Account != "v004" || len(a.Tags) != 1 || a.Tags[0] != "a" {
				t.Errorf("first listed: %+v, want v004 [a]", a)
			}
		})
	}
}

// TestRunVerify runs `removetag run --verify` on the built-in emulator: the
// report says every account was read back clean, in text and JSON; a bad
// --verify value is a usage error.
func TestRunVerify(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"run", "--emulator", "--verify", "--out", t.TempDir(), "../../examples/accounts.csv"}, nil, &out, &errOut, env(nil)); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "verify: 5000 accounts read back: none carries a removed tag") {
		t.Errorf("text report:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"run", "--emulator", "--verify=7", "--json", "--out", t.TempDir(), "../../examples/accounts.csv"}, nil, &out, &errOut, env(nil)); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	var rep struct {
		Files []struct{ Verify *Verification }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Files) != 1 || rep.Files[0].Verify == nil || rep.Files[0].Verify.Checked != 7 || rep.Files[0].Verify.StillTagged != 0 {
		t.Errorf("JSON report: %v %s", err, out.String())
	}
	if code := run(context.Background(), []string{"run", "--emulator", "--verify=0", "../../examples/accounts.csv"}, nil, &out, &errOut, env(nil)); code != exitInvalid {
		t.Errorf("--verify=0: exit %d, want %d", code, exitInvalid)
	}
}
