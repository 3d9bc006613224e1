package imapi

import (
	"encoding/json"
	"reflect"
	"testing"
)

// answers are service answers of every shape: the common flat ones, read by
// hand, and those that go to json.Unmarshal.
var answers = []string{
	`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`,
	"{ \"ActionStatus\" : \"OK\" ,\n\t\"ErrorCode\": 0, \"ErrorInfo\": \"\" }\r\n",
	`{"ActionStatus":"FAIL","ErrorInfo":"Fail to Parse json data of body, Please check it","ErrorCode":90001}`,
	`{"ActionStatus":"FAIL","ErrorCode":-5,"ErrorInfo":"x","ErrorCode":70001}`,
	`{}`, `{"ErrorCode":0}`, `{"ErrorCode":01}`, `{"ErrorCode":1.0}`, `{"ErrorCode":1e3}`, `{"ErrorCode":-}`,
	`{"ErrorCode":1234567890}`, `{"ErrorCode":"0"}`, `{"ErrorCode":null}`, `{"ErrorInfo":null}`,
	`{"actionstatus":"OK"}`, `{"ActionStatus":"O\u004b"}`, `{"ActionStatus":"OK\"}`, `{"ErrorInfo":"é"}`,
	`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"ErrorList":[{"To_Account":"u1","ErrorCode":70107,"ErrorInfo":"x"}]}`,
	`{"ActionStatus":"OK","ErrorCode":0,"ErrorList":[]}`, `{"ActionStatus":"OK","Other":1}`,
	`{"ActionStatus":"OK"} x`, `{"ActionStatus":"OK",}`, `{"ActionStatus" "OK"}`, `{"ActionStatus":"OK"`, ``, `[]`, `null`,
	"{\"ErrorInfo\":\"a\x01b\"}", `<html>502 Bad Gateway</html>`,
}

// TestDecodeAnswerIsUnmarshal checks decodeAnswer against json.Unmarshal:
// the same answer and the same success for every shape.
func TestDecodeAnswerIsUnmarshal(t *testing.T) {
	hand := 0
	for _, raw := range answers {
		if checkAnswer(t, []byte(raw)) {
			hand++
		}
	}
	if hand < 4 {
		t.Errorf("only %d answers read by hand: the common ones are", hand)
	}
}

// checkAnswer compares decodeAnswer with json.Unmarshal on raw and says
// whether raw was read by hand.
func checkAnswer(t *testing.T, raw []byte) bool {
	t.Helper()
	var got, want, flat answer
	gotErr := decodeAnswer(raw, &got)
	wantErr := json.Unmarshal(raw, &want)
	if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
		t.Errorf("%q: decodeAnswer %+v, %v; json.Unmarshal %+v, %v", raw, got, gotErr, want, wantErr)
	}
	byHand := readFlatAnswer(raw, &flat)
	if byHand && (wantErr != nil || !reflect.DeepEqual(flat, want)) {
		t.Errorf("%q read by hand as %+v; json.Unmarshal: %+v, %v", raw, flat, want, wantErr)
	}
	return byHand
}

// FuzzDecodeAnswer holds decodeAnswer to json.Unmarshal for any answer.
func FuzzDecodeAnswer(f *testing.F) {
	for _, raw := range answers {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkAnswer(t, raw) })
}

// BenchmarkDecodeAnswer decodes the answer of a call that went through.
func BenchmarkDecodeAnswer(b *testing.B) {
	raw := []byte(answers[0])
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a answer
			if err := decodeAnswer(raw, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a answer
			if err := json.Unmarshal(raw, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
