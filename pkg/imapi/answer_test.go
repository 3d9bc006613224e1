package imapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/records"
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

// getAnswers are answers of the get operation, of every shape.
var getAnswers = []string{
	`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"UserTags":[{"To_Account":"u1","Tags":["a","b"]},{"To_Account":"u2","Tags":[]}]}`,
	"{\"UserTags\" : [ { \"Tags\" : [ \"中文\" , \"🙂\" ] , \"To_Account\" : \"é\" } ] ,\n\"ActionStatus\":\"OK\",\"ErrorCode\":0}",
	`{"ActionStatus":"OK","ErrorCode":0,"UserTags":[]}`, `{"UserTags":[{}]}`, `{"UserTags":[{"To_Account":"u1"}]}`,
	`{"UserTags":[{"To_Account":"u1","Tags":null}]}`, `{"UserTags":null}`, `{"UserTags":[null]}`,
	`{"UserTags":[{"To_Account":"u1","Tags":["a"],"Tags":["b","c"]}]}`, `{"UserTags":[{"To_Account":"u1","To_Account":"u2"}]}`,
	`{"UserTags":[{"To_Account":"u1","Tags":["x"]}],"UserTags":[{"To_Account":"u2"}]}`,
	`{"usertags":[{"To_Account":"u1"}]}`, `{"UserTags":[{"to_account":"u1","tags":["a"]}]}`, `{"UserTagſ":[]}`,
	`{"UserTags":[{"To_Account":"u\u0031"}]}`, "{\"UserTags\":[{\"To_Account\":\"\xff\"}]}",
	`{"UserTags":[{"To_Account":"u1","Tags":["a"],"Other":{"x":[1,-2.5e3,true,false,null,"s"]}}],"Extra":[[{}]]}`,
	`{"UserTags":[{"To_Account":"u1","Tags":["a"]}],"ErrorList":[{"To_Account":"u9","ErrorCode":70107,"ErrorInfo":"unknown"}]}`,
	`{"UserTags":[{"To_Account":1}]}`, `{"UserTags":[{"To_Account":"u1","Tags":[1]}]}`, `{"UserTags":{}}`,
	`{"UserTags":[{"To_Account":"u1"},]}`, `{"UserTags":[{"To_Account":"u1"}]`, `{"UserTags":[],"N":01}`, `{"UserTags":[],"N":1.}`,
	`{"UserTags":[],"N":-}`, `{"UserTags":[],"N":tru}`, `{"UserTags":[],"N":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
}

// TestDecodeAnswerIsUnmarshal checks decodeAnswer against json.Unmarshal:
// the same answer and the same success for every shape.
func TestDecodeAnswerIsUnmarshal(t *testing.T) {
	hand := 0
	for _, raw := range append(answers, getAnswers...) {
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

// benchDecode benchmarks a decoding by hand against encoding/json's.
func benchDecode(b *testing.B, byHand, byJSON func() error) {
	for _, bb := range []struct {
		name   string
		decode func() error
	}{{"by-hand", byHand}, {"encoding-json", byJSON}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bb.decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeAnswer decodes the answer of a call that went through.
func BenchmarkDecodeAnswer(b *testing.B) {
	raw := []byte(answers[0])
	benchDecode(b,
		func() error { var a answer; return decodeAnswer(raw, &a) },
		func() error { var a answer; return json.Unmarshal(raw, &a) })
}

// TestUserTagsIsUnmarshal checks readUserTags against json.Unmarshal into
// UserTags []records.Record: the same records (nil and empty alike) whenever
// it reads an answer, and the common answers read by it.
func TestUserTagsIsUnmarshal(t *testing.T) {
	hand := 0
	for _, raw := range append(getAnswers, answers...) {
		if checkUserTags(t, []byte(raw)) {
			hand++
		}
	}
	if hand < 5 {
		t.Errorf("only %d answers read by hand: the common ones are", hand)
	}
}

// checkUserTags compares readUserTags with json.Unmarshal on raw and says
// whether raw was read by hand.
func checkUserTags(t *testing.T, raw []byte) bool {
	t.Helper()
	got, ok := readUserTags(raw)
	if !ok {
		return false
	}
	var want struct{ UserTags []records.Record }
	if err := json.Unmarshal(raw, &want); err != nil || !reflect.DeepEqual(got, want.UserTags) {
		t.Errorf("%q read by hand as %#v; json.Unmarshal: %#v, %v", raw, got, want.UserTags, err)
	}
	return true
}

// FuzzUserTags holds readUserTags to json.Unmarshal for any answer.
func FuzzUserTags(f *testing.F) {
	for _, raw := range getAnswers {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkUserTags(t, raw)
		checkAnswer(t, raw)
	})
}

// BenchmarkUserTags decodes the get answer of 100 accounts of two tags each.
func BenchmarkUserTags(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"UserTags":[`)
	for i := range MaxAccountsPerCall {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"To_Account":"user-%07d","Tags":["vip","keep"]}`, i)
	}
	sb.WriteString("]}")
	raw := []byte(sb.String())
	benchDecode(b,
		func() error {
			var a answer
			if err := decodeAnswer(raw, &a); err != nil {
				return err
			}
			if _, ok := readUserTags(raw); !ok {
				return errors.New("not read by hand")
			}
			return nil
		},
		func() error {
			var a answer
			var out struct{ UserTags []records.Record }
			return errors.Join(json.Unmarshal(raw, &a), json.Unmarshal(raw, &out))
		})
}
