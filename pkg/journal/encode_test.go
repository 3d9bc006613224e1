package journal

import (
	"encoding/json"
	"testing"

	"github.com/removetag/removetag/pkg/records"
)

// TestLinesAreEncodingJSONs holds the hand-written lines to encoding/json's
// bytes, hostile text included.
func TestLinesAreEncodingJSONs(t *testing.T) {
	hostile := []string{"", "plain", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\there", "nl\n", "\x00\x1f",
		"café", "雪", "\u2028\u2029", "bad\xffutf8", "\xed\xa0\x80", "emoji 🎉"}
	for _, s := range hostile {
		var recs []records.Record
		for _, t2 := range hostile {
			recs = append(recs, records.Record{Account: s + "|" + t2, Tags: []string{t2, s}})
		}
		recs = append(recs, records.Record{Account: s}, records.Record{Account: s, Tags: []string{}})
		for _, in := range []intent{{I: s}, {I: s, UserTags: recs}} {
			want, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendIntent(nil, in.I, in.UserTags); string(got) != string(want) {
				t.Errorf("intent %q:\n got %s\nwant %s", s, got, want)
			}
		}
		for _, o := range []outcome{{O: s}, {O: s, S: "ok"}, {O: s, Ok: hostile}, {O: s, No: hostile}, {O: s, Ok: []string{s}, No: []string{s, s}}} {
			want, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendOutcome(nil, o); string(got) != string(want) {
				t.Errorf("outcome %q:\n got %s\nwant %s", s, got, want)
			}
		}
	}
}
