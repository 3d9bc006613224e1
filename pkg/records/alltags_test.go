package records

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// decodeAll reads every record of input, naming each ("u1", "u1 [a]", or
// "PROBLEM where: reason"), and the fatal error, if any.
func decodeAll(t *testing.T, input string, opts DecoderOptions) (out []string, allTags bool, fatal error) {
	t.Helper()
	dec, err := NewDecoder(strings.NewReader(input), opts)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := dec.Next()
		var p *Problem
		switch {
		case err == io.EOF:
			return out, dec.AllTags(), nil
		case errors.As(err, &p):
			out = append(out, "PROBLEM "+p.Error())
		case err != nil:
			return out, dec.AllTags(), err
		case len(rec.Tags) == 0:
			out = append(out, rec.Account)
		default:
			out = append(out, fmt.Sprintf("%s %v", rec.Account, rec.Tags))
		}
	}
}

// TestAccountsAlone: a job clearing every tag is explicit, never inferred: a
// JSON document says "AllTags": true (before or after its accounts), or the
// reader is told AccountsOnly (CSV of one cell, JSON Lines without Tags, a
// document without Tags); a record naming tags is then a problem, and a record
// without tags stays invalid in any other input.
func TestAccountsAlone(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		format  Format
		only    bool // DecoderOptions.AccountsOnly
		want    string
		allTags bool
		fatal   string
	}{
		{"AllTags first", `{"AllTags":true,"To_Account":["u1","u2"]}`, FormatJSON, false, "u1,u2", true, ""},
		{"AllTags after the accounts", `{"To_Account":["u1","u2"],"AllTags":true}`, FormatJSON, false, "u1,u2", true, ""},
		{"AllTags with a bad account", `{"AllTags":true,"To_Account":["u1",""]}`, FormatJSON, false, "u1,PROBLEM To_Account[1]: To_Account is empty", true, ""},
		{"AllTags false says nothing", `{"AllTags":false,"To_Account":["u1"],"Tags":["a"]}`, FormatJSON, false, "u1 [a]", false, ""},
		{"accounts without Tags or AllTags", `{"To_Account":["u1"]}`, FormatJSON, false, "", false, `To_Account comes without Tags (to remove every tag of the accounts, say "AllTags": true)`},
		{"AllTags with Tags", `{"AllTags":true,"To_Account":["u1"],"Tags":["a"]}`, FormatJSON, false, "u1", true, "leave Tags out"},
		{"Tags, then AllTags", `{"Tags":["a"],"To_Account":["u1"],"AllTags":true}`, FormatJSON, false, "u1 [a]", false, "leave Tags out"},
		{"AllTags with UserTags", `{"AllTags":true,"UserTags":[{"To_Account":"u1","Tags":["a"]}]}`, FormatJSON, false, "", true, "mixes both forms"},
		{"AllTags not a boolean", `{"AllTags":"yes","To_Account":["u1"]}`, FormatJSON, false, "", false, "AllTags must be true or false"},
		{"AllTags twice", `{"AllTags":true,"AllTags":true,"To_Account":["u1"]}`, FormatJSON, false, "", true, "appears twice"},
		{"AccountsOnly: a document of accounts", `{"To_Account":["u1","u2"]}`, FormatJSON, true, "u1,u2", true, ""},
		{"AccountsOnly: UserTags without Tags", `{"UserTags":[{"To_Account":"u1"},{"To_Account":"u2","Tags":["a"]}]}`, FormatJSON, true,
			`u1,PROBLEM UserTags[1]: account "u2" names 1 tag(s): this input takes accounts alone (every tag of each is removed)`, true, ""},
		{"AccountsOnly: CSV of one cell", "To_Account\nu1\nu2,a\n", FormatCSV, true,
			`u1,PROBLEM line 3: account "u2" names 1 tag(s): this input takes accounts alone (every tag of each is removed)`, true, ""},
		{"AccountsOnly: JSON Lines", "{\"To_Account\":\"u1\"}\n{\"To_Account\":\"u2\",\"Tags\":[\"a\"]}\n", FormatJSONL, true,
			`u1,PROBLEM line 2: account "u2" names 1 tag(s): this input takes accounts alone (every tag of each is removed)`, true, ""},
		{"a CSV row without tags stays invalid", "u1\nu2,a\n", FormatCSV, false, `PROBLEM line 1: account "u1" has no tags,u2 [a]`, false, ""},
		{"a JSON Lines record without Tags stays invalid", "{\"To_Account\":\"u1\"}\n", FormatJSONL, false, "PROBLEM line 1: Tags is missing", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, allTags, err := decodeAll(t, tt.input, DecoderOptions{Format: tt.format, AccountsOnly: tt.only})
			if strings.Join(got, ",") != tt.want || allTags != tt.allTags {
				t.Errorf("records %q, AllTags %v; want %q, %v", got, allTags, tt.want, tt.allTags)
			}
			if (tt.fatal == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.fatal) {
				t.Errorf("error %v, want one containing %q", err, tt.fatal)
			}
		})
	}
}

// TestAllTagsResumes: a reader started at a resume position inside an
// AllTags document (its context says so) goes on with accounts alone.
func TestAllTagsResumes(t *testing.T) {
	for _, doc := range []string{`{"AllTags":true,"To_Account":["u1","u2","u3"]}`, `{"To_Account":["u1","u2","u3"],"AllTags":true}`} {
		dec, err := NewDecoder(strings.NewReader(doc), DecoderOptions{Format: FormatJSON})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dec.Next(); err != nil {
			t.Fatal(err)
		}
		at := dec.Resume()
		if at.JSON == nil || !at.JSON.AllTags {
			t.Fatalf("%s: resume %+v has no AllTags context", doc, at)
		}
		got, allTags, err := decodeAll(t, doc[at.Offset:], DecoderOptions{Format: FormatJSON, Start: at})
		if err != nil || strings.Join(got, ",") != "u2,u3" || !allTags {
			t.Errorf("%s from %+v: %q, AllTags %v, %v", doc, at, got, allTags, err)
		}
	}
	job, err := ReadJob(strings.NewReader(`{"To_Account":["u1","u2"],"AllTags":true}`), JobLimits{})
	if err != nil || !job.AllTags || len(job.Records) != 2 || job.Records[1].Tags != nil {
		t.Errorf("ReadJob = %+v, %v", job, err)
	}
	if _, err := ReadJob(strings.NewReader(`{"UserTags":[{"To_Account":"u1"}]}`), JobLimits{}); err == nil {
		t.Error("ReadJob took a record without Tags in a document that did not say AllTags")
	}
}
