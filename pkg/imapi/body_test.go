package imapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/records"
)

// hostileStrings are accounts and tags that need every kind of escape
// encoding/json makes: quotes, backslashes, the short escapes, other control
// bytes, HTML's < > &, U+2028 and U+2029, invalid UTF-8 (a lone continuation
// byte, a truncated sequence, an overlong encoding, a surrogate), and
// characters that need none (multi-byte UTF-8, DEL).
var hostileStrings = []string{
	"", "u1", `a"b`, `a\b`, `\"`, "\b\f\n\r\t", "\x00\x01\x1f", "<script>&amp;</script>",
	"line\u2028sep\u2029para", "\x80", "ab\xe2\x82", "\xc0\xaf", "\xed\xa0\x80", "é中文🙂", "\x7f",
	"tag with spaces", strings.Repeat("x", 50), "\xff\xfe", `{"UserTags":[]}`, "\u00e9\u0301",
}

// wantBody is the body as encoding/json makes it.
func wantBody(t testing.TB, recs []records.Record) []byte {
	t.Helper()
	want, err := json.Marshal(struct {
		UserTags []records.Record `json:"UserTags"`
	}{recs})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// TestBodyIsEncodingJSONs checks the hand-written im_remove_tag body against
// encoding/json's encoding of the same records, byte for byte, for hostile
// accounts and tags, nil and empty tag lists, and no records at all.
func TestBodyIsEncodingJSONs(t *testing.T) {
	var all []records.Record
	for _, s := range hostileStrings {
		all = append(all, records.Record{Account: s, Tags: []string{s, "vip", s + s}})
	}
	tests := []struct {
		name string
		recs []records.Record
	}{
		{"hostile", all},
		{"one", []records.Record{{Account: "u1", Tags: []string{"a"}}}},
		{"nil tags", []records.Record{{Account: "u1"}, {Account: "u2", Tags: []string{}}}},
		{"nil", nil},
		{"empty", []records.Record{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range []Operation{AllMemberPush.RemoveTag(), AllMemberPush.AddTag(false)} {
				got, err := op.body(tt.recs)
				if err != nil {
					t.Fatal(err)
				}
				if want := wantBody(t, tt.recs); !bytes.Equal(got, want) {
					t.Errorf("%s body:\n got %s\nwant %s", op.Name(), got, want)
				}
			}
		})
	}
}

// FuzzBody holds the hand-written body to encoding/json's for any account and tags.
func FuzzBody(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s, s+"x", "vip")
	}
	f.Fuzz(func(t *testing.T, account, tag1, tag2 string) {
		recs := []records.Record{{Account: account, Tags: []string{tag1, tag2}}, {Account: tag2, Tags: []string{account}}}
		got, err := AllMemberPush.RemoveTag().body(recs)
		if err != nil {
			t.Fatal(err)
		}
		if want := wantBody(t, recs); !bytes.Equal(got, want) {
			t.Errorf("body:\n got %q\nwant %q", got, want)
		}
	})
}

// BenchmarkBody encodes the body of a full call of 100 accounts.
func BenchmarkBody(b *testing.B) {
	recs := make([]records.Record, MaxAccountsPerCall)
	for i := range recs {
		recs[i] = records.Record{Account: "user-" + strings.Repeat("0", 7), Tags: []string{"vip"}}
	}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AllMemberPush.RemoveTag().body(recs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			wantBody(b, recs)
		}
	})
}
