package imapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

func TestCounts(t *testing.T) {
	c := imapi.Counts{Total: 10, Succeeded: 4, Failed: 1, Pending: 5, Calls: 3, Retries: 1}
	c.Add(imapi.Counts{Total: 2, Succeeded: 1, Pending: 1, Calls: 1})
	if want := (imapi.Counts{Total: 12, Succeeded: 5, Failed: 1, Pending: 6, Calls: 4, Retries: 1}); c != want {
		t.Errorf("Add: %+v, want %+v", c, want)
	}
	tests := []struct {
		in   imapi.Counts
		want int64
	}{
		{imapi.Counts{Total: 12, Succeeded: 5, Failed: 1}, 6},
		{imapi.Counts{Total: 12, Succeeded: 5, Failed: 1, Pending: 99}, 6},
		{imapi.Counts{Total: 3, Succeeded: 5}, 0}, // never below 0
	}
	for _, tt := range tests {
		if got := tt.in.Balanced(); got.Pending != tt.want || got.Total != tt.in.Total || got.Succeeded != tt.in.Succeeded {
			t.Errorf("%+v.Balanced() = %+v, want Pending %d", tt.in, got, tt.want)
		}
	}
}

// failure is one failed record.
type failure struct {
	account string
	err     error
}

func failures() []failure {
	var out []failure
	for i := range 12 {
		out = append(out,
			failure{fmt.Sprintf("u%d", i%5), &imapi.APIError{ErrorCode: 70107, ErrorInfo: fmt.Sprintf("no such user %d", i)}},
			failure{fmt.Sprintf("v%d", i), &imapi.HTTPError{StatusCode: 404}},
		)
	}
	return append(out,
		failure{"bad", &records.Problem{Where: "line 3", Reason: "account \"bad\" has no tags"}},
		failure{"x", &imapi.APIError{ErrorCode: 70016, ErrorInfo: "wrong region"}},
		failure{"y", errors.New("something else")},
	)
}

// TestFailureGroupsAcrossParts: groups carried from one part of a job to the
// next, through the stored []Failure, are the groups of one run over all of it.
func TestFailureGroupsAcrossParts(t *testing.T) {
	all := failures()
	whole := imapi.NewFailureGroups(nil, 3)
	for _, f := range all {
		whole.Add(f.account, f.err)
	}
	want := whole.List()
	for cut := range len(all) + 1 {
		first := imapi.NewFailureGroups(nil, 3)
		for _, f := range all[:cut] {
			first.Add(f.account, f.err)
		}
		stored := first.List()
		before, _ := json.Marshal(stored)
		rest := imapi.NewFailureGroups(stored, 3)
		for _, f := range all[cut:] {
			rest.Add(f.account, f.err)
		}
		if got := rest.List(); !reflect.DeepEqual(got, want) {
			t.Fatalf("cut at %d:\n got %+v\nwant %+v", cut, got, want)
		}
		if after, _ := json.Marshal(stored); string(after) != string(before) {
			t.Fatalf("cut at %d: the groups passed in were changed", cut)
		}
	}

	byClass := map[imapi.Class]imapi.Failure{}
	for _, f := range want {
		if f.ErrorCode != 0 || f.Class != imapi.Permanent {
			byClass[f.Class] = f
		}
	}
	if p := byClass[imapi.Permanent]; p.ErrorCode != 70107 || p.Records != 12 || len(p.Accounts) != 3 || p.AccountsOmitted != 4 || p.ErrorInfo != "no such user 0" {
		// u0…u4 over 12 records: u0, u1, u2 listed once each; the 4 records of u3 and u4 omitted
		t.Errorf("permanent group %+v", p)
	}
	if inv := byClass[imapi.Invalid]; inv.Records != 1 || inv.ErrorInfo != `line 3: account "bad" has no tags` {
		t.Errorf("invalid group %+v", inv)
	}
	if f := byClass[imapi.Fatal]; f.ErrorCode != 70016 || f.Records != 1 {
		t.Errorf("fatal group %+v", f)
	}
	if len(want) != 5 { // 70107, HTTP 404, invalid, 70016, other
		t.Errorf("%d groups, want 5: %+v", len(want), want)
	}
	if imapi.NewFailureGroups(nil, 0).List() != nil {
		t.Error("no failures: want a nil list")
	}
}

// TestClassText: classes are stored as their text, and a class this version
// does not know is kept as it is, not read as another.
func TestClassText(t *testing.T) {
	for _, c := range []imapi.Class{imapi.Permanent, imapi.Retryable, imapi.RenewSignature, imapi.Fatal, imapi.Invalid, "quota-exceeded"} {
		data, err := json.Marshal(imapi.Failure{Class: c})
		if err != nil || !strings.Contains(string(data), `"Class":"`+string(c)+`"`) {
			t.Fatalf("%s encodes as %s (%v)", c, data, err)
		}
		var back imapi.Failure
		if err := json.Unmarshal(data, &back); err != nil || back.Class != c {
			t.Errorf("%s decodes as %q (%v)", c, back.Class, err)
		}
	}
	want := map[imapi.Class]string{imapi.Permanent: "permanent", imapi.Retryable: "retryable",
		imapi.RenewSignature: "renew-signature", imapi.Fatal: "fatal", imapi.Invalid: "invalid"}
	for c, text := range want {
		if c.String() != text {
			t.Errorf("%q.String() = %q", text, c.String())
		}
	}
}
